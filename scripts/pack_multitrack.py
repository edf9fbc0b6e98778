"""Pack a multitrack corpus small enough to send to a remote training machine, and unpack it
there.

A separator's training corpus (``sonomorph corpus multitrack``) is tens of GB of 44.1 kHz
float WAV; a rented GPU may only take a few tens of MB per call. ``pack`` keeps what the
U-Net separator's network can see: its input is the lowest ``unet_bins`` STFT bins (1024 of
4096 at 44.1 kHz: up to 11.0 kHz), so each stem is resampled to 24 kHz (content up to
about 11.5 kHz) and stored as Ogg Opus. Tracks are taken in a seeded random order until
``--budget-mb`` is spent, each split on its own budget share; validation tracks are cut
to ``--valid-seconds``.

``unpack`` decodes the pack back to the MUSDB-style layout the recipe reads:
``<split>/<track>/{vocals,accompaniment}.wav`` at 44.1 kHz (16-bit) and ``mixture.wav``,
their sum (float). Only numpy, soundfile and soxr are needed there.

The band above 11.5 kHz is empty in an unpacked corpus, as in a lossy file; the recipe's
band-limit augmentation already shows the network such songs, and the network's mask
above its band is the mean of its top bins, which this data still trains.

    python scripts/pack_multitrack.py pack corpora/multitrack .gpu/pack --budget-mb 44
    python scripts/pack_multitrack.py unpack .gpu/pack /tmp/multitrack -j 16
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

PACK_RATE = 24000  # an Opus rate; Nyquist 12 kHz sits above the network's 11.0 kHz band
STEMS = ("vocals", "accompaniment")


def _read_sum(paths, sample_rate: int) -> np.ndarray:
    out = None
    for p in paths:
        x, sr = sf.read(str(p), dtype="float32", always_2d=True)
        if sr != sample_rate:
            raise ValueError(f"{p}: {sr} Hz, expected {sample_rate}")
        out = x if out is None else out[: len(x)] + x[: len(out)]
    return out


def _encode(job: tuple) -> tuple[str, int, float]:
    parts, out, seconds, level = job
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    length = 0.0
    for stem, paths in parts.items():
        x = _read_sum(paths, 44100)
        if seconds:
            x = x[: int(seconds * 44100)]
        y = soxr.resample(x, 44100, PACK_RATE).astype(np.float32)
        np.clip(y, -1.0, 1.0, out=y)
        tmp = out / f".{stem}.ogg.tmp"
        sf.write(str(tmp), y, PACK_RATE, format="OGG", subtype="OPUS", compression_level=level)
        tmp.replace(out / f"{stem}.ogg")
        total += (out / f"{stem}.ogg").stat().st_size
        length = len(x) / 44100
    return str(out), total, length


def pack(args: argparse.Namespace) -> int:
    from sonomorph.data.layouts import multitrack_tracks

    src, dst = Path(args.src), Path(args.dst)
    if dst.exists() and any(dst.iterdir()):
        print(f"error: {dst} is not empty", file=sys.stderr)
        return 2
    budget = args.budget_mb * 1e6
    shares = {"train": budget - args.valid_mb * 1e6, "valid": args.valid_mb * 1e6}
    manifest: dict = {"rate": PACK_RATE, "source": str(src), "level": args.level,
                      "seed": args.seed, "splits": {}}
    for split, share in shares.items():
        tracks = multitrack_tracks(src, split)
        order = list(range(len(tracks)))
        random.Random(args.seed).shuffle(order)
        seconds = args.valid_seconds if split == "valid" else 0.0
        spent, kept, dur = 0, [], 0.0
        with ProcessPoolExecutor(args.jobs) as pool:
            # encode in batches so the budget is checked as we go
            i = 0
            while i < len(order) and spent < share:
                batch = order[i:i + 2 * args.jobs]
                i += len(batch)
                jobs = [({s: [str(p) for p in tracks[t].parts(s)] for s in STEMS},
                         str(dst / split / tracks[t].name), seconds, args.level) for t in batch]
                for t, (folder, size, length) in zip(batch, pool.map(_encode, jobs)):
                    if spent + size > share:
                        for f in Path(folder).glob("*.ogg"):
                            f.unlink()
                        Path(folder).rmdir()
                        continue
                    spent += size
                    dur += length
                    kept.append(tracks[t].name)
                print(f"{split}: {len(kept)}/{len(tracks)} tracks, {dur / 60:.1f} min, "
                      f"{spent / 1e6:.1f} MB", flush=True)
        manifest["splits"][split] = {"tracks": sorted(kept), "of": len(tracks),
                                     "minutes": round(dur / 60, 2), "bytes": spent}
    (dst / "pack.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


def _decode(job: tuple) -> None:
    folder, out = Path(job[0]), Path(job[1])
    out.mkdir(parents=True, exist_ok=True)
    stems = []
    for stem in STEMS:
        y, sr = sf.read(str(folder / f"{stem}.ogg"), dtype="float32", always_2d=True)
        x = soxr.resample(y, sr, 44100).astype(np.float32)
        sf.write(str(out / f"{stem}.wav"), x, 44100, subtype="PCM_16")
        stems.append(x)
    n = min(len(s) for s in stems)
    sf.write(str(out / "mixture.wav"), stems[0][:n] + stems[1][:n], 44100, subtype="FLOAT")


def unpack(args: argparse.Namespace) -> int:
    src, dst = Path(args.src), Path(args.dst)
    manifest = json.loads((src / "pack.json").read_text())
    jobs = [(src / split / t, dst / split / t)
            for split, info in manifest["splits"].items() for t in info["tracks"]]
    with ProcessPoolExecutor(args.jobs) as pool:
        list(pool.map(_decode, jobs))
    print(f"unpacked {len(jobs)} tracks to {dst}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="corpus -> Opus pack within a size budget")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--budget-mb", type=float, default=44.0)
    p.add_argument("--valid-mb", type=float, default=2.5, help="share of the budget for valid")
    p.add_argument("--valid-seconds", type=float, default=16.0)
    p.add_argument("--level", type=float, default=0.93,
                   help="libsndfile compression level (0 best quality .. 1 smallest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-j", "--jobs", type=int, default=2)
    u = sub.add_parser("unpack", help="Opus pack -> 44.1 kHz WAV corpus")
    u.add_argument("src")
    u.add_argument("dst")
    u.add_argument("-j", "--jobs", type=int, default=4)
    args = parser.parse_args(argv)
    return pack(args) if args.command == "pack" else unpack(args)


if __name__ == "__main__":
    sys.exit(main())
