"""Rendering the tracks of ``corpus multitrack``: one track folder per planned job.

:mod:`sonomorph.data.corpus.multitrack` plans the corpus (which tracks, from which
pieces or library sources, in which split) and hands each :class:`~sonomorph.data.corpus.common.Job`
to :func:`render_track`, which runs in worker processes and writes the folder:

- a synthetic track (a Bach chorale arranged by :mod:`sonomorph.data.corpus.arrange`, or
  a genre arrangement of :mod:`sonomorph.data.corpus.genres`): each stem rendered through
  fluidsynth, the vocal line sung by festival (and spoken or rapped by flite or
  espeak-ng), reverb and fades; :func:`mix_stems` sets the levels, and the six files
  ``{mixture,vocals,bass,drums,other,accompaniment}.wav`` are written;
- a real-backed track: a segment of real music from the library as the accompaniment,
  the library's speech (augmented) and festival singing as the vocals, written as
  ``{mixture,vocals,accompaniment}.wav``.

Every random choice is drawn from the job's own seed, so a track renders to the same
samples wherever and whenever it runs; ``track.json`` records the choices and the sung
notes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from sonomorph.data.corpus.common import Job, write_json, write_wav
from sonomorph.data.corpus.render import (
    DRUM_CHANNEL,
    SR,
    active_rms,
    add_reverb,
    brighten,
    fade,
    pan_mono,
    render_midi,
    reverb_ir,
)
from sonomorph.data.corpus.singing import FESTIVAL_VOICES

STEMS = ("vocals", "bass", "drums", "other")
FILES = ("mixture", "vocals", "bass", "drums", "other", "accompaniment")
REAL_FILES = ("mixture", "vocals", "accompaniment")
PEAK_DBFS = -1.0
# The festival voice kept for the held-out real test split (sung nowhere else).
HELD_OUT_VOICE = "hy_fi_mv_diphone"
TRAIN_VOICES = tuple(v for v in FESTIVAL_VOICES if v != HELD_OUT_VOICE)
GENRE_SECONDS = (35.0, 60.0)


# ----------------------------------------------------------------------------- rendering


def render_track(job: Job, out_dir: Path) -> list[Path]:
    """Render one track folder (module level: it runs in worker processes)."""
    p = job.params
    if p["kind"] == "real":
        return render_real_track(job, out_dir)
    if p["style"] == "chorale":
        return render_chorale_track(job, out_dir)
    return render_genre_track(job, out_dir)


def render_chorale_track(job: Job, out_dir: Path) -> list[Path]:
    from sonomorph.data.corpus.arrange import arrange
    from sonomorph.data.corpus.scores import load_chorale

    p = job.params
    rng = np.random.Generator(np.random.PCG64(p["seed"]))
    arr = arrange(load_chorale(p["piece"]), rng, drum_probability=p["drum_probability"],
                  max_seconds=p["max_seconds"], voices=TRAIN_VOICES)
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
    meta = arr.describe()
    meta["style"] = "chorale"
    return _finish(job, out_dir, stems, ir, arr.mix["sends"], arr.fade_out, arr.mix["levels_db"], meta)


# The part of each genre arrangement that the singer takes the line from, and whether
# that part may be left out of the accompaniment (a lead line, not a harmonic bed).
_MELODY_PART = {"renaissance": (0, True), "folk": (0, True), "quartet": (0, True),
                "electronic": (2, False), "rock": (3, True), "jazz": (2, True), "bossa": (3, True)}


def plan_genre(style: str, piece: str, rng: np.random.Generator, seconds: float) -> dict:
    """Every choice of a genre-style track: the arrangement of
    :mod:`sonomorph.data.corpus.genres`, the soundfont, which parts are bass, the sung
    line (from the melody part, moved into the singer's range), the mix."""
    from sonomorph.data.corpus.arrange import sung_line
    from sonomorph.data.corpus.genres import STYLE_FUNCTIONS

    arr = STYLE_FUNCTIONS[style](piece, rng, seconds)
    soundfont = "FluidR3_GM" if rng.random() < 0.6 else "TimGM6mb"
    idx, droppable = _MELODY_PART[style]
    if idx >= len(arr["parts"]) or not arr["parts"][idx][2]:  # rock without a lead
        idx, droppable = (1, False) if style == "rock" else (0, False)
    voice = str(rng.choice(TRAIN_VOICES))
    formant = float(rng.uniform(-2.0, 3.0))
    vocals = sung_line(arr["parts"][idx][2], rng, length=seconds - 1.0, formant_shift=formant)
    drop = droppable and rng.random() < 0.6
    parts = [(*part, "bass" if part[1] in range(32, 40) or (style == "electronic" and i == 0)
              else "other") for i, part in enumerate(arr["parts"]) if not (drop and i == idx)]
    mix = {"levels_db": {"bass": float(rng.uniform(-4, 2)), "drums": float(rng.uniform(-4, 2)),
                         "other": 0.0, "vocals_to_accompaniment": float(rng.uniform(-6, 6))},
           "sends": {"vocals": float(rng.uniform(0.05, 0.35)), "other": arr["send"],
                     "bass": float(rng.uniform(0.0, 0.1)), "drums": arr["send"] * 0.5},
           "rt60": arr["rt60"], "duck": arr["duck"], "vocal_pan": float(rng.uniform(-0.1, 0.1)),
           "brighten_db": {"harmonics": float(rng.uniform(-38, -26)),
                           "air": float(rng.uniform(-42, -30))}}
    return {"parts": parts, "drums": arr["drums"], "kit": arr["kit"], "soundfont": soundfont,
            "vocals": vocals, "singer": {"voice": voice, "formant_shift": formant},
            "melody_part": idx, "melody_dropped": bool(drop), "mix": mix}


def render_genre_track(job: Job, out_dir: Path) -> list[Path]:
    from sonomorph.data.corpus import render

    p = job.params
    rng = np.random.Generator(np.random.PCG64(p["seed"]))
    seconds = float(rng.uniform(*GENRE_SECONDS))
    if p["max_seconds"]:
        seconds = min(seconds, p["max_seconds"])
    plan = plan_genre(p["style"], p["piece"], rng, seconds)
    n = int(round(seconds * SR))
    stems: dict[str, np.ndarray] = {}
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for stem in ("bass", "other"):
        programs, controls, events = {}, {}, []
        for ch, (bank, prog, notes, pan, level, _) in zip(
                channels, [q for q in plan["parts"] if q[5] == stem]):
            programs[ch] = (bank, prog)
            controls[ch] = {10: int(np.clip(64 + 63 * pan, 0, 127)), 7: int(level)}
            events += [render.NoteEvent(s, e, ch, k, v) for s, e, k, v in notes
                       if 0 <= k <= 127 and e > s]
        stems[stem] = (render_midi(plan["soundfont"], programs, events, n, controls=controls)
                       if events else np.zeros((2, n), np.float32))
    stems["drums"] = np.zeros((2, n), np.float32)
    if plan["drums"]:
        kit = plan["kit"] if render.has_preset(plan["soundfont"], 128, plan["kit"]) else 0
        hits = [render.NoteEvent(s, e, DRUM_CHANNEL, k, v) for s, e, k, v in plan["drums"]]
        stems["drums"] = render_midi(plan["soundfont"], {DRUM_CHANNEL: (128, kit)}, hits, n)
        if plan["mix"]["duck"] > 0:  # the music dips after every kick
            env = np.ones(n, np.float32)
            t = np.arange(int(0.25 * SR)) / SR
            dip = (1.0 - plan["mix"]["duck"] * np.exp(-t / 0.08)).astype(np.float32)
            for h in plan["drums"]:
                a = int(h[0] * SR)
                if h[2] == 36 and a < n:
                    env[a:a + len(dip)] = np.minimum(env[a:a + len(dip)], dip[: n - a])
            stems["bass"], stems["other"] = stems["bass"] * env, stems["other"] * env
    holder = SimpleNamespace(vocals=plan["vocals"], singer=plan["singer"], speaker=None)
    voice = render_vocals(holder, n)
    voice = brighten(voice, rng, harmonics_db=plan["mix"]["brighten_db"]["harmonics"],
                     air_db=plan["mix"]["brighten_db"]["air"])
    stems["vocals"] = pan_mono(voice, plan["mix"]["vocal_pan"])
    ir = reverb_ir(rng, rt60=plan["mix"]["rt60"])
    meta = {"style": p["style"], "piece": p["piece"], "seconds": round(seconds, 4),
            "soundfont": plan["soundfont"], "singer": plan["singer"],
            "programs": {stem: [int(q[1]) for q in plan["parts"] if q[5] == stem]
                         for stem in ("bass", "other")},
            "drum_kit": int(plan["kit"]) if plan["drums"] else None,
            "melody_part": plan["melody_part"], "melody_dropped": plan["melody_dropped"],
            "mix": plan["mix"], "sung_notes": _sung_notes(plan["vocals"])}
    return _finish(job, out_dir, stems, ir, plan["mix"]["sends"], 3.0 if seconds >= 20 else 0.05,
                   plan["mix"]["levels_db"], meta)


def _sung_notes(vocals) -> list:
    out = []
    for ph in vocals:
        if ph.mode != "sung":
            continue
        t = ph.start
        for syl in ph.syllables:
            for d, f in syl.notes:
                out.append([round(t, 5), round(t + d, 5), round(f, 3), syl.text])
                t += d
    return out


def _finish(job: Job, out_dir: Path, stems: dict[str, np.ndarray], ir: np.ndarray,
            sends: dict[str, float], fade_out: float, levels_db: dict[str, float],
            meta: dict) -> list[Path]:
    """Reverb, fade, levels; write the six files and ``track.json``."""
    for stem in STEMS:
        stems[stem] = fade(add_reverb(stems[stem], ir, sends[stem]), 0.0, fade_out)
    mixed = mix_stems(stems, levels_db)
    p = job.params
    folder = Path(out_dir) / p["split"] / job.key
    written = [write_wav(folder / f"{name}.wav", mixed[name], SR) for name in FILES]
    meta.update({"track": job.key, "kind": "synthetic", "split": p["split"], "seed": p["seed"],
                 "sample_rate": SR, "samples": int(mixed["mixture"].shape[1])})
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
    out["vocals"] = _vocals_level(stems["vocals"], acc, levels_db["vocals_to_accompaniment"])
    scale = _peak_scale(out["vocals"] + acc)
    for stem in STEMS:
        out[stem] = (out[stem] * scale).astype(np.float32)
    out["accompaniment"] = out["bass"] + out["drums"] + out["other"]
    out["mixture"] = out["vocals"] + out["accompaniment"]
    return out


def _vocals_level(vocals: np.ndarray, acc: np.ndarray, db: float) -> np.ndarray:
    v_rms, a_rms = active_rms(vocals), active_rms(acc)
    gain = a_rms * 10 ** (db / 20) / v_rms if v_rms > 0 and a_rms > 0 else 1.0
    return (vocals * gain).astype(np.float32)


def _peak_scale(mixture: np.ndarray) -> np.float32:
    peak = float(np.max(np.abs(mixture)))
    return np.float32(10 ** (PEAK_DBFS / 20) / peak if peak > 0 else 1.0)


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


# ----------------------------------------------------------------------------- real-backed


def _real_music(path: Path, start: float, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The stereo music segment at ``start``; a segment that is (nearly) silent is
    replaced by another random one of the same file (up to five tries)."""
    from sonomorph.audio.io import info, load

    total = float(info(path).duration)
    for _ in range(5):
        wav, _ = load(path, sr=SR, channels=2, offset=start, duration=seconds)
        if active_rms(wav) > 1e-4:
            break
        start = float(rng.uniform(0.0, max(0.0, total - seconds)))
    n = int(round(seconds * SR))
    out = np.zeros((2, n), np.float32)
    out[:, : min(n, wav.shape[1])] = wav[:, :n]
    return out, start


def _real_sections(rng: np.random.Generator, seconds: float, mode: str) -> list[tuple[float, float, str]]:
    """The vocal plan of a real-backed track: (start, end, what) sections of 5-12 s, each
    speech, singing or a rest, by ``mode`` (speech, sung or both)."""
    weights = {"speech": (0.85, 0.0, 0.15), "sung": (0.0, 0.85, 0.15),
               "both": (0.45, 0.4, 0.15)}[mode]
    out, t = [], float(rng.uniform(0.0, 2.0))
    while t < seconds - 2.0:
        end = min(seconds - 0.5, t + float(rng.uniform(5.0, 12.0)))
        out.append((t, end, str(rng.choice(["speech", "sung", "rest"], p=weights))))
        t = end + float(rng.uniform(0.2, 1.5))
    if not any(w != "rest" for _, _, w in out) and out:
        out[0] = (out[0][0], out[0][1], "sung" if mode == "sung" else "speech")
    return out


def render_real_track(job: Job, out_dir: Path) -> list[Path]:
    """A real-backed track: real music as the accompaniment, real speech (augmented) and
    festival singing as the vocals; mixture = vocals + accompaniment."""
    from sonomorph.audio.io import load
    from sonomorph.data.corpus.arrange import random_melody, sung_line
    from sonomorph.data.mixing import Augment, varispeed

    p = job.params
    rng = np.random.Generator(np.random.PCG64(p["seed"]))
    root = Path(p["library"])
    n = int(round(p["seconds"] * SR))
    music, start = _real_music(root / p["music"], p["start"], p["seconds"], rng)
    sections = _real_sections(rng, p["seconds"], p["mode"])
    voice = np.zeros(n, np.float32)
    augment = Augment(gain_db=(0.0, 0.0), eq_probability=0.6, eq_max_db=6.0,
                      reverb_probability=0.6, reverb_rt60=(0.2, 1.5), reverb_wet=(0.1, 0.4),
                      pitch_probability=0.7, pitch_semitones=4.0)
    draw = augment.draw(rng)
    # Speech: the speaker's clips one after another in each speech section, all shifted by
    # the same pitch ratio (one voice), trimmed to the section with a short fade.
    speech_used, clip = [], 0
    speech_level = []
    for a, b, what in sections:
        if what != "speech" or not p["speech"]:
            continue
        t = a
        while t < b - 0.5:
            rel = p["speech"][clip % len(p["speech"])]
            clip += 1
            x, _ = load(root / rel, sr=SR, channels=1)
            x = x[0]
            if draw.ratio != 1.0:
                x = varispeed(x[None], draw.ratio, int(round(len(x) / draw.ratio)))[0]
            keep = int((b - t) * SR)
            if len(x) > keep:
                x = fade(x[:keep], 0.0, 0.1)
            if active_rms(x[None]) <= 0:
                continue
            speech_level.append(active_rms(x[None]))
            _place(voice, x / np.float32(speech_level[-1]), t)
            speech_used.append({"clip": rel, "start": round(t, 4)})
            t += len(x) / SR + float(rng.uniform(0.15, 0.8))
    # Singing: a random melody in each sung section, one festival call for the track.
    formant = float(rng.uniform(-2.0, 3.0))
    sung = []
    for a, b, what in sections:
        if what == "sung":
            sung += sung_line(random_melody(rng, b - a), rng, length=b - a, formant_shift=formant,
                              sing_probability=1.0, start=a)
    if sung:
        holder = SimpleNamespace(vocals=sung, singer={"voice": p["voice"], "formant_shift": formant},
                                 speaker=None)
        singing = brighten(render_vocals(holder, n), rng, harmonics_db=float(rng.uniform(-38, -26)),
                           air_db=float(rng.uniform(-42, -30)))
        level = active_rms(singing[None])
        if level > 0:
            voice += singing / np.float32(level)
    vocals = pan_mono(voice, float(rng.uniform(-0.1, 0.1)))
    if np.any(vocals):
        vocals = Augment.apply(vocals, SR, dataclasses.replace(draw, ratio=1.0), n)
    music_db = float(rng.uniform(-4.0, 2.0))  # the synthetic accompaniments' level range
    rms = active_rms(music)
    acc = (music * np.float32(10 ** (music_db / 20) / rms if rms > 0 else 1.0)).astype(np.float32)
    acc = fade(fade(acc, 0.01, 0.0), 0.0, 1.0 if p["seconds"] >= 10 else 0.02)
    vocals = _vocals_level(vocals, acc, float(rng.uniform(-6.0, 6.0)))
    scale = _peak_scale(vocals + acc)
    vocals = (vocals * scale).astype(np.float32)
    acc = (acc * scale).astype(np.float32)
    mixed = {"vocals": vocals, "accompaniment": acc, "mixture": vocals + acc}
    folder = Path(out_dir) / p["split"] / job.key
    written = [write_wav(folder / f"{name}.wav", mixed[name], SR) for name in REAL_FILES]
    meta = {"track": job.key, "kind": "real", "split": p["split"], "seed": p["seed"],
            "sample_rate": SR, "samples": n, "seconds": p["seconds"],
            "music": {"file": p["music"], "source": p["music_group"], "start": round(start, 4)},
            "mode": p["mode"], "speaker": p["speaker"] if speech_used else None,
            "speech": speech_used, "sections": [[round(a, 4), round(b, 4), w] for a, b, w in sections],
            "singer": {"voice": p["voice"], "formant_shift": formant} if sung else None,
            "augment": dataclasses.asdict(draw), "sung_notes": _sung_notes(sung)}
    written.append(write_json(folder / "track.json", meta))
    return written
