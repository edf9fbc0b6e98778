"""``corpus genres``: a genre-classification corpus in the GTZAN layout.

    <out>/<genre>/<genre>.000NN.wav     30 s, mono float32, 22.05 kHz (as GTZAN)
    <out>/splits/{train,valid,test}.txt  <genre>/<genre>.000NN.wav per line, split by piece
    <out>/manifest.json

Eight classes that differ in style (form, rhythm, harmony, texture), not only in
instruments, all rendered through fluidsynth with General MIDI soundfonts:

- ``chorale``: Bach chorales (music21), organ (sometimes with choir), slow, fermata
  holds, a big church reverb.
- ``renaissance``: Palestrina masses and Monteverdi madrigals, 4-6 part polyphony on
  recorder, voice, sackbut or mixed consorts, no drums.
- ``folk``: tunes from Ryan's Mammoth Collection on fiddle, flute, whistle, accordion...
  over boom-chick chords harmonised bar by bar, sometimes a frame drum.
- ``quartet``: Haydn, Mozart and Beethoven string quartets on solo strings.
- ``electronic``: four-on-the-floor kick, claps, hats, a 16th arpeggio, offbeat synth bass
  and pads ducked by the kick, over a minor four-chord loop.
- ``rock``: a rock kit with fills and crashes, picked bass and distorted power chords,
  sometimes a pentatonic lead.
- ``jazz``: swing ride and brushes, walking bass, rootless piano comping and a swung
  melody over ii-V-I progressions and blues.
- ``bossa``: the bossa nova pattern, nylon guitar comping with thumb bass, upright bass
  and a flute or sax melody over major-seventh harmony.

Tempo, key, programs, patterns, mix and reverb are drawn per clip. Score classes take
one excerpt per piece (two for the quartets, whose group is the work); generated classes
one per song. The splits (70/10/20 by piece within each genre) never share a piece.
"""

from __future__ import annotations

import functools
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
    split_groups,
    write_wav,
)
from sonomorph.utils.fs import atomic_write_text

SR = 22050
CLIP_SECONDS = 30.0
GENRES = ("chorale", "renaissance", "folk", "quartet", "electronic", "rock", "jazz", "bossa")
SCORE_GENRES = ("chorale", "renaissance", "folk", "quartet")
# Quartets given movement by movement (the single-file complete works take minutes to parse).
QUARTET_WORKS = ("beethoven/opus18no1", "beethoven/opus59no1", "beethoven/opus59no2",
                 "beethoven/opus59no3", "haydn/opus1no1", "haydn/opus74no1", "mozart/k155",
                 "mozart/k156", "mozart/k458", "mozart/k80")

# Notes are (start s, end s, MIDI key, velocity); a part is (bank, program, notes, pan, level).
NoteT = tuple[float, float, int, int]


# ----------------------------------------------------------------------------- pieces


def _corpus_names() -> list[str]:
    from music21 import corpus

    return sorted({str(p).split("corpus/")[-1] for p in corpus.getCorePaths()})


def candidate_pieces(genre: str) -> list[tuple[str, str]]:
    """(piece name for music21, split group) of a score genre, sorted."""
    if genre == "chorale":
        from sonomorph.data.corpus.scores import list_chorales

        return [(n, n) for n in list_chorales()]
    names = _corpus_names()
    if genre == "renaissance":  # Palestrina's sections of one mass share its number
        return [(n, f"palestrina/{m.group(1)}" if (m := re.search(r"_(\d+)", n)) else n)
                for n in names if n.startswith("palestrina/")] + [
            (n, n) for n in names if n.startswith("monteverdi/") and n.endswith(".mxl")]
    if genre == "folk":
        return [(n, n) for n in names if n.startswith("ryansMammoth/")]
    if genre == "quartet":
        return [(n, w) for n in names for w in QUARTET_WORKS
                if n.endswith(".mxl") and n.startswith(f"{w}/")]
    raise ValueError(f"not a score genre: {genre}")


@functools.lru_cache(maxsize=4)
def _parse(name: str):
    """A music21 corpus piece parsed from its source file (music21's pickle cache is
    never read); the first tune of an Opus."""
    from music21 import corpus

    score = corpus.parse(name, forceSource=True)
    return score.scores[0] if hasattr(score, "scores") else score


def score_parts(name: str) -> tuple[list[list[tuple[float, float, int]]], tuple[int, int], float]:
    """The parts of a music21 corpus piece as (start, end, key) in quarter notes, as
    written (ties joined, repeats not expanded, grace notes and chord symbols skipped),
    its time signature and its length. Read from the source file, never from music21's
    pickle cache."""
    score = _parse(name)
    ts = score.recurse().getElementsByClass("TimeSignature")
    metre = (int(ts[0].numerator), int(ts[0].denominator)) if ts else (4, 4)
    parts = []
    for part in list(score.parts) or [score]:
        notes = []
        for n in part.stripTies().flatten().notes:
            start = float(n.offset)
            end = start + float(n.quarterLength)
            if end > start:
                notes += [(start, end, int(p.midi)) for p in n.pitches]
        if notes:
            parts.append(sorted(notes))
    if not parts:
        raise ValueError(f"{name}: no notes")
    return parts, metre, max(e for p in parts for _, e, _ in p)


def _bar_beat(metre: tuple[int, int]) -> tuple[float, float]:
    """Bar and beat length in quarter notes (compound metres beat in dotted notes)."""
    num, den = metre
    unit = 4.0 / den
    compound = num in (6, 9, 12) and den >= 8
    return num * unit, unit * (3 if compound else 1)


# ----------------------------------------------------------------------------- helpers


def _excerpt(parts, tempo: float, rng: np.random.Generator, seconds: float,
             transpose: int, vel: tuple[int, int], bar_q: float,
             holds: list[float] | None = None) -> list[list[NoteT]]:
    """Time parts (quarters) at ``tempo`` bpm, looped to fill ``seconds`` from a random bar,
    with fermata ``holds`` (quarter positions that get an extra beat) and humanisation."""
    length = max(e for p in parts for _, e, _ in p)
    q = 60.0 / tempo
    need = seconds / q + 4
    bars = max(1, int((length - need) // bar_q))
    start = bar_q * int(rng.integers(0, bars + 1)) if length > need else 0.0
    loops = int(np.ceil((start + need) / length)) if length > 0 else 1
    hold_at = sorted(holds or [])

    def when(x: float, end: bool = False) -> float:
        # A fermata adds a beat at its note's end: notes ending there are held through it.
        extra = sum(1.0 for h in hold_at if start - 1e-6 < h < x + (1e-6 if end else -1e-6))
        return (x - start + extra) * q

    out = []
    for p in parts:
        notes: list[NoteT] = []
        for k in range(loops):
            for s, e, key in p:
                s2, e2 = s + k * length, e + k * length
                if e2 <= start or when(s2) > seconds:
                    continue
                jit = float(rng.normal(0, 0.008))
                notes.append((max(0.0, when(s2) + jit), when(e2, True) + jit, key + transpose,
                              int(rng.integers(*vel))))
        out.append(notes)
    return out


QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
             "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10), "6": (0, 4, 7, 9), "5": (0, 7, 12)}


def _tones(chord, low: int, high: int) -> list[int]:
    root, quality = chord
    return [k for k in range(low, high + 1) if (k - root) % 12 in {i % 12 for i in QUALITIES[quality]}]


def _nearest(k: int, keys: list[int]) -> int:
    return min(keys, key=lambda x: (abs(x - k), x))


# ----------------------------------------------------------------------------- score genres
# Each style returns an arrangement: {"parts": [(bank, program, notes, pan, level)],
# "drums": notes, "kit": drum kit program, "rt60": s, "send": reverb send, "duck": depth}.


def _arr(parts, rt60, send, drums=(), kit=0, duck=0.0) -> dict:
    return {"parts": parts, "drums": list(drums), "kit": kit, "rt60": rt60, "send": send,
            "duck": duck}


def _chorale(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    from sonomorph.data.corpus.scores import load_chorale

    ch = load_chorale(piece)
    voices = ("soprano", "alto", "tenor", "bass")
    parts = [[(n.start, n.end, n.pitch) for n in ch.voices[v]] for v in voices]
    holds = [n.end for n in ch.voices["soprano"] if n.fermata]
    bar_q = ch.numerator * 4.0 / ch.denominator
    notes = _excerpt(parts, float(rng.uniform(56, 80)), rng, seconds, int(rng.integers(-3, 4)),
                     (60, 90), bar_q, holds)
    organ = int(rng.choice([19, 20, 19, 16]))
    out = [(0, organ, n, pan, 100) for n, pan in zip(notes, (-0.3, -0.1, 0.1, 0.3))]
    if rng.random() < 0.35:  # choir doubling the upper voices
        out += [(0, 52, notes[0], -0.2, 70), (0, 52, notes[1], 0.2, 60)]
    if rng.random() < 0.5:  # pedal: the bass an octave down
        out.append((0, organ, [(s, e, k - 12, v) for s, e, k, v in notes[3]], 0.0, 80))
    return _arr(out, float(rng.uniform(2.0, 3.5)), 0.45)


def _renaissance(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    parts, metre, _ = score_parts(piece)
    notes = _excerpt(parts[:6], float(rng.uniform(96, 140)), rng, seconds,
                     int(rng.integers(-2, 3)), (55, 95), _bar_beat(metre)[0])
    consort = str(rng.choice(["recorders", "voices", "sackbuts", "mixed"]))
    progs = {"recorders": [74, 74, 73, 74, 75, 74], "voices": [53, 52, 53, 52, 53, 52],
             "sackbuts": [56, 57, 57, 58, 57, 58], "mixed": [74, 24, 53, 42, 71, 57]}[consort]
    pans = np.linspace(-0.6, 0.6, len(notes))
    return _arr([(0, progs[i % 6], n, float(pans[i]), 95) for i, n in enumerate(notes)],
                float(rng.uniform(1.5, 2.6)), 0.35)


def _folk_chords(melody, tonic: int, minor: bool, bar_q: float, length: float) -> list:
    """A chord per bar: of the diatonic triads, the one whose tones cover most of the
    bar's melody (ties go to the tonic)."""
    degrees = ([(0, "min"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj")] if minor
               else [(0, "maj"), (5, "maj"), (7, "maj"), (9, "min"), (2, "min")])
    chords = []
    for b in range(int(np.ceil(length / bar_q))):
        lo, hi = b * bar_q, (b + 1) * bar_q
        cover = []
        for d, quality in degrees:
            pcs = {(tonic + d + i) % 12 for i in QUALITIES[quality]}
            cover.append(sum(min(e, hi) - max(s, lo) for s, e, k in melody
                             if s < hi and e > lo and k % 12 in pcs) + (0.01 if d == 0 else 0.0))
        d, quality = degrees[int(np.argmax(cover))]
        chords.append(((tonic + d) % 12, quality))
    return chords


def _folk(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    parts, metre, length = score_parts(piece)
    melody = parts[0]
    key = _parse(piece).analyze("key")
    bar_q, beat = _bar_beat(metre)
    chords = _folk_chords(melody, key.tonic.pitchClass, key.mode == "minor", bar_q, length)
    acc: list[tuple[float, float, int]] = []
    bass: list[tuple[float, float, int]] = []
    for b, ch in enumerate(chords):
        for j in range(max(1, int(round(bar_q / beat)))):
            t = b * bar_q + j * beat
            if j % 2 == 0:  # boom: root, then the fifth
                low = _tones(ch, 40, 52)
                bass.append((t, t + beat * 0.9, low[0] if j % 4 == 0 else low[min(2, len(low) - 1)]))
            else:  # chick
                acc += [(t, t + beat * 0.6, k) for k in _tones(ch, 55, 67)[:3]]
    mel, accn, bassn = _excerpt([melody, acc, bass], float(rng.uniform(100, 136)), rng, seconds,
                                int(rng.integers(-2, 3)), (70, 110), bar_q)
    lead = int(rng.choice([40, 73, 78, 21, 22, 105, 71]))
    comp = int(rng.choice([25, 24, 0, 25 if lead == 21 else 21]))
    parts_out = [(0, lead, mel, float(rng.uniform(-0.2, 0.2)), 110), (0, comp, accn, 0.35, 80),
                 (0, comp, bassn, -0.2, 85)]
    drums = []
    if rng.random() < 0.4:  # a frame drum on the beats
        drums = [(s, s + 0.1, 45 if j % 2 else 41, int(rng.integers(60, 100)))
                 for j, (s, _, _, _) in enumerate(bassn)]
    return _arr(parts_out, float(rng.uniform(0.6, 1.4)), 0.2, drums)


def _quartet(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    parts, metre, _ = score_parts(piece)
    if len(parts) < 4:
        raise ValueError(f"{piece}: {len(parts)} parts, not a quartet")
    notes = _excerpt(parts[:4], float(rng.uniform(76, 132)), rng, seconds, 0, (60, 105),
                     _bar_beat(metre)[0])
    return _arr([(0, prog, n, pan, 100) for prog, n, pan in
                 zip((40, 40, 41, 42), notes, (-0.5, -0.15, 0.2, 0.5))],
                float(rng.uniform(1.0, 1.8)), 0.25)


# ----------------------------------------------------------------------------- generated genres


def _grid(rng: np.random.Generator, lo: float, hi: float, seconds: float) -> tuple[float, int]:
    """A quarter-note length for a tempo in [lo, hi] bpm and the number of 4/4 bars."""
    q = 60.0 / float(rng.uniform(lo, hi))
    return q, int(np.ceil(seconds / (4 * q))) + 1


def _loop(rng: np.random.Generator, loops, bars: int, tonic: int | None = None) -> list:
    tonic = int(rng.integers(0, 12)) if tonic is None else tonic
    loop = loops[int(rng.integers(0, len(loops)))]
    return [((tonic + d) % 12, quality) for d, quality in (loop * (bars // len(loop) + 1))[:bars]]


def _electronic(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    q, bars = _grid(rng, 118, 132, seconds)
    chords = _loop(rng, [[(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
                         [(0, "min"), (5, "min"), (8, "maj"), (7, "maj")],
                         [(0, "min"), (10, "maj"), (8, "maj"), (10, "maj")],
                         [(0, "min"), (3, "maj"), (8, "maj"), (5, "min")]], bars)
    on = {k: [rng.random() < p for _ in range(bars // 4 + 1)]
          for k, p in (("arp", 0.8), ("pad", 0.75), ("bass", 0.9), ("hats", 0.9))}
    direction = str(rng.choice(["up", "down", "updown"]))
    arp_low, sixteenths = int(rng.integers(58, 67)), bool(rng.random() < 0.5)
    drums, arp, pad, bass = [], [], [], []
    for b, ch in enumerate(chords):
        t0, blk = b * 4 * q, b // 4
        for beat in range(4):
            t = t0 + beat * q
            drums.append((t, t + 0.1, 36, 118))
            if beat % 2:
                drums.append((t, t + 0.1, 39, 100))
            if on["hats"][blk]:
                drums.append((t + q / 2, t + q / 2 + 0.05, 46 if beat == 3 and b % 2 else 42, 90))
                if sixteenths:
                    drums += [(t + f * q, t + f * q + 0.03, 42, 50) for f in (0.25, 0.75)]
        if on["bass"][blk]:
            root = _tones(ch, 33, 44)[0]
            bass += [(t0 + e * q / 2, t0 + e * q / 2 + 0.45 * q, root, 105) for e in range(1, 8, 2)]
        if on["arp"][blk]:
            tones = _tones(ch, arp_low, arp_low + 14)
            seq = {"up": tones, "down": tones[::-1], "updown": tones + tones[-2:0:-1]}[direction]
            arp += [(t0 + s * q / 4, t0 + s * q / 4 + q / 8, seq[s % len(seq)], 95 if s % 4 == 0 else 78)
                    for s in range(16)]
        if on["pad"][blk]:
            pad += [(t0, t0 + 4 * q, k, 60) for k in _tones(ch, 55, 70)[:4]]
    parts = [(0, int(rng.choice([38, 39, 87])), bass, 0.0, 110),
             (0, int(rng.choice([81, 80, 84, 82])), arp, float(rng.uniform(-0.3, 0.3)), 85),
             (0, int(rng.choice([89, 90, 91, 95, 88])), pad, 0.0, 80)]
    return _arr(parts, float(rng.uniform(0.8, 1.6)), 0.25, drums, int(rng.choice([24, 25, 0])),
                duck=float(rng.uniform(0.4, 0.7)))


def _rock(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    from sonomorph.data.corpus.render import drum_bar

    q, bars = _grid(rng, 100, 150, seconds)
    chords = _loop(rng, [[(0, "5"), (7, "5"), (9, "5"), (5, "5")], [(0, "5"), (5, "5"), (7, "5"), (5, "5")],
                         [(0, "5"), (10, "5"), (5, "5"), (0, "5")], [(0, "5"), (8, "5"), (3, "5"), (10, "5")],
                         [(0, "5"), (3, "5"), (5, "5"), (3, "5")]], bars,
                   int(rng.choice([4, 9, 2, 7, 0, 11])))
    style = str(rng.choice(["rock", "pop", "halftime"]))
    drums, bass, gtr, lead = [], [], [], []
    modes = [str(rng.choice(["chug", "chug", "sustain", "quarter"])) for _ in range(bars // 4 + 1)]
    pent = [k for k in range(62, 86) if (k - chords[0][0]) % 12 in (0, 3, 5, 7, 10)]
    with_lead, note = bool(rng.random() < 0.5), len(pent) // 2
    for b, ch in enumerate(chords):
        t0 = b * 4 * q
        drums += [(t0 + pos * q, t0 + pos * q + 0.1, key, vel)
                  for pos, key, vel in drum_bar(style, 4, rng, fill=b % 4 == 3, crash=b % 4 == 0)]
        root = _tones(ch, 28, 39)[0]
        bass += [(t0 + e * q / 2, t0 + e * q / 2 + 0.45 * q, root, 100) for e in range(8)]
        r = _tones(ch, 40, 51)[0]
        power = (r, r + 7, r + 12)
        mode = modes[b // 4]
        hits = {"chug": [(e * q / 2, 0.4 * q) for e in range(8)], "sustain": [(0.0, 3.9 * q)],
                "quarter": [(e * q, 0.8 * q) for e in range(4)]}[mode]
        gtr += [(t0 + s, t0 + s + d, k, 100) for s, d in hits for k in power]
        if with_lead and b >= 2:
            t = t0
            while t < t0 + 4 * q - 1e-6:
                d = q * float(rng.choice([0.5, 0.5, 1.0, 1.5]))
                note = int(np.clip(note + rng.integers(-2, 3), 0, len(pent) - 1))
                if rng.random() > 0.2:
                    lead.append((t, t + d * 0.95, pent[note], int(rng.integers(85, 115))))
                t += d
    g1, g2 = int(rng.choice([30, 29])), int(rng.choice([30, 29]))
    parts = [(0, int(rng.choice([33, 34, 35])), bass, 0.0, 105), (0, g1, gtr, -0.7, 95),
             (0, g2, [(s + 0.012, e, k, v) for s, e, k, v in gtr], 0.7, 95)]
    if lead:
        parts.append((0, int(rng.choice([30, 29, 81, 27])), lead, 0.1, 100))
    return _arr(parts, float(rng.uniform(0.6, 1.2)), 0.15, drums, int(rng.choice([0, 16, 8])))


def _jazz(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    q, bars = _grid(rng, 110, 190, seconds)
    swing = float(rng.uniform(0.6, 0.67))
    blues = [(0, "7")] * 4 + [(5, "7")] * 2 + [(0, "7")] * 2 + [(7, "7"), (5, "7"), (0, "7"), (7, "7")]
    chords = _loop(rng, [[(2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")],
                         [(0, "maj7"), (9, "m7"), (2, "m7"), (7, "7")], blues,
                         [(2, "m7b5"), (7, "7"), (0, "m7"), (0, "m7")]], bars)

    def at(b: int, eighth: int) -> float:  # swung eighth positions
        return b * 4 * q + (eighth // 2) * q + (swing * q if eighth % 2 else 0.0)

    drums, bass, piano, mel = [], [], [], []
    prev = _tones(chords[0], 28, 40)[0]
    phrase_bars = {b for b in range(bars) if b % 4 != 3 or rng.random() < 0.3}
    m = int(rng.integers(64, 74))
    for b, ch in enumerate(chords):
        drums += [(at(b, e), at(b, e) + 0.1, 51, int(rng.integers(70, 95))) for e in (0, 2, 3, 4, 6, 7)]
        drums += [(at(b, e), at(b, e) + 0.05, 44, 70) for e in (2, 6)]
        drums += [(at(b, 2 * k), at(b, 2 * k) + 0.05, 36, 35) for k in range(4)]
        drums += [(at(b, e), at(b, e) + 0.05, 38, int(rng.integers(25, 55)))
                  for e in range(1, 8, 2) if rng.random() < 0.15]
        nxt = chords[(b + 1) % len(chords)]
        tones = _tones(ch, 28, 52)
        walk = [_nearest(prev, [t for t in tones if (t - ch[0]) % 12 == 0])]
        for _ in range(2):
            walk.append(_nearest(walk[-1] + int(rng.choice([-4, -3, 3, 4])), tones))
        target = _nearest(walk[-1], _tones(nxt, 28, 52))
        walk.append(target + int(rng.choice([-1, 1])))
        bass += [(at(b, 2 * k), at(b, 2 * k) + 0.9 * q, k2, 95) for k, k2 in enumerate(walk)]
        prev = target
        pcs = QUALITIES[ch[1]]
        voicing = [k for k in range(52, 71) if (k - ch[0]) % 12 in {pcs[1] % 12, pcs[-1] % 12, 2}]
        for e in sorted(rng.choice([0, 3, 4, 5, 7], size=2, replace=False)):
            d = q * float(rng.uniform(0.4, 0.9))
            piano += [(at(b, int(e)), at(b, int(e)) + d, k, int(rng.integers(55, 80))) for k in voicing[:4]]
        if b in phrase_bars:
            scale = _tones(ch, 60, 84) + [k for k in range(60, 85) if (k - ch[0]) % 12 in (2, 9)]
            for e in range(8):
                if rng.random() < 0.2:
                    continue
                m = _nearest(m + int(rng.choice([-3, -2, -1, 1, 2, 3])), sorted(set(scale)))
                mel.append((at(b, e), at(b, e) + 0.45 * q, m, int(rng.integers(70, 105))))
    parts = [(0, 32, bass, -0.1, 110), (0, int(rng.choice([0, 1, 4])), piano, 0.3, 80),
             (0, int(rng.choice([65, 66, 56, 11, 26, 64])), mel, -0.25, 100)]
    return _arr(parts, float(rng.uniform(0.8, 1.5)), 0.2, drums, int(rng.choice([32, 40])))


def _bossa(piece: str, rng: np.random.Generator, seconds: float) -> dict:
    from sonomorph.data.corpus.render import drum_bar

    q, bars = _grid(rng, 120, 145, seconds)
    chords = _loop(rng, [[(0, "maj7"), (0, "maj7"), (2, "m7"), (7, "7")],
                         [(0, "maj7"), (1, "7"), (2, "m7"), (7, "7")],
                         [(2, "m7"), (7, "7"), (0, "maj7"), (9, "7")],
                         [(0, "maj7"), (5, "maj7"), (4, "m7"), (9, "7")]], bars)
    comp_steps = [i for i, c in enumerate("x..x..x...x..x..") if c == "x"]
    with_bass = bool(rng.random() < 0.7)
    drums, gtr, thumb, bass, mel = [], [], [], [], []
    m = int(rng.integers(66, 76))
    for b, ch in enumerate(chords):
        t0 = b * 4 * q
        drums += [(t0 + pos * q, t0 + pos * q + 0.08, key, int(vel * 0.7))
                  for pos, key, vel in drum_bar("bossa", 4, rng)]
        pcs = {i % 12 for i in QUALITIES[ch[1]][1:]} | {2}
        voicing = [k for k in range(52, 68) if (k - ch[0]) % 12 in pcs][:4]
        gtr += [(t0 + s * q / 4, t0 + s * q / 4 + 0.3 * q, k, int(rng.integers(60, 85)))
                for s in comp_steps for k in voicing]
        low = _tones(ch, 40, 52)
        fifth = next((k for k in low if (k - ch[0]) % 12 == 7), low[0])
        thumb += [(t0, t0 + 0.9 * q, low[0], 80), (t0 + 2 * q, t0 + 2.9 * q, fifth, 75)]
        if with_bass:
            bass += [(t0 + s * q, t0 + (s + d) * q, k - 12 if k >= 40 else k, 95)
                     for s, d, k in ((0, 1.4, low[0]), (1.5, 0.4, fifth), (2, 1.4, fifth), (3.5, 0.45, low[0]))]
        if b % 4 != 3:
            for s, d in ((0.0, 1.5), (1.5, 1.0), (2.5, 1.5)) if rng.random() < 0.6 else ((0.5, 2.0), (2.5, 1.0)):
                m = _nearest(m + int(rng.choice([-4, -2, -1, 1, 2, 4])), _tones(ch, 62, 82) or [m])
                mel.append((t0 + s * q, t0 + (s + d) * q * 0.95, m, int(rng.integers(65, 95))))
    parts = [(0, 24, gtr, 0.2, 90), (0, 24, thumb, 0.2, 85), (0, 32, bass, -0.1, 100),
             (0, int(rng.choice([73, 64, 65, 71, 68])), mel, -0.3, 95)]
    return _arr(parts, float(rng.uniform(0.6, 1.2)), 0.2, drums, int(rng.choice([0, 40, 8])))


STYLE_FUNCTIONS = {"chorale": _chorale, "renaissance": _renaissance, "folk": _folk,
                   "quartet": _quartet, "electronic": _electronic, "rock": _rock, "jazz": _jazz,
                   "bossa": _bossa}


# ----------------------------------------------------------------------------- rendering


def render_arrangement(arr: dict, rng: np.random.Generator, seconds: float,
                       soundfont: str = "FluidR3_GM") -> np.ndarray:
    """Render an arrangement to mono float32 at 22.05 kHz, ``seconds`` long, with reverb,
    kick ducking, and a loudness of -20 to -14 dB RMS (peak at most 0.99)."""
    from sonomorph.audio.io import resample
    from sonomorph.data.corpus import render

    n = int(round(seconds * render.SR))
    channels = [c for c in range(16) if c != render.DRUM_CHANNEL]
    programs, controls, events = {}, {}, []
    for ch, (bank, prog, notes, pan, level) in zip(channels, arr["parts"]):
        programs[ch] = (bank, prog)
        controls[ch] = {10: int(np.clip(64 + 63 * pan, 0, 127)), 7: int(level)}
        events += [render.NoteEvent(s, e, ch, k, v) for s, e, k, v in notes if 0 <= k <= 127 and e > s]
    mix = render.render_midi(soundfont, programs, events, n, controls=controls)
    if arr["drums"]:
        kit = arr["kit"] if render.has_preset(soundfont, 128, arr["kit"]) else 0
        hits = [render.NoteEvent(s, e, render.DRUM_CHANNEL, k, v) for s, e, k, v in arr["drums"]]
        drums = render.render_midi(soundfont, {render.DRUM_CHANNEL: (128, kit)}, hits, n)
        if arr["duck"] > 0:  # sidechain-style: the music dips after every kick
            env = np.ones(n, np.float32)
            t = np.arange(int(0.25 * render.SR)) / render.SR
            dip = 1.0 - arr["duck"] * np.exp(-t / 0.08)
            for h in arr["drums"]:
                if h[2] == 36:
                    a = int(h[0] * render.SR)
                    if a < n:
                        env[a:a + len(dip)] = np.minimum(env[a:a + len(dip)], dip[: n - a])
            mix = mix * env
        mix = mix + drums * np.float32(rng.uniform(0.8, 1.2))
    ir = render.reverb_ir(rng, rt60=arr["rt60"])
    mix = render.add_reverb(mix, ir, arr["send"])
    mono = resample(mix.mean(axis=0), render.SR, SR)
    rms = float(np.sqrt(np.mean(mono.astype(np.float64) ** 2)))
    if rms <= 1e-9:
        raise ValueError("the arrangement rendered silence")
    mono = mono * np.float32(10.0 ** (rng.uniform(-20.0, -14.0) / 20.0) / rms)
    peak = float(np.max(np.abs(mono)))
    if peak > 0.99:
        mono *= np.float32(0.99 / peak)
    return mono.astype(np.float32)


def render_clip(job: Job, out_dir: Path) -> list[Path]:
    """Render one clip (or, for the ``splits`` job, the split files)."""
    p = job.params
    if job.key == "splits":
        written = []
        for split in ("train", "valid", "test"):
            if not p[split]:  # a tiny build may have no validation clip: no file then
                continue
            path = out_dir / "splits" / f"{split}.txt"
            atomic_write_text(path, "".join(f"{f}\n" for f in p[split]), overwrite=True)
            written.append(path)
        return written
    rng = job_rng(p["seed"], "clip")
    soundfont = "FluidR3_GM" if rng.random() < 0.8 else "TimGM6mb"
    arr = STYLE_FUNCTIONS[p["genre"]](p["piece"], rng, CLIP_SECONDS)
    audio = render_arrangement(arr, rng, CLIP_SECONDS, soundfont)
    return [write_wav(out_dir / p["file"], audio[None, :], SR)]


# ----------------------------------------------------------------------------- builder


def genre_jobs(*, seed: int, clips_per_genre: int, genres: tuple[str, ...] = GENRES,
               valid_fraction: float = 0.1, test_fraction: float = 0.2) -> list[Job]:
    """One job per clip plus one writing the split files. Pieces are drawn without
    replacement (the quartets' movements are reused, at most twice each); the split
    is by group (piece, or work for the quartets) within each genre."""
    jobs, splits = [], {"train": [], "valid": [], "test": []}
    for genre in genres:
        rng = job_rng(seed, "pieces", genre)
        if genre in SCORE_GENRES:
            cands = candidate_pieces(genre)
            order = [cands[i] for i in rng.permutation(len(cands))]
            chosen = [order[i % len(order)] for i in range(clips_per_genre)]
        else:
            chosen = [(f"{genre}-song{i:03d}", f"{genre}-song{i:03d}") for i in range(clips_per_genre)]
        groups = [g for _, g in chosen]
        first = split_groups(groups, test_fraction, job_seed(seed, "split", genre))
        rest = [g for g in groups if first[g] == "train"]
        second = split_groups(rest, valid_fraction / (1.0 - test_fraction), job_seed(seed, "valid", genre))
        for i, (piece, group) in enumerate(chosen):
            split = "test" if first[group] == "test" else ("valid" if second.get(group) == "test" else "train")
            file = f"{genre}/{genre}.{i:05d}.wav"
            splits[split].append(file)
            jobs.append(Job(f"{genre}.{i:05d}", {"genre": genre, "piece": piece, "group": group,
                                                 "split": split, "file": file,
                                                 "seed": job_seed(seed, "genres", genre, i)}))
    jobs.append(Job("splits", {k: sorted(v) for k, v in splits.items()}))
    return jobs


def build_genres(out: str | os.PathLike, *, seed: int = 0, clips_per_genre: int = 60,
                 genres: tuple[str, ...] = GENRES, workers: int = 1, quiet: bool = False,
                 verify: bool = False) -> dict:
    """Build (or resume) the genre corpus; returns ``{"genres", "clips", "seconds",
    "train", "valid", "test", "rendered", "skipped"}``."""
    unknown = [g for g in genres if g not in GENRES]
    if unknown or clips_per_genre < 1:
        raise ValueError(f"unknown genres {unknown} or clips_per_genre < 1")
    check_tools("FluidR3_GM", "TimGM6mb", "libfluidsynth")
    jobs = genre_jobs(seed=seed, clips_per_genre=clips_per_genre, genres=tuple(genres))
    params = {"seed": seed, "clips_per_genre": clips_per_genre, "genres": list(genres),
              "sample_rate": SR, "clip_seconds": CLIP_SECONDS}
    result = run_jobs(out, builder="genres", jobs=jobs, render=render_clip, workers=workers,
                      parameters=params, sources=sources("music21", "FluidR3_GM", "TimGM6mb", "fluidsynth"),
                      quiet=quiet, verify=verify)
    split_job = jobs[-1].params
    clips = len(jobs) - 1
    return {"genres": len(genres), "clips": clips, "seconds": clips * CLIP_SECONDS,
            **{k: len(split_job[k]) for k in ("train", "valid", "test")},
            "rendered": result["rendered"], "skipped": result["skipped"]}
