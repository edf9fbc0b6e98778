"""Make the committed example inputs of the demo and the web UI from our corpus builders.

    .venv/bin/python examples/make_examples.py [--only NAME ...] [--multitrack DIR]
        [--sources DIR] [--work DIR] [--out examples] [--force]

The song is cut from the default `corpus multitrack` build (``--multitrack``, built
beforehand); the other examples come from small corpora that this script builds with
sonomorph's offline builders (festival, flite, espeak-ng and fluidsynth must be installed:
``scripts/install-system-deps.sh``). It cuts short excerpts and writes them as Ogg Vorbis
(read by soundfile alone, so the demo needs no ffmpeg nor any system package). No path
depends on the current folder. See examples/README.md for what each file is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from sonomorph.audio.io import load
from sonomorph.data.layouts import speaker_info
from sonomorph.utils.fs import atomic_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUALITY = 0.8  # libsndfile's Vorbis compression level (0 best quality .. 1 smallest)

# What is cut from where (seconds); every corpus is built with seed 0.
# The song: the first chorale track, in sorted order, of the test split of the DEFAULT
# `corpus multitrack` build (a small build cannot stand in: its splits depend on --tracks).
SONG_SPLIT = "test"
SONG_STYLE = "chorale"
SONG_TRACK = "chorale-bwv262-v1"  # what that rule gives
SONG_BUILD = {"seed": 0, "tracks": 320, "real_fraction": 0.5, "test_fraction": 0.15,
              "max_seconds": None, "drum_probability": 0.6}  # a default build's parameters
SONG_SPAN = (2.0, 12.0)
# The sung voice: the first take of the first synthetic speaker of `corpus screams`
# (v01: festival kal_diphone, the engine that sings; the lines of this take are all sung).
SUNG_TAKE = "voices/v01-001.wav"
SUNG_SPAN = (0.0, 12.75)
# The held-out voices: the first test-text take of flite's slt and rms, voices that no
# training split of `corpus screams` holds, saying sentences held out of every other split
# (the small build below makes the same takes, byte for byte, as the default build).
HELDOUT_TAKES = ("test-text/flite_slt-001.wav", "test-text/flite_rms-001.wav")
HELDOUT_VOICES = ("flite:slt", "flite:rms")  # the voice each take must be
HELDOUT_DIR = "scream_voices"
# The speakers of `corpus speech` (synthetic only): the first four enrol with their first
# two sentences; the query is the first speaker's last sentence (p225 is English).
ENROL_SPEAKERS = ("p225", "p226", "p227", "p228")
ENROL_UTTERANCES = ("001", "002")
QUERY = ("p225", "p225_004")  # with --utterances 4: not among the enrolment sentences
QUERY_LANGUAGE = "en"
# The genre clip: the first rock clip of the test split of the default `corpus genres`
# build (clips are numbered and seeded alike in any build with at least 11 per genre).
GENRE = "rock"
GENRE_CLIP = "rock.00010.wav"
GENRE_SPAN = (5.0, 15.0)

BUILDS = {  # the corpus commands run, each into WORK/<name>; no example has library audio
    "speech": ["--speakers", "6", "--utterances", "4", "--real-fraction", "0"],
    # the screams builder always converts the library's screams (so it needs --sources);
    # --real-voices 0 keeps real speech out of the voices, whose takes do not depend on it
    "screams": ["--minutes", "2", "--speakers", "4", "--real-voices", "0"],
    "genres": ["--genres", GENRE, "--clips-per-genre", "11"],
}
NEEDS = {"song": (), "sung": ("screams",), "heldout": ("screams",), "spoken": ("speech",),
         "speakers": ("speech",), "genre": ("genres",)}  # example -> the builds it is cut from


class Unusable(Exception):
    """An input corpus that is missing or not the one the rules name."""


def shown(path: Path) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


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


def song_track(multitrack: Path) -> Path:
    """The song's track folder in the default multitrack build, checked."""
    hint = f"build it with `sonomorph corpus multitrack --out {shown(multitrack)}` (a default build)"
    test = multitrack / SONG_SPLIT
    if not test.is_dir() or not (multitrack / "manifest.json").is_file():
        raise Unusable(f"no multitrack corpus with a {SONG_SPLIT} split at {shown(multitrack)}: "
                       f"{hint}")
    manifest = json.loads((multitrack / "manifest.json").read_text())
    params = {"seed": manifest.get("seed"), **manifest.get("parameters", {})}
    wrong = [f"{k}={params[k]!r}" for k, v in SONG_BUILD.items() if k in params and params[k] != v]
    if manifest.get("builder", "multitrack") != "multitrack" or wrong:
        raise Unusable(f"{shown(multitrack)} is not the default multitrack build "
                       f"({', '.join(wrong) or 'another builder'}): {hint}")
    chorales = sorted(d.name for d in test.iterdir()
                      if d.is_dir() and d.name.startswith(f"{SONG_STYLE}-"))
    if SONG_TRACK not in chorales:
        raise Unusable(f"no track {SONG_TRACK} in {shown(test)}: {hint}")
    if chorales[0] != SONG_TRACK:
        raise Unusable(f"the first {SONG_STYLE} track of {shown(test)} is {chorales[0]}, not "
                       f"{SONG_TRACK}: the builder changed, update SONG_TRACK and the README")
    track = test / SONG_TRACK
    info = json.loads((track / "track.json").read_text()) if (track / "track.json").is_file() else {}
    if info.get("split", SONG_SPLIT) != SONG_SPLIT or info.get("style", SONG_STYLE) != SONG_STYLE:
        raise Unusable(f"{shown(track)}/track.json says split {info.get('split')!r}, style "
                       f"{info.get('style')!r}: {hint}")
    for stem in ("mixture.wav", "vocals.wav"):
        if not (track / stem).is_file():
            raise Unusable(f"{shown(track / stem)} is missing: {hint}")
    return track


def build(work: Path, names: list[str], sources: Path) -> dict[str, Path]:
    """Run the named corpus builders into ``work``; returns the corpus folders."""
    from sonomorph.cli import main

    dirs = {}
    for name in names:
        dirs[name] = work / name
        extra = ["--sources", str(sources)] if name == "screams" else []
        argv = ["corpus", name, "--out", str(dirs[name]), *BUILDS[name], *extra,
                "--seed", "0", "-j", "1"]
        print("sonomorph " + " ".join(argv))
        status = main(argv)
        if status:
            sys.exit(status)
    return dirs


def check_sung(screams: Path) -> None:
    clip = json.loads((screams / "clips.json").read_text()).get(SUNG_TAKE, {})
    if clip.get("origin") != "synthetic" or not str(clip.get("voice", "")).startswith("festival:"):
        raise Unusable(f"{SUNG_TAKE} of corpus screams is not a festival take ({clip}): "
                       "update SUNG_TAKE")


def check_heldout(screams: Path) -> dict[str, str]:
    """The known sentence of each held-out take, checked against the rules above."""
    clips = json.loads((screams / "clips.json").read_text())
    texts = {}
    for take, voice in zip(HELDOUT_TAKES, HELDOUT_VOICES):
        clip = clips.get(take, {})
        if (clip.get("origin") != "synthetic" or clip.get("split") != "test-text"
                or clip.get("voice") != voice or not str(clip.get("text", "")).strip()):
            raise Unusable(f"{take} of corpus screams is not a test-text take of {voice} with "
                           f"its text ({clip}): update HELDOUT_TAKES")
        texts[take] = str(clip["text"]).strip()
    return texts


def check_speakers(speech: Path, names: list[str]) -> None:
    rows = speaker_info(speech)
    wanted = ([QUERY[0]] if "spoken" in names else []) + (
        list(ENROL_SPEAKERS) if "speakers" in names else [])
    missing = [s for s in wanted if s not in rows]
    if missing:
        raise Unusable(f"corpus speech has no speaker {', '.join(missing)}: update the constants")
    if "spoken" in names and rows[QUERY[0]]["accent"] != QUERY_LANGUAGE:
        raise Unusable(f"speaker {QUERY[0]} speaks {rows[QUERY[0]]['accent']!r}, not {QUERY_LANGUAGE!r}")


def make(out: Path, work: Path | None, names: list[str], *, multitrack: Path, sources: Path,
        force: bool) -> None:
    song = song_track(multitrack) if "song" in names else None
    needed = [b for b in BUILDS if any(b in NEEDS[n] for n in names)]
    tmp = Path(tempfile.mkdtemp(prefix="sonomorph-examples-")) if needed and work is None else None
    try:
        dirs = build(tmp or work, needed, sources) if needed else {}
        cut(out, song, dirs, names, force=force)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def cut(out: Path, song: Path | None, dirs: dict[str, Path], names: list[str], *,
        force: bool) -> None:
    if song is not None:
        print(f"song: {shown(song)} {SONG_SPAN[0]:g} to {SONG_SPAN[1]:g} s")
        # The song keeps the corpus's 44.1 kHz (the separator's rate); the rest is 22.05 kHz.
        write_ogg(out / "song.ogg", excerpt(song / "mixture.wav", SONG_SPAN, 44100, 2),
                  44100, force=force)
        write_ogg(out / "song_vocals.ogg", excerpt(song / "vocals.wav", SONG_SPAN, 22050, 1),
                  22050, force=force)
    if "sung" in names:
        check_sung(dirs["screams"])
        sung, sr = load(dirs["screams"] / SUNG_TAKE, channels=1)
        lo, hi = (int(t * sr) for t in SUNG_SPAN)
        write_ogg(out / "sung_voice.ogg", sung[:, lo:hi], sr, force=force)
    if "heldout" in names:
        for take, text in check_heldout(dirs["screams"]).items():
            wav, sr = load(dirs["screams"] / take, channels=1)
            dst = write_ogg(out / HELDOUT_DIR / Path(take).with_suffix(".ogg").name, wav, sr,
                            force=force)
            dst.with_suffix(".txt").write_text(text + "\n")
    speech = dirs["speech"] / "wav" if "speech" in dirs else None
    if speech is not None:
        check_speakers(speech.parent, names)
    if "spoken" in names:
        spk, utt = QUERY
        wav, sr = load(speech / spk / f"{utt}.wav", channels=1)
        write_ogg(out / "spoken_voice.ogg", wav, sr, force=force)
    if "speakers" in names:
        for spk in ENROL_SPEAKERS:
            for n in ENROL_UTTERANCES:
                wav, sr = load(speech / spk / f"{spk}_{n}.wav", channels=1)
                write_ogg(out / "speakers" / spk / f"{spk}_{n}.ogg", wav, sr, force=force)
    if "genre" in names:
        clip = dirs["genres"] / GENRE / GENRE_CLIP
        write_ogg(out / "genre_clip.ogg", excerpt(clip, GENRE_SPAN, 22050, 1), 22050,
                  force=force)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=list(NEEDS), metavar="NAME",
                   help=f"make only this example (repeatable; one of {', '.join(NEEDS)}); "
                        "only the builds it needs are run (default: all)")
    p.add_argument("--multitrack", type=Path, metavar="DIR", default=REPO / "corpora" / "multitrack",
                   help="the default `corpus multitrack` build the song comes from "
                        "(default: corpora/multitrack of the repository)")
    p.add_argument("--sources", type=Path, metavar="DIR", default=REPO / "corpora" / "sources",
                   help="real-audio library that `corpus screams` needs to run (its takes do "
                        "not depend on it; default: corpora/sources of the repository)")
    p.add_argument("--work", type=Path, metavar="DIR", default=None,
                   help="where the corpora are built (default: a temporary folder, removed)")
    p.add_argument("--out", type=Path, metavar="DIR", default=HERE, help="examples folder (default: here)")
    p.add_argument("-f", "--force", action="store_true",
                   help="remake existing examples too (default: make only the missing ones)")
    args = p.parse_args(argv)
    names = [n for n in NEEDS if n in (args.only or NEEDS)]
    try:
        make(args.out.resolve(), args.work.resolve() if args.work else None, names,
             multitrack=args.multitrack.resolve(), sources=args.sources.resolve(),
             force=args.force)
    except Unusable as exc:
        print(f"make_examples.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
