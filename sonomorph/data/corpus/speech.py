"""``corpus speech``: a many-speaker read-speech corpus in the VCTK 0.92 layout.

    <out>/wav/<spk>/<spk>_<NNN>.wav   mono float32, 16 kHz (the rate speaker encoders use)
    <out>/txt/<spk>/<spk>_<NNN>.txt   the sentence read
    <out>/speaker-info.txt            ID AGE GENDER ACCENTS REGION COMMENTS, like VCTK's
    <out>/manifest.json               parameters, sources and licences, sha256 per file

A speaker is one synthesiser voice with a fixed parameter set: base pitch offset, speaking
rate and voice size (a resampling shift of pitch and formants together), held for all
its utterances, which then vary a little each (pitch +-0.7 semitone, rate +-7 %) and read
different sentences. The installed human-derived voices (festival kal, ked, Italian lp
and pc, Finnish lj and mv; flite awb, rms, slt, kal16) are interleaved with espeak-ng
speakers (an English accent, Italian or Finnish base voice with one of its ~70 variants),
so any first N speakers mix both kinds. Speaker ids are p225, p226, ... in that order.
Each speaker is one job; the same seed gives the same bytes (given the same installed
voices).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from sonomorph.data.corpus.common import (
    Job,
    check_tools,
    job_rng,
    job_seed,
    run_jobs,
    sources,
    write_wav,
)
from sonomorph.data.corpus.tts import Voice, installed_voices, sentence, synthesize
from sonomorph.errors import DependencyError
from sonomorph.utils.fs import atomic_write_text

SR = 16000
FIRST_ID = 225  # VCTK's first speaker is p225
INFO_KEY = "speaker-info"


def plan_speakers(n: int, seed: int, voices: dict[str, list[Voice]] | None = None) -> list[dict]:
    """The ``n`` speakers of a build: voice and fixed parameters, in id order."""
    voices = installed_voices() if voices is None else voices
    rng = job_rng(seed, "speakers")
    human = voices.get("festival", []) + voices.get("flite", [])
    human = [human[i] for i in rng.permutation(len(human))]
    espeak = voices.get("espeak-ng", [])
    if not human and not espeak:
        raise DependencyError("no speech synthesiser found: install festival (with festvox "
                              "voices), flite or espeak-ng (scripts/install-system-deps.sh)")
    # Spread espeak speakers over base voices and variants: speaker k takes base k mod B
    # and variant k mod V of shuffled lists (distinct pairs for the first lcm(B, V)).
    by_name = {v.name: v for v in espeak}
    bases = sorted({name.split("+")[0] for name in by_name})
    variants = sorted({name.split("+")[1] for name in by_name})
    bases = [bases[i] for i in rng.permutation(len(bases))]
    variants = [variants[i] for i in rng.permutation(len(variants))]
    espeak_order: list[Voice] = []
    k = 0
    while bases and len(espeak_order) < min(n, len(by_name)):
        shift = k // math.lcm(len(bases), len(variants))
        name = f"{bases[k % len(bases)]}+{variants[(k + shift) % len(variants)]}"
        k += 1
        if name in by_name and by_name[name] not in espeak_order:
            espeak_order.append(by_name[name])
    order: list[Voice] = []
    h = e = 0
    while len(order) < n and (h < len(human) or e < len(espeak_order)):
        if h < len(human) and (len(order) % 2 == 0 or e >= len(espeak_order)):
            order.append(human[h])
            h += 1
        elif e < len(espeak_order):
            order.append(espeak_order[e])
            e += 1
    if len(order) < n:
        raise DependencyError(f"only {len(order)} distinct voices are installed, {n} speakers "
                              "asked for: install espeak-ng for more")
    speakers = []
    for i, voice in enumerate(order):
        r = job_rng(seed, "speaker", i)
        is_espeak = voice.engine == "espeak-ng"
        speakers.append({
            "id": f"p{FIRST_ID + i}",
            "voice": voice.to_dict(),
            "pitch": round(float(r.uniform(-4.0, 4.0) if is_espeak else r.uniform(-2.5, 2.5)), 3),
            "speed": round(float(r.uniform(0.86, 1.14)), 3),
            "scale": round(float(r.uniform(0.96, 1.04) if is_espeak else r.uniform(0.9, 1.1)), 3),
        })
    return speakers


def speaker_info_text(speakers: list[dict]) -> str:
    """VCTK-style speaker-info.txt: ID AGE GENDER ACCENTS REGION COMMENTS."""
    rows = ["ID  AGE  GENDER  ACCENTS  REGION  COMMENTS"]
    for s in speakers:
        v = s["voice"]
        rows.append(f"{s['id']}  --  {v['gender']}  {v['language']}  {v['engine']}  "
                    f"{v['name']} pitch={s['pitch']:+.2f}st speed={s['speed']:.2f} "
                    f"scale={s['scale']:.3f}")
    return "\n".join(rows) + "\n"


def render_speech(job: Job, out_dir: Path) -> list[Path]:
    """Render one speaker's utterances (or, for the ``speaker-info`` job, the table)."""
    p = job.params
    if job.key == INFO_KEY:
        path = out_dir / "speaker-info.txt"
        atomic_write_text(path, p["text"], overwrite=True)
        return [path]
    spk, voice, sr = p["id"], Voice.from_dict(p["voice"]), p["sample_rate"]
    written = []
    for i in range(p["utterances"]):
        rng = job_rng(p["seed"], spk, i)
        text = sentence(rng, voice.language)
        speed = p["speed"] * float(rng.uniform(0.93, 1.07))
        pitch = p["pitch"] + float(np.clip(rng.normal(0.0, 0.7), -1.5, 1.5))
        wav = synthesize(voice, text, sr, speed=speed, pitch_semitones=pitch, scale=p["scale"])
        wav = wav * np.float32(10.0 ** (rng.uniform(-6.0, 0.0) / 20.0))
        name = f"{spk}_{i + 1:03d}"
        written.append(write_wav(out_dir / "wav" / spk / f"{name}.wav", wav[None, :], sr))
        txt = out_dir / "txt" / spk / f"{name}.txt"
        atomic_write_text(txt, text + "\n", overwrite=True)
        written.append(txt)
    return written


def speech_jobs(*, seed: int, speakers: int, utterances: int, sample_rate: int = SR,
                voices: dict[str, list[Voice]] | None = None) -> list[Job]:
    plan = plan_speakers(speakers, seed, voices)
    jobs = [Job(s["id"], dict(s, utterances=utterances, sample_rate=sample_rate,
                              seed=job_seed(seed, "speech", s["id"]))) for s in plan]
    jobs.append(Job(INFO_KEY, {"text": speaker_info_text(plan)}))
    return jobs


def build_speech(out: str | os.PathLike, *, seed: int = 0, speakers: int = 30,
                 utterances: int = 50, sample_rate: int = SR, workers: int = 1,
                 quiet: bool = False, verify: bool = False) -> dict:
    """Build (or resume) the speech corpus in ``out``; returns a summary dict with
    ``speakers``, ``utterances``, ``seconds``, ``rendered``, ``skipped``, ``voices``."""
    if speakers < 1 or utterances < 1:
        raise ValueError("speakers and utterances must be at least 1")
    voices = installed_voices()
    jobs = speech_jobs(seed=seed, speakers=speakers, utterances=utterances,
                       sample_rate=sample_rate, voices=voices)
    engines = sorted({j.params["voice"]["engine"] for j in jobs if j.key != INFO_KEY})
    check_tools(*(("text2wave",) if "festival" in engines else ()), *(
        e for e in engines if e in ("flite", "espeak-ng")))
    names = [n for n, e in (("festival", "festival"), ("festvox-english-diphone", "festival"),
                            ("festvox-italian-diphone", "festival"),
                            ("festvox-finnish-diphone", "festival"), ("flite", "flite"),
                            ("espeak-ng", "espeak-ng")) if e in engines]
    params = {"seed": seed, "speakers": speakers, "utterances": utterances,
              "sample_rate": sample_rate}
    result = run_jobs(out, builder="speech", jobs=jobs, render=render_speech, workers=workers,
                      parameters=params, sources=sources(*names), quiet=quiet, verify=verify)
    files = [f for f in result["manifest"]["files"] if f.endswith(".wav")]
    seconds = sum(_duration(Path(out) / f) for f in files)
    return {"speakers": speakers, "utterances": len(files), "seconds": seconds,
            "voices": len({j.params["voice"]["name"] for j in jobs if j.key != INFO_KEY}),
            "rendered": result["rendered"], "skipped": result["skipped"]}


def _duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(path)
    return info.frames / info.samplerate
