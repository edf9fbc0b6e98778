"""``corpus screams``: unpaired clean voices and screams, for the voice-to-scream GAN.

    <out>/voices/<spk>-<NNN>.wav    clean spoken (and, with festival, sung) lines
    <out>/screams/<spk>-<NNN>.wav   other speakers' lines through the growl effect
    <out>/manifest.json

Both sides are mono float32 at 22.05 kHz, one file ("take") of 4 to 7 lines with short
pauses, about 20 s. The two sides use disjoint speakers (a speaker is a synthesiser voice
with its own pitch, rate and voice size, as in ``corpus speech``) and independently drawn
sentences, so no line exists clean on one side and screamed on the other: the data is
unpaired, as CycleGAN-style training expects. Each scream line gets its own growl style
(fry, growl or scream), amount and seed.

Sung lines come from festival's singing mode through the multitrack builder's
:func:`sonomorph.data.corpus.singing.sing_phrases` (random melodies in a major or minor
scale within the voice's range, one note per word); they need a festival voice and
that module, and otherwise every line is spoken. Each take is one job.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sonomorph.audio.growl import STYLES, growl
from sonomorph.audio.io import resample
from sonomorph.data.corpus.common import (
    Job,
    check_tools,
    job_rng,
    job_seed,
    run_jobs,
    sources,
    write_wav,
)
from sonomorph.data.corpus.speech import plan_speakers
from sonomorph.data.corpus.tts import Voice, installed_voices, sentence, synthesize

SR = 22050
SIDES = ("voices", "screams")
LINE_SECONDS = 3.8  # planning estimate of one line with its pause


def _singing():
    """The multitrack builder's festival singing functions, or None without them."""
    try:
        from sonomorph.data.corpus import singing
    except ImportError:
        return None
    if not all(hasattr(singing, n) for n in ("sing_phrases", "Syllable", "FESTIVAL_VOICES")):
        return None
    return singing


def split_speakers(per_side: int, seed: int, voices: dict[str, list[Voice]] | None = None
                   ) -> dict[str, list[dict]]:
    """Two disjoint speaker sets of ``per_side`` each, both mixing human-derived and
    espeak-ng voices (the speech planner's list dealt out in pairs)."""
    plan = plan_speakers(2 * per_side, int(job_rng(seed, "screams").integers(0, 2**31)), voices)
    sides: dict[str, list[dict]] = {s: [] for s in SIDES}
    for i, spk in enumerate(plan):
        side = SIDES[(i // 2) % 2]
        if len(sides[side]) >= per_side:
            side = SIDES[1 - SIDES.index(side)]
        sides[side].append(dict(spk, id=f"{side[0]}{len(sides[side]) + 1:02d}"))
    return sides


def _melody(rng: np.random.Generator, words: list[str], gender: str) -> list[tuple[str, float, float]]:
    """(word, seconds, Hz) for a random tune, one note per word, within the voice range."""
    tonic = float(rng.uniform(98.0, 147.0) if gender == "M" else rng.uniform(175.0, 262.0))
    scale = (0, 2, 4, 5, 7, 9, 11, 12) if rng.random() < 0.5 else (0, 2, 3, 5, 7, 8, 10, 12)
    step = int(rng.integers(0, 5))
    beat = float(rng.uniform(0.28, 0.45))
    notes = []
    for k, w in enumerate(words):
        step = int(np.clip(step + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(scale) - 1))
        beats = 2 if k == len(words) - 1 else int(rng.choice([1, 1, 1, 2]))
        hz = min(tonic * 2.0 ** (scale[step] / 12.0), 480.0)
        notes.append((w, beats * beat, hz))
    return notes


def _sing(voice: Voice, text: str, rng: np.random.Generator, sr: int) -> np.ndarray | None:
    singing = _singing()
    if singing is None or voice.engine != "festival" or voice.name not in singing.FESTIVAL_VOICES:
        return None
    words = [w for w in (t.strip(".,;:!?'") for t in text.split()) if w.isascii() and w]
    if len(words) < 3:
        return None
    tune = _melody(rng, words[:12], voice.gender)
    syllables = [singing.Syllable(w, [(d, f)]) for w, d, f in tune]
    wav = singing.sing_phrases([syllables], voice.name)[0]
    wav = resample(wav, singing.SR, sr)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    return None if peak <= 0 else (wav * np.float32(0.9 / peak)).astype(np.float32)


def render_take(job: Job, out_dir: Path) -> list[Path]:
    """Render one take: its lines, joined by pauses; through the growl on the scream side."""
    p = job.params
    voice, sr = Voice.from_dict(p["voice"]), p["sample_rate"]
    rng = job_rng(p["seed"], "take")
    pieces = [np.zeros(int(rng.uniform(0.1, 0.3) * sr), np.float32)]
    for i in range(p["lines"]):
        lr = job_rng(p["seed"], "line", i)
        text = sentence(lr, voice.language)
        wav = None
        if lr.random() < p["sung_fraction"]:
            wav = _sing(voice, text, lr, sr)
        if wav is None:
            speed = p["speed"] * float(lr.uniform(0.9, 1.1))
            pitch = p["pitch"] + float(np.clip(lr.normal(0.0, 0.8), -2.0, 2.0))
            wav = synthesize(voice, text, sr, speed=speed, pitch_semitones=pitch, scale=p["scale"])
        if p["side"] == "screams":
            style = STYLES[int(lr.integers(0, len(STYLES)))]
            wav = growl(wav, sr, style, amount=float(lr.uniform(0.7, 1.5)),
                        seed=int(lr.integers(0, 2**31)))
        wav = wav * np.float32(10.0 ** (lr.uniform(-6.0, 0.0) / 20.0))
        pieces += [wav, np.zeros(int(lr.uniform(0.25, 0.8) * sr), np.float32)]
    take = np.concatenate(pieces)
    path = out_dir / p["side"] / f"{job.key.split('/')[-1]}.wav"
    return [write_wav(path, take[None, :], sr)]


def screams_jobs(*, seed: int, minutes: float, speakers_per_side: int = 12,
                 sample_rate: int = SR, sung_fraction: float = 0.5,
                 lines_per_take: tuple[int, int] = (4, 7),
                 voices: dict[str, list[Voice]] | None = None) -> list[Job]:
    """Enough takes per side for about ``minutes`` of audio (a take of 4 to 7 lines is
    about 20 s), dealt round-robin to the side's speakers."""
    sides = split_speakers(speakers_per_side, seed, voices)
    per_take = LINE_SECONDS * sum(lines_per_take) / 2
    takes = max(1, int(np.ceil(minutes * 60.0 / per_take)))
    jobs = []
    for side in SIDES:
        spk = sides[side]
        for t in range(takes):
            s = spk[t % len(spk)]
            key = f"{side}/{s['id']}-{t // len(spk) + 1:03d}"
            r = job_rng(seed, "lines", key)
            jobs.append(Job(key, dict(
                side=side, speaker=s["id"], voice=s["voice"], pitch=s["pitch"], speed=s["speed"],
                scale=s["scale"], lines=int(r.integers(lines_per_take[0], lines_per_take[1] + 1)), sample_rate=sample_rate,
                sung_fraction=sung_fraction if s["voice"]["engine"] == "festival" else 0.0,
                seed=job_seed(seed, "screams", key))))
    return jobs


def build_screams(out: str | os.PathLike, *, seed: int = 0, minutes: float = 60.0,
                  speakers_per_side: int = 12, sample_rate: int = SR,
                  lines_per_take: tuple[int, int] = (4, 7), workers: int = 1,
                  quiet: bool = False, verify: bool = False) -> dict:
    """Build (or resume) the scream corpus; returns ``{"voices": seconds, "screams":
    seconds, "files": n, "rendered", "skipped", "sung": bool}``."""
    if minutes <= 0 or speakers_per_side < 1:
        raise ValueError("minutes and speakers_per_side must be positive")
    voices = installed_voices()
    sung = _singing() is not None and bool(voices.get("festival"))
    jobs = screams_jobs(seed=seed, minutes=minutes, speakers_per_side=speakers_per_side,
                        sample_rate=sample_rate, sung_fraction=0.5 if sung else 0.0,
                        lines_per_take=lines_per_take, voices=voices)
    engines = sorted({j.params["voice"]["engine"] for j in jobs})
    check_tools(*(("text2wave",) if "festival" in engines else ()),
                *(e for e in engines if e in ("flite", "espeak-ng")))
    names = [n for n, e in (("festival", "festival"), ("festvox-english-diphone", "festival"),
                            ("festvox-italian-diphone", "festival"),
                            ("festvox-finnish-diphone", "festival"), ("flite", "flite"),
                            ("espeak-ng", "espeak-ng")) if e in engines]
    params = {"seed": seed, "minutes": minutes, "speakers_per_side": speakers_per_side,
              "sample_rate": sample_rate, "sung": sung, "lines_per_take": list(lines_per_take)}
    result = run_jobs(out, builder="screams", jobs=jobs, render=render_take, workers=workers,
                      parameters=params, sources=sources(*names), quiet=quiet, verify=verify)
    import soundfile as sf

    seconds = dict.fromkeys(SIDES, 0.0)
    for rel in result["manifest"]["files"]:
        info = sf.info(Path(out) / rel)
        seconds[rel.split("/")[0]] += info.frames / info.samplerate
    return {**seconds, "files": len(result["manifest"]["files"]), "sung": sung,
            "rendered": result["rendered"], "skipped": result["skipped"]}
