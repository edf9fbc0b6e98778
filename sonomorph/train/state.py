"""Training checkpoints without pickle, written so that a crash never loses the last good one.

A training checkpoint is two files in ``<out_dir>/state/``:

* ``state-<step>-<token>.safetensors``: every tensor (model and optimiser states, ...);
* ``state-<step>.json``: everything else (step, epoch, config, scheduler and GradScaler
  states, per-rank RNG states, trainer bookkeeping), the structure of the state dicts with
  references to the tensors, the tensor file's name, size and sha256.

The tensor file is written first, then the JSON: the JSON is the commit marker. Each is
written to a temporary name, fsync'd and renamed (:func:`sonomorph.utils.fs.atomic_path`),
and the older checkpoint is deleted only after the new JSON is in place. A checkpoint whose
JSON does not parse, whose tensor file is missing, or whose tensor file fails its checksum
raises :class:`CheckpointError` with one line saying so. Loading never unpickles: JSON and
safetensors only. Python ints and floats round-trip exactly through JSON; tuples, dicts with
non-string keys and numpy arrays are tagged so that they come back as they were (the Python
and numpy RNG states depend on this).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import random
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from safetensors.torch import load as _tensors_from_bytes

from sonomorph.errors import CheckpointError
from sonomorph.utils.fs import TMP_PREFIX, atomic_path

FORMAT = "sonomorph-train-state"
FORMAT_VERSION = 1
STATE_DIR = "state"
_JSON_RE = re.compile(r"state-(\d{8,})\.json")
_TENSOR_RE = re.compile(r"state-(\d{8,})-[0-9a-f]+\.safetensors")
_CHUNK = 16 * 1024 * 1024


@dataclass
class TrainingState:
    """Everything needed to continue a run exactly. State dicts are as PyTorch returns them;
    ``rng`` holds one :func:`rng_state` per process (rank order)."""

    step: int
    epoch: int = 0
    models: dict[str, dict] = field(default_factory=dict)
    optimizers: dict[str, dict] = field(default_factory=dict)
    schedulers: dict[str, dict] = field(default_factory=dict)
    scalers: dict[str, dict] = field(default_factory=dict)
    rng: list[dict] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ JSON <-> tensors trees

def encode_tree(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """``obj`` as JSON data; tensors go into ``tensors`` under unique names and are replaced
    by ``{"__tensor__": name}``. Raises TypeError for objects that are not plain data."""
    if isinstance(obj, torch.Tensor):
        name = prefix or "tensor"
        while name in tensors:
            name += "'"
        tensors[name] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": encode_tree(torch.from_numpy(np.ascontiguousarray(obj)),
                                           tensors, prefix)}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.dtype):
        return {"__dtype__": str(obj).removeprefix("torch.")}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode_tree(v, tensors, f"{prefix}/{k}") for k, v in obj.items()}
        return {"__dict__": [[encode_tree(k, tensors, f"{prefix}/key"),
                              encode_tree(v, tensors, f"{prefix}/{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_tree(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_tree(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]
    raise TypeError(f"cannot store a {type(obj).__qualname__} in a training checkpoint "
                    f"(at {prefix or 'top level'}): only tensors and plain data")


def decode_tree(tree: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of :func:`encode_tree`."""
    if isinstance(tree, list):
        return [decode_tree(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1:
        (tag, value), = tree.items()
        if tag == "__tensor__":
            return tensors[value]
        if tag == "__ndarray__":
            return decode_tree(value, tensors).numpy()
        if tag == "__tuple__":
            return tuple(decode_tree(v, tensors) for v in value)
        if tag == "__dict__":
            return {_hashable(decode_tree(k, tensors)): decode_tree(v, tensors) for k, v in value}
        if tag == "__dtype__":
            return getattr(torch, value)
    return {k: decode_tree(v, tensors) for k, v in tree.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


# ------------------------------------------------------------------ random number generators

def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def rng_state() -> dict[str, Any]:
    """This process's Python, numpy, torch CPU and CUDA generator states, as JSON data."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": np_state["state"]["key"].tolist(), "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"],
                         "state": {"key": np.asarray(n["key"], dtype=np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(_unb64(state["torch"]))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([_unb64(s) for s in cuda])


@contextlib.contextmanager
def preserve_rng() -> Iterator[None]:
    """Run a block (validation, sample logging) without disturbing any global generator, so
    that how often it runs never changes the training trajectory."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ------------------------------------------------------------------ files

def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in chunks and fsync it (the one place bytes hit the disk,
    so tests can simulate a full disk here)."""
    with open(path, "wb") as f:
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            f.write(view[start:start + _CHUNK])
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _json_step(path: Path) -> int | None:
    m = _JSON_RE.fullmatch(path.name)
    return int(m.group(1)) if m else None


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The JSON file of the newest committed training checkpoint in ``directory``, if any."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = [(s, p) for p in directory.iterdir() if (s := _json_step(p)) is not None]
    return max(found)[1] if found else None


def clear_training_state(directory: str | os.PathLike) -> None:
    """Delete every training checkpoint file in ``directory`` (starting a run afresh)."""
    directory = Path(directory)
    if directory.is_dir():
        for p in directory.iterdir():
            if _JSON_RE.fullmatch(p.name) or _TENSOR_RE.fullmatch(p.name) or \
                    p.name.startswith(TMP_PREFIX):
                with contextlib.suppress(OSError):
                    p.unlink()


def _cleanup(directory: Path, keep_json: Path, keep_tensor: str) -> None:
    """After a commit: drop older checkpoints (JSON first, so none points to a deleted file)
    and temporary files left by an earlier crash."""
    names = sorted(directory.iterdir(), key=lambda p: not p.name.endswith(".json"))
    for p in names:
        stale = (_JSON_RE.fullmatch(p.name) and p != keep_json) or \
            (_TENSOR_RE.fullmatch(p.name) and p.name != keep_tensor) or p.name.startswith(TMP_PREFIX)
        if stale:
            with contextlib.suppress(OSError):
                p.unlink()


def _plain_extra(extra: Mapping[str, Any]) -> Any:
    found: dict[str, torch.Tensor] = {}
    tree = encode_tree(dict(extra), found, "extra")
    if found:
        raise TypeError("TrainingState.extra must hold plain data, not tensors")
    return tree


def save_training_state(directory: str | os.PathLike, state: TrainingState,
                        *, versions: Mapping[str, str] | None = None) -> Path:
    """Write ``state`` as a training checkpoint in ``directory``; returns its JSON path.

    On any failure (a full disk, Ctrl-C) the new files are removed and the previous
    checkpoint stays as it was; the error propagates."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tree = encode_tree({"models": state.models, "optimizers": state.optimizers,
                        "schedulers": state.schedulers, "scalers": state.scalers}, tensors)
    data = safetensors.torch.save(tensors, metadata={"format": FORMAT + "-tensors"})
    tensor_name = f"state-{state.step:08d}-{secrets.token_hex(4)}.safetensors"
    tensor_path = directory / tensor_name
    json_path = directory / f"state-{state.step:08d}.json"
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "step": state.step,
        "epoch": state.epoch,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": dict(versions or {}),
        "tensor_file": tensor_name,
        "tensor_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "config": state.config,
        "rng": state.rng,
        "extra": _plain_extra(state.extra),
        "state": tree,
    }
    text = json.dumps(doc, allow_nan=True, separators=(",", ":"))
    committed = False
    try:
        with atomic_path(tensor_path) as tmp:
            _write_bytes(tmp, data)
        with atomic_path(json_path, overwrite=True) as tmp:
            _write_bytes(tmp, text.encode("utf-8"))
        committed = True
        _fsync_dir(directory)
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                tensor_path.unlink()
    _cleanup(directory, json_path, tensor_name)
    return json_path


def load_training_state(path: str | os.PathLike) -> TrainingState:
    """Read a training checkpoint: its JSON file, or the newest one in a folder.

    CheckpointError (one line) for a missing, truncated, tampered or foreign checkpoint."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise CheckpointError("holds no training checkpoint", path)
        path = found
    if not path.is_file():
        raise CheckpointError("no such training checkpoint", path)
    fix = f"delete the folder {path.parent} (or move it away) to start afresh"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"training checkpoint is damaged (its JSON does not parse: "
                              f"truncated?); {fix}", path) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read: {exc.strerror or exc}", path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError("not a sonomorph training checkpoint", path)
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise CheckpointError("written by a newer sonomorph; upgrade to resume from it", path)
    name = str(doc.get("tensor_file", ""))
    if not _TENSOR_RE.fullmatch(name):
        raise CheckpointError(f"training checkpoint is damaged (bad tensor file name); {fix}", path)
    tensor_path = path.parent / name
    try:
        data = tensor_path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"training checkpoint is incomplete: its tensor file {name} is "
                              f"missing; {fix}", path) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read: {exc.strerror or exc}", tensor_path) from None
    if len(data) != doc.get("tensor_bytes") or hashlib.sha256(data).hexdigest() != doc.get("sha256"):
        raise CheckpointError(
            f"training checkpoint is damaged: {name} fails its checksum ({len(data)} bytes, "
            f"{doc.get('tensor_bytes')} expected; truncated or modified); {fix}", path)
    try:
        tensors = _tensors_from_bytes(data)  # safetensors format: never a pickle
        tree = decode_tree(doc["state"], tensors)
        extra = decode_tree(doc.get("extra", {}), {})
        return TrainingState(
            step=int(doc["step"]), epoch=int(doc.get("epoch", 0)),
            models=tree["models"], optimizers=tree["optimizers"],
            schedulers=tree.get("schedulers", {}), scalers=tree.get("scalers", {}),
            rng=list(doc.get("rng", [])), config=dict(doc.get("config", {})), extra=extra)
    except Exception as exc:  # noqa: BLE001 - any structural problem in a checksummed file
        raise CheckpointError(f"training checkpoint is damaged ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); {fix}",
                              path) from None
