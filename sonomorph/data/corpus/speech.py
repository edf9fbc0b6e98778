"""``corpus speech``: a many-speaker speech corpus in the VCTK 0.92 layout, synthetic and
real speakers side by side.

    <out>/wav/<spk>/<spk>_<NNN>.wav   mono float32, 16 kHz (the rate speaker encoders use)
    <out>/txt/<spk>/<spk>_<NNN>.txt   the sentence read (synthetic speakers)
    <out>/speaker-info.txt            ID AGE GENDER ACCENTS REGION COMMENTS, like VCTK's
    <out>/splits/<split>.txt          speaker ids of train, valid and test-real
    <out>/real-clips.json             each real clip: speaker, source file, package, licence
    <out>/manifest.json               parameters, sources and licences, sha256 per file

Real speakers (ids ``r-<speaker>``) come from the real-audio library of ``corpus sources``
(``<library>/speech/<speaker>/<clip>.flac`` with its manifest): every speaker with at least
``min_clips`` clips of ``MIN_REAL_SECONDS`` or more, up to ``utterances`` of them drawn with
the seed, resampled to 16 kHz with soxr (:func:`sonomorph.audio.io.load`) and cut to
``MAX_REAL_SECONDS``. Each real speaker keeps the library's split (``train``, ``valid`` or
``test-real``, decided by speaker), so test-real speakers are in no training or validation
split; synthetic speakers are all ``train``. ``real_fraction`` of the ``speakers`` are
real when the library holds enough (the shortfall is reported, never filled with synthetic
speakers, so the synthetic part is always ``speakers - round(real_fraction * speakers)``).

A speaker is one synthesiser voice with a fixed parameter set: base pitch offset, speaking
rate and voice size (a resampling shift of pitch and formants together), held for all
its utterances, which then vary a little each (pitch +-0.7 semitone, rate +-7 %) and read
different sentences. The installed human-derived voices (festival kal, ked, Italian lp
and pc, Finnish lj and mv; flite awb, rms, slt, kal16) are interleaved with espeak-ng
speakers (an English accent, Italian or Finnish base voice with one of its ~70 variants),
so any first N speakers mix both kinds. Speaker ids are p225, p226, ... in that order.
Each speaker is one job; the same seed gives the same bytes (given the same installed
voices and the same library).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

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
from sonomorph.data.corpus.tts import Voice, installed_voices, sentence, synthesize
from sonomorph.errors import ConfigError, DependencyError
from sonomorph.utils.fs import atomic_write_text

SR = 16000
FIRST_ID = 225  # VCTK's first speaker is p225
INFO_KEY = "speaker-info"
SPLITS = ("train", "valid", "test-real")
MIN_REAL_SECONDS = 0.5
MAX_REAL_SECONDS = 15.0
REAL_PREFIX = "r-"
DEFAULT_LIBRARY = "corpora/sources"


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


def speaker_info_text(speakers: list[dict], real: list[dict] | None = None) -> str:
    """VCTK-style speaker-info.txt: ID AGE GENDER ACCENTS REGION COMMENTS (for a real
    speaker: language, package, split and licence)."""
    rows = ["ID  AGE  GENDER  ACCENTS  REGION  COMMENTS"]
    for s in speakers:
        v = s["voice"]
        rows.append(f"{s['id']}  --  {v['gender']}  {v['language']}  {v['engine']}  "
                    f"{v['name']} pitch={s['pitch']:+.2f}st speed={s['speed']:.2f} "
                    f"scale={s['scale']:.3f} split=train")
    for r in real or []:
        rows.append(f"{r['id']}  --  {r['gender'] or '-'}  {r['language'] or '-'}  "
                    f"{','.join(r['packages'])}  real speaker {r['speaker']} "
                    f"split={r['split']} licence={'; '.join(r['licences'])}")
    return "\n".join(rows) + "\n"


# ----------------------------------------------------------------------------- real part


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "speaker"


def real_speakers(library: str | os.PathLike, *, min_clips: int = 20) -> tuple[list[dict], dict]:
    """The speakers of a real-audio library's speech part (read with
    :func:`sonomorph.data.corpus.sources_library.load_library`), sorted by id: ``{"id", "speaker",
    "split", "language", "gender", "packages", "licences", "clips": [{"path" (relative to
    the library), "duration", "sha256", "package", "licence"}]}``, keeping clips of
    :data:`MIN_REAL_SECONDS` or more; and counts of what was left out
    (``speakers_few_clips``: fewer than ``min_clips`` such clips; ``clips_short``)."""
    from sonomorph.data.corpus.sources_library import load_library

    by_speaker: dict[str, dict] = {}
    short = 0
    for r in load_library(library, kind="speech"):
        if r.split not in SPLITS:
            raise ConfigError(f"unknown split {r.split!r} for {r.path}", library)
        label = dict(r.label or {})
        spk = by_speaker.setdefault(r.group, {
            "id": REAL_PREFIX + _slug(r.group), "speaker": r.group, "split": r.split,
            "language": label.get("language"), "gender": label.get("gender"),
            "packages": set(), "licences": set(), "clips": []})
        if spk["split"] != r.split:
            raise ConfigError(f"speaker {r.group} is in two splits ({spk['split']}, "
                              f"{r.split}): the library must split by speaker", library)
        if r.duration < MIN_REAL_SECONDS:
            short += 1
            continue
        spk["packages"].add(r.package)
        spk["licences"].add(r.licence)
        spk["clips"].append({"path": r.rel,
                             "duration": round(float(r.duration), 3), "sha256": r.sha256,
                             "package": r.package, "licence": r.licence})
    kept, few = [], 0
    for spk in by_speaker.values():
        if len(spk["clips"]) < min_clips:
            few += 1
            continue
        spk["packages"], spk["licences"] = sorted(spk["packages"]), sorted(spk["licences"])
        spk["clips"].sort(key=lambda c: c["path"])
        kept.append(spk)
    ids = [s["id"] for s in kept]
    if len(set(ids)) != len(ids):
        raise ConfigError("two library speakers have the same id once made file-safe", library)
    return sorted(kept, key=lambda s: s["id"]), {"speakers_few_clips": few, "clips_short": short}


def choose_real(speakers: list[dict], wanted: int, seed: int) -> list[dict]:
    """``wanted`` of the library's ``speakers`` (all when fewer), each split keeping its
    share (largest remainders), in a seeded order within a split; sorted by id."""
    if wanted >= len(speakers):
        return list(speakers)
    by_split = {sp: [s for s in speakers if s["split"] == sp] for sp in SPLITS}
    exact = {sp: wanted * len(v) / len(speakers) for sp, v in by_split.items()}
    take = {sp: int(math.floor(x)) for sp, x in exact.items()}
    for sp in sorted(SPLITS, key=lambda k: (take[k] - exact[k], k))[: wanted - sum(take.values())]:
        take[sp] += 1
    chosen = []
    for sp, group in by_split.items():
        order = job_rng(seed, "real-speakers", sp).permutation(len(group))
        chosen += [group[i] for i in order[: take[sp]]]
    return sorted(chosen, key=lambda s: s["id"])


def render_real(job: Job, out_dir: Path) -> list[Path]:
    """Resample one real speaker's clips to the corpus rate (soxr) and write them."""
    from sonomorph.audio.io import load

    p = job.params
    spk, sr, library = p["id"], p["sample_rate"], Path(p["library"])
    written = []
    for i, clip in enumerate(p["clips"]):
        wav, _ = load(library / clip["path"], sr=sr, channels=1, duration=MAX_REAL_SECONDS)
        peak = float(np.max(np.abs(wav))) if wav.size else 0.0
        if peak > 0.99:  # resampling can overshoot a full-scale recording
            wav = wav * np.float32(0.99 / peak)
        written.append(write_wav(out_dir / "wav" / spk / f"{spk}_{i + 1:03d}.wav", wav, sr))
    return written


def read_splits(root: str | os.PathLike) -> dict[str, str]:
    """``{speaker: split}`` from a speech corpus's ``splits/<split>.txt`` files (empty when
    it has none, e.g. VCTK itself)."""
    out: dict[str, str] = {}
    for split in SPLITS:
        f = Path(root) / "splits" / f"{split}.txt"
        if f.is_file():
            for line in f.read_text("utf-8").splitlines():
                if line.strip() and not line.startswith("#"):
                    out[line.strip()] = split
    return out


def render_speech(job: Job, out_dir: Path) -> list[Path]:
    """Render one speaker's utterances (or, for the ``speaker-info`` job, the table)."""
    p = job.params
    if job.key == INFO_KEY:
        path = out_dir / "speaker-info.txt"
        atomic_write_text(path, p["text"], overwrite=True)
        written = [path]
        for split, ids in p["splits"].items():
            f = out_dir / "splits" / f"{split}.txt"
            atomic_write_text(f, f"# speakers of the {split} split\n" + "".join(
                f"{i}\n" for i in ids), overwrite=True)
            written.append(f)
        if p["real_clips"]:
            written.append(write_json(out_dir / "real-clips.json", p["real_clips"]))
        return written
    if p.get("real"):
        return render_real(job, out_dir)
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
                voices: dict[str, list[Voice]] | None = None,
                real: list[dict] | None = None, library: str | os.PathLike | None = None
                ) -> list[Job]:
    """The jobs of a build: one per synthetic speaker (``speakers`` of them), one per
    ``real`` speaker (up to ``utterances`` clips drawn with the seed), and the tables."""
    plan = plan_speakers(speakers, seed, voices) if speakers else []
    jobs = [Job(s["id"], dict(s, utterances=utterances, sample_rate=sample_rate,
                              seed=job_seed(seed, "speech", s["id"]))) for s in plan]
    real_clips = {}
    for r in real or []:
        order = job_rng(seed, "real-clips", r["id"]).permutation(len(r["clips"]))
        clips = [r["clips"][i] for i in order[:utterances]]
        jobs.append(Job(r["id"], {"real": True, "id": r["id"], "library": os.fspath(library),
                                  "sample_rate": sample_rate, "clips": [
                                      {"path": c["path"], "sha256": c["sha256"]} for c in clips]}))
        for i, c in enumerate(clips):
            real_clips[f"wav/{r['id']}/{r['id']}_{i + 1:03d}.wav"] = {
                "speaker": r["speaker"], "split": r["split"], "source": c["path"],
                "sha256_source": c["sha256"], "package": c["package"], "licence": c["licence"]}
    splits = {sp: sorted([s["id"] for s in plan] if sp == "train" else []) for sp in SPLITS}
    for r in real or []:
        splits[r["split"]] = sorted(splits[r["split"]] + [r["id"]])
    jobs.append(Job(INFO_KEY, {"text": speaker_info_text(plan, real), "splits": splits,
                               "real_clips": real_clips}))
    return jobs


def build_speech(out: str | os.PathLike, *, seed: int = 0, speakers: int = 110,
                 real_fraction: float = 0.6, library: str | os.PathLike | None = None,
                 min_clips: int = 20, utterances: int = 50, sample_rate: int = SR,
                 workers: int = 1, quiet: bool = False, verify: bool = False) -> dict:
    """Build (or resume) the speech corpus in ``out``.

    ``speakers - round(real_fraction * speakers)`` synthetic speakers, and up to
    ``round(real_fraction * speakers)`` real ones from ``library`` (default
    :data:`DEFAULT_LIBRARY`; when that default is missing the corpus is synthetic only and
    the summary says so; a ``library`` given and missing is an error). Returns a summary
    dict: ``speakers``, ``synthetic``, ``real``, ``real_asked``, ``real_available``,
    ``splits`` (speakers per split), ``utterances``, ``seconds``, ``voices``, ``rendered``,
    ``skipped`` and ``note``."""
    if speakers < 1 or utterances < 1:
        raise ValueError("speakers and utterances must be at least 1")
    if not 0.0 <= real_fraction <= 1.0:
        raise ConfigError(f"the real fraction must lie in [0, 1], not {real_fraction}")
    real_asked = int(round(real_fraction * speakers))
    synthetic = speakers - real_asked
    note, real, left_out = None, [], {}
    lib = Path(library if library is not None else DEFAULT_LIBRARY)
    if real_asked:
        if not (lib / "manifest.json").is_file():
            if library is not None:
                raise ConfigError("no real-audio library here (build it with `sonomorph corpus "
                                  "sources`, or pass --real-fraction 0)", lib)
            note = (f"no real-audio library at {lib} (`sonomorph corpus sources` builds it): "
                    "synthetic speakers only")
        else:
            available, left_out = real_speakers(lib, min_clips=min_clips)
            real = choose_real(available, real_asked, seed)
            if len(real) < real_asked:
                note = (f"{real_asked} real speakers asked for, the library has "
                        f"{len(available)} with {min_clips} or more clips: using {len(real)}")
    voices = installed_voices() if synthetic else {}
    jobs = speech_jobs(seed=seed, speakers=synthetic, utterances=utterances,
                       sample_rate=sample_rate, voices=voices, real=real, library=lib)
    synth_jobs = [j for j in jobs if j.key != INFO_KEY and not j.params.get("real")]
    engines = sorted({j.params["voice"]["engine"] for j in synth_jobs})
    check_tools(*(("text2wave",) if "festival" in engines else ()), *(
        e for e in engines if e in ("flite", "espeak-ng")))
    names = [n for n, e in (("festival", "festival"), ("festvox-english-diphone", "festival"),
                            ("festvox-italian-diphone", "festival"),
                            ("festvox-finnish-diphone", "festival"), ("flite", "flite"),
                            ("espeak-ng", "espeak-ng")) if e in engines]
    params = {"seed": seed, "speakers": speakers, "real_fraction": real_fraction,
              "min_clips": min_clips, "utterances": utterances, "sample_rate": sample_rate,
              "library": lib.as_posix() if real else None}
    srcs = sources(*names)
    for pkg, licence in sorted({(c["package"], c["licence"]) for r in real for c in r["clips"]}):
        srcs.append({"id": f"real:{pkg}", "name": f"recordings from the Debian package {pkg} "
                     "(via corpus sources)", "package": f"{pkg} (Debian)", "licence": licence})
    result = run_jobs(out, builder="speech", jobs=jobs, render=render_speech, workers=workers,
                      parameters=params, sources=srcs, quiet=quiet, verify=verify)
    files = [f for f in result["manifest"]["files"] if f.endswith(".wav")]
    seconds = sum(_duration(Path(out) / f) for f in files)
    split_counts = {sp: sum(1 for r in real if r["split"] == sp) + (synthetic if sp == "train"
                                                                     else 0) for sp in SPLITS}
    return {"speakers": synthetic + len(real), "synthetic": synthetic, "real": len(real),
            "real_asked": real_asked, "real_left_out": left_out, "splits": split_counts,
            "utterances": len(files), "seconds": seconds,
            "voices": len({j.params["voice"]["name"] for j in synth_jobs}),
            "rendered": result["rendered"], "skipped": result["skipped"], "note": note}


def _duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(path)
    return info.frames / info.samplerate
