"""Speaking voices for the corpora: every installed festival, flite and espeak-ng voice,
driven with speed and pitch, plus a small sentence generator in English, Italian and
Finnish, all offline.

A :class:`Voice` names an engine and its voice (``festival`` ``kal_diphone``, ``flite``
``awb``, ``espeak-ng`` ``en-gb-scotland+f3``). :func:`synthesize` says a text with it and
returns mono float32 at the rate asked, leading and trailing silence trimmed. Speed and
pitch go to the engine where it obeys them (festival's kal/ked ``int_lr_params``, flite's
``int_f0_target_mean``, espeak-ng's ``-p``); otherwise the pitch is moved by a resampling
("varispeed") shift whose tempo change is pre-compensated through the engine's speed, so
durations stay as asked. ``scale`` is a speaker's voice size: the same varispeed trick
moves pitch and formants together (above 1: a smaller, brighter voice).

The sentence generator (:func:`sentence`) combines word lists through a few templates:
thousands of distinct, pronounceable sentences of 5 to 15 words, chosen by a numpy
generator so a corpus is reproducible.
"""

from __future__ import annotations

import functools
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sonomorph.data.corpus.common import (
    FESTIVAL_VOICES_DIR,
    CorpusError,
    check_tools,
    private_tempdir,
    run_tool,
)

# festival voices: name -> (language folder, language, gender, int_lr target f0 mean or None)
FESTIVAL = {
    "kal_diphone": ("english", "en", "M", 105.0),
    "ked_diphone": ("english", "en", "M", 105.0),
    "lp_diphone": ("italian", "it", "F", None),
    "pc_diphone": ("italian", "it", "M", None),
    "suo_fi_lj_diphone": ("finnish", "fi", "F", None),
    "hy_fi_mv_diphone": ("finnish", "fi", "M", None),
}
# flite voices: name -> (gender, obeys int_f0_target_mean, its mean f0). kal (8 kHz) is
# left out: kal16 is the same voice at full band, and festival has kal too.
FLITE = {"awb": ("M", True, 105.0), "rms": ("M", False, 100.0), "slt": ("F", True, 160.0),
         "kal16": ("M", True, 105.0)}
# espeak-ng base voices per language (the built-in ones; mbrola voices are not installed).
ESPEAK_LANGUAGES = {
    "en": ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc"),
    "it": ("it",),
    "fi": ("fi",),
}
# Variants that are not plausible human speakers (whisper, robots, effects).
_ESPEAK_SKIP = re.compile(r"whisper|robo|unirobot|demonic|announcer|fast|klatt|"
                          r"ricishay|tweaky|anxious|norbert|quincy|storm", re.IGNORECASE)


@dataclass(frozen=True)
class Voice:
    """One synthesiser voice. ``name`` is the engine's own (``kal_diphone``, ``awb``,
    ``en-gb+f3``); ``language`` the language it reads (en, it, fi)."""

    engine: str
    name: str
    language: str
    gender: str

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Voice:
        return cls(d["engine"], d["name"], d["language"], d["gender"])


# ----------------------------------------------------------------------------- discovery


def festival_voices() -> list[Voice]:
    """The festival diphone voices that are installed (empty without text2wave)."""
    if shutil.which("text2wave") is None:
        return []
    return [Voice("festival", name, lang, gender)
            for name, (folder, lang, gender, _) in FESTIVAL.items()
            if (FESTIVAL_VOICES_DIR / folder / name).is_dir()]


@functools.lru_cache(maxsize=1)
def _flite_listing() -> str:
    with private_tempdir() as tmp:
        return run_tool(["flite", "-lv"], cwd=tmp, timeout=30).stdout


def flite_voices() -> list[Voice]:
    """The flite voices that are installed (of awb, rms, slt, kal16)."""
    if shutil.which("flite") is None:
        return []
    listed = set(_flite_listing().split())
    return [Voice("flite", n, "en", g) for n, (g, _, _) in FLITE.items() if n in listed]


@functools.lru_cache(maxsize=1)
def espeak_variants() -> tuple[tuple[str, str], ...]:
    """(variant file name, gender) of espeak-ng's installed voice variants, without the
    robotic and whispering ones, sorted."""
    if shutil.which("espeak-ng") is None:
        return ()
    with private_tempdir() as tmp:
        out = run_tool(["espeak-ng", "--voices=variant"], cwd=tmp, timeout=30).stdout
    found = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 5 or not cols[4].startswith("!v/"):
            continue
        name, gender = cols[4][3:], cols[2].split("/")[-1]
        if " " in name or _ESPEAK_SKIP.search(name) or _ESPEAK_SKIP.search(cols[3]):
            continue
        found.add((name, gender if gender in ("M", "F") else "M"))
    return tuple(sorted(found))


def espeak_voices(languages: tuple[str, ...] = ("en", "it", "fi")) -> list[Voice]:
    """Every (base voice, variant) pair of espeak-ng for ``languages``."""
    return [Voice("espeak-ng", f"{base}+{variant}", lang, gender)
            for lang in languages for base in ESPEAK_LANGUAGES.get(lang, ())
            for variant, gender in espeak_variants()]


def installed_voices() -> dict[str, list[Voice]]:
    """Installed voices by engine: ``{"festival": [...], "flite": [...], "espeak-ng": [...]}``."""
    return {"festival": festival_voices(), "flite": flite_voices(),
            "espeak-ng": espeak_voices()}


# ----------------------------------------------------------------------------- synthesis


def _engine_pitch(voice: Voice) -> float | None:
    """The voice's mean f0 when the engine obeys a pitch setting, else None."""
    if voice.engine == "festival":
        return FESTIVAL[voice.name][3]
    if voice.engine == "flite":
        _, obeys, mean = FLITE[voice.name]
        return mean if obeys else None
    return 100.0  # espeak-ng: -p 50 is about 100 Hz for the base voices


def clean_text(text: str) -> str:
    """Letters (with accents), digits, spaces and basic punctuation, never starting with
    a dash (a program would read it as an option)."""
    text = re.sub(r"[^0-9A-Za-z\u00c0-\u00ff ,.;:!?'-]", " ", text)
    return re.sub(r"\s+", " ", text).strip().lstrip("-").strip() or "hello"


def synthesize(voice: Voice, text: str, sr: int, *, speed: float = 1.0,
               pitch_semitones: float = 0.0, scale: float = 1.0, pad: float = 0.1,
               timeout: float = 60.0) -> np.ndarray:
    """Say ``text`` with ``voice``; mono float32 at ``sr`` with ``pad`` seconds of
    silence kept at each end, peak-normalised to 0.9.

    ``speed`` > 1 speaks faster; ``pitch_semitones`` moves the pitch; ``scale`` moves
    pitch and formants together (voice size) by resampling."""
    text = clean_text(text)
    engine_f0 = _engine_pitch(voice)
    dsp_ratio = float(scale)
    engine_st = float(pitch_semitones)
    if engine_f0 is None:
        dsp_ratio *= 2.0 ** (pitch_semitones / 12.0)
        engine_st = 0.0
    # The varispeed shift speeds speech up by dsp_ratio: ask the engine to be slower.
    engine_speed = float(speed) / dsp_ratio
    with private_tempdir() as tmp:
        out = tmp / "say.wav"
        args = _command(voice, text, tmp, out, engine_speed, engine_st, engine_f0)
        run_tool(args, cwd=tmp, timeout=timeout)
        if not out.exists() or out.stat().st_size <= 44:
            raise CorpusError(f"{voice.key} wrote no audio for {text[:40]!r}")
        data, rate = sf.read(out, dtype="float32", always_2d=True)
    import soxr

    wav = soxr.resample(data.mean(axis=1), rate * dsp_ratio, sr, quality="HQ").astype(np.float32)
    wav = _trim(wav, sr, pad)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak <= 0.0:
        raise CorpusError(f"{voice.key} produced silence for {text[:40]!r}")
    return (wav * np.float32(0.9 / peak)).astype(np.float32)


def _command(voice: Voice, text: str, tmp: Path, out: Path, speed: float, semitones: float,
             f0: float | None) -> list:
    factor = 2.0 ** (semitones / 12.0)
    if voice.engine == "festival":
        check_tools("text2wave")
        (tmp / "say.txt").write_bytes(text.encode("latin-1", errors="replace") + b"\n")
        args = ["text2wave", "-eval", f"(voice_{voice.name})",
                "-eval", f"(Parameter.set 'Duration_Stretch {1.1 / speed:.4f})"]
        if f0 is not None:
            args += ["-eval", f"(set! int_lr_params '((target_f0_mean {f0 * factor:.1f}) "
                     f"(target_f0_std {0.14 * f0 * factor:.1f}) (model_f0_mean 170) "
                     "(model_f0_std 34)))"]
        return args + ["say.txt", "-o", out]
    if voice.engine == "flite":
        check_tools("flite")
        (tmp / "say.txt").write_text(text + "\n", encoding="utf-8")
        args = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / speed:.4f}"]
        if f0 is not None:
            args += ["--setf", f"int_f0_target_mean={f0 * factor:.1f}"]
        return args + ["-f", "say.txt", "-o", out]
    if voice.engine == "espeak-ng":
        check_tools("espeak-ng")
        (tmp / "say.txt").write_text(text + "\n", encoding="utf-8")
        pitch = int(np.clip(round(50 + 4.5 * semitones), 0, 99))
        wpm = int(np.clip(round(165 * speed), 80, 450))
        return ["espeak-ng", "-v", voice.name, "-s", str(wpm), "-p", str(pitch), "-w", out,
                "-f", "say.txt"]
    raise CorpusError(f"unknown speech engine {voice.engine!r}")


def _trim(wav: np.ndarray, sr: int, pad: float) -> np.ndarray:
    """Cut leading and trailing silence (40 dB below the peak), keeping ``pad`` s."""
    from sonomorph.audio.silence import detect_nonsilent

    spans = detect_nonsilent(wav, sr, 40.0)
    if len(spans) == 0:
        return wav
    p = int(pad * sr)
    return wav[max(0, int(spans[0, 0]) - p): min(len(wav), int(spans[-1, 1]) + p)]


# ----------------------------------------------------------------------------- sentences

_EN = {
    "name": "Anna Peter Maria David Sarah James Helen Robert Laura Thomas Emily George Alice "
            "Daniel Grace Oliver Ruth Michael Clara Edward Nora Samuel Julia Henry".split(),
    "adj": "old young quiet little bright heavy strange gentle broken golden careful green "
           "narrow ancient empty famous patient silver wooden sudden honest frozen hungry "
           "yellow gloomy noisy clever distant".split(),
    "noun": "dog teacher river window farmer letter garden doctor village kettle painter "
            "bridge candle sailor engine mountain baker blanket island ladder pocket "
            "stranger violin harbour lantern orchard".split(),
    "place": "market station kitchen library harbour forest school church museum bakery "
             "hospital theatre meadow castle office valley".split(),
    "verb_past": "found opened carried painted watched followed repaired borrowed noticed "
                 "cleaned visited forgot dropped described ordered washed".split(),
    "verb": "finish deliver explain remember collect answer return measure protect "
            "prepare visit question".split(),
    "time": ["this morning", "yesterday", "last winter", "after dinner", "on Sunday",
             "before the storm", "at midnight", "every evening", "next week", "in the spring",
             "early on Monday", "late last night"],
    "prep": ["near", "behind", "under", "beside", "across", "inside", "above", "beyond"],
    "number": "two three four five six seven eight nine ten twelve twenty forty".split(),
}
_EN_TEMPLATES = (
    "The {adj} {noun} {verb_past} the {noun2} {prep} the {place}.",
    "{name} said that the {noun} would {verb} the {noun2} {time}.",
    "Please ask {name} to bring {number} {adj} {noun}s from the {place}.",
    "Did you see the {adj} {noun} {prep} the {noun2} {time}?",
    "We {verb_past} {number} {noun}s {time}, and then we walked to the {place}.",
    "{time_cap}, {name} {verb_past} a {adj} {noun} {prep} the old {place}.",
    "I never thought the {noun} could {verb} anything so {adj}.",
    "Why did {name} and {name2} {verb} the {adj} {noun} {time}?",
    "There were {number} {adj} {noun}s waiting {prep} the {place}.",
    "If the {noun} is {adj}, {name} will {verb} it {time}.",
)
_IT = {
    "subj": ["Il ragazzo", "La donna", "Mio fratello", "Il vecchio pescatore", "La maestra",
             "Il medico", "Una bambina", "Il cuoco", "La nonna", "Il pittore", "Lo studente",
             "La cantante"],
    "verb": ["vede", "compra", "cerca", "porta", "dipinge", "trova", "prepara", "vende",
             "lava", "aspetta", "guarda", "ripara"],
    "obj": ["una casa rossa", "il pane fresco", "un libro vecchio", "la chiave d'oro",
            "una lettera lunga", "il vino buono", "un gatto nero", "la barca piccola",
            "una finestra aperta", "il giardino verde", "tre mele dolci", "la strada bagnata"],
    "adv": ["ogni mattina", "al mercato", "vicino al fiume", "prima di cena", "sotto la pioggia",
            "in piazza", "dopo la scuola", "durante la festa", "sulla collina", "a mezzanotte"],
}
_IT_TEMPLATES = ("{subj} {verb} {obj} {adv}.", "{adv_cap}, {subj_low} {verb} {obj}.",
                 "Perché {subj_low} {verb} {obj} {adv}?", "{subj} {verb} {obj} e {obj2}.")
_FI = {
    "subj": ["Matti", "Liisa", "Vanha mies", "Pieni tyttö", "Opettaja", "Kalastaja", "Äiti",
             "Naapurin poika", "Lääkäri", "Isoisä", "Taiteilija", "Kauppias"],
    "verb": ["näkee", "ostaa", "etsii", "maalaa", "kantaa", "korjaa", "odottaa", "pesee",
             "myy", "löytää", "katsoo", "valmistaa"],
    "obj": ["punaista taloa", "suurta kalaa", "vanhaa kirjaa", "kylmää vettä", "uutta autoa",
            "tuoretta leipää", "pientä venettä", "mustaa kissaa", "pitkää kirjettä",
            "vihreää puutarhaa", "makeita omenoita", "avointa ikkunaa"],
    "adv": ["tänään", "huomenna", "kotona", "järven rannalla", "metsässä", "aamulla",
            "torilla", "illalla", "sateessa", "kirkon vieressä", "koulun jälkeen"],
}
_FI_TEMPLATES = ("{subj} {verb} {obj} {adv}.", "{adv_cap} {subj_low} {verb} {obj}.",
                 "Miksi {subj_low} {verb} {obj} {adv}?", "{subj} {verb} {obj} ja {obj2}.")


def _pick(rng: np.random.Generator, words: list[str]) -> str:
    return words[int(rng.integers(0, len(words)))]


def sentence(rng: np.random.Generator, language: str = "en") -> str:
    """One random sentence in ``language`` (en, it or fi)."""
    if language == "en":
        t = _EN_TEMPLATES[int(rng.integers(0, len(_EN_TEMPLATES)))]
        time = _pick(rng, _EN["time"])
        names = [str(x) for x in rng.choice(_EN["name"], size=2, replace=False)]
        nouns = [str(x) for x in rng.choice(_EN["noun"], size=2, replace=False)]
        return t.format(adj=_pick(rng, _EN["adj"]), noun=nouns[0], noun2=nouns[1],
                        place=_pick(rng, _EN["place"]), verb_past=_pick(rng, _EN["verb_past"]),
                        verb=_pick(rng, _EN["verb"]), time=time, time_cap=time[0].upper() + time[1:],
                        prep=_pick(rng, _EN["prep"]), number=_pick(rng, _EN["number"]),
                        name=names[0], name2=names[1])
    if language in ("it", "fi"):
        words, templates = (_IT, _IT_TEMPLATES) if language == "it" else (_FI, _FI_TEMPLATES)
        t = templates[int(rng.integers(0, len(templates)))]
        subj, adv = _pick(rng, words["subj"]), _pick(rng, words["adv"])
        objs = [str(x) for x in rng.choice(words["obj"], size=2, replace=False)]
        subj_low = subj if subj[0].isupper() and subj.split()[0] in ("Matti", "Liisa") else (
            subj[0].lower() + subj[1:])
        return t.format(subj=subj, subj_low=subj_low, verb=_pick(rng, words["verb"]),
                        obj=objs[0], obj2=objs[1], adv=adv, adv_cap=adv[0].upper() + adv[1:])
    raise ValueError(f"no sentences for language {language!r}")
