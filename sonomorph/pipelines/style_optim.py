"""The style-transfer optimiser (:func:`optimise`) and its stopping rules, shared by both
methods of :mod:`sonomorph.pipelines.style` (whose docstring explains why it cannot diverge
and how the ``style_drop`` goal works)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from torch import Tensor

from sonomorph.errors import ConfigError
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["OPTIMIZERS", "LossFn", "optimise", "default_lr"]

OPTIMIZERS = ("adam", "lbfgs")
LossFn = Callable[[Tensor], tuple[Tensor, dict[str, float]]]


def optimise(x0: Tensor, loss_fn: LossFn, *, steps: int, lr: float, optimizer: str = "adam",
             upper: float | Tensor = math.inf, patience: int = 10, tol: float = 0.01,
             stop: Callable[[dict[str, float]], bool] | None = None,
             on_plateau: Callable[[], bool] | None = None,
             progress: ProgressCallback | None = None) -> tuple[Tensor, list[dict[str, float]]]:
    """Minimise ``loss_fn(x)`` over ``0 <= x <= upper``, starting from ``x0``. ``upper`` is a
    number or a tensor broadcasting to ``x`` (0 pins an element at 0).

    ``loss_fn`` returns the scalar loss and the named terms to record; the loss carries a
    graph, or none when ``loss_fn`` has already backpropagated (in pieces, to bound memory).
    Adam (default) steps on ``x`` itself, each followed by a projection onto ``[0, upper]``.
    L-BFGS (strong Wolfe line search), whose curvature pairs a projection would corrupt,
    works unconstrained on ``u`` with ``x = min(u^2, upper)``, non-negative by construction.
    Either way the loss only ever sees a non-negative, bounded ``x``. The best iterate seen
    is returned, with one history entry per step. After ``3 * patience`` steps the run stops
    early when the best loss improved by less than ``tol`` (relative) over ``patience``
    steps (Adam pauses briefly early on), and at once if the loss is not finite.

    ``stop``, when given, is asked about the named terms of every iterate the loss scores;
    the first iterate it accepts ends the run and is returned (instead of the best loss):
    a goal reached (for style transfer, the asked style-distance drop) needs no more steps,
    and each further step would trade more content for style than was asked.
    ``on_plateau``, when given, is called where a plateau would end the run: it may change
    the loss (raise a weight) and return True to go on, the best-loss bookkeeping starting
    afresh since losses before and after no longer compare; False ends the run.
    """
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    if steps < 1 or not lr > 0:
        raise ConfigError(f"need steps >= 1 and lr > 0 (got {steps}, {lr})")
    hi = torch.as_tensor(upper, dtype=x0.dtype, device=x0.device)

    def project(v: Tensor) -> Tensor:
        return torch.minimum(v.clamp_min(0.0), hi)

    start = project(x0.detach())
    # Contiguous: L-BFGS flattens gradients with view(), and a gradient takes its leaf's layout.
    if optimizer == "adam":
        var = start.contiguous().requires_grad_(True)
        opt: torch.optim.Optimizer = torch.optim.Adam([var], lr=lr)
        to_x = project
    else:
        var = start.sqrt().contiguous().requires_grad_(True)
        opt = torch.optim.LBFGS([var], lr=lr, max_iter=1, history_size=20,
                                line_search_fn="strong_wolfe")

        def to_x(u: Tensor) -> Tensor:
            return torch.minimum(u * u, hi)

    best = {"loss": math.inf, "x": start.clone()}
    history: list[dict[str, float]] = []
    last_terms: dict[str, float] = {}
    reached: list[Tensor] = []  # the first iterate that ``stop`` accepted

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        x = to_x(var)
        loss, terms = loss_fn(x)
        value = float(loss.detach())
        if math.isfinite(value):
            if loss.requires_grad:  # else loss_fn accumulated the gradients itself
                loss.backward()
            if value < best["loss"]:
                best["loss"], best["x"] = value, x.detach().clone()
            if stop is not None and not reached and stop(terms):
                reached.append(x.detach().clone())
        last_terms.clear()
        last_terms.update(terms, loss=value)
        return loss

    mark = (math.inf, 0)  # (best loss at the last improvement check, its step)
    for step in range(steps):
        opt.step(closure)
        history.append(dict(last_terms))
        if not math.isfinite(last_terms.get("loss", math.nan)):
            log.warning("style transfer: the loss became %s at step %d; keeping the best "
                        "iterate", last_terms.get("loss"), step)
            break
        if reached:
            break
        if optimizer == "adam":
            with torch.no_grad():
                var.copy_(project(var))
        if progress is not None:
            progress(step + 1, steps)
        if best["loss"] < mark[0] * (1.0 - tol):
            mark = (best["loss"], step)
        elif step - mark[1] >= patience and step >= 3 * patience:
            if on_plateau is None or not on_plateau():
                break
            best["loss"], mark = math.inf, (math.inf, step)
    if progress is not None and reached:
        progress(steps, steps)
    if reached:
        return reached[0], history
    with torch.no_grad():  # the final iterate was never scored: it may be the best
        last = to_x(var.detach())
        final, _ = loss_fn(last)
    if math.isfinite(float(final)) and float(final) < best["loss"]:
        best["x"] = last
    if progress is not None:
        progress(steps, steps)
    return best["x"], history


def default_lr(optimizer: str, lr: float | None, *, adam: float = 0.05) -> float:
    """``lr``, or the default step size of ``optimizer`` (in the variable's units): ``adam``
    for Adam, 0.1 for L-BFGS (its strong-Wolfe line search stalls from about 0.3 on long
    clips)."""
    if lr is not None:
        return float(lr)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    return float(adam) if optimizer == "adam" else 0.1


def _initial(content: Tensor, init: str, noise: float, seed: int) -> Tensor:
    """``content + N(0, noise^2)`` or (``init="noise"``) uniform noise at the content's mean
    level, from a generator seeded by ``seed``; clamped at 0 by the optimiser."""
    gen = torch.Generator().manual_seed(int(seed))
    if init == "content":
        return content + noise * torch.randn(content.shape, generator=gen).to(content)
    if init == "noise":
        return torch.rand(content.shape, generator=gen).to(content) * (2.0 * content.mean())
    raise ConfigError(f"init must be 'content' or 'noise', not {init!r}")


def _check_drop(style_drop: float | None) -> float | None:
    if style_drop is None or style_drop == 0:
        return None
    if not 0.0 < style_drop < 1.0:
        raise ConfigError(f"style_drop must be a fraction between 0 and 1, not {style_drop}")
    return float(style_drop)


def _drop_reached(style_drop: float | None, style_start: float):
    """The ``stop`` test of :func:`optimise` for a style-distance drop goal, or None."""
    if style_drop is None:
        return None
    goal = (1.0 - style_drop) * float(style_start)
    return lambda terms: terms["style"] <= goal


STYLE_RAISES = 6  # doublings of the style weight at most: 64 times the given weight


def _style_raiser(style_drop: float | None, weight: list[float]):
    """The ``on_plateau`` hook of :func:`optimise` for a style goal: a plateau before the
    goal doubles the style weight (in ``weight[0]``, read by the loss), at most
    ``STYLE_RAISES`` times; without a goal, a plateau ends the run."""
    if style_drop is None:
        return None
    raises = [0]

    def on_plateau() -> bool:
        if raises[0] >= STYLE_RAISES:
            return False
        raises[0] += 1
        weight[0] *= 2.0
        return True

    return on_plateau
