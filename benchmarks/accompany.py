"""Vocals-to-song benchmark: speed (x real time) and peak memory of
:class:`sonomorph.pipelines.accompany.Accompanist` on one and two threads, with each phase
method (Griffin-Lim refined from the model's phase, or the model's phase alone).

Each setting runs in a fresh subprocess (:mod:`sonomorph.eval.bench`). The input is a
deterministic 44.1 kHz stereo "voice" (a gliding harmonic tone with vibrato and pauses);
the timed work is ``Accompanist.generate`` on the array: downmix, resampling to the
model's rate and back, STFT, tiled U-Net, phase reconstruction and mixing. Speed does not
depend on the weights; the shipped model is used when it exists, else random weights of
the default architecture.

``--file-seconds S [S ...]`` adds file-to-file rows, one thread each: ``accompany_file`` on
a 16-bit WAV of S seconds of the same voice (written untimed), which streams; their peak
memory should not grow with S. Off by default: a long file costs its full model time.

Run::

    .venv/bin/python benchmarks/accompany.py [--seconds 30] [--threads 1 2] [--device cuda]
                                              [--file-seconds 60 600]

Prints a markdown table and writes ``benchmarks/results/accompany.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.eval.bench import add_device_option, markdown_table, parse_args, run_case  # noqa: E402
from sonomorph.utils.fs import atomic_write_text  # noqa: E402

THIS = str(Path(__file__).resolve())
RESULTS = ROOT / "benchmarks" / "results" / "accompany.json"
SR = 44100


def voice(seconds: float, sr: int = SR) -> np.ndarray:
    """A deterministic stereo voice-like signal: harmonics of a gliding pitch with vibrato,
    silent every fourth second."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 220.0 * 2 ** (np.floor(t * 2) % 7 / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    x = x * (np.floor(t) % 4 != 3)
    return np.stack([x, 0.8 * x]).astype(np.float32)


def _accompanist(phase: str, model: str, device: str):
    """The shipped model when it exists, else random weights of the default architecture."""
    from sonomorph import pretrained
    from sonomorph.models.pix2pix import UNetGenerator
    from sonomorph.pipelines.accompany import Accompanist

    if model == "default" and "accompany" not in pretrained.available():
        net: object = UNetGenerator().eval()
    else:
        net = model
    return Accompanist(net, phase=phase, device=device)


def accompany_case(seconds: float, phase: str = "griffinlim", model: str = "default",
                   device: str = "cpu"):
    """Factory for :func:`run_case`: builds the Accompanist (untimed), returns the work."""
    acc = _accompanist(phase, model, device)
    x = voice(seconds)

    def work() -> None:
        acc.generate(x, SR)

    return work


def accompany_file_case(seconds: float, phase: str = "griffinlim", model: str = "default",
                        device: str = "cpu"):
    """Factory for :func:`run_case`: file to file (the streamed path), the WAV written
    untimed into a temporary folder that the work writes its outputs beside."""
    import atexit
    import shutil
    import tempfile

    import soundfile as sf

    acc = _accompanist(phase, model, device)
    folder = Path(tempfile.mkdtemp(prefix="sonomorph-bench-accompany-"))
    atexit.register(shutil.rmtree, folder, True)
    src = folder / "voice.wav"
    with sf.SoundFile(src, "w", SR, 2, subtype="PCM_16") as f:
        start = 0.0
        while start < seconds:  # a minute at a time: the input is long
            f.write(voice(min(60.0, seconds - start)).T)
            start += 60.0

    def work() -> None:
        acc.accompany_file(src, folder / "out", overwrite=True)

    return work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--file-seconds", type=float, nargs="*", default=[],
                        help="also time accompany_file (streamed) on WAVs of these lengths")
    add_device_option(parser)
    args = parse_args(parser, argv)
    rows, records = [], []
    for phase in ("griffinlim", "model"):
        for threads in args.threads:
            m = run_case(f"{THIS}:accompany_case", seconds=args.seconds, threads=threads,
                         repeats=args.repeats, kwargs={"phase": phase},
                         name=f"accompany ({phase})", timeout=1800, device=args.device)
            records.append(m.to_dict())
            rows.append([f"accompany, phase={phase}, {args.device}", threads,
                         m.x_realtime if m.ok else m.error, m.peak_rss_mb])
    file_records = []
    for seconds in args.file_seconds:
        m = run_case(f"{THIS}:accompany_file_case", seconds=seconds, threads=1, repeats=1,
                     warmup=0, name=f"accompany file ({seconds:g} s)", timeout=7200,
                     device=args.device)
        file_records.append({"seconds": seconds, **m.to_dict()})
        rows.append([f"accompany file to file, {seconds:g} s, {args.device}", 1,
                     m.x_realtime if m.ok else m.error, m.peak_rss_mb])
    print(markdown_table(["case", "threads", "x real time", "peak MB"], rows))
    print(f"\n{args.seconds:g} s of 44.1 kHz stereo voice; median of {args.repeats} runs; "
          f"{platform.processor() or platform.machine()}")
    from sonomorph import pretrained
    from sonomorph.utils.hashing import sha256_file

    shipped = "accompany" in pretrained.available()
    record = {"seconds": args.seconds, "device": args.device, "rows": records,
              "model": "accompany.safetensors" if shipped else "random weights",
              "model_sha256": sha256_file(pretrained.path_for("accompany")) if shipped else None}
    if file_records:
        record["file_rows"] = file_records
    atomic_write_text(RESULTS, json.dumps(record, indent=2) + "\n", overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
