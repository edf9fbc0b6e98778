"""``corpus screams``: unpaired voices and *real* screams, for the voice-to-scream GAN.

    <out>/voices/<spk>-<NNN>.wav             training voices: synthetic takes and real speech
    <out>/screams/<character>-<NNN>.wav      training screams: real screams, pain and battle cries
    <out>/valid/{voices,screams}/...         validation: other speakers and characters
    <out>/test-real/{voices,screams}/...     held out: speakers and characters of no other split
    <out>/test-text/<voice>-<NNN>.wav, .txt  English voices saying known sentences (for the WER)
    <out>/clips.json                         split, origin, speaker or character, package and
                                             licence of every file
    <out>/manifest.json

Everything is mono float32 at 22.05 kHz. ``voices/`` and ``screams/`` are the two folders
``sonomorph train scream`` reads, as before; ``--val-voices <out>/valid/voices`` gives it
held-out real and synthetic speakers to validate on.

**Screams** are real recordings from the real-audio library that ``sonomorph corpus
sources`` builds (``corpora/sources/screams/<character>/``: OpenArena, Nexuiz, MegaGlest,
0ad, UFO:AI, Scratch). Each library file becomes one file here, resampled (soxr) to
22.05 kHz with a peak between -6.9 and -0.9 dBFS. The split is the library's, made by
character (whole characters, and at least one whole package, are ``test-real``): the
training folder only ever holds ``train`` characters. The DSP growl
(:mod:`sonomorph.audio.growl`) is no longer a training target; it stays an effect and the
evaluation's baseline.

**Voices** mix synthetic speakers (festival, flite and espeak-ng, spoken and, with festival,
sung lines, as in ``corpus speech``) with real speech from the library's ``speech/`` part.
``real_voices`` is the share of the voice minutes that is real (default 0.5). Real speech
clips of the library's ``train`` speakers go to ``voices/`` (round-robin over speakers, so
every speaker contributes, until the real minutes are reached); ``valid`` and
``test-real`` speakers give up to ``heldout_clips`` clips each to ``valid/voices`` and
``test-real/voices``. The last two synthetic speakers are held out into ``valid/voices``.
Real speakers are named ``r_<speaker>`` and characters ``<character>`` with every
character that is not a letter, digit or ``_`` replaced by ``_`` (the recipe reads the
speaker as the file name's part before ``-``).

**test-text** holds English synthetic voices (festival's and flite's English voices)
saying :data:`TEXT_SENTENCES`, plain sentences written for this purpose: the evaluation's
word error rate is measured against this known text, never against a recognition of the
input.

Every file is one job with its own seed (a real file's job also records the library file's
sha256, so a changed library file is converted again); the same library and seed give the
same bytes.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from sonomorph.audio.io import resample
from sonomorph.data.corpus.common import (
    Job,
    check_tools,
    job_rng,
    job_seed,
    run_jobs,
    sources,
    write_json,
    write_wav,
)
from sonomorph.data.corpus.speech import plan_speakers
from sonomorph.data.corpus.tts import Voice, installed_voices, sentence, synthesize
from sonomorph.errors import ConfigError
from sonomorph.utils.fs import atomic_write_text

SR = 22050
SIDES = ("voices", "screams")
SPLITS = ("train", "valid", "test-real")
SPLIT_DIRS = {"train": "", "valid": "valid", "test-real": "test-real"}
TEXT_DIR = "test-text"
CLIPS = "clips.json"
DEFAULT_LIBRARY = "corpora/sources"
LINE_SECONDS = 3.8  # planning estimate of one synthetic line with its pause
MIN_VOICE_SECONDS = 1.0  # real speech clips shorter than this are not used as voices
MAX_SECONDS = 20.0  # longer real clips are cut
VALID_SYNTHETIC = 2  # synthetic speakers held out into valid/voices

#: Plain English sentences for the word error rate (written for sonomorph; the evaluation
#: voices say them, and the WER reference is this text).
TEXT_SENTENCES = (
    "The cat sat on the mat by the door.",
    "Please bring me a cup of hot tea.",
    "We walked to the park after lunch.",
    "The train leaves at seven in the morning.",
    "She found her keys under the table.",
    "It was cold and dark outside the house.",
    "My brother plays the piano every day.",
    "They opened the window to let in the air.",
    "He read the letter and put it away.",
    "The children ran down the hill to the river.",
    "I will call you when I get home.",
    "The old man sold fish at the market.",
)
#: English voices of the text set: (engine, voice name).
TEXT_VOICES = (("festival", "kal_diphone"), ("festival", "ked_diphone"), ("flite", "awb"),
               ("flite", "slt"), ("flite", "rms"), ("flite", "kal16"))


def _singing():
    """The multitrack builder's festival singing functions, or None without them."""
    try:
        from sonomorph.data.corpus import singing
    except ImportError:
        return None
    if not all(hasattr(singing, n) for n in ("sing_phrases", "Syllable", "FESTIVAL_VOICES")):
        return None
    return singing


def file_safe(name: str) -> str:
    """A speaker or character name as the part of a file name before ``-``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", str(name)) or "_"


def _folder(split: str, side: str) -> str:
    return f"{SPLIT_DIRS[split]}/{side}".lstrip("/")


# ----------------------------------------------------------------------------- library


def library_clips(library: str | os.PathLike, kind: str) -> list[dict]:
    """The library's ``kind`` ("speech" or "screams") files as dicts: ``path`` (absolute),
    ``rel`` (in the library), ``group`` (speaker or character), ``split``, ``duration``,
    ``sha256``, ``package``, ``licence``; sorted by ``rel``. A ConfigError when the
    library or that part of it is missing, or a group sits in two splits."""
    root = Path(library)
    if not (root / "manifest.json").is_file():
        raise ConfigError(f"no real-audio library at {root} (no manifest.json): build it with "
                          f"`sonomorph corpus sources --out {root}`", root)
    from sonomorph.data.corpus.sources_library import load_library

    out, seen = [], {}
    for r in load_library(root, kind=kind):
        path, rel = Path(r.path), r.rel
        if r.split not in SPLITS:
            raise ConfigError(f"unknown split {r.split!r} for {rel}", root)
        if seen.setdefault(r.group, r.split) != r.split:
            raise ConfigError(f"{kind} group {r.group} is in two splits ({seen[r.group]}, "
                              f"{r.split}): the library must split by group", root)
        out.append({"path": str(path), "rel": rel, "group": str(r.group), "split": r.split,
                    "duration": float(r.duration), "sha256": r.sha256, "package": r.package,
                    "licence": r.licence})
    if not out:
        raise ConfigError(f"the library at {root} has no {kind}: build that part with "
                          f"`sonomorph corpus sources --out {root} --only {kind}`", root)
    return sorted(out, key=lambda c: c["rel"])


def _round_robin(clips: list[dict], seconds: float, seed: int, tag: str) -> list[dict]:
    """Clips taken one speaker at a time (each speaker's clips in a seeded order) until
    their durations reach ``seconds`` (all of them if they do not)."""
    by_group: dict[str, list[dict]] = defaultdict(list)
    for c in clips:
        by_group[c["group"]].append(c)
    queues = []
    for g in sorted(by_group):
        order = job_rng(seed, tag, g).permutation(len(by_group[g]))
        queues.append([by_group[g][i] for i in order])
    chosen, total, k = [], 0.0, 0
    while total < seconds and any(queues):
        q = queues[k % len(queues)]
        if q:
            c = q.pop(0)
            chosen.append(c)
            total += min(c["duration"], MAX_SECONDS)
        k += 1
    return chosen


def real_plan(library: str | os.PathLike, *, seed: int, real_seconds: float,
              heldout_clips: int = 10) -> list[dict]:
    """The real files of a build: ``{"side", "split", "group", "out_group", "clip"}``.
    Every scream of the library; real speech by the rules of the module docstring."""
    plan = []
    for c in library_clips(library, "screams"):
        plan.append({"side": "screams", "split": c["split"], "group": c["group"],
                     "out_group": file_safe(c["group"]), "clip": c})
    speech = [c for c in library_clips(library, "speech") if c["duration"] >= MIN_VOICE_SECONDS]
    picked = _round_robin([c for c in speech if c["split"] == "train"], real_seconds, seed,
                          "real-voices")
    for split in ("valid", "test-real"):
        by_group: dict[str, list[dict]] = defaultdict(list)
        for c in speech:
            if c["split"] == split:
                by_group[c["group"]].append(c)
        for g in sorted(by_group):
            order = job_rng(seed, "heldout-voices", g).permutation(len(by_group[g]))
            picked += [by_group[g][i] for i in sorted(order[:heldout_clips])]
    for c in picked:
        plan.append({"side": "voices", "split": c["split"], "group": c["group"],
                     "out_group": "r_" + file_safe(c["group"]), "clip": c})
    return plan


def render_real(job: Job, out_dir: Path) -> list[Path]:
    """Convert one library file: mono, 22.05 kHz, at most MAX_SECONDS, a seeded peak."""
    from sonomorph.audio.io import load

    p = job.params
    wav, _ = load(p["source"], sr=p["sample_rate"], channels=1,
                  duration=MAX_SECONDS)
    wav = wav[0]
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 0:
        level = 0.9 * 10.0 ** (job_rng(p["seed"], "level").uniform(-6.0, 0.0) / 20.0)
        wav = wav * np.float32(level / peak)
    return [write_wav(out_dir / f"{job.key}.wav", wav[None, :].astype(np.float32),
                      p["sample_rate"])]


# ----------------------------------------------------------------------------- synthetic


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
    """Render one synthetic take: its spoken or sung lines, joined by pauses."""
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
        wav = wav * np.float32(10.0 ** (lr.uniform(-6.0, 0.0) / 20.0))
        pieces += [wav, np.zeros(int(lr.uniform(0.25, 0.8) * sr), np.float32)]
    take = np.concatenate(pieces)
    return [write_wav(out_dir / f"{job.key}.wav", take[None, :], sr)]


def render_text(job: Job, out_dir: Path) -> list[Path]:
    """One English evaluation clip: a known sentence said plainly, and its text beside it."""
    p = job.params
    voice, sr = Voice.from_dict(p["voice"]), p["sample_rate"]
    wav = synthesize(voice, p["text"], sr)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    wav = wav * np.float32(0.9 / peak) if peak > 0 else wav
    pad = np.zeros(int(0.2 * sr), np.float32)
    audio = write_wav(out_dir / f"{job.key}.wav", np.concatenate([pad, wav, pad])[None, :], sr)
    text = out_dir / f"{job.key}.txt"
    atomic_write_text(text, p["text"] + "\n", overwrite=True)
    return [audio, text]


def synthetic_jobs(*, seed: int, minutes: float, speakers: int, sample_rate: int = SR,
                   sung_fraction: float = 0.5, lines_per_take: tuple[int, int] = (4, 7),
                   voices: dict[str, list[Voice]] | None = None) -> list[Job]:
    """Synthetic voice takes for about ``minutes`` of audio, dealt round-robin to the
    speakers; the last :data:`VALID_SYNTHETIC` speakers' takes go to ``valid/voices``
    (when there are more speakers than that)."""
    plan = plan_speakers(speakers, int(job_rng(seed, "screams").integers(0, 2**31)), voices)
    n_valid = VALID_SYNTHETIC if speakers > VALID_SYNTHETIC else 0
    per_take = LINE_SECONDS * sum(lines_per_take) / 2
    takes = max(1, int(np.ceil(minutes * 60.0 / per_take)))
    jobs = []
    for t in range(takes):
        i = t % len(plan)
        s = plan[i]
        sid = f"v{i + 1:02d}"
        folder = _folder("valid" if i >= len(plan) - n_valid else "train", "voices")
        key = f"{folder}/{sid}-{t // len(plan) + 1:03d}"
        r = job_rng(seed, "lines", key)
        jobs.append(Job(key, dict(
            kind="take", speaker=sid, voice=s["voice"], pitch=s["pitch"], speed=s["speed"],
            scale=s["scale"], lines=int(r.integers(lines_per_take[0], lines_per_take[1] + 1)),
            sample_rate=sample_rate,
            sung_fraction=sung_fraction if s["voice"]["engine"] == "festival" else 0.0,
            seed=job_seed(seed, "screams", key))))
    return jobs


def text_jobs(*, seed: int, per_voice: int = 4, sample_rate: int = SR,
              voices: dict[str, list[Voice]] | None = None) -> list[Job]:
    """``per_voice`` of :data:`TEXT_SENTENCES` for each installed voice of
    :data:`TEXT_VOICES` (sentences dealt in turn, so the voices say different ones)."""
    voices = installed_voices() if voices is None else voices
    have = {(v.engine, v.name): v for vs in voices.values() for v in vs}
    jobs, k = [], 0
    for engine, name in TEXT_VOICES:
        v = have.get((engine, name))
        if v is None:
            continue
        for j in range(per_voice):
            text = TEXT_SENTENCES[k % len(TEXT_SENTENCES)]
            k += 1
            key = f"{TEXT_DIR}/{file_safe(engine + '_' + name)}-{j + 1:03d}"
            jobs.append(Job(key, dict(kind="text", voice=v.to_dict(), text=text,
                                      sample_rate=sample_rate, seed=job_seed(seed, key))))
    return jobs


def real_jobs(plan: list[dict], *, seed: int, sample_rate: int = SR) -> list[Job]:
    """One job per real file of the plan, numbered per group in library order."""
    jobs, count = [], defaultdict(int)
    for item in sorted(plan, key=lambda it: (it["side"], it["clip"]["rel"])):
        folder = _folder(item["split"], item["side"])
        count[(folder, item["out_group"])] += 1
        key = f"{folder}/{item['out_group']}-{count[(folder, item['out_group'])]:03d}"
        c = item["clip"]
        jobs.append(Job(key, dict(kind="real", source=c["path"], source_sha256=c["sha256"],
                                  sample_rate=sample_rate, seed=job_seed(seed, "real", key))))
    return jobs


def _render(job: Job, out_dir: Path) -> list[Path]:
    kind = job.params["kind"]
    if kind == "real":
        return render_real(job, out_dir)
    if kind == "text":
        return render_text(job, out_dir)
    return render_take(job, out_dir)


# ----------------------------------------------------------------------------- build


def build_screams(out: str | os.PathLike, *, library: str | os.PathLike = DEFAULT_LIBRARY,
                  seed: int = 0, minutes: float = 60.0, real_voices: float = 0.5,
                  speakers: int = 12, heldout_clips: int = 10, text_per_voice: int = 4,
                  sample_rate: int = SR, lines_per_take: tuple[int, int] = (4, 7),
                  workers: int = 1, quiet: bool = False, verify: bool = False,
                  voices: dict[str, list[Voice]] | None = None) -> dict:
    """Build (or resume) the scream corpus (see the module docstring). ``minutes``: training
    voice minutes, ``real_voices`` of them real. Returns a summary: ``seconds[folder]``,
    ``groups[folder]`` (speakers or characters), ``files``, ``sung``, ``rendered``,
    ``skipped``."""
    if minutes <= 0 or speakers < 1:
        raise ConfigError("minutes and speakers must be positive")
    if not 0.0 <= real_voices <= 1.0:
        raise ConfigError(f"real_voices must be between 0 and 1, got {real_voices}")
    plan = real_plan(library, seed=seed, real_seconds=minutes * 60.0 * real_voices,
                     heldout_clips=heldout_clips)
    jobs = real_jobs(plan, seed=seed, sample_rate=sample_rate)
    synth_minutes = minutes * (1.0 - real_voices)
    voices = installed_voices() if voices is None else voices
    sung = _singing() is not None and bool(voices.get("festival"))
    if synth_minutes > 0:
        jobs += synthetic_jobs(seed=seed, minutes=synth_minutes, speakers=speakers,
                               sample_rate=sample_rate, sung_fraction=0.5 if sung else 0.0,
                               lines_per_take=lines_per_take, voices=voices)
    jobs += text_jobs(seed=seed, per_voice=text_per_voice, sample_rate=sample_rate, voices=voices)
    engines = sorted({j.params["voice"]["engine"] for j in jobs if "voice" in j.params})
    check_tools(*(("text2wave",) if "festival" in engines else ()),
                *(e for e in engines if e in ("flite", "espeak-ng")))
    names = [n for n, e in (("festival", "festival"), ("festvox-english-diphone", "festival"),
                            ("festvox-italian-diphone", "festival"),
                            ("festvox-finnish-diphone", "festival"), ("flite", "flite"),
                            ("espeak-ng", "espeak-ng")) if e in engines]
    packages = sorted({(it["clip"]["package"], it["clip"]["licence"]) for it in plan})
    srcs = sources(*names) + [
        {"id": pkg, "name": f"{pkg} recordings (real-audio library)",
         "package": f"{pkg} (Debian)", "licence": lic} for pkg, lic in packages]
    params = {"seed": seed, "minutes": minutes, "real_voices": real_voices,
              "speakers": speakers, "heldout_clips": heldout_clips,
              "text_per_voice": text_per_voice, "sample_rate": sample_rate, "sung": sung,
              "lines_per_take": list(lines_per_take),
              "library": os.fspath(Path(library).resolve())}
    result = run_jobs(out, builder="screams", jobs=jobs, render=_render, workers=workers,
                      parameters=params, sources=srcs, quiet=quiet, verify=verify)
    clips = _clips_index(jobs, plan, sample_rate)
    write_json(Path(out) / CLIPS, clips)
    import soundfile as sf

    seconds: dict[str, float] = defaultdict(float)
    groups: dict[str, set] = defaultdict(set)
    for rel in result["manifest"]["files"]:
        if not rel.endswith(".wav"):
            continue
        info = sf.info(Path(out) / rel)
        folder = rel.rsplit("/", 1)[0]
        seconds[folder] += info.frames / info.samplerate
        groups[folder].add(clips[rel]["group"])
    return {"seconds": dict(sorted(seconds.items())),
            "groups": {k: len(v) for k, v in sorted(groups.items())},
            "files": sum(1 for r in result["manifest"]["files"] if r.endswith(".wav")),
            "sung": sung, "rendered": result["rendered"], "skipped": result["skipped"]}


def _clips_index(jobs: list[Job], plan: list[dict], sample_rate: int) -> dict:
    """``clips.json``: for every audio file, its split, origin, group and source."""
    by_source = {it["clip"]["path"]: it for it in plan}
    index = {}
    for job in jobs:
        p = job.params
        rel = f"{job.key}.wav"
        split = "test-text" if p["kind"] == "text" else (
            "test-real" if job.key.startswith("test-real/") else
            "valid" if job.key.startswith("valid/") else "train")
        if p["kind"] == "real":
            it = by_source[p["source"]]
            c = it["clip"]
            entry = {"origin": "real", "side": it["side"], "split": split, "group": it["group"],
                     "package": c["package"], "licence": c["licence"], "source": c["rel"]}
        else:
            entry = {"origin": "synthetic", "side": "voices", "split": split,
                     "group": p.get("speaker") or job.key.split("/")[-1].split("-")[0],
                     "voice": f"{p['voice']['engine']}:{p['voice']['name']}"}
            if p["kind"] == "text":
                entry["text"] = p["text"]
        index[rel] = entry
    return dict(sorted(index.items()))
