"""``corpus multitrack``: a song corpus in the MUSDB18-HQ layout, built offline.

``<out>/{train,test}/<track>/{mixture,vocals,bass,drums,other,accompaniment}.wav``:
44.1 kHz stereo float32, the mixture equal to vocals + bass + drums + other, the
accompaniment to bass + drums + other; each track folder also holds ``track.json`` (its
arrangement and the sung notes, a pitch ground truth). Tracks are Bach chorales from the
music21 corpus arranged by :mod:`sonomorph.data.corpus.arrange`, the soprano sung by
festival, the other voices played through fluidsynth. Track names are
``<piece>-v<variant>``; the train/test split is by piece, so every rendering of a piece
lands on the same side.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sonomorph.data.corpus.common import (
    Job,
    check_tools,
    default_workers,
    job_rng,
    job_seed,
    run_jobs,
    sources,
    split_groups,
    write_json,
    write_wav,
)
from sonomorph.data.corpus.render import (
    SR,
    active_rms,
    add_reverb,
    brighten,
    fade,
    pan_mono,
    render_midi,
    reverb_ir,
)

BUILDER = "multitrack"
STEMS = ("vocals", "bass", "drums", "other")
FILES = ("mixture", "vocals", "bass", "drums", "other", "accompaniment")
TOOLS = ("festival", "flite", "espeak-ng", "FluidR3_GM", "TimGM6mb", "libfluidsynth",
         "voice_kal_diphone", "voice_ked_diphone", "voice_lp_diphone", "voice_pc_diphone",
         "voice_suo_fi_lj_diphone", "voice_hy_fi_mv_diphone")
SOURCE_IDS = ("music21", "FluidR3_GM", "TimGM6mb", "fluidsynth", "festival",
              "festvox-english-diphone", "festvox-italian-diphone", "festvox-finnish-diphone",
              "flite", "espeak-ng")
PEAK_DBFS = -1.0


def plan_multitrack(*, seed: int, tracks: int, test_fraction: float = 0.15,
                    max_seconds: float | None = None, drum_probability: float = 0.6,
                    pieces: list[str] | None = None) -> list[Job]:
    """One job per track. Pieces are taken in a seeded order and reused (as further
    variants) only when ``tracks`` exceeds their number; the split is by piece."""
    from sonomorph.data.corpus.scores import list_chorales, piece_id

    names = sorted(pieces) if pieces is not None else list_chorales()
    if not names:
        raise ValueError("no pieces to build from")
    order = [names[i] for i in job_rng(seed, "pieces").permutation(len(names))]
    chosen = [(order[i % len(order)], i // len(order) + 1) for i in range(tracks)]
    split = split_groups([piece_id(p) for p, _ in chosen], test_fraction, seed)
    jobs = []
    for piece, variant in chosen:
        pid = piece_id(piece)
        name = f"{pid}-v{variant}"
        jobs.append(Job(key=name, params={
            "piece": piece, "variant": variant, "split": split[pid],
            "seed": job_seed(seed, name), "max_seconds": max_seconds,
            "drum_probability": drum_probability,
        }))
    return sorted(jobs, key=lambda j: j.key)


def render_track(job: Job, out_dir: Path) -> list[Path]:
    """Render one track folder (module level: it runs in worker processes)."""
    from sonomorph.data.corpus.arrange import arrange
    from sonomorph.data.corpus.scores import load_chorale

    p = job.params
    rng = np.random.Generator(np.random.PCG64(p["seed"]))
    arr = arrange(load_chorale(p["piece"]), rng, drum_probability=p["drum_probability"],
                  max_seconds=p["max_seconds"])
    n = int(round(arr.length * SR))

    stems: dict[str, np.ndarray] = {}
    for stem in ("bass", "drums", "other"):
        if arr.notes[stem]:
            stems[stem] = render_midi(arr.soundfonts[stem], arr.programs[stem], arr.notes[stem], n,
                                      controls=arr.controls[stem])
        else:
            stems[stem] = np.zeros((2, n), np.float32)
    voice = render_vocals(arr, n)
    voice = brighten(voice, rng, harmonics_db=arr.mix["brighten_db"]["harmonics"],
                     air_db=arr.mix["brighten_db"]["air"])
    stems["vocals"] = pan_mono(voice, arr.mix["pans"]["vocals"])

    rev = arr.mix["reverb"]
    ir = reverb_ir(rng, rt60=rev["rt60"], predelay=rev["predelay"], brightness=rev["brightness"])
    for stem in STEMS:
        stems[stem] = add_reverb(stems[stem], ir, arr.mix["sends"][stem])
        stems[stem] = fade(stems[stem], 0.0, arr.fade_out)

    mixed = mix_stems(stems, arr.mix["levels_db"])
    folder = Path(out_dir) / p["split"] / job.key
    written = [write_wav(folder / f"{name}.wav", mixed[name], SR) for name in FILES]
    meta = arr.describe()
    meta.update({"track": job.key, "split": p["split"], "seed": p["seed"],
                 "sample_rate": SR, "samples": n})
    written.append(write_json(folder / "track.json", meta))
    return written


def mix_stems(stems: dict[str, np.ndarray], levels_db: dict[str, float]) -> dict[str, np.ndarray]:
    """Set stem levels, sum, and scale everything so the mixture peaks at -1 dBFS.

    Accompaniment stems are normalised to their active RMS times their level; the vocals
    are set relative to the accompaniment. The mixture and the accompaniment are sums of
    the float32 stems actually written, so they match them to float rounding."""
    out: dict[str, np.ndarray] = {}
    for stem in ("bass", "drums", "other"):
        rms = active_rms(stems[stem])
        gain = 10 ** (levels_db[stem] / 20) / rms if rms > 0 else 0.0
        out[stem] = (stems[stem] * gain).astype(np.float32)
    acc = out["bass"] + out["drums"] + out["other"]
    v_rms = active_rms(stems["vocals"])
    a_rms = active_rms(acc)
    v_gain = (a_rms * 10 ** (levels_db["vocals_to_accompaniment"] / 20) / v_rms
              if v_rms > 0 and a_rms > 0 else 1.0)
    out["vocals"] = (stems["vocals"] * v_gain).astype(np.float32)
    peak = float(np.max(np.abs(out["vocals"] + acc)))
    scale = 10 ** (PEAK_DBFS / 20) / peak if peak > 0 else 1.0
    for stem in STEMS:
        out[stem] = (out[stem] * np.float32(scale)).astype(np.float32)
    out["accompaniment"] = out["bass"] + out["drums"] + out["other"]
    out["mixture"] = out["vocals"] + out["accompaniment"]
    return out


def render_vocals(arr, n: int) -> np.ndarray:
    """The mono vocal line: sung phrases from festival, spoken and rapped lines from
    flite or espeak-ng, each placed at its start; silence elsewhere."""
    from sonomorph.data.corpus.singing import sing_phrases, speak, trim_silence

    out = np.zeros(n, np.float32)
    sung = [p for p in arr.vocals if p.mode == "sung"]
    levels = []
    if sung:
        audio = sing_phrases([p.syllables for p in sung], arr.singer["voice"],
                             formant_shift=arr.singer["formant_shift"])
        for p, x in zip(sung, audio):
            levels.append(active_rms(x[None]))
            _place(out, x * np.float32(10 ** (p.gain_db / 20)), p.start)
    level = float(np.median(levels)) if levels else 0.1
    spk = arr.speaker
    for p in arr.vocals:
        if p.mode == "sung":
            continue
        lang = p.language if spk["engine"] == "espeak-ng" else "en"

        def say(text: str, rate: float, lang: str = lang) -> np.ndarray:
            return speak(text, spk["engine"], spk["voice"], rate=rate, pitch=spk["pitch"],
                         language=lang)

        if p.mode == "spoken":
            x = trim_silence(say(p.text, spk["rate"]))
            keep = int((p.end - p.start + 1.0) * SR)
            x = fade(x[:keep], 0.0, 0.15) if len(x) > keep else x
            pieces = [(p.start, x)]
        else:
            pieces, t = [], p.start
            for word in p.text.split():
                x = trim_silence(say(word, spk["rate"] * 1.25))
                if len(x) == 0:
                    continue
                pieces.append((t, fade(x, 0.005, 0.02)))
                t += max(1, int(np.ceil(len(x) / SR / p.grid))) * p.grid
                if t > p.end + 2 * p.grid:
                    break
        rms = np.median([active_rms(x[None]) for _, x in pieces]) if pieces else 0.0
        gain = (level / rms if rms > 0 else 1.0) * 10 ** (p.gain_db / 20)
        for t, x in pieces:
            _place(out, x * np.float32(gain), t)
    return out


def _place(out: np.ndarray, x: np.ndarray, start: float) -> None:
    i = int(round(start * SR))
    if i >= len(out):
        return
    k = min(len(x), len(out) - i)
    out[i:i + k] += x[:k]


def build_multitrack(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    tracks: int = 200,
    workers: int | None = None,
    test_fraction: float = 0.15,
    max_seconds: float | None = None,
    drum_probability: float = 0.6,
    quiet: bool = False,
    verify: bool = False,
    pieces: list[str] | None = None,
) -> dict:
    """Build (or resume) the corpus in ``out``. Returns counts for a summary line:
    tracks, train, test, pieces, seconds, rendered, skipped, and the manifest path."""
    import music21

    check_tools(*TOOLS)
    jobs = plan_multitrack(seed=seed, tracks=tracks, test_fraction=test_fraction,
                           max_seconds=max_seconds, drum_probability=drum_probability,
                           pieces=pieces)
    parameters = {"seed": seed, "tracks": tracks, "test_fraction": test_fraction,
                  "max_seconds": max_seconds, "drum_probability": drum_probability,
                  "pieces": sorted(pieces) if pieces is not None else "all chorales",
                  "music21": music21.__version__, "sample_rate": SR}
    result = run_jobs(out, builder=BUILDER, jobs=jobs, render=render_track,
                      workers=workers or default_workers(), parameters=parameters,
                      sources=sources(*SOURCE_IDS), quiet=quiet, verify=verify)
    root = Path(out)
    seconds = 0.0
    for job in jobs:
        mixture = root / job.params["split"] / job.key / "mixture.wav"
        seconds += (mixture.stat().st_size - 58) / (8 * SR)
    splits = [j.params["split"] for j in jobs]
    return {"tracks": len(jobs), "train": splits.count("train"), "test": splits.count("test"),
            "pieces": len({j.params["piece"] for j in jobs}), "seconds": seconds,
            "rendered": result["rendered"], "skipped": result["skipped"],
            "manifest": result["manifest_path"]}
