"""One-sided inputs: how much a separator leaks when there is nothing to separate.

- **Music alone**: real instrumental tracks (no voice). The vocals stem should be silent:
  its level relative to the input is the leak (target: at least 20 dB below the input).
- **Voice alone**: real speech with no music. The karaoke (accompaniment) stem should be
  silent (same target).

- **The demo's karaoke example** (``examples/song.ogg``, whose true vocals are
  ``examples/song_vocals.ogg``, mono 22.05 kHz): SI-SDR of the vocals stem (downmixed,
  resampled to the reference's rate) and of the unprocessed song against the true vocals;
  the gain is their difference (target: at least 6 dB).

The inputs are the held-out (``test-real``) music sources and speakers of the real-audio
library (``sonomorph corpus sources``), so no model was trained on them. For each file an
excerpt of ``--seconds`` from its middle (speech: the whole clip, a speaker's clips joined
up to ``--seconds``) goes through :class:`sonomorph.pipelines.separate.Separator` (and,
with ``--peer spleeter``, through the Spleeter 2-stem peer on the same audio). The level
of a stem is ``10 log10(sum(stem^2) / sum(input^2))`` over the excerpt; the table shows the
median and the worst file.

Run::

    .venv/bin/python benchmarks/separation_leaks.py --library corpora/sources \\
        --json benchmarks/results/separation-leaks.json [--model FILE] [--peer spleeter]

The JSON records the sha256 and training steps of the weights it scored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from sonomorph.audio.io import resample
from sonomorph.eval.metrics import level_db


def _middle(path: Path, seconds: float, sr_out: int) -> np.ndarray:
    info = sf.info(str(path))
    n = int(seconds * info.samplerate)
    start = max(0, (info.frames - n) // 2)
    wav, sr = sf.read(str(path), start=start, frames=min(n, info.frames), dtype="float32",
                      always_2d=True)
    wav = wav.T
    if wav.shape[0] == 1:
        wav = np.repeat(wav, 2, axis=0)
    return resample(wav, sr, sr_out) if sr != sr_out else wav


def music_inputs(library: Path, files: int, seconds: float, sr: int) -> list[tuple[str, np.ndarray]]:
    from sonomorph.data.corpus.sources_library import load_library

    recs = sorted(load_library(library, kind="music", split="test-real"), key=lambda r: str(r.path))
    recs = [r for r in recs if r.duration >= seconds / 2]
    step = max(1, len(recs) // max(1, files))
    chosen = recs[::step][:files]
    return [(f"{r.group}/{r.path.stem}", _middle(r.path, seconds, sr)) for r in chosen]


def voice_inputs(library: Path, files: int, seconds: float, sr: int) -> list[tuple[str, np.ndarray]]:
    from sonomorph.data.corpus.sources_library import group_records, load_library

    groups = group_records(load_library(library, kind="speech", split="test-real"))
    out = []
    for speaker in sorted(groups)[:files]:
        parts, total = [], 0
        for r in sorted(groups[speaker], key=lambda r: str(r.path)):
            if r.sample_rate < 16000:
                continue  # telephone-band prompts are not what a song's voice looks like
            x = _middle(r.path, seconds, sr)
            parts.append(x)
            total += x.shape[1]
            if total >= seconds * sr:
                break
        if parts:
            out.append((speaker, np.concatenate(parts, axis=1)[:, :int(seconds * sr)]))
    return out


def demo_example(separate, examples: Path) -> dict:
    """SI-SDR (dB) of the demo song's vocals stem and of the song itself against the true
    vocals, both downmixed to mono at the reference's rate."""
    from sonomorph.audio.io import load
    from sonomorph.models.metrics import si_sdr

    x, sr = load(examples / "song.ogg", 44100)
    ref, ref_sr = load(examples / "song_vocals.ogg")
    ref = ref[0]

    def mono(a: np.ndarray) -> np.ndarray:
        return resample(a.mean(0, keepdims=True), sr, ref_sr)[0][: ref.shape[-1]]

    vocals = si_sdr(ref, mono(separate(x)["vocals"]))
    song = si_sdr(ref, mono(x))
    files = {name: hashlib.sha256((examples / name).read_bytes()).hexdigest()
             for name in ("song.ogg", "song_vocals.ogg")}  # which example was scored
    return {"vocals_si_sdr": vocals, "song_si_sdr": song, "gain_db": vocals - song,
            "sha256": files}


def run(separators: dict, music, voices, examples: Path | None = None) -> dict:
    rows = {}
    for name, sep in separators.items():
        m = [level_db(sep(x)["vocals"], x) for _, x in music]
        v = [level_db(sep(x)["accompaniment"], x) for _, x in voices]
        rows[name] = {
            "music_alone_vocals_db": {"median": _median(m), "worst": _worst(m),
                                      "per_file": dict(zip([k for k, _ in music], m))},
            "voice_alone_karaoke_db": {"median": _median(v), "worst": _worst(v),
                                       "per_file": dict(zip([k for k, _ in voices], v))},
        }
        if examples is not None:
            rows[name]["demo_example"] = demo_example(sep, examples)
    return rows


def _median(vals: list[float]) -> float:
    finite = [x if math.isfinite(x) else -200.0 for x in vals if not math.isnan(x)]
    return statistics.median(finite) if finite else math.nan


def _worst(vals: list[float]) -> float:
    finite = [x for x in vals if math.isfinite(x)]
    return max(finite) if finite else math.nan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", default="corpora/sources", help="real-audio library folder")
    ap.add_argument("--model", default="default", help="separator file (default: shipped)")
    ap.add_argument("--peer", action="append", default=[], help="also score a peer (spleeter)")
    ap.add_argument("--files", type=int, default=12, help="files (speakers) per kind")
    ap.add_argument("--seconds", type=float, default=20.0, help="excerpt length")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    import torch

    from sonomorph.eval.records import weights_record
    from sonomorph.models import resolve_model
    from sonomorph.pipelines.separate import Separator
    from sonomorph.utils.fs import atomic_write_text

    torch.set_num_threads(args.threads)
    sr = 44100
    lib = Path(args.library)
    music = music_inputs(lib, args.files, args.seconds, sr)
    voices = voice_inputs(lib, args.files, args.seconds, sr)
    if not music or not voices:
        print(f"error: {lib} has no test-real music or speech", file=sys.stderr)
        return 2
    # Any separator architecture (mask_separator, unet_separator): the pipeline loads it
    # through sonomorph.models.load_model.
    model_path = resolve_model(None if args.model == "default" else args.model, "separator")
    ours = Separator(model=model_path)
    separators = {"sonomorph": lambda x: ours.separate(x, sr)}
    weights = {"sonomorph": weights_record(model_path, ours.meta)}
    for peer in args.peer:
        if peer.split("=")[0] != "spleeter":
            print(f"error: unknown peer {peer!r}", file=sys.stderr)
            return 2
        from sonomorph.eval.peers import spleeter as sp

        peer_sep = sp.SpleeterSeparator(peer.split("=", 1)[1] if "=" in peer else None)
        separators["spleeter"] = lambda x, m=peer_sep: _peer_stems(m, x, sr)
        weights["spleeter"] = {**weights_record(peer_sep.path, peer_sep.meta),
                               "converted_from": peer_sep.meta.get("source", {})}
    examples = Path(__file__).resolve().parents[1] / "examples"
    rows = run(separators, music, voices, examples)
    result = {
        "benchmark": "separation-leaks",
        # The weights scored, per row: file, sha256 and training steps (weights_record).
        "model": weights["sonomorph"], "models": weights,
        "library_split": "test-real", "seconds": args.seconds, "threads": args.threads,
        "music_files": [k for k, _ in music], "voice_speakers": [k for k, _ in voices],
        "rows": rows,
    }
    print("| separator | music alone: vocals stem (median / worst) | voice alone: karaoke stem "
          "(median / worst) | demo example: vocals SI-SDR (song) |\n|---|---|---|---|")
    for name, r in rows.items():
        a, b, d = r["music_alone_vocals_db"], r["voice_alone_karaoke_db"], r["demo_example"]
        print(f"| {name} | {a['median']:.1f} / {a['worst']:.1f} dB | "
              f"{b['median']:.1f} / {b['worst']:.1f} dB | "
              f"{d['vocals_si_sdr']:.2f} ({d['song_si_sdr']:.2f}) dB |")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2, allow_nan=True) + "\n",
                          overwrite=True)
    return 0


def _peer_stems(model, x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    out = model.separate(x, sr)
    return {"vocals": out["vocals"], "accompaniment": out["accompaniment"]}


if __name__ == "__main__":
    sys.exit(main())
