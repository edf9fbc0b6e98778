"""The model registry: every network class has a name, and every instance remembers how it
was built.

``@register_model("name")`` on an ``nn.Module`` class does two things:

* it records the class under ``name`` so that :func:`build_model` (and
  :func:`sonomorph.models.checkpoint.load_model`) can rebuild it from a checkpoint;
* it wraps the class's ``__init__`` so that each instance stores the constructor arguments it
  was built with (all of them, defaults filled in) as ``model._sonomorph_config``. A checkpoint
  then carries everything needed to rebuild the model, with no pickled objects: this is why
  constructor arguments must be JSON values (numbers, strings, booleans, None, lists, dicts
  with string keys). Tuples are accepted and come back as lists.

A registered class may also declare a ``kind`` (what job it does: "separator", "scream"...),
so that several architectures can serve one job and a checkpoint can be checked against the
job it is loaded for.

Model modules live in :mod:`sonomorph.models`; they are imported lazily the first time a
name is looked up that no imported module has registered.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import logging
import pkgutil
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

log = logging.getLogger(__name__)

CONFIG_ATTR = "_sonomorph_config"

# Modules of this package that hold no models (never imported by discovery).
_NOT_MODELS = {"registry", "checkpoint"}

M = TypeVar("M", bound=type[nn.Module])


class _Entry:
    __slots__ = ("cls", "kind", "name")

    def __init__(self, name: str, kind: str, cls: type[nn.Module]):
        self.name = name
        self.kind = kind
        self.cls = cls


_REGISTRY: dict[str, _Entry] = {}
_discovered = False


def _same_class(a: type, b: type) -> bool:
    """True when ``a`` and ``b`` are the same class definition imported twice (e.g. a test
    helper imported under two module names), so re-registering it is harmless."""
    if a is b:
        return True
    fa = getattr(sys.modules.get(a.__module__), "__file__", None)
    fb = getattr(sys.modules.get(b.__module__), "__file__", None)
    return a.__qualname__ == b.__qualname__ and fa is not None and fa == fb


def _jsonable(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON data (tuples become lists) or raise TypeError."""
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{where}: constructor arguments of registered models must be JSON values "
            f"(numbers, strings, booleans, None, lists, dicts): {exc}"
        ) from None


def register_model(name: str, *, kind: str | None = None) -> Callable[[M], M]:
    """Class decorator: register an ``nn.Module`` subclass under ``name``.

    ``kind`` (default: ``name``) is the job the model does; :func:`load_model`'s ``expect``
    matches either the name or the kind. Constructor arguments are recorded on each
    instance (see :func:`model_config`) and must be JSON-serialisable; ``*args`` parameters
    are not allowed because a checkpoint stores arguments by name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("register_model needs a non-empty name")

    def decorate(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"@register_model({name!r}) must decorate an nn.Module subclass")
        old = _REGISTRY.get(name)
        if old is not None and not _same_class(old.cls, cls):
            raise ValueError(
                f"model name {name!r} is already registered by "
                f"{old.cls.__module__}.{old.cls.__qualname__}"
            )
        init = cls.__init__
        sig = inspect.signature(init)
        if init is not nn.Module.__init__ and any(
                p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values()):
            raise TypeError(f"{cls.__qualname__}.__init__ takes *args; registered models "
                            "must take named arguments only")

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            # Only the outermost registered class records itself: a registered subclass
            # calling super().__init__ overwrites its parent's record afterwards, and an
            # unregistered subclass gets no record (it could not be rebuilt by name).
            if type(self) is not cls:
                return
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments: dict[str, Any] = {}
            for pname, value in list(bound.arguments.items())[1:]:
                if sig.parameters[pname].kind is inspect.Parameter.VAR_POSITIONAL:
                    continue  # only nn.Module's own (empty) *args get here
                if sig.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(value)
                else:
                    arguments[pname] = value
            config = {"name": name, "kind": kind or name,
                      "args": _jsonable(arguments, f"model {name!r}")}
            object.__setattr__(self, CONFIG_ATTR, config)

        cls.__init__ = __init__  # type: ignore[method-assign]
        _REGISTRY[name] = _Entry(name, kind or name, cls)
        return cls

    return decorate


def _discover() -> None:
    """Import every module of :mod:`sonomorph.models` once, so that all models register."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("sonomorph.models")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _NOT_MODELS or info.name.startswith("_"):
            continue
        modname = f"sonomorph.models.{info.name}"
        try:
            importlib.import_module(modname)
        except Exception as exc:  # noqa: BLE001 - one broken module must not hide the others
            log.warning("could not import %s: %s: %s", modname, type(exc).__name__, exc)


def import_model_module(module: str) -> None:
    """Import ``module`` if it is a sonomorph model module (a name read from a checkpoint is
    never imported unless it lies inside :mod:`sonomorph.models`)."""
    if not module.startswith("sonomorph.models.") or module.split(".")[-1] in _NOT_MODELS:
        return
    try:
        importlib.import_module(module)
    except ImportError:
        pass


def get_model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``. Raises KeyError listing the known names."""
    if name not in _REGISTRY:
        _discover()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(model_names()) or 'none'})")
    return _REGISTRY[name].cls


def model_kind(name: str) -> str:
    """The kind (job) of the model registered under ``name``."""
    get_model_class(name)
    return _REGISTRY[name].kind


def model_names() -> list[str]:
    """Sorted names of all registered models (imports the model modules first)."""
    _discover()
    return sorted(_REGISTRY)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered under ``name`` with constructor arguments ``kwargs``."""
    return get_model_class(name)(**kwargs)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The underlying module of a DistributedDataParallel / DataParallel / compiled wrapper."""
    seen = 0
    while seen < 8:
        inner = getattr(model, "module", None)
        if isinstance(inner, nn.Module) and type(model).__name__ in (
                "DistributedDataParallel", "DataParallel"):
            model = inner
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # torch.compile wrapper
        else:
            break
        seen += 1
    return model


def model_config(model: nn.Module) -> dict[str, Any]:
    """What a registered model was built with: ``{"name", "kind", "args"}`` (a deep copy).

    ``build_model(cfg["name"], **cfg["args"])`` rebuilds an identical architecture. Raises
    TypeError for a model whose class is not registered.
    """
    model = unwrap_model(model)
    config = getattr(model, CONFIG_ATTR, None)
    if config is None:
        raise TypeError(
            f"{type(model).__qualname__} is not a registered model: decorate its class with "
            "@register_model(name) (sonomorph.models) so that checkpoints can rebuild it"
        )
    return copy.deepcopy(config)
