"""Typed training configurations, read from TOML with every key and type checked.

Each model's config subclasses :class:`TrainConfig` (a dataclass) and adds its own fields;
a field may itself be a dataclass, written as a TOML table::

    @dataclass
    class SeparatorConfig(TrainConfig):
        segment_s: float = 6.0
        model: UNetArgs = field(default_factory=UNetArgs)

    cfg = load_config(SeparatorConfig, "sep.toml", {"lr": 3e-4, "model.depth": 4})

An unknown key, a wrong type or an out-of-range value raises :class:`ConfigError` naming the
key and the file (or the override). Supported field types: bool, int, float (an int is
accepted), str, Path, ``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``,
``dict[str, X]`` and nested dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from sonomorph.errors import ConfigError

C = TypeVar("C")

Precision = Literal["fp32", "bf16", "fp16"]


@dataclass
class TrainConfig:
    """What every training run needs. Steps count optimisation steps (batches), not epochs."""

    out_dir: str = "runs/train"  #: checkpoints, TensorBoard logs, best/last models
    steps: int = 10_000  #: total training steps
    batch_size: int = 8  #: per process (DDP multiplies it by the number of processes)
    lr: float = 1e-3
    seed: int = 0  #: seeds weights, data order and per-sample randomness
    checkpoint_every: int = 1000  #: training-state checkpoint period in steps (0: only at the end)
    log_every: int = 50  #: TensorBoard scalar period in steps
    validate_every: int = 1000  #: 0: never
    sample_every: int = 0  #: audio/spectrogram samples period (0: never)
    precision: Precision = "fp32"  #: bf16 autocast (CPU or CUDA), fp16 autocast + GradScaler (CUDA)
    grad_clip: float = 0.0  #: max gradient norm per optimiser (0: no clipping)
    #: with ``grad_clip`` on, an optimiser step whose gradient norm is NaN or infinite is
    #: skipped (weights and optimiser state untouched, counted as ``skipped/<optimiser>``);
    #: this many such steps in a row stop the run (0: stop at the first one)
    max_nonfinite_steps: int = 10
    num_workers: int = 0  #: DataLoader worker processes
    device: str = "auto"  #: auto, cpu, cuda or cuda:N
    keep_best: str = ""  #: validation metric that selects best.safetensors ("" : none)
    keep_best_mode: Literal["min", "max"] = "min"
    val_batch_size: int = 0  #: 0: same as batch_size
    resume: bool = True  #: continue from out_dir's training checkpoint when there is one
    force: bool = False  #: start afresh in an out_dir that holds an earlier run
    ddp_find_unused_parameters: bool = False
    #: exponential moving average of the weights (0: off; 0.999 is usual). When on, validation,
    #: best.safetensors and last.safetensors use the averaged weights; the raw ones train on.
    ema_decay: float = 0.0
    #: ramp the average's decay up as ``min(ema_decay, (1 + n) / (10 + n))`` after n updates,
    #: so a run from scratch does not keep its random start in the average for thousands of
    #: steps (with a fixed 0.999, 37 % of the average is still the first weights at step 1000)
    ema_warmup: bool = False

    def validate(self) -> None:
        """Check value ranges (types are checked by :func:`load_config`). Subclasses extend
        this and call ``super().validate()``; raise :class:`ConfigError` naming the key."""
        positive = ("steps", "batch_size", "log_every")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"'{key}' must be at least 1, got {getattr(self, key)}")
        for key in ("checkpoint_every", "validate_every", "sample_every", "num_workers",
                    "val_batch_size", "grad_clip", "max_nonfinite_steps"):
            if getattr(self, key) < 0:
                raise ConfigError(f"'{key}' must not be negative, got {getattr(self, key)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"'ema_decay' must be in [0, 1), got {self.ema_decay}")
        if not self.lr > 0:
            raise ConfigError(f"'lr' must be positive, got {self.lr}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"'device' must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not str(self.out_dir).strip():
            raise ConfigError("'out_dir' must not be empty")


# --------------------------------------------------------------------------- type checking

def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "none"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple, Sequence):
        return "an array"
    if origin in (dict, Mapping) or dataclasses.is_dataclass(tp):
        return "a table"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             Path: "a path string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - e.g. a class defined inside a function
        return {f.name: f.type for f in dataclasses.fields(cls)}


class _Bad(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _check(value: Any, tp: Any, key: str) -> Any:
    """``value`` converted to field type ``tp``, or _Bad naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if any(a == value and type(a) is type(value) for a in args):
            return value
    elif origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check(value, option, key)
            except _Bad:
                continue
    elif tp is type(None):
        if value is None:
            return None
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return _build(tp, value, prefix=f"{key}.")
    elif origin in (list, Sequence) or tp is list:
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            return [_check(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is tuple or tp is tuple:
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
            if not args:
                return tuple(value)
            if len(value) == len(args):
                return tuple(_check(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, args)))
            raise _Bad(key, f"'{key}' must have {len(args)} items, got {len(value)}")
    elif origin in (dict, Mapping) or tp is dict:
        if isinstance(value, Mapping):
            item = args[1] if len(args) == 2 else Any
            return {str(k): _check(v, item, f"{key}.{k}") for k, v in value.items()}
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, (str, os.PathLike)):
            return Path(value)
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise _Bad(key, f"'{key}' must be {_type_name(tp)}, got {type(value).__name__} {shown}")


def _build(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = _hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _Bad(prefix + key, f"unknown key '{prefix}{key}' (known: {known})")
        kwargs[key] = _check(value, hints.get(key, Any), prefix + key)
    return cls(**kwargs)


def _nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model.depth": 4}`` -> ``{"model": {"depth": 4}}``."""
    out: dict[str, Any] = {}
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{dotted}' conflicts with another override")
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def config_from_dict(cls: type[C], data: Mapping[str, Any],
                     source: str | os.PathLike | None = None) -> C:
    """Build ``cls`` from plain data with the same checks as :func:`load_config`."""
    try:
        cfg = _build(cls, data)
    except _Bad as bad:
        raise ConfigError(str(bad), source) from None
    if hasattr(cfg, "validate"):
        try:
            cfg.validate()
        except ConfigError as exc:
            raise ConfigError(exc.reason, source) from None
    return cfg


def load_config(cls: type[C], toml_path: str | os.PathLike | None = None,
                overrides: Mapping[str, Any] | None = None) -> C:
    """Build config ``cls`` from its defaults, then a TOML file, then ``overrides`` (keys
    may be dotted: ``"model.depth"``). Raises ConfigError naming the key and where it came
    from (the file, or "override")."""
    data: dict[str, Any] = {}
    if toml_path is not None:
        path = Path(toml_path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError("no such config file", path) from None
        except IsADirectoryError:
            raise ConfigError("is a folder, not a config file", path) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", path) from None
        try:
            _build(cls, data)  # check the file on its own so that errors name it
        except _Bad as bad:
            raise ConfigError(str(bad), path) from None
    if overrides:
        nested = _nest(overrides)
        try:
            _build(cls, _merge({}, nested))
        except _Bad as bad:
            raise ConfigError(f"override: {bad}") from None
        except TypeError:
            pass  # a required field missing from overrides alone; the full merge decides
        data = _merge(data, nested)
    return config_from_dict(cls, data, toml_path)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain JSON/TOML data (nested dataclasses as dicts, tuples as lists)."""
    if not (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)):
        raise TypeError(f"not a dataclass instance: {type(cfg).__name__}")
    return _plain(cfg)


# --------------------------------------------------------------------------- CLI helpers

def parse_override(text: str) -> tuple[str, Any]:
    """``"lr=3e-4"`` -> ``("lr", 0.0003)``: the value is read as a TOML value (numbers,
    true/false, [arrays], "strings"), and as a bare string when it is not one."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
        raise ConfigError(f"override {text!r} must look like key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every ``sonomorph train ...`` command shares."""
    parser.add_argument("--config", metavar="TOML", help="training configuration file")
    parser.add_argument("--out", metavar="DIR", help="output folder (config key out_dir)")
    parser.add_argument("--steps", type=int, metavar="N", help="total training steps")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key (repeatable), "
                        "e.g. --set lr=3e-4 --set model.depth=4")
    parser.add_argument("--no-resume", action="store_true",
                        help="do not continue from a training checkpoint in the output folder")
    parser.add_argument("-f", "--force", action="store_true",
                        help="start afresh in an output folder that holds an earlier run")


def config_from_args(cls: type[C], args: argparse.Namespace) -> C:
    """Build config ``cls`` from the options added by :func:`add_config_arguments` (and
    the global ``--device``, when not "auto", and a recipe's ``--init-from``)."""
    overrides: dict[str, Any] = dict(parse_override(t) for t in getattr(args, "overrides", []))
    if getattr(args, "out", None):
        overrides["out_dir"] = args.out
    if getattr(args, "steps", None) is not None:
        overrides["steps"] = args.steps
    if getattr(args, "no_resume", False):
        overrides["resume"] = False
    if getattr(args, "force", False):
        overrides["force"] = True
    if getattr(args, "init_from", None):  # the recipes' --init-from
        overrides["init_from"] = str(args.init_from)
    device = getattr(args, "device", None)
    if device and device != "auto":
        overrides["device"] = device
    return load_config(cls, getattr(args, "config", None), overrides)
