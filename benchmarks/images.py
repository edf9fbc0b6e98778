"""Spectrogram-image benchmark: round-trip SNR of each encoding of
:mod:`sonomorph.audio.images` on music, through the files themselves (encode, write,
read, decode).

The music is 15 s from the middle of a song at 44.1 kHz, mono, n_fft 1024, hop 256 (the
original project's settings): by default the mixture of the first test track of
``corpora/multitrack`` (rendered chorales), else any file given with ``--audio``.

Run::

    .venv/bin/python benchmarks/images.py [--audio SONG] [--seconds 15]

Prints a markdown table (SNR in dB, file size, rgb8's clipped share of bins) and writes
``benchmarks/results/images.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.audio import images  # noqa: E402
from sonomorph.audio.io import info, load  # noqa: E402
from sonomorph.eval.bench import markdown_table  # noqa: E402
from sonomorph.utils.fs import atomic_write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "images.json"
SR = 44100


def default_audio() -> Path:
    """The mixture of the first test track of the multitrack corpus."""
    found = sorted((ROOT / "corpora" / "multitrack" / "test").glob("*/mixture.wav"))
    if not found:
        raise SystemExit("no corpora/multitrack/test/*/mixture.wav: pass --audio SONG")
    return found[0]


def run(audio: Path, seconds: float) -> dict:
    total = info(audio).duration
    offset = max(0.0, (total - seconds) / 2)
    wav, sr = load(audio, sr=SR, channels=1, offset=offset, duration=seconds)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for enc in images.ENCODINGS:
            path = Path(tmp) / (enc + (".npy" if enc == "float" else ".png"))
            image = images.encode(wav, sr, enc, n_fft=1024, hop=256)
            images.save_image(path, image)
            decoded = images.decode(images.load_image(path))
            size = path.stat().st_size + (path.with_suffix(".json").stat().st_size
                                          if enc == "float" else 0)
            rows[enc] = {"snr_db": images.snr_db(wav, decoded), "bytes": size,
                         "clipped_fraction": image.params.get("clipped_fraction")}
    return {"audio": str(audio), "seconds": wav.shape[1] / sr, "sample_rate": sr,
            "n_fft": 1024, "hop": 256, "encodings": rows}


def table(result: dict) -> str:
    rows = []
    for enc, r in result["encodings"].items():
        clipped = r["clipped_fraction"]
        rows.append([enc, round(r["snr_db"], 1), f"{r['bytes'] / 1e6:.2f} MB",
                     "–" if clipped is None else f"{100 * clipped:.1f}%"])
    return markdown_table(["encoding", "round-trip SNR (dB)", "file", "bins clipped"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=None, help="music file (default: corpus)")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    result = run(args.audio or default_audio(), args.seconds)
    print(table(result))
    print(f"\n{result['seconds']:.1f} s of {result['audio']} (mono, 44.1 kHz, n_fft 1024, hop 256)")
    atomic_write_text(RESULTS, json.dumps(result, indent=2) + "\n", overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
