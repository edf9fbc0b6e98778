"""Separation benchmark: speed (x real time, 1 and 2 threads) and peak memory for 1, 10 and
60 minutes of stereo 44.1 kHz audio; sonomorph beside Spleeter 2-stem, Open-Unmix and
HT-Demucs; and an end-to-end row: ``sonomorph separate`` against Spleeter, file to file, on
one 10-minute stereo file with one thread, in the same run.

Every (model, threads, length) setting runs in a fresh subprocess
(:mod:`sonomorph.eval.bench`), so peak memory (``ru_maxrss``) is that one setting's.
Open-Unmix and HT-Demucs are built with random weights from the ``openunmix`` and
``demucs`` packages (speed does not depend on the weights), with the settings of their own
command-line tools: UMX-HQ (one vocals model, hidden 512, 16 kHz bandwidth) with the
residual as accompaniment and one Wiener EM iteration; HT-Demucs (default architecture,
4 sources) through ``demucs.apply.apply_model`` (7.8-s segments, overlap 0.25, 1 shift).
Spleeter 2-stem is our re-implementation of its inference
(:mod:`sonomorph.eval.peers.spleeter`, the two U-Nets, masks and STFT/ISTFT of Spleeter),
with random weights unless ``--spleeter-weights`` names the converted file (speed does not
depend on the weights). Spleeter, Open-Unmix and HT-Demucs process a song as one array held
in memory, as their tools do; sonomorph streams the file (``Separator.separate_file``). The
speed rows time in-memory separation of a 30-s clip (sonomorph includes chunking, STFT and
ISTFT).

The end-to-end rows (``--e2e-seconds``, 600 by default) time, with one thread in a fresh
process each, ``sonomorph separate FILE -o DIR`` (the command's ``main``, model loading
included; not the interpreter's start) and Spleeter's equivalent (load the weights, read
the file, separate, write both stems as 16-bit WAV) on the same 16-bit stereo WAV; the
ratio of the two speeds is the issue's speed target (ours at least 2x Spleeter's).

Speed is reported two ways. Wall clock is what a user waits for, but on a shared machine it
depends on what else runs (the load average is recorded beside it). Process CPU time with
one thread is the speed on an idle core and hardly depends on the load: the "x RT 1 thread
(CPU time)" column is the figure to compare with the targets.

Run (takes about 30-40 minutes on 2 cores; HT-Demucs dominates)::

    .venv/bin/python benchmarks/separation.py            # everything
    .venv/bin/python benchmarks/separation.py --quick    # 1-min memory point only
    .venv/bin/python benchmarks/separation.py --only sonomorph spleeter --speed-only
    .venv/bin/python benchmarks/separation.py --candidates   # architecture candidates
    .venv/bin/python benchmarks/separation.py --device cuda --speed-only   # on the GPU

Prints a markdown table and writes ``benchmarks/results/separation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.eval.bench import (  # noqa: E402
    Measurement,
    add_device_option,
    growth_mb_per_minute,
    markdown_table,
    memory_growth,
    parse_args,
    run_case,
)

SR = 44100
THIS = str(Path(__file__).resolve())
CACHE = Path(tempfile.gettempdir()) / "sonomorph-bench"
RESULTS = ROOT / "benchmarks" / "results" / "separation.json"


# ----------------------------------------------------------------------------- inputs


def _signal(start: int, n: int) -> np.ndarray:
    """A deterministic stereo test signal (a wandering tone over noise) of ``n`` samples
    starting at sample ``start``; any block can be generated on its own."""
    t = (np.arange(start, start + n, dtype=np.float64)) / SR
    tone = 0.2 * np.sin(2 * np.pi * (220.0 + 40.0 * np.sin(2 * np.pi * 0.1 * t)) * t)
    rng = np.random.default_rng(start)
    noise = 0.05 * rng.standard_normal((2, n))
    return (tone[None, :] + noise).astype(np.float32)


def _array(seconds: float) -> np.ndarray:
    return _signal(0, int(seconds * SR))


def _wav(seconds: float) -> Path:
    """A cached 16-bit stereo WAV of ``seconds``, written block by block."""
    import soundfile as sf

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"input-{int(seconds)}s.wav"
    if not path.exists():
        tmp = path.with_suffix(".part.wav")
        total, block = int(seconds * SR), 60 * SR
        with sf.SoundFile(tmp, "w", SR, 2, subtype="PCM_16") as f:
            for start in range(0, total, block):
                f.write(_signal(start, min(block, total - start)).T)
        tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- cases
# Each factory does the untimed set-up and returns the timed work() callable.


def _sonomorph_model(model: str, **arch):
    from sonomorph.models.separator import MaskSeparator

    if model == "random":
        import torch

        torch.manual_seed(0)
        return MaskSeparator(**arch).eval()
    return model  # "default" or a path: the Separator loads it


def sonomorph_memory(seconds: float, model: str = "default", device: str = "cpu", **arch):
    """In-memory separation of an array (the speed figure)."""
    from sonomorph.pipelines.separate import Separator

    sep = Separator(_sonomorph_model(model, **arch), device=device)
    x = _array(seconds)
    return lambda: sep.separate(x, SR)


def sonomorph_file(seconds: float, model: str = "default", device: str = "cpu"):
    """File-to-file streaming separation (the memory figure): 16-bit WAV in and out."""
    from sonomorph.pipelines.separate import Separator

    sep = Separator(_sonomorph_model(model), device=device)
    src = _wav(seconds)
    out = Path(tempfile.mkdtemp(prefix="sonomorph-bench-out-"))

    def work():
        sep.separate_file(src, out, overwrite=True)

    return work


def _spleeter(weights: str, device: str = "cpu"):
    from sonomorph.eval.peers.spleeter import Spleeter, SpleeterSeparator

    if weights == "random":
        import torch

        torch.manual_seed(0)
        return SpleeterSeparator(Spleeter(), device=device)
    return SpleeterSeparator(weights, device=device)


def spleeter(seconds: float, weights: str = "random", device: str = "cpu"):
    """Spleeter 2-stem (our inference code) on an array held in memory, as its tool does."""
    sep = _spleeter(weights, device)
    x = _array(seconds)
    return lambda: sep.separate(x, SR)


def spleeter_file(seconds: float, weights: str = "random", device: str = "cpu"):
    """Spleeter file to file: load the weights, read the WAV, separate, write both stems
    as 16-bit WAV (the work of its own command line tool)."""
    from sonomorph.audio.io import load, save

    src = _wav(seconds)
    out = Path(tempfile.mkdtemp(prefix="sonomorph-bench-spleeter-"))

    def work():
        sep = _spleeter(weights, device)
        wav, sr = load(src)
        stems = sep.separate(wav, sr)
        for name, stem in stems.items():
            save(out / f"{name}.wav", stem, sr, bit_depth="16", overwrite=True)

    return work


def sonomorph_cli(seconds: float, model: str = "default", device: str = "cpu"):
    """``sonomorph separate FILE -o DIR --force`` end to end (the command's main: model
    loading, streaming read, separation, 16-bit WAV writing)."""
    from sonomorph.cli import main

    src = _wav(seconds)
    out = Path(tempfile.mkdtemp(prefix="sonomorph-bench-cli-"))
    argv = ["-q", "--device", device, "separate", str(src), "-o", str(out), "--force",
            "--format", "wav", "--bit-depth", "16"]
    if model != "default":
        argv += ["--model", str(_sonomorph_model_path(model))]

    def work():
        code = main(argv)
        if code != 0:
            raise RuntimeError(f"sonomorph separate exited {code}")

    return work


def _sonomorph_model_path(model: str) -> Path:
    """A model file for the command line: ``random`` is saved to a temporary file."""
    if model != "random":
        return Path(model)
    from sonomorph.models import save_model

    path = Path(tempfile.mkdtemp(prefix="sonomorph-bench-model-")) / "random.safetensors"
    return save_model(path, _sonomorph_model("random"))


def weights_of(model: str, kind: str = "separator"):
    """What the results record about the weights timed: ``weights_record`` of the file
    (name, sha256, steps), or ``"random"``."""
    if model == "random":
        return "random"
    from sonomorph.eval.records import weights_record
    from sonomorph.models import read_metadata, resolve_model

    if kind == "spleeter":  # the peer's converted weights: a plain safetensors file
        return weights_record(Path(model).expanduser())
    path = resolve_model(model, kind)
    return weights_record(path, read_metadata(path))


def _stub_torchaudio() -> None:
    """openunmix imports torchaudio at import time (for file I/O we do not use), and
    torchaudio cannot be installed here: a placeholder module satisfies the import."""
    if "torchaudio" not in sys.modules:
        stub = types.ModuleType("torchaudio")
        stub.__version__ = "0.0-stub"
        sys.modules["torchaudio"] = stub


def umx(seconds: float, niter: int = 1, device: str = "cpu"):
    """Open-Unmix UMX-HQ vocals (random weights) + residual, whole song in memory."""
    import torch

    _stub_torchaudio()
    from openunmix.model import OpenUnmix
    from openunmix.model import Separator as UMXSeparator
    from openunmix.utils import bandwidth_to_max_bin

    torch.manual_seed(0)
    max_bin = bandwidth_to_max_bin(rate=44100.0, n_fft=4096, bandwidth=16000)
    vocals = OpenUnmix(nb_bins=4096 // 2 + 1, nb_channels=2, hidden_size=512, max_bin=max_bin)
    sep = UMXSeparator({"vocals": vocals}, niter=niter, residual=True, n_fft=4096, n_hop=1024,
                       nb_channels=2, sample_rate=44100.0, filterbank="torch").eval()
    sep.freeze()
    sep = sep.to(device)
    x = torch.from_numpy(_array(seconds))[None].to(device)

    def work():
        with torch.inference_mode():
            sep(x)

    return work


def htdemucs(seconds: float, device: str = "cpu"):
    """HT-Demucs (random weights, default architecture) via demucs.apply.apply_model."""
    import torch
    from demucs.apply import apply_model
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"]).eval().to(device)
    x = torch.from_numpy(_array(seconds))[None].to(device)

    def work():
        with torch.inference_mode():
            apply_model(model, x, shifts=1, split=True, overlap=0.25, progress=False,
                        num_workers=0)

    return work


def param_count(name: str) -> float:
    """Millions of parameters of each benchmarked network (built in this process)."""
    import torch

    if name == "sonomorph":
        from sonomorph.models.separator import MaskSeparator

        try:
            from sonomorph.models import load_model, resolve_model

            m, _ = load_model(resolve_model("default", "separator"), expect="separator")
        except Exception:  # noqa: BLE001 - no shipped model yet: the default architecture
            m = MaskSeparator()
        return sum(p.numel() for p in m.parameters()) / 1e6
    if name == "spleeter":
        from sonomorph.eval.peers.spleeter import Spleeter

        return sum(p.numel() for p in Spleeter().parameters()) / 1e6
    if name == "umx":
        _stub_torchaudio()
        from openunmix.model import OpenUnmix
        from openunmix.utils import bandwidth_to_max_bin

        m = OpenUnmix(nb_bins=2049, nb_channels=2, hidden_size=512,
                      max_bin=bandwidth_to_max_bin(rate=44100.0, n_fft=4096, bandwidth=16000))
        return sum(p.numel() for p in m.parameters()) / 1e6
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    m = HTDemucs(sources=["drums", "bass", "other", "vocals"])
    return sum(p.numel() for p in m.parameters()) / 1e6


# ----------------------------------------------------------------------------- driver


def _fmt_mem(m: Measurement | None) -> str:
    if m is None:
        return "–"
    if m.error:
        return f"failed: {m.error}"
    return f"{m.peak_rss_mb:.0f} MB"


def _extrapolate(rows: list[Measurement], seconds: float) -> Measurement | None:
    """Linear fit of peak memory and time over the measured lengths, at ``seconds``."""
    pts = [m for m in rows if m.ok and m.peak_rss_mb is not None]
    if len(pts) < 2:
        return None
    slope = growth_mb_per_minute(pts) or 0.0
    x0 = pts[-1]
    mem = x0.peak_rss_mb + slope * (seconds - x0.seconds) / 60.0
    t = x0.median_s * seconds / x0.seconds
    return Measurement(name=x0.name, seconds=seconds, threads=x0.threads, times=[t],
                       peak_rss_mb=mem, note="extrapolated (linear in length)")


def run_all(args) -> dict:
    speed_clip = args.speed_seconds
    lengths = [] if args.speed_only else [60.0] if args.quick else [60.0, 600.0, 3600.0]
    cases = {
        "sonomorph": {"speed": f"{THIS}:sonomorph_memory", "memory": f"{THIS}:sonomorph_file",
                      "kwargs": {"model": args.model}},
        "Spleeter 2-stem": {"speed": f"{THIS}:spleeter", "memory": f"{THIS}:spleeter_file",
                            "kwargs": {"weights": args.spleeter_weights}},
        "Open-Unmix (UMX-HQ vocals + residual, 1 EM iter)": {
            "speed": f"{THIS}:umx", "memory": f"{THIS}:umx", "kwargs": {}},
        "HT-Demucs": {"speed": f"{THIS}:htdemucs", "memory": f"{THIS}:htdemucs", "kwargs": {}},
    }
    only = set(args.only or [])
    results: dict = {"machine": {"cpu": platform.processor() or platform.machine(),
                                 "cores": os.cpu_count(), "python": platform.python_version()},
                     "speed_clip_s": speed_clip, "device": args.device, "cases": {}}
    for name, case in cases.items():
        key = name.split()[0].lower()
        if only and key not in only:
            continue
        kw = case["kwargs"]
        which = {"sonomorph": "sonomorph", "spleeter": "spleeter", "open-unmix": "umx",
                 "ht-demucs": "htdemucs"}[key]
        entry: dict = {"params_m": param_count(which), "speed": {}, "memory": {}}
        for threads in (1, 2):
            repeats = 1 if key == "ht-demucs" else 3
            m = run_case(case["speed"], seconds=speed_clip, threads=threads, repeats=repeats,
                         warmup=1, kwargs=kw, name=name, timeout=3600, device=args.device)
            entry["speed"][threads] = m.to_dict()
            print(f"{name}: {threads} thread(s): "
                  f"{m.x_realtime and round(m.x_realtime, 1)}x real time (wall), "
                  f"{m.x_realtime_cpu and round(m.x_realtime_cpu, 1)}x per CPU second "
                  f"{m.error or ''}", flush=True)
        mem_rows: list[Measurement] = []
        for seconds in lengths:
            if key in ("ht-demucs", "spleeter") and seconds > 600:  # whole song in memory
                ext = _extrapolate(mem_rows, seconds)
                if ext is not None:
                    ext.name = name
                    mem_rows.append(ext)
                    entry["memory"][int(seconds)] = ext.to_dict()
                continue
            m = memory_growth(case["memory"], [seconds], threads=1, kwargs=kw, name=name,
                              timeout=7200, memory_limit_mb=args.memory_cap_mb,
                              device=args.device)[0]
            mem_rows.append(m)
            entry["memory"][int(seconds)] = m.to_dict()
            print(f"{name}: {seconds / 60:g} min: {_fmt_mem(m)} "
                  f"({m.median_s and round(m.median_s, 1)} s)", flush=True)
        entry["growth_mb_per_min"] = growth_mb_per_minute(
            [m for m in mem_rows if m.ok and not m.note])
        results["cases"][name] = entry
    if args.e2e_seconds and (not only or only & {"sonomorph", "spleeter"}):
        results["end_to_end"] = end_to_end(args)
    return results


def end_to_end(args) -> dict:
    """``sonomorph separate`` and Spleeter file to file on one ``--e2e-seconds`` WAV, one
    thread each, in the same run; ``ratio`` is ours over Spleeter's speed (CPU time)."""
    seconds = float(args.e2e_seconds)
    rows = {
        "sonomorph separate (CLI)": (f"{THIS}:sonomorph_cli", {"model": args.model}),
        "Spleeter 2-stem (file to file)": (f"{THIS}:spleeter_file",
                                           {"weights": args.spleeter_weights}),
    }
    out: dict = {"seconds": seconds, "threads": 1, "device": args.device, "rows": {}}
    for name, (target, kw) in rows.items():
        m = run_case(target, seconds=seconds, threads=1, repeats=1, warmup=0, kwargs=kw,
                     name=name, timeout=7200, memory_limit_mb=args.memory_cap_mb,
                     device=args.device)
        out["rows"][name] = m.to_dict()
        print(f"end to end, {seconds / 60:g} min, 1 thread: {name}: "
              f"{m.x_realtime_cpu and round(m.x_realtime_cpu, 1)}x per CPU second, "
              f"{m.x_realtime and round(m.x_realtime, 1)}x wall, {_fmt_mem(m)} "
              f"{m.error or ''}", flush=True)
    ours, peer = (out["rows"][n] for n in rows)
    for key in ("x_realtime_cpu", "x_realtime"):
        if ours.get(key) and peer.get(key):
            out[f"ratio_{key}"] = ours[key] / peer[key]
    out["weights"] = {"sonomorph": weights_of(args.model),
                      "spleeter": weights_of(args.spleeter_weights, "spleeter")}
    return out


def e2e_table(e2e: dict) -> str:
    header = ["end to end, one thread", "x RT (CPU time)", "x RT (wall)", "peak mem",
              "load avg"]
    rows = []
    for name, d in e2e["rows"].items():
        load = d.get("load") or []
        rows.append([name, _round(d.get("x_realtime_cpu")), _round(d.get("x_realtime")),
                     _fmt_mem_dict(d), f"{min(load):.1f}-{max(load):.1f}" if load else None])
    ratio = e2e.get("ratio_x_realtime_cpu")
    text = markdown_table(header, rows)
    text += (f"\n\n{e2e['seconds'] / 60:g}-minute 16-bit stereo WAV. sonomorph / Spleeter speed "
             f"(CPU time): {ratio:.2f}x" if ratio else "") + \
        (f" (wall: {e2e['ratio_x_realtime']:.2f}x)." if e2e.get("ratio_x_realtime") else "")
    return text


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _fmt_mem_dict(d: dict) -> str:
    if d.get("error"):
        return f"failed: {d['error'][:80]}"
    return f"{d['peak_rss_mb']:.0f} MB" if d.get("peak_rss_mb") else "–"


def _xrt_cell(entry: dict, threads: int, key: str = "x_realtime") -> object:
    d = entry["speed"].get(threads) or entry["speed"].get(str(threads))
    if not d:
        return None
    return round(d[key], 1) if d.get(key) else f"failed: {d['error']}"


def _mem_cell(entry: dict, seconds: int) -> object:
    d = entry["memory"].get(seconds) or entry["memory"].get(str(seconds))
    if not d:
        return None
    if d.get("error"):
        cap = re.search(r"under a (\d+) MB cap", d["error"])
        return f"> {cap.group(1)} MB (address-space cap hit)" if cap else \
            f"failed ({d['error'][:80]})"
    return f"{d['peak_rss_mb']:.0f} MB" + (" (extrapolated)" if d.get("note") else "")


def _load_cell(entry: dict) -> str | None:
    """The machine's 1-minute load average around the speed runs (2 cores: above ~1,
    other work competed with the measurement)."""
    loads = [x for d in entry["speed"].values() if d.get("load") for x in d["load"]]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else None


def table(results: dict) -> str:
    text = speed_table(results)
    if results.get("end_to_end"):
        text += "\n\n" + e2e_table(results["end_to_end"])
    return text


def speed_table(results: dict) -> str:
    header = ["model", "params", "x RT 1 thread (CPU time)", "x RT 1 thread (wall)",
              "x RT 2 threads (wall)", "peak mem 1 min",
              "peak mem 10 min", "peak mem 60 min", "growth MB/min", "load avg (speed runs)"]
    rows = []
    for name, e in results["cases"].items():
        g = e.get("growth_mb_per_min")
        rows.append([name, f"{e['params_m']:.2f}M" if e.get("params_m") else None,
                     _xrt_cell(e, 1, "x_realtime_cpu"), _xrt_cell(e, 1), _xrt_cell(e, 2),
                     _mem_cell(e, 60), _mem_cell(e, 600),
                     _mem_cell(e, 3600), None if g is None else round(g, 1), _load_cell(e)])
    return markdown_table(header, rows)


def candidates(args) -> None:
    """Speed of architecture candidates (random weights, in-memory, 30-s clip)."""
    variants = {
        "tcn h256 x6 (n_fft 4096)": {},
        "tcn h192 x8 (n_fft 4096)": {"hidden": 192, "layers": 8},
        "tcn h320 x6 (n_fft 4096)": {"hidden": 320},
        "bilstm h256 x2 (n_fft 4096)": {"core": "lstm", "layers": 2},
        "tcn h256 x6 (n_fft 2048, hop 512)": {"n_fft": 2048, "hop": 512},
    }
    rows = []
    for name, arch in variants.items():
        row: list[object] = [name]
        for threads in (1, 2):
            m = run_case(f"{THIS}:sonomorph_memory", seconds=args.speed_seconds, threads=threads,
                         repeats=3, warmup=1, kwargs={"model": "random", **arch}, name=name,
                         device=args.device)
            if threads == 1:
                row.append(None if m.x_realtime_cpu is None else round(m.x_realtime_cpu, 1))
            row.append(None if m.x_realtime is None else round(m.x_realtime, 1))
            if threads == 2 and m.load:
                row.append(f"{m.load[0]:.1f}-{m.load[1]:.1f}")
        rows.append(row)
        print(rows[-1], flush=True)
    header = ["candidate", "x RT 1 thread (CPU time)", "x RT 1 thread (wall)",
              "x RT 2 threads (wall)", "load avg"]
    text = markdown_table(header, rows)
    print(text)
    out = RESULTS.with_name("separation-candidates.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"clip_s": args.speed_seconds, "weights": "random",
                               "device": args.device,
                               "rows": [dict(zip(header, r)) for r in rows], "table": text},
                              indent=2) + "\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1-minute memory point only")
    p.add_argument("--only", nargs="*", choices=["sonomorph", "spleeter", "open-unmix",
                                                 "ht-demucs"])
    p.add_argument("--model", default="default", help="sonomorph model (default, random, path)")
    p.add_argument("--speed-seconds", type=float, default=30.0)
    p.add_argument("--speed-only", action="store_true", help="skip the memory runs")
    p.add_argument("--spleeter-weights", default="random",
                   help="Spleeter weights: random (default; speed does not depend on them) or "
                   "the file benchmarks/peers/convert_spleeter.py wrote")
    p.add_argument("--e2e-seconds", type=float, default=600.0,
                   help="length of the end-to-end file (default: 600 = 10 min; 0: skip)")
    p.add_argument("--merge", action="store_true",
                   help="update only the measured entries of an existing results file "
                   "(e.g. re-time sonomorph when the machine is quieter)")
    p.add_argument("--memory-cap-mb", type=int, default=8000,
                   help="address-space cap per subprocess (protects a shared machine)")
    p.add_argument("--candidates", action="store_true", help="time architecture candidates")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--table-only", action="store_true",
                   help="only re-render the table of the results file --out")
    add_device_option(p)
    args = parse_args(p, argv)
    if args.candidates:
        candidates(args)
        return 0
    if args.table_only:  # re-render the table of an existing results file
        results = json.loads(Path(args.out).read_text())
        results["table"] = table(results)
        Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(results["table"])
        return 0
    t0 = time.time()
    results = run_all(args)
    out = Path(args.out)
    if args.merge and out.exists():
        old = json.loads(out.read_text())
        for name, entry in results["cases"].items():
            previous = old.get("cases", {}).get(name, {})
            for part in ("speed", "memory"):
                merged = {str(k): v for k, v in previous.get(part, {}).items()}
                merged.update({str(k): v for k, v in entry[part].items()})
                entry[part] = merged
            if not args.speed_only or "growth_mb_per_min" not in previous:
                continue
            entry["growth_mb_per_min"] = previous["growth_mb_per_min"]
        old.setdefault("cases", {}).update(results["cases"])
        if "end_to_end" in results:
            old["end_to_end"] = results["end_to_end"]
        old.setdefault("runs", []).append({"wall_s": round(time.time() - t0, 1),
                                           "cases": sorted(results["cases"]),
                                           "speed_only": args.speed_only})
        results = old
    results.setdefault("wall_s", round(time.time() - t0, 1))
    results["weights"] = weights_of(args.model)
    text = table(results)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    results["table"] = text
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
