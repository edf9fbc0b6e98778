"""Voices for the corpus: festival's singing mode for sung phrases, flite and espeak-ng
for spoken and rapped lines. Everything comes back as mono float32 at 44.1 kHz.

Festival facts this relies on (checked on Debian's festival 2.5 with its diphone
voices): the ``FREQ`` (Hz) and ``SECONDS`` attributes of the singing XML bypass its
octave and tempo quirks; each syllable must be its own ASCII token (a word of several
syllables given one note, or a non-ASCII letter, shifts the pitches of the following
syllables); diphone voices stop rising at about 494 Hz; a phrase synthesised on its own
starts where its score says. All phrases of a track are sung by one festival process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomorph.data.corpus.common import CorpusError, check_tools, private_tempdir, run_tool

SR = 44100
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "lp_diphone", "pc_diphone",
                   "suo_fi_lj_diphone", "hy_fi_mv_diphone")
SING_CEILING_HZ = 494.0  # diphone voices do not go higher
FLITE_VOICES = ("kal", "awb", "rms", "slt")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "adam", "david", "john", "max", "paul", "robert", "steph", "linda",
                   "aunty", "benjamin", "edward", "iven", "klatt", "croak")
VOCALISE = ("la", "lo", "na", "da", "oh", "ah", "doo")


@dataclass
class Syllable:
    """One sung syllable: its text and its notes as (seconds, Hz); several notes make a
    melisma on the same syllable."""

    text: str
    notes: list[tuple[float, float]]


def _singable(text: str, fallback: str) -> str:
    text = re.sub(r"[^A-Za-z]", "", text)
    return text if re.search(r"[aeiouyAEIOUY]", text) else fallback


def phrase_xml(syllables: list[Syllable], *, fallback: str = "la") -> str:
    """Festival singing-mode XML for one phrase (one token per syllable)."""
    rows = []
    for syl in syllables:
        secs = "+".join(f"{d:.4f}" for d, _ in syl.notes)
        freqs = "+".join(f"{f:.3f}" for _, f in syl.notes)
        rows.append(f'<DURATION SECONDS="{secs}"><PITCH FREQ="{freqs}">'
                    f"{_singable(syl.text, fallback)}</PITCH></DURATION>")
    return ('<?xml version="1.0"?>\n'
            '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" '
            '"Singing.v0_1.dtd" []>\n<SINGING BPM="50">\n' + "\n".join(rows) + "\n</SINGING>\n")


_SCHEME_HEAD = """(voice_{voice})
(define (sing_to infile outfile)
  (set! cur_wave nil)
  (set! tts_hooks (list utt.synth (lambda (utt)
    (if cur_wave (set! cur_wave (wave.append cur_wave (utt.wave utt)))
                 (set! cur_wave (utt.wave utt))))))
  (tts_file infile 'singing)
  (if cur_wave (wave.save cur_wave outfile 'riff)))
"""


def sing_phrases(phrases: list[list[Syllable]], voice: str, *, formant_shift: float = 0.0,
                 fallback: str = "la", timeout: float = 300.0) -> list[np.ndarray]:
    """Sing each phrase with festival's ``voice`` (one of :data:`FESTIVAL_VOICES`).

    ``formant_shift`` (semitones) changes the apparent voice: festival sings the phrase
    that many semitones lower and slower, and the result is played back faster by the
    same ratio, which restores pitch and timing and moves the formants up (or down).
    A phrase festival cannot sing is sung again on ``fallback``. Returns one mono
    float32 array at 44.1 kHz per phrase, starting at the phrase's first note."""
    if voice not in FESTIVAL_VOICES:
        raise ValueError(f"unknown festival voice {voice!r}")
    check_tools("festival", f"voice_{voice}")
    ratio = 2.0 ** (formant_shift / 12.0)
    shifted = [[Syllable(s.text, [(d * ratio, f / ratio) for d, f in s.notes]) for s in ph]
               for ph in phrases]
    out: list[np.ndarray | None] = [None] * len(phrases)
    with private_tempdir() as tmp:
        for attempt in range(2):
            todo = [i for i in range(len(phrases)) if out[i] is None]
            if not todo:
                break
            script = [_SCHEME_HEAD.format(voice=voice)]
            for i in todo:
                xml = phrase_xml(shifted[i], fallback=fallback)
                if attempt:  # second try: every syllable on the vocalise
                    xml = phrase_xml([Syllable(fallback, s.notes) for s in shifted[i]])
                (tmp / f"p{i}.xml").write_text(xml, encoding="ascii")
                (tmp / f"p{i}.wav").unlink(missing_ok=True)
                script.append(f'(sing_to "p{i}.xml" "p{i}.wav")')
            (tmp / "sing.scm").write_text("\n".join(script) + "\n", encoding="ascii")
            try:
                run_tool(["festival", "-b", "sing.scm"], cwd=tmp, timeout=timeout)
            except CorpusError:
                if attempt:
                    raise
            for i in todo:
                wav = tmp / f"p{i}.wav"
                if wav.exists() and wav.stat().st_size > 44:
                    out[i] = _load_resampled(wav, rate_scale=ratio)
    missing = [i for i, x in enumerate(out) if x is None]
    if missing:
        raise CorpusError(f"festival ({voice}) could not sing phrase(s) {missing}")
    return [x for x in out if x is not None]


def _load_resampled(path: Path, *, rate_scale: float = 1.0) -> np.ndarray:
    """Read a mono wav and resample it to 44.1 kHz, treating its rate as
    ``rate * rate_scale`` (a playback speed change)."""
    from sonomorph.audio.io import load, resample

    wav, rate = load(path, channels=1)
    # Integer rates in centi-hertz carry the non-integer playback ratio.
    return resample(wav[0], int(round(rate * rate_scale * 100)), SR * 100).astype(np.float32)


def speech_text(text: str) -> str:
    """Text safe to hand to a speech program: letters, digits, spaces, basic punctuation,
    never starting with a dash (it would read as an option)."""
    text = re.sub(r"[^A-Za-z0-9 ,.;:!?'\u00c0-\u017f-]", " ", text)
    text = re.sub(r"\s+", " ", text).strip().lstrip("-").strip()
    return text or "la la la"


def speak(text: str, engine: str, voice: str, *, rate: float = 1.0, pitch: int = 50,
          language: str = "en", timeout: float = 60.0) -> np.ndarray:
    """Say ``text`` with ``engine`` ("flite" with a voice from :data:`FLITE_VOICES`, or
    "espeak-ng" with a variant from :data:`ESPEAK_VARIANTS` in ``language``); ``rate``
    above 1 speaks faster. Returns mono float32 at 44.1 kHz."""
    text = speech_text(text)
    check_tools(engine)
    with private_tempdir() as tmp:
        out = tmp / "say.wav"
        if engine == "flite":
            if voice not in FLITE_VOICES:
                raise ValueError(f"unknown flite voice {voice!r}")
            args = ["flite", "-voice", voice, "--setf", f"duration_stretch={1.0 / rate:.3f}",
                    "--setf", f"int_f0_target_mean={70 + pitch:.0f}", "-t", text, "-o", out]
        elif engine == "espeak-ng":
            if voice not in ESPEAK_VARIANTS:
                raise ValueError(f"unknown espeak-ng variant {voice!r}")
            args = ["espeak-ng", "-v", f"{language}+{voice}", "-s", str(int(165 * rate)),
                    "-p", str(int(np.clip(pitch, 0, 99))), "-w", out, "--", text]
        else:
            raise ValueError(f"unknown speech engine {engine!r}")
        run_tool(args, cwd=tmp, timeout=timeout)
        if not out.exists() or out.stat().st_size <= 44:
            raise CorpusError(f"{engine} wrote no audio for {text[:40]!r}")
        return _load_resampled(out)


def trim_silence(x: np.ndarray, *, threshold_db: float = -40.0, frame: int = 256) -> np.ndarray:
    """``x`` without its leading and trailing frames quieter than ``threshold_db``
    below its peak."""
    if x.size == 0:
        return x
    peak = float(np.max(np.abs(x)))
    if peak <= 0:
        return x[:0]
    n = len(x) // frame
    if n == 0:
        return x
    level = np.abs(x[: n * frame]).reshape(n, frame).max(axis=1)
    loud = np.nonzero(level > peak * 10 ** (threshold_db / 20))[0]
    if loud.size == 0:
        return x[:0]
    return x[loud[0] * frame: (loud[-1] + 1) * frame]
