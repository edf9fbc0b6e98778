"""The arrangement of one multitrack corpus song: every random choice for a track, drawn
from the track's own generator, and the note events, sung phrases and spoken lines that
follow from them. Pure planning: nothing here runs a synthesiser.

A song is a chorale played as sections (an instrumental intro of its last bars, one to
three verses, an instrumental outro), at a random tempo and transposition, with random
General MIDI programs, panning, comping style, optional drums, and a vocal line: the
soprano sung with its lyrics, some phrases left instrumental, some replaced by spoken or
rapped lines.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from sonomorph.data.corpus.render import (
    DRUM_CHANNEL,
    DRUM_KITS,
    NoteEvent,
    drum_bar,
    drum_styles,
)
from sonomorph.data.corpus.scores import Chorale, Note, phrases
from sonomorph.data.corpus.singing import (
    ESPEAK_VARIANTS,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    SING_CEILING_HZ,
    VOCALISE,
    Syllable,
)

MAX_TRACK_SECONDS = 150.0
TAIL_SECONDS = 2.5
BASS_PROGRAMS = (32, 33, 34, 35, 36, 37, 38, 39, 42, 43)
OTHER_PROGRAMS = (0, 1, 2, 4, 5, 6, 7, 11, 12, 16, 17, 19, 21, 24, 25, 26, 27, 29, 30, 40, 41,
                  46, 48, 49, 50, 51, 56, 60, 61, 62, 65, 66, 68, 71, 73, 80, 81, 88, 89, 90,
                  91, 92, 94, 95)
LEAD_PROGRAMS = (0, 4, 11, 16, 24, 26, 29, 40, 48, 56, 61, 65, 68, 71, 73, 80, 81)
RHYTHMIC_PROGRAMS = {0, 1, 2, 4, 5, 6, 7, 11, 12, 24, 25, 26, 27, 29, 30, 46}
# Short public-domain lines for spoken and rapped passages.
SPOKEN_LINES = (
    "All the world's a stage, and all the men and women merely players",
    "Tyger Tyger, burning bright, in the forests of the night",
    "The Lord is my shepherd, I shall not want",
    "Shall I compare thee to a summer's day",
    "Half a league, half a league, half a league onward",
    "Row, row, row your boat, gently down the stream",
    "Twinkle, twinkle, little star, how I wonder what you are",
    "Once upon a midnight dreary, while I pondered, weak and weary",
    "Hey diddle diddle, the cat and the fiddle, the cow jumped over the moon",
    "I wandered lonely as a cloud that floats on high o'er vales and hills",
    "Because I could not stop for Death, he kindly stopped for me",
    "The quality of mercy is not strained",
    "Now is the winter of our discontent made glorious summer",
    "Humpty Dumpty sat on a wall, Humpty Dumpty had a great fall",
    "To be, or not to be, that is the question",
    "Water, water, everywhere, nor any drop to drink",
    "Ring a ring o' roses, a pocket full of posies",
    "I must go down to the seas again, to the lonely sea and the sky",
    "Hickory dickory dock, the mouse ran up the clock",
    "Friends, Romans, countrymen, lend me your ears",
)


@dataclass
class Segment:
    """A stretch of the chorale (quarters q0..q1) placed at track time t0."""

    kind: str  # "intro", "verse" or "outro"
    q0: float
    q1: float
    t0: float
    spq: float  # seconds per quarter
    verse: int = 0  # lyric line sung in this verse (1, 2, ...); 0 when instrumental
    holds: tuple[float, ...] = ()  # fermata ends inside the segment
    hold: float = 0.0  # quarters added after each fermata

    def time(self, q: float) -> float:
        extra = sum(1 for h in self.holds if h <= q + 1e-9) * self.hold
        return self.t0 + (q - self.q0 + extra) * self.spq

    @property
    def t1(self) -> float:
        return self.time(self.q1)


@dataclass
class VocalPhrase:
    """A vocal event: a sung phrase (syllables) or a spoken / rapped line (text)."""

    mode: str  # "sung", "rap" or "spoken"
    start: float
    end: float
    syllables: list[Syllable] = field(default_factory=list)
    text: str = ""
    language: str = "en"
    grid: float = 0.25  # seconds between rapped words' slots (an eighth note)
    gain_db: float = 0.0  # phrase-to-phrase dynamics


@dataclass
class Arrangement:
    piece: str
    bpm: float
    transpose: int
    length: float  # seconds
    fade_out: float
    segments: list[Segment]
    soundfonts: dict[str, str]
    programs: dict[str, dict[int, tuple[int, int]]]
    controls: dict[str, dict[int, dict[int, int]]]
    notes: dict[str, list[NoteEvent]]  # bass, drums, other
    vocals: list[VocalPhrase]
    singer: dict  # festival voice and formant shift
    speaker: dict  # speech engine, voice, language, pitch, rate
    mix: dict  # levels, pans, reverb, exciter

    def describe(self) -> dict:
        """A JSON-ready summary (what ``track.json`` holds), with the sung notes as
        (start, end, Hz, syllable) in track seconds: pitch ground truth for the vocals."""
        sung = []
        for ph in self.vocals:
            if ph.mode != "sung":
                continue
            t = ph.start
            for syl in ph.syllables:
                for d, f in syl.notes:
                    sung.append([round(t, 5), round(t + d, 5), round(f, 3), syl.text])
                    t += d
        return {
            "piece": self.piece, "bpm": round(self.bpm, 3), "transpose": self.transpose,
            "seconds": round(self.length, 4),
            "sections": [{"kind": s.kind, "start": round(s.t0, 4), "end": round(s.t1, 4),
                          "quarters": [s.q0, s.q1], "lyric_line": s.verse} for s in self.segments],
            "soundfonts": self.soundfonts,
            "programs": {k: {str(c): list(bp) for c, bp in v.items()} for k, v in self.programs.items()},
            "singer": self.singer, "speaker": self.speaker, "mix": self.mix,
            "vocal_events": [{"mode": p.mode, "start": round(p.start, 4), "end": round(p.end, 4),
                              "text": p.text, "gain_db": round(p.gain_db, 2)}
                             for p in self.vocals],
            "sung_notes": sung,
        }


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _choice(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def arrange(chorale: Chorale, rng: np.random.Generator, *, drum_probability: float = 0.6,
            max_seconds: float | None = None,
            voices: tuple[str, ...] = FESTIVAL_VOICES) -> Arrangement:
    """Draw every choice for one track from ``rng`` and lay out its events; the singer
    is one of the festival ``voices``."""
    beats = chorale.numerator if chorale.denominator in (2, 4) else max(1, chorale.numerator // 3)
    beat_q = 4.0 / chorale.denominator if chorale.denominator in (2, 4) else 1.5
    bpm = float(rng.uniform(60, 130)) * (1.5 if chorale.denominator == 2 else 1.0)
    spq = 60.0 / bpm

    # The singer: voice, formant shift, and the transposition that keeps it singable.
    voice = _choice(rng, voices)
    formant = float(rng.uniform(-2.0, 3.0))
    soprano = chorale.voices["soprano"]
    ceiling = 69 + 12 * np.log2(SING_CEILING_HZ * 2 ** (formant / 12) / 440.0)
    top_target = int(np.floor(ceiling)) - int(rng.integers(0, 6))
    transpose = top_target - max(n.pitch for n in soprano)

    has_drums = bool(rng.random() < drum_probability)
    hold = 0.0 if has_drums or rng.random() < 0.3 else float(rng.uniform(0.5, 1.5))

    # Sections: intro, verses, outro.
    length_q = chorale.length
    bars = [b for b in chorale.bars if b[0] + b[1] > 1e-9]
    fermata_ends = tuple(sorted({n.end for n in soprano if n.fermata}))
    pass_seconds = (length_q + hold * len(fermata_ends)) * spq
    target = float(rng.uniform(40, 80))
    n_verses = int(np.clip(round(target / pass_seconds), 1, 3))
    sections: list[tuple[str, float, float, int]] = []
    if rng.random() < 0.5 and len(bars) >= 6:
        k = 4 if rng.random() < 0.5 else 2
        sections.append(("intro", max(0.0, bars[-k][0]), length_q, 0))
    sections += [("verse", 0.0, length_q, v + 1) for v in range(n_verses)]
    if rng.random() < 0.35 and len(bars) >= 4:
        sections.append(("outro", max(0.0, bars[-2][0]), length_q, 0))
    segments: list[Segment] = []
    t = 0.0
    for kind, q0, q1, verse in sections:
        holds = tuple(h for h in fermata_ends if q0 < h <= q1 + 1e-9)
        seg = Segment(kind, q0, q1, t, spq, verse, holds, hold)
        segments.append(seg)
        t = seg.t1
    natural = t + TAIL_SECONDS
    limit = min(MAX_TRACK_SECONDS, max_seconds or np.inf)
    length = float(min(natural, limit))
    fade_out = 0.0 if natural <= limit else (3.0 if length >= 20 else 0.05)

    # Instruments.
    soundfonts = {stem: ("FluidR3_GM" if rng.random() < 0.7 else "TimGM6mb")
                  for stem in ("bass", "drums", "other")}
    bass_prog = _choice(rng, BASS_PROGRAMS)
    alto_prog = _choice(rng, OTHER_PROGRAMS)
    tenor_prog = alto_prog if rng.random() < 0.5 else _choice(rng, OTHER_PROGRAMS)
    lead_prog = _choice(rng, LEAD_PROGRAMS)
    kit = _choice(rng, DRUM_KITS)
    style = _choice(rng, drum_styles(beats))
    programs = {"bass": {0: (0, bass_prog)}, "drums": {DRUM_CHANNEL: (128, kit)},
                "other": {0: (0, alto_prog), 1: (0, tenor_prog), 2: (0, lead_prog)}}
    pans = {"alto": float(rng.uniform(-0.7, 0.7)), "lead": float(rng.uniform(-0.4, 0.4)),
            "bass": float(rng.uniform(-0.15, 0.15)), "vocals": float(rng.uniform(-0.1, 0.1))}
    pans["tenor"] = float(np.clip(-pans["alto"] + rng.uniform(-0.3, 0.3), -0.8, 0.8))
    cc = lambda pan, vol: {10: int(round(64 + 63 * pan)), 7: int(vol)}  # noqa: E731
    controls = {"bass": {0: cc(pans["bass"], 100)}, "drums": {DRUM_CHANNEL: {7: 100}},
                "other": {0: cc(pans["alto"], rng.integers(80, 110)),
                          1: cc(pans["tenor"], rng.integers(80, 110)),
                          2: cc(pans["lead"], rng.integers(85, 115))}}
    comp = {p: ("sustain" if prog not in RHYTHMIC_PROGRAMS or rng.random() < 0.4
                else _choice(rng, ("beats", "eighths"))) for p, prog in
            (("alto", alto_prog), ("tenor", tenor_prog))}
    bass_style = "beats" if rng.random() < 0.3 else "sustain"
    doubling = bool(rng.random() < 0.5)
    legato = {p: float(rng.uniform(0.85, 1.0)) for p in ("alto", "tenor", "bass", "lead")}
    base_vel = {p: float(rng.uniform(70, 105)) for p in ("alto", "tenor", "bass", "lead")}
    bass_octave = 12 if min(n.pitch for n in chorale.voices["bass"]) + transpose < 28 else 0

    # Vocal plan: each verse phrase is sung, instrumental, or spoken / rapped.
    has_speech = bool(rng.random() < 0.35)
    rap = rng.random() < 0.6
    engine = "flite" if rng.random() < 0.5 else "espeak-ng"
    speaker = {"engine": engine,
               "voice": _choice(rng, FLITE_VOICES if engine == "flite" else ESPEAK_VARIANTS),
               "pitch": int(rng.integers(25, 75)), "rate": float(rng.uniform(0.95, 1.35))}
    vocalise = _choice(rng, VOCALISE)
    melody = phrases(soprano)
    plan: list[tuple[Segment, list[Note], str]] = []
    for seg in segments:
        for ph in melody:
            if not seg.q0 - 1e-9 <= ph[0].start < seg.q1:
                continue
            mode = "instrumental"
            if seg.kind == "verse":
                u = rng.random()
                mode = "speech" if has_speech and u < 0.2 else "instrumental" if u > 0.9 else "sung"
            plan.append((seg, ph, mode))
    if has_speech and not any(m == "speech" for _, _, m in plan):
        verse_idx = [i for i, (s, _, _) in enumerate(plan) if s.kind == "verse"]
        if verse_idx:
            i = verse_idx[int(rng.integers(len(verse_idx)))]
            plan[i] = (plan[i][0], plan[i][1], "speech")

    vocals: list[VocalPhrase] = []
    lead_notes: list[tuple[Segment, Note, float]] = []  # (segment, note, velocity scale)
    for seg, ph, mode in plan:
        gain_db = float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0))
        start = seg.time(ph[0].start)
        end = seg.time(ph[-1].end)
        if start >= length - 0.5:
            continue
        if mode == "sung":
            vocals.append(VocalPhrase("sung", start, end, _syllables(seg, ph, transpose, vocalise,
                                                                  chorale.has_lyrics),
                                      gain_db=gain_db))
            if doubling:
                lead_notes += [(seg, n, 0.45) for n in ph]
        elif mode == "speech":
            words = _words(ph, seg.verse) if chorale.has_lyrics and rng.random() < 0.5 else []
            text = " ".join(words) if words else _choice(rng, SPOKEN_LINES)
            vocals.append(VocalPhrase("rap" if rap else "spoken", start, end, text=text,
                                      language="de" if words else "en",
                                      grid=seg.spq * beat_q / 2, gain_db=gain_db))
            if rng.random() < 0.5:
                lead_notes += [(seg, n, 1.0) for n in ph]
        else:
            lead_notes += [(seg, n, 1.0) for n in ph]

    # Instrument notes.
    downbeats = {round(b[0] * 48) for b in chorale.bars}
    def place(seg: Segment, n: Note, part: str, channel: int, shift: int, vscale: float = 1.0,
              comp_style: str = "sustain") -> list[NoteEvent]:
        q_end = min(n.end, seg.q1)
        grid = {"beats": beat_q, "eighths": beat_q / 2}.get(comp_style)
        starts = [n.start]
        if grid:
            k = np.floor(n.start / grid + 1e-9) + 1
            while k * grid < q_end - 1e-9:
                starts.append(float(k * grid))
                k += 1
        events = []
        for i, qs in enumerate(starts):
            qe = starts[i + 1] if i + 1 < len(starts) else q_end
            t0 = seg.time(qs) + float(rng.normal(0, 0.006))
            t1 = seg.time(qe)
            dur = max(0.05, (t1 - t0) * legato[part])
            accent = 8 if round(qs * 48) in downbeats else 0
            vel = (base_vel[part] + accent + rng.normal(0, 7)) * vscale
            events.append(NoteEvent(max(0.0, t0), max(0.0, t0) + dur, channel,
                                    int(n.pitch + transpose + shift), int(np.clip(vel, 15, 127))))
        return events

    notes: dict[str, list[NoteEvent]] = {"bass": [], "drums": [], "other": []}
    for seg in segments:
        def inside(voice: str, seg: Segment = seg) -> list[Note]:
            return [n for n in chorale.voices[voice] if seg.q0 - 1e-9 <= n.start < seg.q1]

        for n in inside("alto"):
            notes["other"] += place(seg, n, "alto", 0, 0, comp_style=comp["alto"])
        for n in inside("tenor"):
            notes["other"] += place(seg, n, "tenor", 1, 0, comp_style=comp["tenor"])
        for n in inside("bass"):
            notes["bass"] += place(seg, n, "bass", 0, bass_octave, comp_style=bass_style)
        if seg.kind != "verse":
            lead_notes += [(seg, n, 0.9) for n in inside("soprano")]
    for seg, n, vscale in lead_notes:
        notes["other"] += place(seg, n, "lead", 2, 0, vscale)

    if has_drums:
        drums_in_intro = rng.random() < 0.5
        for si, seg in enumerate(segments):
            if seg.kind == "intro" and not drums_in_intro:
                continue
            last = si == len(segments) - 1
            first_played = True
            for bar_start, bar_len in chorale.bars:
                if bar_start + bar_len <= seg.q0 + 1e-9 or bar_start >= seg.q1 - 1e-9:
                    continue
                is_last_bar = bar_start + bar_len >= seg.q1 - 1e-9
                for pos, key, vel in drum_bar(style, beats, rng, fill=is_last_bar and not last,
                                              crash=first_played):
                    q = bar_start + pos * beat_q
                    if seg.q0 - 1e-9 <= q < seg.q1:
                        t0 = max(0.0, seg.time(q) + float(rng.normal(0, 0.004)))
                        notes["drums"].append(NoteEvent(t0, t0 + 0.12, DRUM_CHANNEL, key, vel))
                first_played = False
            if last:
                te = seg.t1
                notes["drums"] += [NoteEvent(te, te + 0.2, DRUM_CHANNEL, 49, 110),
                                   NoteEvent(te, te + 0.2, DRUM_CHANNEL, 36, 110)]
    for stem in notes:
        notes[stem] = sorted((e for e in notes[stem] if e.start < length),
                             key=lambda e: (e.start, e.channel, e.key, e.end, e.velocity))

    mix = {
        "levels_db": {"bass": float(rng.uniform(-4, 2)), "drums": float(rng.uniform(-4, 2)),
                      "other": 0.0, "vocals_to_accompaniment": float(rng.uniform(-6, 6))},
        "pans": pans,
        "reverb": {"rt60": float(rng.uniform(0.3, 2.5)), "predelay": float(rng.uniform(0, 0.03)),
                   "brightness": float(rng.uniform(0.2, 0.9))},
        "sends": {"vocals": float(rng.uniform(0.05, 0.35)), "other": float(rng.uniform(0.05, 0.4)),
                  "bass": float(rng.uniform(0.0, 0.1)), "drums": float(rng.uniform(0.02, 0.25))},
        "brighten_db": {"harmonics": float(rng.uniform(-38, -26)),
                        "air": float(rng.uniform(-42, -30))},
        "comping": comp, "bass_style": bass_style, "doubling": doubling,
        "drums": {"style": style, "kit": kit} if has_drums else None,
        "fermata_hold_quarters": hold,
    }
    return Arrangement(
        piece=chorale.name, bpm=bpm, transpose=int(transpose), length=length, fade_out=fade_out,
        segments=segments, soundfonts=soundfonts, programs=programs, controls=controls,
        notes=notes, vocals=vocals, singer={"voice": voice, "formant_shift": formant},
        speaker=speaker, mix=mix,
    )


def _line(n: Note, verse: int) -> str | None:
    if not n.syllables:
        return None
    return n.syllables.get(verse, n.syllables[min(n.syllables)])


def _syllables(seg: Segment, ph: list[Note], transpose: int, vocalise: str,
               has_lyrics: bool) -> list[Syllable]:
    """The sung syllables of a phrase with their notes in seconds and Hz. A note without
    a syllable continues the previous one (a melisma); the last note is shortened for a
    breath."""
    out: list[Syllable] = []
    for i, n in enumerate(ph):
        t0 = seg.time(n.start)
        t1 = seg.time(ph[i + 1].start) if i + 1 < len(ph) else seg.time(n.end)
        if i + 1 == len(ph):
            t1 -= min(0.35, 0.3 * (t1 - t0))
        note = (t1 - t0, midi_hz(n.pitch + transpose))
        text = _line(n, seg.verse) if has_lyrics else vocalise
        if text is None and out:
            out[-1].notes.append(note)
        else:
            out.append(Syllable((text or vocalise).rstrip("-"), [note]))
    return out


def _words(ph: list[Note], verse: int) -> list[str]:
    """The words of a phrase's lyrics (syllables joined where the word goes on)."""
    words, cur = [], ""
    for n in ph:
        syl = _line(n, verse)
        if syl is None:
            continue
        cur += syl.rstrip("-")
        if not syl.endswith("-"):
            words.append(cur)
            cur = ""
    if cur:
        words.append(cur)
    return words


def summary(arr: Arrangement) -> dict:
    """Counts for logs and tests."""
    return {"segments": [asdict(s)["kind"] for s in arr.segments],
            "notes": {k: len(v) for k, v in arr.notes.items()},
            "vocal_modes": [p.mode for p in arr.vocals]}


# ----------------------------------------------------------------------------- sung lines
# A vocal line for any accompaniment: the notes of one of its parts (or a random melody),
# made singable. Used for the multitrack corpus's genre styles and its real-backed tracks.

NoteT = tuple[float, float, int, int]  # (start s, end s, MIDI key, velocity), as genres.py


def syllabify(text: str) -> list[str]:
    """Rough sung syllables of ``text``: each word cut after every vowel group that has
    a consonant after it (``"shepherd"`` -> ``["shep", "herd"]``). Festival needs one
    ASCII token per note; exact hyphenation does not matter for training data."""
    out: list[str] = []
    for word in re.findall(r"[A-Za-z']+", text):
        word = word.replace("'", "")
        parts = re.findall(r"[^aeiouy]*[aeiouy]+(?:[^aeiouy]+$|[^aeiouy](?=[^aeiouy]))?",
                           word.lower())
        joined = "".join(parts)
        if not parts or joined != word.lower():
            out.append(word.lower())
        else:
            out.extend(parts)
    return [x for x in out if x]


def random_melody(rng: np.random.Generator, seconds: float) -> list[NoteT]:
    """A stepwise melody in a random major or minor scale, in beats of a random tempo,
    with rests between phrases: singing for tracks whose music has no score."""
    tonic = int(rng.integers(55, 67))
    scale = (0, 2, 4, 5, 7, 9, 11) if rng.random() < 0.5 else (0, 2, 3, 5, 7, 8, 10)
    keys = [tonic + 12 * o + d for o in (-1, 0, 1) for d in scale]
    beat = 60.0 / float(rng.uniform(70, 140))
    pos = len(keys) // 2
    notes: list[NoteT] = []
    t = 0.0
    while t < seconds:
        phrase_beats = float(rng.choice([6, 8, 12, 16]))
        end = t + phrase_beats * beat
        while t < min(end, seconds):
            d = beat * float(rng.choice([0.5, 1, 1, 1, 1.5, 2]))
            pos = int(np.clip(pos + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(keys) - 1))
            notes.append((t, t + d, keys[pos], 90))
            t += d
        t += beat * float(rng.choice([1, 2, 2, 3, 4]))
    return notes


def _monophonic(notes: list[NoteT], min_note: float) -> list[list[float]]:
    """The top line of ``notes`` as [start, end, key]: the highest note at each onset,
    each held until the next onset or its own end; repeated keys joined; notes shorter
    than ``min_note`` folded into the note before them."""
    by_start: dict[int, NoteT] = {}
    for n in notes:
        k = int(round(n[0] * 50))  # onsets within 20 ms are one
        if k not in by_start or n[2] > by_start[k][2]:
            by_start[k] = n
    top = [by_start[k] for k in sorted(by_start)]
    line: list[list[float]] = []
    for i, (s, e, key, _) in enumerate(top):
        nxt = top[i + 1][0] if i + 1 < len(top) else e
        end = min(e, nxt) if e > s else nxt
        if line and (end - s < min_note or (key == line[-1][2] and s - line[-1][1] < 0.05)):
            if s - line[-1][1] < 0.3:
                line[-1][1] = max(line[-1][1], end)
                continue
            if end - s < min_note:
                continue
        if end - s >= min_note:
            line.append([s, end, float(key)])
    return line


def sung_line(notes: list[NoteT], rng: np.random.Generator, *, length: float,
              formant_shift: float, sing_probability: float = 0.8,
              vocalise_probability: float = 0.3, start: float = 0.0) -> list[VocalPhrase]:
    """Singable phrases from the top line of ``notes`` (times in seconds from ``start``).

    The line is moved by whole octaves into the festival voices' range (below
    :data:`SING_CEILING_HZ` after ``formant_shift``), long notes are split into repeated
    ones, phrases end at rests or after 3 to 7 s (the last note shortened for a breath),
    and each phrase is sung (probability ``sing_probability``) to the syllables of a
    spoken line or to a vocalise. Events after ``length`` are dropped."""
    line = _monophonic(sorted(n for n in notes if n[1] > n[0]), 0.15)
    if not line:
        return []
    ceiling = int(np.floor(69 + 12 * np.log2(SING_CEILING_HZ * 2 ** (formant_shift / 12) / 440.0)))
    top, low = ceiling - int(rng.integers(0, 4)), ceiling - 17
    keys = np.array([n[2] for n in line])
    shift = 12 * int(np.round((top - 6 - np.median(keys)) / 12))
    for n in line:
        k = n[2] + shift
        while k > top:
            k -= 12
        while k < low:
            k += 12
        n[2] = k
    longest = float(rng.uniform(0.6, 1.4))
    split: list[list[float]] = []
    for s, e, k in line:
        parts = max(1, int(np.ceil((e - s) / longest)))
        step = (e - s) / parts
        split += [[s + i * step, s + (i + 1) * step, k] for i in range(parts)]
    phrases_: list[list[list[float]]] = [[split[0]]]
    limit = float(rng.uniform(3.0, 7.0))
    for n in split[1:]:
        cur = phrases_[-1]
        if n[0] - cur[-1][1] > 0.3 or n[1] - cur[0][0] > limit:
            phrases_.append([n])
            limit = float(rng.uniform(3.0, 7.0))
        else:
            cur.append(n)
    vocalise = _choice(rng, VOCALISE)
    words = syllabify(_choice(rng, SPOKEN_LINES)) if rng.random() >= vocalise_probability else []
    w = 0
    out: list[VocalPhrase] = []
    for ph in phrases_:
        if len(ph) < 2 or ph[0][0] >= length - 0.5 or rng.random() >= sing_probability:
            continue
        syls = []
        ph = [n for n in ph if n[0] < length - 0.2]
        for i, (s, e, k) in enumerate(ph):
            t1 = min(ph[i + 1][0] if i + 1 < len(ph) else e, length)
            if i + 1 == len(ph):
                t1 -= min(0.35, 0.3 * (t1 - s))
            if t1 - s < 0.05:
                continue
            if words:
                text, w = words[w % len(words)], w + 1
            else:
                text = vocalise
            syls.append(Syllable(text, [(t1 - s, midi_hz(k))]))
        if len(syls) < 2:
            continue
        end = ph[0][0] + sum(d for syl in syls for d, _ in syl.notes)
        out.append(VocalPhrase("sung", start + ph[0][0], start + end, syls,
                               gain_db=float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0))))
    return out
