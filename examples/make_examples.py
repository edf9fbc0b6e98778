"""Make the committed example inputs of the demo and the web UI from our corpus builders.

    .venv/bin/python examples/make_examples.py [--work DIR] [--out examples] [--force]

Builds small corpora with sonomorph's offline builders (festival, flite, espeak-ng and
fluidsynth must be installed: ``scripts/install-system-deps.sh``), cuts short excerpts
and writes them as Ogg Vorbis (read by soundfile alone, so the demo needs no ffmpeg nor
any system package). See examples/README.md for what each file is.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from sonomorph.audio.io import load
from sonomorph.utils.fs import atomic_path

HERE = Path(__file__).resolve().parent
QUALITY = 0.8  # libsndfile's Vorbis compression level (0 best quality .. 1 smallest)

# What is cut from where (seconds); the corpora are built with seed 0.
SONG_TRACK = "bwv122.6-v1"  # in the test split of the default `corpus multitrack` build
SONG_SPAN = (2.0, 12.0)
SUNG_TAKE = "voices/v01-001.wav"  # festival kal_diphone singing its lines
SUNG_SPAN = (0.0, 12.75)
QUERY = ("p225", "p225_004")  # the spoken voice: an utterance not used for enrolment
ENROL_SPEAKERS = ("p225", "p226", "p227", "p228")
ENROL_UTTERANCES = ("001", "002")
GENRE = "rock"
GENRE_CLIP = "rock.00010.wav"  # in the test split of the default `corpus genres` build
GENRE_SPAN = (5.0, 15.0)


def write_ogg(path: Path, wav: np.ndarray, sr: int, *, force: bool) -> Path:
    """(channels, samples) float audio to an Ogg Vorbis file, atomically; an existing file
    is kept unless ``force`` (Ogg files differ at every write, by their serial number)."""
    if path.exists() and not force:
        print(f"  {path.relative_to(path.parents[1])}: kept (use --force to remake it)")
        return path
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 0.99:
        wav = wav * np.float32(0.99 / peak)
    with atomic_path(path, overwrite=force) as tmp:
        sf.write(tmp, np.ascontiguousarray(wav.T), sr, format="OGG", subtype="VORBIS",
                 compression_level=QUALITY)
    print(f"  {path.relative_to(path.parents[1])}: {wav.shape[1] / sr:.2f} s, "
          f"{wav.shape[0]} ch, {sr} Hz, {path.stat().st_size // 1024} KB")
    return path


def excerpt(path: Path, span: tuple[float, float], sr: int, channels: int) -> np.ndarray:
    wav, _ = load(path, sr=sr, channels=channels, offset=span[0], duration=span[1] - span[0])
    return wav


BUILDS = (  # the corpus commands run, each into WORK/<name>
    ("multitrack", ["--tracks", "3", "--max-seconds", "40"]),
    ("speech", ["--speakers", "6", "--utterances", "4"]),
    ("screams", ["--minutes", "2", "--speakers", "4"]),
    ("genres", ["--genres", GENRE, "--clips-per-genre", "11"]),
)


def build(work: Path) -> dict[str, Path]:
    """Run the corpus builders into ``work``; returns the corpus folders."""
    from sonomorph.cli import main

    dirs = {}
    for name, args in BUILDS:
        dirs[name] = work / name
        argv = ["corpus", name, "--out", str(dirs[name]), *args, "--seed", "0", "-j", "1"]
        print("sonomorph " + " ".join(argv))
        status = main(argv)
        if status:
            sys.exit(status)
    return dirs


def make(out: Path, work: Path, *, force: bool) -> None:
    dirs = build(work)
    song_dir = next(dirs["multitrack"].glob(f"*/{SONG_TRACK}"))
    # The song keeps the corpus's 44.1 kHz (the separator's rate); the rest is 22.05 kHz.
    write_ogg(out / "song.ogg", excerpt(song_dir / "mixture.wav", SONG_SPAN, 44100, 2),
              44100, force=force)
    write_ogg(out / "song_vocals.ogg", excerpt(song_dir / "vocals.wav", SONG_SPAN, 22050, 1),
              22050, force=force)
    sung, sr = load(dirs["screams"] / SUNG_TAKE, channels=1)
    lo, hi = (int(t * sr) for t in SUNG_SPAN)
    write_ogg(out / "sung_voice.ogg", sung[:, lo:hi], sr, force=force)
    speech = dirs["speech"] / "wav"
    spk, utt = QUERY
    wav, sr = load(speech / spk / f"{utt}.wav", channels=1)
    write_ogg(out / "spoken_voice.ogg", wav, sr, force=force)
    for spk in ENROL_SPEAKERS:
        for n in ENROL_UTTERANCES:
            wav, sr = load(speech / spk / f"{spk}_{n}.wav", channels=1)
            write_ogg(out / "speakers" / spk / f"{spk}_{n}.ogg", wav, sr, force=force)
    clip = dirs["genres"] / GENRE / GENRE_CLIP
    write_ogg(out / "genre_clip.ogg", excerpt(clip, GENRE_SPAN, 22050, 1), 22050, force=force)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=None,
                   help="where the corpora are built (default: a temporary folder, removed)")
    p.add_argument("--out", type=Path, default=HERE, help="examples folder (default: here)")
    p.add_argument("-f", "--force", action="store_true",
                   help="remake existing examples too (default: make only the missing ones)")
    args = p.parse_args(argv)
    if args.work is not None:
        make(args.out.resolve(), args.work.resolve(), force=args.force)
        return 0
    work = Path(tempfile.mkdtemp(prefix="sonomorph-examples-"))
    try:
        make(args.out.resolve(), work, force=args.force)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
