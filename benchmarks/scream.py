"""Scream benchmark: generator speed (x real time, one thread) in torch and onnxruntime, the
streaming engine's speed and latency per block size, and peak memory of long files.

Every setting runs in a fresh subprocess (:mod:`sonomorph.eval.bench`). Generators are built
with random weights (speed does not depend on them) at the sizes the model card compares:
the original MelGAN (ngf 32, 4.3M parameters), a half- and a quarter-width MelGAN, and the
fast iSTFT-head generator (the shipped size, and a wider one). ONNX files are exported by the
case's set-up (untimed), with ``sonomorph.models.onnx_export`` and the front end included.

    .venv/bin/python benchmarks/scream.py            # everything (about 10 minutes)
    .venv/bin/python benchmarks/scream.py --quick    # generators only
    .venv/bin/python benchmarks/scream.py --device cuda   # torch rows on the GPU (ONNX stays on the CPU)

Prints markdown tables and writes ``benchmarks/results/scream.json`` (``--json PATH``: there).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.cli.common import write_json  # noqa: E402
from sonomorph.eval.bench import (  # noqa: E402
    add_device_option,
    growth_mb_per_minute,
    markdown_table,
    memory_growth,
    parse_args,
    run_case,
)

SR = 22050
THIS = str(Path(__file__).resolve())
SHOWN = Path(THIS).relative_to(ROOT).as_posix()  # cases' names in results: no absolute path
RESULTS = ROOT / "benchmarks" / "results" / "scream.json"

ARCHS = {
    "melgan (original, ngf 32)": {"arch": "melgan", "ngf": 32},
    "melgan (half width, ngf 16)": {"arch": "melgan", "ngf": 16},
    "melgan (quarter width, ngf 8)": {"arch": "melgan", "ngf": 8},
    "istft (shipped: dim 128 x 6)": {"arch": "istft", "dim": 128, "hidden": 384},
    "istft (wider: dim 192 x 6)": {"arch": "istft", "dim": 192, "hidden": 576},
}


def _signal(n: int) -> np.ndarray:
    """A deterministic voice-like test signal (harmonics with a gliding pitch, over noise)."""
    t = np.arange(n) / SR
    phase = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 0.5 * t)) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    rng = np.random.default_rng(0)
    return (0.3 * x + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _build(arch: str, **args):
    import torch

    from sonomorph.models.melgan import ISTFTGenerator, MelGANGenerator, fold_weight_norm

    torch.manual_seed(0)
    if arch == "melgan":
        return fold_weight_norm(MelGANGenerator(**args).eval())
    return ISTFTGenerator(**args).eval()


def _model_from(args: dict):
    """A generator from bench kwargs: ``model`` (a checkpoint) or ``arch`` + sizes."""
    if args.get("model"):
        from sonomorph.models import load_model

        return load_model(args["model"], expect="scream")[0]
    return _build(**args)


# ----------------------------------------------------------------------------- cases


def torch_case(seconds: float, device: str = "cpu", **args):
    """The generator in torch (eager, no_grad) on ``seconds`` of audio."""
    import torch

    model = _model_from(args).to(device)
    x = torch.from_numpy(_signal(int(seconds * SR))).view(1, 1, -1).to(device)

    def work():
        with torch.inference_mode():
            model(x)

    return work


def _export(args: dict) -> str:
    import torch

    from sonomorph.models.onnx_export import export_onnx

    model = _model_from(args)
    path = Path(tempfile.mkdtemp(prefix="sonomorph-bench-")) / "g.onnx"
    x = torch.from_numpy(_signal(SR)).view(1, 1, -1)
    past, future = model.receptive_field()
    export_onnx(model, path, (x, torch.zeros(1)), input_names=["audio", "gain"],
                output_names=["scream"], dynamic_axes={"audio": {0: "b", 2: "n"}, "gain": {0: "b"},
                                                       "scream": {0: "b", 2: "n"}},
                metadata={"sample_rate": SR, "hop_length": 256, "past": past, "future": future,
                          "peak_guard": model.front.peak_guard}, atol=None)
    return str(path)


def onnx_case(seconds: float, **args):
    """The exported generator in onnxruntime (one intra-op thread)."""
    from sonomorph.models.onnx_export import onnx_session

    session = onnx_session(_export(args), threads=1)
    feeds = {"audio": _signal(int(seconds * SR)).reshape(1, 1, -1),
             "gain": np.zeros(1, np.float32)}

    def work():
        session.run(None, feeds)

    return work


def _latency_ms(args: dict, block: int, backend: str) -> float:
    from sonomorph.pipelines.streaming import StreamingEngine, TorchBackend

    be = TorchBackend(_model_from(args))
    engine = StreamingEngine(be, block, fixed_blocks=True, incremental=backend == "torch")
    return engine.latency_ms


def streaming_case(seconds: float, block: int = 256, backend: str = "onnx", device: str = "cpu",
                   **args):
    """The streaming engine fed ``block``-sample blocks (torch backend on ``device``, or
    onnxruntime on the CPU)."""
    from sonomorph.pipelines.streaming import OnnxBackend, StreamingEngine, TorchBackend

    be = (OnnxBackend(_export(args)) if backend == "onnx"
          else TorchBackend(_model_from(args), device=device))
    x = _signal(int(seconds * SR) // block * block)

    def work():
        engine = StreamingEngine(be, block, gain=2.0, fixed_blocks=True)
        for i in range(0, x.shape[0], block):
            engine.process(x[i: i + block])

    return work


def long_file_case(seconds: float, model: str = "", device: str = "cpu"):
    """``Screamer.process_file`` on a ``seconds``-long 44.1 kHz stereo file, forced onto the
    constant-memory path (the file is written by the untimed set-up)."""
    import soundfile as sf

    from sonomorph.pipelines import scream as S

    tmp = Path(tempfile.mkdtemp(prefix="sonomorph-bench-"))
    src = tmp / "long.wav"
    with sf.SoundFile(src, "w", 44100, 2, subtype="PCM_16") as f:
        block = _signal(int(30 * SR))
        up = np.interp(np.arange(int(30 * 44100)) * SR / 44100, np.arange(block.shape[0]), block)
        for _ in range(int(np.ceil(seconds / 30))):
            f.write(np.stack([up, up * 0.7], axis=1).astype(np.float32))
    S.LONG_FILE_S = 1.0
    if model:
        screamer = S.Screamer(model, device=device)
    else:
        from sonomorph.pipelines.streaming import TorchBackend

        screamer = S.Screamer(backend=TorchBackend(_build("istft", dim=128, hidden=384),
                                                   device=device))
    count = [0]

    def work():
        count[0] += 1
        screamer.process_file(src, tmp / f"out{count[0]}.wav")

    return work


# ----------------------------------------------------------------------------- CPU time


def cpu_xrt(factory, seconds: float, repeats: int = 3, **kwargs) -> float:
    """Seconds of audio per second of this process's CPU time (best of ``repeats``), one
    thread. On a shared, oversubscribed machine wall time mostly measures the queue; CPU
    time measures the work."""
    import time

    import torch

    torch.set_num_threads(1)
    work = factory(seconds=seconds, **kwargs)
    work()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        work()
        best = min(best, time.process_time() - t0)
    return seconds / best


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="generators only")
    p.add_argument("--model", default="", help="also time this checkpoint (e.g. the shipped one)")
    p.add_argument("--seconds", type=float, default=20.0, help="audio per timed run")
    p.add_argument("--json", type=Path, default=RESULTS, help="results file (default: %(default)s)")
    add_device_option(p)
    args = parse_args(p, argv)
    dev = args.device
    record: dict = {"machine": platform.platform(), "python": platform.python_version(),
                    "device": dev, "generators": [], "streaming": [], "memory": []}
    archs = dict(ARCHS)
    if args.model:
        archs[f"checkpoint {Path(args.model).name}"] = {"model": args.model}
    rows = []
    for name, kw in archs.items():
        import torch  # parameter count in this process

        n_params = sum(p.numel() for p in _model_from(kw).parameters())
        slow = kw.get("arch") == "melgan" and kw.get("ngf", 32) >= 32
        secs = 5.0 if slow else args.seconds
        t = run_case(f"{THIS}:torch_case", name=f"{SHOWN}:torch_case", seconds=secs, threads=1,
                     repeats=3, kwargs=kw, device=dev)
        o = run_case(f"{THIS}:onnx_case", name=f"{SHOWN}:onnx_case", seconds=secs, threads=1,
                     repeats=3, kwargs=kw)
        # CPU time measures the CPU's work: not a GPU's speed
        tc = cpu_xrt(torch_case, secs, **kw) if dev == "cpu" else None
        oc = cpu_xrt(onnx_case, secs, **kw)
        rows.append([name, n_params / 1e6, t.x_realtime, o.x_realtime, tc, oc,
                     t.error or o.error or ""])
        record["generators"].append({"name": name, "params": n_params, "torch": t.to_dict(),
                                     "onnx": o.to_dict(), "torch_cpu_xrt": tc, "onnx_cpu_xrt": oc})
        del torch
    print(f"\nGenerator speed, one thread (x real time; wall: median of 3 in a fresh process; "
          f"cpu: best of 3 by CPU time); load average {os.getloadavg()[0]:.1f}:\n")
    print(markdown_table(["generator", "params (M)", f"torch wall ({dev})", "onnxruntime wall",
                          "torch cpu", "onnxruntime cpu", "error"], rows))
    if not args.quick:
        rows = []
        kw = {"model": args.model} if args.model else ARCHS["istft (shipped: dim 128 x 6)"]
        for backend in ("onnx", "torch"):
            for block in (256, 2048):
                on = dev if backend == "torch" else None  # onnxruntime runs on the CPU
                m = run_case(f"{THIS}:streaming_case", name=f"{SHOWN}:streaming_case",
                             seconds=10.0, threads=1, repeats=2,
                             kwargs={**kw, "block": block, "backend": backend}, device=on)
                c = (cpu_xrt(streaming_case, 10.0, repeats=2, block=block, backend=backend, **kw)
                     if m.device == "cpu" else None)
                latency = _latency_ms(kw, block, backend)
                rows.append([backend, block, latency, m.x_realtime, c, m.error or ""])
                record["streaming"].append({"backend": backend, "block": block,
                                            "latency_ms": latency, "cpu_xrt": c, **m.to_dict()})
        print("\nStreaming engine (fast generator), one thread, fixed-size blocks:\n")
        print(markdown_table(["backend", "block", "latency (ms)", "x real time wall",
                              "x real time cpu", "error"], rows))
        mem = memory_growth(f"{THIS}:long_file_case", [120, 600, 1200],
                            name=f"{SHOWN}:long_file_case",
                            kwargs={"model": args.model} if args.model else {}, device=dev)
        record["memory"] = [m.to_dict() for m in mem]
        print("\nLong files (constant-memory path), peak RSS:\n")
        print(markdown_table(["minutes", "peak MB", "x real time", "error"],
                             [[m.seconds / 60, m.peak_rss_mb, m.x_realtime, m.error or ""]
                              for m in mem]))
        print(f"\nmemory growth: {growth_mb_per_minute(mem)} MB per minute of audio")
    if args.model:  # the weights timed (file, sha256, steps): the model card names them
        from sonomorph.eval.records import weights_record
        from sonomorph.models import read_metadata

        record["weights"] = weights_record(args.model, read_metadata(args.model))
    write_json(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
