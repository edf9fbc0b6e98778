"""Four-part chorales from the music21 corpus, as plain note lists with lyrics.

Timings come from the MIDI that music21 exports (read back with pretty_midi and
converted to quarter notes through its tick map), so ties, pickups and expanded repeats
are exactly what a synthesiser would play; the score supplies what MIDI cannot carry:
the soprano's lyric syllables, fermatas, bars and the metre. Everything is in quarter
notes; the renderer chooses the tempo.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

VOICES = ("soprano", "alto", "tenor", "bass")
_ASCII = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}


@dataclass
class Note:
    """One note in quarter notes from the start of the piece (repeats expanded)."""

    start: float
    end: float
    pitch: int
    # lyric line -> syllable text, ending with "-" when the word goes on
    syllables: dict[int, str] = field(default_factory=dict)
    fermata: bool = False


@dataclass
class Chorale:
    """A chorale reduced to what the corpus renderer needs."""

    name: str  # music21 corpus name, e.g. "bach/bwv269"
    voices: dict[str, list[Note]]  # soprano, alto, tenor, bass
    bars: list[tuple[float, float]]  # (notional start, length) of each bar, in quarters
    numerator: int
    denominator: int
    length: float  # quarters

    @property
    def has_lyrics(self) -> bool:
        return sum(bool(n.syllables) for n in self.voices["soprano"]) >= len(self.voices["soprano"]) // 2


def piece_id(name: str) -> str:
    """``bach/bwv269`` -> ``bwv269`` (used in track names and for the split)."""
    return name.rsplit("/", 1)[-1].replace(".mxl", "").replace(".xml", "")


def list_chorales() -> list[str]:
    """The corpus names of the Bach chorales music21 ships, sorted, without duplicates."""
    from music21 import corpus

    names = {str(n) for n in corpus.chorales.Iterator(returnType="filename") if n}
    return sorted(names)


def ascii_syllable(text: str) -> str:
    """A lyric syllable as plain ASCII letters (German umlauts spelt out): festival's
    singing mode mis-aligns notes on non-ASCII or punctuated tokens."""
    text = "".join(_ASCII.get(c, c) for c in text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z]", "", text)


def _pick_parts(score) -> list:
    """Soprano, alto, tenor and bass parts, by name when named, else the last four."""
    parts = list(score.parts)
    chosen = []
    for voice in VOICES:
        match = [p for p in parts if p.partName and voice in p.partName.lower() and p not in chosen]
        if match:
            chosen.append(match[0])
    if len(chosen) == 4:
        return chosen
    if len(parts) < 4:
        raise ValueError(f"{len(parts)} parts")
    return parts[-4:] if len(parts) > 4 else parts


def load_chorale(name: str) -> Chorale:
    """Parse a chorale, expand its repeats, and return its four voices as notes.

    A note's syllables are keyed by lyric line; within an expanded repeat, the second
    pass gets line 2 (the score writes both texts under the same notes)."""
    import pretty_midi
    from music21 import corpus, expressions, stream
    from music21.midi import translate

    score = corpus.parse(name)
    parts = _pick_parts(score)
    reduced = stream.Score()
    for part in parts:
        reduced.insert(0, part)
    try:
        expanded = reduced.expandRepeats()
    except Exception:  # noqa: BLE001 - malformed repeat marks: play it as written
        expanded = _without_repeats(reduced)
    exp_parts = list(expanded.parts)

    # Score-side facts keyed by onset (quarters, rounded): soprano syllables and fermatas.
    key = _onset_key
    syll: dict[float, dict[int, str]] = {}
    fermata_at: set[tuple[int, float]] = set()
    for vi, part in enumerate(exp_parts):
        seen: dict[object, int] = defaultdict(int)
        for measure in part.getElementsByClass("Measure"):
            repeat_pass = seen[measure.number]
            seen[measure.number] += 1
            for n in measure.recurse().notes:
                onset = key(n.getOffsetInHierarchy(part))
                if any(isinstance(e, expressions.Fermata) for e in n.expressions):
                    fermata_at.add((vi, onset))
                if vi == 0 and n.lyrics:
                    lines = {ly.number or 1: ly.text + ("-" if ly.syllabic in ("begin", "middle") else "")
                             for ly in n.lyrics if ly.text}
                    if repeat_pass and (repeat_pass + 1) in lines:
                        lines = {1: lines[repeat_pass + 1]}
                    syll.setdefault(onset, {}).update(lines)

    mf = translate.streamToMidiFile(expanded)
    pm = pretty_midi.PrettyMIDI(io.BytesIO(mf.writestr()))
    tracks = [inst for inst in pm.instruments if not inst.is_drum]
    if len(tracks) < 4:
        raise ValueError(f"{name}: MIDI export has {len(tracks)} voices")
    voices: dict[str, list[Note]] = {}
    for vi, (voice, inst) in enumerate(zip(VOICES, tracks[:4])):
        notes: list[Note] = []
        for mn in sorted(inst.notes, key=lambda n: (n.start, -n.pitch)):
            start = pm.time_to_tick(mn.start) / pm.resolution
            end = pm.time_to_tick(mn.end) / pm.resolution
            if end - start < 1e-3:
                continue
            if notes and abs(notes[-1].start - start) < 1e-6:
                continue  # a chord in one voice: keep its top note
            onset = key(start)
            notes.append(Note(float(start), float(end), int(mn.pitch),
                              dict(syll.get(onset, {})) if vi == 0 else {},
                              (vi, onset) in fermata_at))
        for a, b in zip(notes, notes[1:]):
            a.end = min(a.end, b.start)  # strictly monophonic lines
        voices[voice] = notes

    bars, num, den = _bars(exp_parts[0])
    length = max(n.end for v in voices.values() for n in v)
    return Chorale(name, voices, bars, num, den, float(length))


def _without_repeats(score):
    """The score with its repeat barlines and repeat expressions removed."""
    from music21 import bar, repeat

    for m in score.recurse().getElementsByClass("Measure"):
        if isinstance(m.leftBarline, bar.Repeat):
            m.leftBarline = None
        if isinstance(m.rightBarline, bar.Repeat):
            m.rightBarline = bar.Barline("regular")
    for el in list(score.recurse().getElementsByClass(repeat.RepeatExpression)):
        el.activeSite.remove(el)
    return score


def _onset_key(q: float) -> float:
    return round(float(q) * 48) / 48


def _bars(part) -> tuple[list[tuple[float, float]], int, int]:
    """Bars as (notional start, length): a pickup bar starts before 0."""
    num, den = 4, 4
    ts = part.recurse().getElementsByClass("TimeSignature")
    if ts:
        num, den = int(ts[0].numerator), int(ts[0].denominator)
    bars = []
    for m in part.getElementsByClass("Measure"):
        full = float(m.barDuration.quarterLength)
        start = float(m.getOffsetInHierarchy(part)) - float(m.paddingLeft or 0.0)
        bars.append((start, full))
    if not bars:
        bars = [(0.0, num * 4.0 / den)]
    return bars, num, den


def phrases(notes: list[Note], *, max_quarters: float = 16.0) -> list[list[Note]]:
    """Split a melody into phrases: at rests, after fermatas, and (for long stretches
    without either) after the longest note near the middle. Festival sings each phrase
    on its own so that it cannot drift from the score."""
    out: list[list[Note]] = []
    cur: list[Note] = []
    for n in notes:
        if cur and n.start - cur[-1].end > 1e-6:
            out.append(cur)
            cur = []
        cur.append(n)
        if n.fermata:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    result: list[list[Note]] = []
    stack = out[::-1]
    while stack:
        ph = stack.pop()
        if ph[-1].end - ph[0].start <= max_quarters or len(ph) < 4:
            result.append(ph)
            continue
        mid = (ph[0].start + ph[-1].end) / 2
        inner = range(1, len(ph) - 2)
        cut = max(inner, key=lambda i: (ph[i].end - ph[i].start, -abs(ph[i].end - mid)))
        stack.extend([ph[cut + 1:], ph[: cut + 1]])
    return result
