"""Export any model to ONNX and run it with onnxruntime: the helper every ``export`` command uses.

* :func:`export_onnx` traces a model (TorchScript exporter, opset 17, dynamic axes), stores
  string metadata in the file (``metadata_props``: sample rate, hop, latency... whatever the
  caller needs to use the model without sonomorph), checks it with ``onnx.checker`` and writes
  it atomically. The exported file is then run once in onnxruntime against torch on the
  example inputs; a larger difference than ``atol`` raises (a broken export never lands).
* :func:`onnx_session` opens a file in onnxruntime with a given number of threads, with
  one-line errors; :func:`onnx_metadata` reads the metadata back; :func:`max_abs_diff`
  compares torch and onnxruntime outputs.

Why the TorchScript exporter: it needs no extra package (the dynamo exporter needs
onnxscript) and handles the conv/pad graphs our models are made of.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sonomorph.errors import CheckpointError, SonomorphError
from sonomorph.utils.fs import atomic_path

__all__ = ["export_onnx", "onnx_session", "onnx_metadata", "max_abs_diff", "OnnxParityError",
           "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


class OnnxParityError(SonomorphError):
    """onnxruntime's output differs from torch's by more than the tolerance."""


def _run_torch(model: nn.Module, inputs: Sequence[Tensor]) -> list[np.ndarray]:
    with torch.no_grad():
        out = model(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().cpu().float().numpy() for o in outs]


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Largest absolute difference between two lists of same-shaped arrays."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} outputs against {len(b)}")
    worst = 0.0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            raise ValueError(f"output shapes differ: {x.shape} and {y.shape}")
        if x.size:
            worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y))))
    return worst


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    example_inputs: Sequence[Tensor],
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    atol: float | None = 1e-3,
    overwrite: bool = False,
) -> tuple[Path, float | None]:
    """Export ``model`` (in eval mode, on the CPU) to ``path``; returns ``(path, max abs
    difference between onnxruntime and torch on example_inputs)``.

    ``metadata`` values are stored as strings. With ``atol`` None the parity run is skipped
    (the difference is then None); otherwise a difference above ``atol`` raises
    :class:`OnnxParityError` and nothing is written. An existing ``path`` raises
    OutputExistsError unless ``overwrite``.
    """
    import onnx

    model = model.eval().cpu()
    inputs = tuple(t.detach().cpu() for t in example_inputs)
    buf = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # tracer and deprecation warnings are not the user's
        torch.onnx.export(model, inputs, buf, dynamo=False, opset_version=opset,
                          input_names=list(input_names), output_names=list(output_names),
                          dynamic_axes={k: dict(v) for k, v in (dynamic_axes or {}).items()},
                          do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    diff = None
    if atol is not None:
        session = _session_from_bytes(data, threads=1)
        feeds = {name: t.numpy() for name, t in zip(input_names, inputs)}
        got = session.run(list(output_names), feeds)
        diff = max_abs_diff(_run_torch(model, inputs), got)
        if not diff <= atol:
            raise OnnxParityError(f"onnxruntime differs from torch by {diff:.2e} (> {atol:g}); "
                                  "not written", path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path), diff


def _options(threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def _session_from_bytes(data: bytes, threads: int = 1):
    import onnxruntime as ort

    return ort.InferenceSession(data, _options(threads), providers=["CPUExecutionProvider"])


def onnx_session(path: str | os.PathLike, threads: int = 1):
    """An onnxruntime ``InferenceSession`` on the CPU with ``threads`` intra-op threads.
    CheckpointError (one line, naming the file) when the file is missing or not ONNX."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such ONNX file", path)
    try:
        return ort.InferenceSession(os.fspath(path), _options(threads),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"not a loadable ONNX model: {first}", path) from None


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (strings)."""
    session = onnx_session(path)
    return dict(session.get_modelmeta().custom_metadata_map)
