"""``corpus multitrack``: a song corpus in the MUSDB18-HQ layout, built offline.

``<out>/{train,valid,test,test-real}/<track>/``, 44.1 kHz stereo float32, two kinds of
track:

- **synthetic** (``train``, ``valid``, ``test``): ``{mixture,vocals,bass,drums,other,
  accompaniment}.wav``, the mixture equal to vocals + bass + drums + other and the
  accompaniment to bass + drums + other. Eight styles: Bach chorales arranged by
  :mod:`sonomorph.data.corpus.arrange` (soprano sung with its lyrics, spoken and rapped
  lines from flite and espeak-ng), and the renaissance, folk, quartet, electronic, rock,
  jazz and bossa arrangements of :mod:`sonomorph.data.corpus.genres`, rendered stem by
  stem through fluidsynth with a random soundfont, under a line that festival sings from
  one of their parts. The split is by piece (or generated song) within each style.
- **real-backed** (``train``, ``valid``, ``test-real``): ``{mixture,vocals,
  accompaniment}.wav``, the mixture equal to vocals + accompaniment. The accompaniment
  is a random segment of a real instrumental track from the real-audio library
  (``sonomorph corpus sources``), set to the synthetic tracks' accompaniment level; the
  vocals are real speech from the library (pitch-shifted, equalised and reverberated
  with :mod:`sonomorph.data.mixing`'s helpers) and/or festival singing. The split
  follows the library's: a track takes its music and its speaker from sources of one
  library split, so ``test-real`` holds music and speakers that no other split has.
  Festival's ``hy_fi_mv_diphone`` voice sings only in ``test-real``.

Each track folder also holds ``track.json`` (its arrangement or its real sources, and
the sung notes: a pitch ground truth). The corpus manifest lists every library source
used with its split, package and licence.

This module plans the corpus (every track's job: its kind, piece or library sources,
split and seed) and runs the build; :mod:`sonomorph.data.corpus.multitrack_render`
renders one planned track.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from sonomorph.data.corpus.common import (
    CorpusError,
    Job,
    check_tools,
    default_workers,
    job_rng,
    job_seed,
    run_jobs,
    sources,
    split_groups,
)
from sonomorph.data.corpus.multitrack_render import (  # noqa: F401 - re-exported (tests, callers)
    FILES,
    HELD_OUT_VOICE,
    REAL_FILES,
    STEMS,
    TRAIN_VOICES,
    render_track,
)
from sonomorph.data.corpus.render import SR
from sonomorph.errors import ConfigError

BUILDER = "multitrack"
TOOLS = ("festival", "flite", "espeak-ng", "FluidR3_GM", "TimGM6mb", "libfluidsynth",
         "voice_kal_diphone", "voice_ked_diphone", "voice_lp_diphone", "voice_pc_diphone",
         "voice_suo_fi_lj_diphone", "voice_hy_fi_mv_diphone")
SOURCE_IDS = ("music21", "FluidR3_GM", "TimGM6mb", "fluidsynth", "festival",
              "festvox-english-diphone", "festvox-italian-diphone", "festvox-finnish-diphone",
              "flite", "espeak-ng")
STYLES = ("chorale", "renaissance", "folk", "quartet", "electronic", "rock", "jazz", "bossa")
# Share of the synthetic tracks per style, relative: a quartet movement takes music21
# tens of seconds to parse, so quartets get half a share.
STYLE_WEIGHTS = {"quartet": 0.5}
SPLITS = ("train", "valid", "test", "test-real")
DEFAULT_SOURCES = "corpora/sources"
REAL_SECONDS = (30.0, 50.0)
TEST_REAL_SECONDS = 30.0


# ----------------------------------------------------------------------------- library


def read_library(root: str | os.PathLike) -> list | None:
    """The music and speech records (:class:`sonomorph.data.corpus.sources_library.SourceRecord`)
    of the real-audio library in ``root``, or None when ``root`` has no
    ``manifest.json``."""
    if not (Path(root) / "manifest.json").is_file():
        return None
    from sonomorph.data.corpus.sources_library import load_library

    return [r for r in load_library(root) if r.kind in ("music", "speech")]


# ----------------------------------------------------------------------------- plan


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _style_counts(n: int, styles: tuple[str, ...]) -> dict[str, int]:
    """Tracks per style for ``n`` synthetic tracks (largest remainders of the weights)."""
    w = np.array([STYLE_WEIGHTS.get(s, 1.0) for s in styles])
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return {s: int(c) for s, c in zip(styles, counts)}


def _candidates(style: str, count: int, pieces: list[str] | None) -> list[tuple[str, str]]:
    """(piece, split group) candidates of a style."""
    if style == "chorale":
        from sonomorph.data.corpus.scores import list_chorales

        names = sorted(pieces) if pieces is not None else list_chorales()
        return [(n, n) for n in names]
    from sonomorph.data.corpus.genres import SCORE_GENRES, candidate_pieces

    if style in SCORE_GENRES:
        return candidate_pieces(style)
    return [(f"{style}-song{i:03d}", f"{style}-song{i:03d}") for i in range(count)]


def plan_synthetic(*, seed: int, tracks: int, styles: tuple[str, ...] = STYLES,
                   test_fraction: float = 0.15, valid_fraction: float = 0.1,
                   max_seconds: float | None = None, drum_probability: float = 0.6,
                   pieces: list[str] | None = None) -> list[Job]:
    """One job per synthetic track. Within each style, pieces are taken in a seeded
    order and reused (as further variants) only when there are more tracks than pieces;
    the train / valid / test split is by piece (a quartet by work, a mass by number)."""
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise ValueError(f"unknown styles {unknown}")
    jobs = []
    for style, count in _style_counts(tracks, tuple(styles)).items():
        if count == 0:
            continue
        cands = _candidates(style, count, pieces)
        if not cands:
            raise ValueError(f"no pieces to build {style} tracks from")
        order = [cands[i] for i in job_rng(seed, "pieces", style).permutation(len(cands))]
        chosen = [(order[i % len(order)], i // len(order) + 1) for i in range(count)]
        groups = [g for (_, g), _ in chosen]
        first = split_groups(groups, test_fraction, job_seed(seed, "split", style))
        rest = [g for g in groups if first[g] == "train"]
        second = (split_groups(rest, valid_fraction / (1.0 - test_fraction),
                               job_seed(seed, "valid", style))
                  if valid_fraction > 0 and len(set(rest)) >= 3 else {})
        for (piece, group), variant in chosen:
            split = ("test" if first[group] == "test"
                     else "valid" if second.get(group) == "test" else "train")
            if style == "chorale":
                from sonomorph.data.corpus.scores import piece_id

                name = f"chorale-{piece_id(piece)}-v{variant}"
            else:
                slug = _slug(piece.split("/", 1)[-1])
                name = f"{slug if slug.startswith(style) else f'{style}-{slug}'}-v{variant}"
            jobs.append(Job(key=name, params={
                "kind": "synthetic", "style": style, "piece": piece, "group": group,
                "variant": variant, "split": split, "seed": job_seed(seed, name),
                "max_seconds": max_seconds, "drum_probability": drum_probability,
            }))
    return sorted(jobs, key=lambda j: j.key)


def plan_real(library_dir: str | os.PathLike, library: list, *, seed: int,
              tracks: int, test_real_tracks: int, valid_fraction: float = 0.1,
              max_seconds: float | None = None) -> list[Job]:
    """One job per real-backed track: ``tracks`` for train and valid (valid when the
    library has valid music; about ``valid_fraction`` of them) and ``test_real_tracks``
    of 30 s for test-real. A track's music and speaker come from the library split of
    its own split, so sources never cross splits."""
    root = Path(library_dir).resolve()
    music = {s: [f for f in library if f.kind == "music" and f.split == s]
             for s in ("train", "valid", "test-real")}
    speech: dict[str, dict[str, list]] = {}
    for f in library:
        if f.kind == "speech":
            speech.setdefault(f.split, {}).setdefault(f.group, []).append(f)
    n_valid = int(round(tracks * valid_fraction)) if music["valid"] else 0
    wanted = [("train", tracks - n_valid), ("valid", n_valid), ("test-real", test_real_tracks)]
    jobs = []
    for split, count in wanted:
        if count <= 0:
            continue
        if not music[split]:
            raise CorpusError(f"the library has no {split} music for the real-backed tracks",
                              root / "manifest.json")
        speakers = sorted(speech.get(split, {}))
        lengths = [f.duration for f in music[split]]
        prefix = "testreal" if split == "test-real" else "real"
        for i in range(count):
            key = f"{prefix}-{i:04d}" if split != "valid" else f"real-valid-{i:04d}"
            rng = job_rng(seed, "real", key)
            # Music: every track of the split in turn (a seeded order), a random segment.
            m = int(job_rng(seed, "music-order", split).permutation(len(music[split]))[i % len(music[split])])
            want = TEST_REAL_SECONDS if split == "test-real" else float(rng.uniform(*REAL_SECONDS))
            if max_seconds:
                want = min(want, max_seconds)
            seconds = float(min(want, lengths[m]))
            start = float(rng.uniform(0.0, max(0.0, lengths[m] - seconds)))
            mode = "sung"
            speaker, clips = None, []
            if speakers:
                mode = str(rng.choice(["speech", "both", "sung"], p=[0.45, 0.35, 0.2]))
            if mode != "sung":
                speaker = speakers[int(rng.integers(len(speakers)))]
                own = speech[split][speaker]
                order = rng.permutation(len(own))
                total = 0.0
                for j in order[:60]:
                    clips.append(own[int(j)].rel)
                    total += own[int(j)].duration
                    if total > 1.5 * seconds:
                        break
            voices = (HELD_OUT_VOICE,) if split == "test-real" else TRAIN_VOICES
            jobs.append(Job(key=key, params={
                "kind": "real", "split": split, "seed": job_seed(seed, key),
                "library": str(root), "music": music[split][m].rel, "music_group": music[split][m].group,
                "start": round(start, 4), "seconds": round(seconds, 4), "mode": mode,
                "speaker": speaker, "speech": clips, "voice": str(rng.choice(voices)),
            }))
    return sorted(jobs, key=lambda j: j.key)


def plan_multitrack(*, seed: int, tracks: int, real_fraction: float = 0.5,
                    library_dir: str | os.PathLike | None = None,
                    library: list | None = None, test_real_tracks: int = 30,
                    styles: tuple[str, ...] = STYLES, test_fraction: float = 0.15,
                    valid_fraction: float = 0.1, max_seconds: float | None = None,
                    drum_probability: float = 0.6, pieces: list[str] | None = None) -> list[Job]:
    """The whole corpus: ``round(tracks * (1 - real_fraction))`` synthetic tracks, and,
    when a library is given, the other train/valid tracks real-backed plus
    ``test_real_tracks`` test-real ones. The synthetic jobs do not depend on the library,
    so adding it later to a built corpus renders only the real-backed tracks."""
    n_synth = int(np.floor(tracks * (1.0 - real_fraction) + 0.5))
    jobs = plan_synthetic(seed=seed, tracks=n_synth, styles=styles, test_fraction=test_fraction,
                          valid_fraction=valid_fraction, max_seconds=max_seconds,
                          drum_probability=drum_probability, pieces=pieces)
    if library is not None and library_dir is not None:
        jobs += plan_real(library_dir, library, seed=seed, tracks=tracks - n_synth,
                          test_real_tracks=test_real_tracks, valid_fraction=valid_fraction,
                          max_seconds=max_seconds)
    return sorted(jobs, key=lambda j: j.key)


# ----------------------------------------------------------------------------- builder


def _library_sources(jobs: list[Job], library: list) -> list[dict]:
    """Manifest entries for the library sources the real-backed jobs use: one per music
    source and speaker, with its split, packages and licences."""
    by_rel = {f.rel: f for f in library}
    used: dict[str, dict] = {}
    for job in jobs:
        p = job.params
        if p["kind"] != "real":
            continue
        for rel in [p["music"], *p["speech"]]:
            f = by_rel[rel]
            entry = used.setdefault(f"{f.kind}/{f.group}", {
                "id": f"library:{f.kind}/{f.group}", "name": f"{f.kind} {f.group}",
                "kind": f.kind, "split": f.split, "package": set(), "licence": set()})
            entry["package"].add(f.package)
            entry["licence"].add(f.licence)
    return [dict(e, package=", ".join(sorted(x for x in e["package"] if x)),
                 licence=", ".join(sorted(x for x in e["licence"] if x)))
            for _, e in sorted(used.items())]


def build_multitrack(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    tracks: int = 320,
    workers: int | None = None,
    test_fraction: float = 0.15,
    valid_fraction: float = 0.1,
    max_seconds: float | None = None,
    drum_probability: float = 0.6,
    quiet: bool = False,
    verify: bool = False,
    pieces: list[str] | None = None,
    styles: tuple[str, ...] = STYLES,
    real_fraction: float = 0.5,
    sources_dir: str | os.PathLike | None = DEFAULT_SOURCES,
    test_real_tracks: int = 30,
) -> dict:
    """Build (or resume) the corpus in ``out``. ``tracks`` counts the train, valid and
    test tracks; ``real_fraction`` of them are real-backed when the library in
    ``sources_dir`` exists (otherwise a one-line note says so and only the synthetic
    part is built). Returns a summary: tracks, per-split counts, synthetic and real
    seconds per split, rendered, skipped, library (or None), manifest."""
    import music21

    if not 0.0 <= real_fraction <= 1.0:
        raise ValueError("real_fraction must be in [0, 1]")
    check_tools(*TOOLS)
    library, note = None, None
    if sources_dir is not None and real_fraction > 0:
        library = read_library(sources_dir)
        if library is None:
            note = (f"no real-audio library at {sources_dir} (build it with `sonomorph corpus "
                    "sources`): built the synthetic part only")
    jobs = plan_multitrack(seed=seed, tracks=tracks, real_fraction=real_fraction,
                           library_dir=sources_dir, library=library,
                           test_real_tracks=test_real_tracks, styles=tuple(styles),
                           test_fraction=test_fraction, valid_fraction=valid_fraction,
                           max_seconds=max_seconds, drum_probability=drum_probability,
                           pieces=pieces)
    if not jobs:
        raise ConfigError("no tracks to build: raise --tracks, or give the library for the "
                          "real-backed part")
    parameters = {"seed": seed, "tracks": tracks, "test_fraction": test_fraction,
                  "valid_fraction": valid_fraction, "max_seconds": max_seconds,
                  "drum_probability": drum_probability, "styles": list(styles),
                  "pieces": sorted(pieces) if pieces is not None else "all chorales",
                  "real_fraction": real_fraction, "test_real_tracks": test_real_tracks,
                  "library": str(Path(sources_dir).resolve()) if library is not None else None,
                  "held_out_voice": HELD_OUT_VOICE, "music21": music21.__version__,
                  "sample_rate": SR}
    srcs = sources(*SOURCE_IDS) + (_library_sources(jobs, library) if library else [])
    result = run_jobs(out, builder=BUILDER, jobs=jobs, render=render_track,
                      workers=workers or default_workers(), parameters=parameters,
                      sources=srcs, quiet=quiet, verify=verify)
    root = Path(out)
    seconds = {s: {"synthetic": 0.0, "real": 0.0} for s in SPLITS}
    counts = {s: {"synthetic": 0, "real": 0} for s in SPLITS}
    for job in jobs:
        split, kind = job.params["split"], job.params["kind"]
        mixture = root / split / job.key / "mixture.wav"
        seconds[split][kind] += (mixture.stat().st_size - 58) / (8 * SR)
        counts[split][kind] += 1
    return {"tracks": len(jobs), **{s: sum(counts[s].values()) for s in SPLITS},
            "counts": counts, "split_seconds": seconds,
            "seconds": sum(v for s in seconds.values() for v in s.values()),
            "pieces": len({j.params["piece"] for j in jobs if j.params["kind"] == "synthetic"}),
            "library": str(sources_dir) if library is not None else None, "note": note,
            "rendered": result["rendered"], "skipped": result["skipped"],
            "manifest": result["manifest_path"]}
