"""Self-describing model checkpoints: one ``.safetensors`` file per model.

The file holds the weights and, in the safetensors header (``__metadata__["sonomorph"]``,
one JSON string), everything needed to rebuild and use the model without any other file:

* ``model``, ``kind``, ``module``, ``args``: the registered name, its job, the module that
  defines it and the constructor arguments (see :mod:`sonomorph.models.registry`);
* ``versions`` (sonomorph, torch, numpy, safetensors, python), ``git_commit`` (or None),
  ``created`` (UTC, ISO 8601), ``format`` and ``format_version``;
* whatever the caller passes as ``meta``; by convention ``sample_rate``, ``features`` (STFT
  or mel parameters), ``train_config``, ``metrics``, ``step``.

Nothing is ever unpickled. A ``.pt``/``.pth``/``.ckpt``/``.bin`` file from a user is read
only with ``torch.load(weights_only=True)`` and accepted only when it is a plain state dict
(a flat mapping of names to tensors); its model name and arguments then come from a sidecar
``<stem>.json`` (``{"model": ..., "args": {...}}``) or from ``load_model(name=, config=)``.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import pickle
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch
from torch import nn

import sonomorph
from sonomorph.errors import CheckpointError
from sonomorph.models.registry import (
    get_model_class,
    import_model_module,
    model_config,
    model_kind,
    unwrap_model,
)
from sonomorph.utils.fs import atomic_write_bytes

FORMAT = "sonomorph-model"
FORMAT_VERSION = 1
METADATA_KEY = "sonomorph"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
# Keys save_model writes itself; a caller's meta may not replace them.
RESERVED_KEYS = frozenset({"format", "format_version", "model", "kind", "module", "args",
                           "versions", "git_commit", "created"})
_MAX_HEADER = 100 * 1024 * 1024


def library_versions() -> dict[str, str]:
    """Versions of the libraries a checkpoint was written with."""
    return {
        "sonomorph": sonomorph.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the sonomorph checkout this code runs from, or None (not a git checkout,
    no git installed, anything else going wrong: this never fails)."""
    package_dir = Path(sonomorph.__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=package_dir,
                             capture_output=True, text=True, timeout=5)
        if top.returncode != 0:
            return None
        # Only our own checkout counts, not a user's repository that holds a venv.
        if Path(top.stdout.strip()).resolve() / "sonomorph" != package_dir:
            return None
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package_dir,
                              capture_output=True, text=True, timeout=5)
        commit = head.stdout.strip()
        return commit if head.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None
    except Exception:  # noqa: BLE001 - metadata is best effort
        return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not a JSON value")


def to_json(obj: Any) -> str:
    """``obj`` as compact JSON; numpy scalars, paths and one-element tensors are converted."""
    return json.dumps(obj, default=_json_default, allow_nan=True, separators=(",", ":"))


def _cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors, detached, on the CPU, contiguous and unshared (safetensors
    refuses tensors that share memory, e.g. tied weights)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state dict entry {key!r} is not a tensor")
        out[key] = value.detach().to("cpu", copy=True).contiguous()
    return out


def save_model(path: str | os.PathLike, model: nn.Module, *, meta: dict | None = None,
               overwrite: bool = False) -> Path:
    """Write ``model`` (a registered model, possibly DDP-wrapped) and its metadata to one
    ``.safetensors`` file, atomically. Returns the path.

    Raises OutputExistsError if the file exists and not ``overwrite``, TypeError for an
    unregistered model or meta that is not JSON, ValueError if meta uses a reserved key.
    """
    path = Path(path)
    model = unwrap_model(model)
    config = model_config(model)
    extra = dict(meta or {})
    clash = RESERVED_KEYS.intersection(extra)
    if clash:
        raise ValueError(f"meta may not set {', '.join(sorted(clash))} (save_model writes them)")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": config["name"],
        "kind": config["kind"],
        "module": type(model).__module__,
        "args": config["args"],
        "versions": library_versions(),
        "git_commit": git_commit(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **extra,
    }
    text = to_json(header)
    data = safetensors.torch.save(_cpu_state_dict(model), metadata={METADATA_KEY: text})
    return atomic_write_bytes(path, data, overwrite=overwrite)


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise CheckpointError("no such model file", path)
    if path.is_dir():
        raise CheckpointError("is a folder, not a model file", path)


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The parsed JSON header of a safetensors file, after checking that the file is long
    enough for every tensor it declares (so truncation is caught without reading weights)."""
    size = path.stat().st_size
    corrupt = "not a valid .safetensors file"
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{corrupt} (only {size} bytes)", path)
            n = int.from_bytes(head, "little")
            if n > _MAX_HEADER or 8 + n > size:
                raise CheckpointError(f"{corrupt} (truncated or not safetensors)", path)
            header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{corrupt} (its header is not JSON)", path) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read: {exc.strerror or exc}", path) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{corrupt} (bad header)", path)
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise CheckpointError(f"{corrupt} (bad entry for tensor {key!r})", path) from None
    if 8 + n + end > size:
        raise CheckpointError(
            f"file is truncated: its header declares {8 + n + end} bytes, the file has {size} "
            "(an interrupted copy or download?)", path)
    return header


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The sonomorph metadata of a model file, without loading its weights.

    For a ``.safetensors`` file, its header metadata; for a ``.pt`` state dict, its sidecar
    ``<stem>.json``. CheckpointError when there is none or the file is unreadable.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        sidecar = _read_sidecar(path)
        if sidecar is None:
            raise CheckpointError(f"a plain state dict carries no metadata and there is no "
                                  f"{path.stem}.json beside it", path)
        return sidecar
    header = read_safetensors_header(path)
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        raise CheckpointError("no sonomorph metadata in this .safetensors file (not written by "
                              "sonomorph's save_model); cannot tell which model it holds", path)
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointError("its sonomorph metadata is not valid JSON", path) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), str):
        raise CheckpointError("its sonomorph metadata names no model", path)
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"written by a newer sonomorph (format {version}); upgrade "
                              "sonomorph to load it", path)
    return meta


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read its description: {exc}", sidecar) from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        raise CheckpointError('must be a JSON object like {"model": NAME, "args": {...}}', sidecar)
    if not isinstance(data.setdefault("args", {}), dict):
        raise CheckpointError('"args" must be a JSON object', sidecar)
    return data


def _load_plain_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)``, accepting only a flat str -> Tensor mapping."""
    hint = ("export a plain state dict (torch.save(model.state_dict(), path)) or a "
            ".safetensors file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # not a pickle naming any object: garbage or damage
            raise CheckpointError("not a readable PyTorch file (corrupt, or not written by "
                                  "torch.save)", path) from None
        raise CheckpointError(
            f"refused: this file holds pickled Python objects (it references "
            f"{found.group(1)}), not just tensors, and loading it could run code; {hint}",
            path) from None
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, ...
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"not a readable PyTorch file (truncated or corrupt?): {first}",
                              path) from None
    if isinstance(obj, nn.Module):  # possible only if a future torch allowlists modules
        raise CheckpointError(f"refused: this is a whole pickled model, not a state dict; {hint}",
                              path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"holds a {type(obj).__name__}, not a state dict; {hint}", path)
    bad = [k for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        inner = [k for k, v in obj.items() if isinstance(v, Mapping)
                 and v and all(isinstance(t, torch.Tensor) for t in v.values())]
        keys = ", ".join(map(str, list(obj)[:6]))
        tip = f"save checkpoint[{inner[0]!r}] on its own" if inner else hint
        raise CheckpointError(f"refused: this is a training checkpoint or other structure (keys: "
                              f"{keys}), not a plain state dict of tensors; {tip}", path)
    return dict(obj)


def _matches(meta: Mapping[str, Any], expect: str | Sequence[str]) -> bool:
    wanted = {expect} if isinstance(expect, str) else set(expect)
    return meta.get("model") in wanted or meta.get("kind") in wanted


def load_model(path: str | os.PathLike, *, expect: str | Sequence[str] | None = None,
               map_location: str | torch.device = "cpu", name: str | None = None,
               config: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from its file and load its weights strictly; returns
    ``(model in eval mode, metadata)``.

    ``expect`` is the model name or kind (or several) the caller can use; another raises
    CheckpointError. ``name``/``config`` give the model name and constructor arguments of a
    plain ``.pt`` state dict (overriding its sidecar ``<stem>.json``); they are ignored for
    ``.safetensors`` files, which describe themselves. Every failure is a one-line
    CheckpointError naming the file.
    """
    path = Path(path)
    _check_exists(path)
    where = "its metadata"
    if path.suffix.lower() in PICKLE_SUFFIXES:
        tensors = _load_plain_state_dict(path)
        meta = _read_sidecar(path) or {}
        if name is not None:
            meta["model"] = name
        if config is not None:
            meta["args"] = dict(config)
        if "model" not in meta:
            raise CheckpointError(
                f"a plain state dict does not say which model it holds: put {path.stem}.json "
                'beside it ({"model": NAME, "args": {...}}) or pass name= and config=', path)
        meta.setdefault("args", {})
        where = f"{path.stem}.json" if name is None else "the given name/config"
    else:
        meta = read_metadata(path)
        tensors = None
    model_name = meta["model"]
    import_model_module(str(meta.get("module", "")))
    try:
        cls = get_model_class(model_name)
    except KeyError as exc:
        raise CheckpointError(f"{exc.args[0]}; this sonomorph cannot build it", path) from None
    meta.setdefault("kind", model_kind(model_name))
    if expect is not None and not _matches(meta, expect):
        wanted = expect if isinstance(expect, str) else "' or '".join(expect)
        raise CheckpointError(f"this is a '{model_name}' checkpoint, expected '{wanted}'", path)
    args = meta.get("args") or {}
    if not isinstance(args, dict):
        raise CheckpointError("its model arguments are not a JSON object", path)
    try:
        model = cls(**args)
    except Exception as exc:  # noqa: BLE001 - bad arguments recorded in a file
        raise CheckpointError(f"cannot build model '{model_name}' from {where}: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                              path) from None
    if tensors is None:
        try:
            tensors = safetensors.torch.load_file(path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - SafetensorError and friends
            raise CheckpointError(f"corrupt weights: {str(exc).splitlines()[0]}", path) from None
    _load_strict(model, tensors, path, where)
    model.to(map_location)
    model.eval()
    return model, meta


def _shape(shape: torch.Size) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _load_strict(model: nn.Module, tensors: Mapping[str, torch.Tensor], path: Path,
                 where: str) -> None:
    """Load ``tensors`` into ``model``, with one-line errors for every mismatch."""
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in tensors:
            missing = [k for k in expected if k not in tensors]
            raise CheckpointError(f"the checkpoint lacks {len(missing)} tensor(s) the model "
                                  f"built from {where} needs (first: '{key}')", path)
        got = tensors[key]
        if tuple(got.shape) != tuple(value.shape):
            raise CheckpointError(
                f"shape mismatch for tensor '{key}': {_shape(got.shape)} in the file, "
                f"{_shape(value.shape)} in the model built from {where}", path)
    extra = [k for k in tensors if k not in expected]
    if extra:
        raise CheckpointError(f"the checkpoint has {len(extra)} tensor(s) the model built from "
                              f"{where} does not expect (first: '{extra[0]}')", path)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"cannot load weights: {str(exc).splitlines()[0]}", path) from None


def resolve_model(spec: str | os.PathLike | None, kind: str) -> Path:
    """The model file a user asked for: ``None`` or ``"default"`` -> the shipped model for
    ``kind``; a bare name (no folder, no file suffix) that is not a file -> the shipped
    model of that name; otherwise a path that must exist (CheckpointError if not)."""
    from sonomorph import pretrained

    if spec is None or str(spec) == "default":
        return pretrained.path_for(kind)
    path = Path(spec).expanduser()
    if path.exists():
        _check_exists(path)  # a folder raises
        return path
    text = os.fspath(spec)
    known_suffix = path.suffix.lower() in (".safetensors", *PICKLE_SUFFIXES)
    if "/" not in text and os.sep not in text and not known_suffix:
        if text in pretrained.available():
            return pretrained.path_for(text)
        raise CheckpointError("no such model file, and no shipped model of that name "
                              f"(shipped: {', '.join(pretrained.available()) or 'none yet'})", path)
    raise CheckpointError("no such model file", path)
