"""Evaluation of voice style transfer on real voice pairs (``sonomorph eval style``).

Does a transfer move the voice? Pairs of different real speakers are drawn from a split of a
speech corpus (``test-real``: speakers never seen in training), each method transfers the
content speaker's clip onto the style speaker's voice, and resemblyzer's speaker encoder
judges the output. No transfer method optimises against that encoder (the ``speaker``
method optimises against ours; ``knn`` optimises nothing), so the judge cannot be fooled
by construction.

Pairs (:func:`pick_pairs`)
    The split's speakers in a seeded order; the first ``n`` pairs pair each speaker with the
    one a seeded offset further on, so every speaker is content once and style once before
    any is used twice. A speaker's *transfer clip* joins its first usable clips (0.2 s of
    silence between them) until it lasts ``seconds``; its *reference* is the mean resemblyzer
    embedding of up to ``reference_clips`` of its other clips, taken from the back of its
    list, never those in the transfer clip (when a speaker has no other clip, the transfer
    clip itself, and the pair says so). What a method is shown of the style speaker is its
    transfer clip, or with ``style_seconds`` its front clips joined up to that length,
    leaving out its reference clips (a user converting to a voice usually has more of it
    than one sentence; frame matching in particular needs the style speaker's phones).

Voice moved
    ``closer``: resemblyzer cosine(output, style speaker's reference) > cosine(output,
    content speaker's reference); ``closer_share`` is the share of pairs where it holds (the
    target is 0.8). The ``input`` row scores the content clip unchanged: the baseline.

Speed
    Seconds per 10 s of content, transfer only (pitch matching, optimisation, Griffin-Lim),
    on the threads the caller set (the command sets one): wall clock and CPU time, both,
    since the development machine is shared and the wall clock there counts other work.

Words kept
    pocketsphinx's word error rate (:func:`sonomorph.models.recognizer.word_error_rate` against
    the known text, never a recognition of the input) of each output and of its input, on
    English pairs whose content has known text (``txt/<speaker>/<clip>.txt``). Real English
    speakers of the split with texts come first; when there are none, English synthetic
    voices of the corpus (any split) with texts stand in, and ``wer.source`` says so. The
    style speakers of those pairs are the split's real speakers.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomorph.errors import SonomorphError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["pick_pairs", "evaluate_style", "format_style", "SYNTH_ENGINES"]

SR = 16000  # clips are loaded at resemblyzer's rate; each transfer resamples as it needs
GAP_S = 0.2  # silence between the clips joined into a transfer clip
#: speaker-info REGION values of the speech corpus's synthetic voices
SYNTH_ENGINES = ("flite", "festival", "espeak-ng", "espeak", "mbrola", "pico")
TARGET_SHARE, TARGET_WER_RATIO, TARGET_SECONDS = 0.8, 1.5, 30.0


@dataclass
class _Voice:
    """One speaker's transfer clip (``wav``, from ``files``, with their ``text`` when all
    have one) and resemblyzer reference embedding (from ``reference_files``)."""

    speaker: str
    wav: np.ndarray
    files: list[Path]
    text: str | None = None
    reference: np.ndarray | None = None
    reference_files: list[Path] = field(default_factory=list)
    style_wav: np.ndarray | None = None  # what the speaker gives as style: ``wav`` unless
    style_files: list[Path] = field(default_factory=list)  # ``style_seconds`` asks for more

    @property
    def style(self) -> np.ndarray:
        return self.wav if self.style_wav is None else self.style_wav


def _is_synthetic(info: dict[str, str] | None) -> bool:
    return info is not None and info["region"] in SYNTH_ENGINES


def _is_english(info: dict[str, str] | None) -> bool:
    if info is None:
        return False
    accent = info["accent"].lower()
    return accent in ("en", "english") or accent.startswith("en-")


def pick_pairs(speakers: Sequence[str], n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (content, style) pairs of different speakers, deterministic for ``seed``:
    the speakers in a seeded order, each paired with the one a seeded offset further on,
    offset after offset (so each speaker is content once and style once per offset)."""
    from sonomorph.data.corpus.common import job_rng

    names = sorted(speakers)
    if len(names) < 2:
        raise SonomorphError(f"style pairs need at least 2 speakers, found {len(names)}")
    rng = job_rng(seed, "style-pairs")
    order = [names[i] for i in rng.permutation(len(names))]
    offsets = [int(k) + 1 for k in rng.permutation(len(names) - 1)]
    pairs = [(order[i], order[(i + k) % len(order)]) for k in offsets for i in range(len(order))]
    return pairs[:n]


def _usable(path: Path, skipped: dict[str, int]) -> np.ndarray | None:
    """A clip as mono float32 at :data:`SR`, or None (counted in ``skipped`` by
    :func:`~sonomorph.pipelines.speaker_features.skip_reason`) when it is unreadable,
    silent or not finite."""
    from sonomorph.pipelines.speaker_features import (
        SilentVoiceError,
        check_voice,
        load_voice,
        skip_reason,
    )

    try:
        wav = load_voice(path, SR)
        if wav.size == 0:
            raise SilentVoiceError("is empty", path)
        check_voice(wav, path)
    except SonomorphError as exc:
        reason = skip_reason(exc)
        skipped[reason] = skipped.get(reason, 0) + 1
        return None
    return wav


def _join(utterances: list, seconds: float, skipped: dict[str, int], *,
          need_text: bool = False) -> tuple[np.ndarray | None, list[Path], list[str], int]:
    """The usable clips of ``utterances``, front first (with ``need_text`` only those with
    a text), joined with :data:`GAP_S` of silence until they last ``seconds``: (audio or
    None, their files, their texts, how many utterances were looked at)."""
    parts: list[np.ndarray] = []
    files: list[Path] = []
    texts: list[str] = []
    length, used = 0, 0
    gap = np.zeros(int(GAP_S * SR), np.float32)
    for i, u in enumerate(utterances):
        used = i + 1
        if need_text and not u.text:
            continue
        wav = _usable(u.path, skipped)
        if wav is None:
            continue
        if parts:
            parts.append(gap)
        parts.append(wav)
        files.append(u.path)
        texts.append(u.text or "")
        length += wav.shape[0] + (gap.shape[0] if len(parts) > 1 else 0)
        if length >= seconds * SR:
            break
    return (np.concatenate(parts) if parts else None), files, texts, used


def _voice(speaker: str, utterances: list, seconds: float, reference_clips: int,
           skipped: dict[str, int], *, need_text: bool = False,
           style_seconds: float | None = None) -> _Voice | None:
    """The speaker's transfer clip (front clips joined up to ``seconds``; with
    ``need_text`` only clips with a text, and the texts joined), reference files (up to
    ``reference_clips`` from the back, none of the transfer clip's) and, with
    ``style_seconds``, its style material: the front clips that are not reference files,
    joined up to ``style_seconds`` (so the judge's reference never contains what a method
    was shown of the style speaker)."""
    wav, files, texts, used = _join(utterances, seconds, skipped, need_text=need_text)
    if wav is None:
        return None
    if not need_text:  # a long recording is cut; a clip with a text never is
        wav = wav[: int(round(1.5 * seconds * SR))]
    rest = [u.path for u in utterances[used:]]
    refs = rest[::-1][:reference_clips]
    voice = _Voice(speaker, wav, files, " ".join(texts) if need_text else None,
                   reference_files=refs)
    if style_seconds is not None:  # clips found unusable above are not counted twice
        kept = set(refs) | ({u.path for u in utterances[:used]} - set(files))
        style, style_files, _, _ = _join([u for u in utterances if u.path not in kept],
                                         style_seconds, skipped)
        if style is not None:
            voice.style_wav = style[: int(round(1.5 * style_seconds * SR))]
            voice.style_files = style_files
    return voice


def _embed_reference(voice: _Voice, judge, skipped: dict[str, int]) -> None:
    """Fill ``voice.reference``: the normalised mean of its reference clips' embeddings,
    or the transfer clip's own embedding when none is usable (``reference_files`` empty)."""
    vecs, kept = [], []
    for p in voice.reference_files:
        wav = _usable(p, skipped)
        if wav is None:
            continue
        try:
            vecs.append(judge(wav, p))
            kept.append(p)
        except SonomorphError:
            skipped["short"] = skipped.get("short", 0) + 1
    voice.reference_files = kept
    if not vecs:
        vecs = [judge(voice.wav)]
    mean = np.mean(vecs, axis=0)
    voice.reference = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _embed(judge, audio: np.ndarray, sr: int) -> np.ndarray:
    from sonomorph.audio.io import resample

    y = np.asarray(audio, np.float32).reshape(-1)
    if int(sr) != SR:
        y = resample(y, int(sr), SR)
    return judge(y)


def _timed(transfer, c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, int, float, float, dict]:
    """Run one transfer: (audio, rate, wall seconds, CPU seconds, metrics)."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = transfer.transfer(c, SR, s, SR)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return np.asarray(result.audio, np.float32).reshape(-1), result.sample_rate, wall, cpu, \
        dict(result.metrics)


def _method_record(method: str, transfer, options: dict) -> dict[str, Any]:
    """What identifies a method's run in a results file: its options and weights."""
    from sonomorph.eval.records import weights_record

    rec: dict[str, Any] = {"options": {k: v for k, v in sorted(options.items())
                                       if k != "device"}}
    if method == "random":
        rec["weights"] = "none: a random CNN drawn from its seed"
    elif method == "knn":
        used = {name: getattr(transfer, name) for name in (
            "k", "strength", "lifter", "top_db", "pitch_match", "max_shift", "excitation",
            "griffin_lim_iters")}  # every setting, the defaults included
        rec["options"] = dict(sorted({**rec["options"], **used}.items()))
        rec["weights"] = "none: frame matching, no trained weights"
    else:
        path = getattr(transfer, "path", None)
        rec["weights"] = weights_record(path, getattr(transfer, "meta", None)) if path else None
    return rec


def evaluate_style(root: str | os.PathLike, *, methods: Sequence[str] = ("random", "speaker"),
                   split: str = "test-real", pairs: int = 12, seed: int = 0,
                   seconds: float = 5.0, style_seconds: float | None = None,
                   reference_clips: int = 8, wer_pairs: int = 6,
                   options: dict[str, dict] | None = None, device: str = "cpu",
                   transfers: dict[str, Any] | None = None, judge=None,
                   recognizer: Callable[[np.ndarray, int], str] | None = None,
                   progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Style transfer on ``pairs`` pairs of different real speakers of ``split`` of a speech
    corpus, for each of ``methods`` (``options[method]``: keyword arguments of its transfer,
    :func:`sonomorph.pipelines.style.build_transfer`), judged by resemblyzer; then the word
    error rate on ``wer_pairs`` English pairs with known text (0: none). See the module
    docstring. ``transfers``, ``judge`` (a callable waveform at 16 kHz -> unit vector) and
    ``recognizer`` (waveform, rate -> text) replace the built ones (tests)."""
    from sonomorph.data.corpus.speech import read_splits
    from sonomorph.data.layouts import DatasetError, speaker_info, vctk_utterances
    from sonomorph.pipelines.speaker_features import feature_versions, make_extractor
    from sonomorph.pipelines.style import METHODS, build_transfer

    root = Path(root)
    for m in methods:
        if m not in METHODS:
            raise SonomorphError(f"method must be one of {', '.join(METHODS)}, not {m!r}")
    if pairs < 1 or seconds <= 0 or (style_seconds is not None and style_seconds <= 0):
        raise SonomorphError("need at least 1 pair and a positive clip length")
    utts: dict[str, list] = {}
    for u in vctk_utterances(root):
        utts.setdefault(u.speaker, []).append(u)
    splits = read_splits(root)
    names = sorted(s for s, sp in splits.items() if sp == split and s in utts)
    if len(names) < 2:
        raise DatasetError(f"the {split} split has {len(names)} speakers with clips, 2 needed",
                           root)
    info = speaker_info(root)
    skipped: dict[str, int] = {}
    voices = {s: v for s in names
              if (v := _voice(s, utts[s], seconds, reference_clips, skipped,
                                  style_seconds=style_seconds)) is not None}
    if len(voices) < 2:
        raise DatasetError(f"fewer than 2 speakers of the {split} split have a usable clip",
                           root)
    chosen = pick_pairs(sorted(voices), pairs, seed)
    note = (f"{pairs} pairs asked for, {len(names)} speakers give {len(chosen)}: using "
            f"{len(chosen)}") if len(chosen) < pairs else None

    # English content with known text: real speakers of the split first, else synthetic.
    wer_voices: list[_Voice] = []
    wer_source = "none"
    if wer_pairs > 0:
        def english_with_text(pool):
            return [s for s in sorted(pool) if _is_english(info.get(s))
                    and any(u.text for u in utts[s])]

        real = [s for s in english_with_text(names) if not _is_synthetic(info.get(s))]
        if real:
            pool = real
            wer_source = f"real English speakers of the {split} split with known text"
        else:
            pool = [s for s in english_with_text(utts) if _is_synthetic(info.get(s))]
            if pool:
                used = sorted({splits.get(s, "no") for s in pool})
                wer_source = (f"no real English speech with known text in this corpus: "
                              f"synthetic English voices ({', '.join(sorted({info[s]['region'] for s in pool}))}; "
                              f"{' and '.join(used)} split) with their known sentences stand in")
        if pool:
            from sonomorph.data.corpus.common import job_rng

            order = [pool[i] for i in job_rng(seed, "style-wer").permutation(len(pool))]
            for s in order[:wer_pairs]:
                v = _voice(s, utts[s], seconds, reference_clips, skipped, need_text=True)
                if v is not None and v.text:
                    wer_voices.append(v)
        else:
            wer_source = "no English speech with known text in this corpus: no word error rate"
    styles = [voices[p[1]] for p in chosen]
    wer_pairs_list = []
    for i, v in enumerate(wer_voices):  # the pairs' style speakers in turn, never itself
        turn = styles[i % len(styles):] + styles[:i % len(styles)]
        style = next((t for t in turn if t.speaker != v.speaker), None)
        if style is not None:
            wer_pairs_list.append((v, style))

    if judge is None:
        extractor = make_extractor("resemblyzer", device=device)
        judge_record = feature_versions(extractor)
        judge = extractor
    else:
        judge_record = {"features": getattr(judge, "name", "custom")}
    wer_record: dict[str, Any] = {"source": wer_source, "pairs": []}
    if wer_pairs_list and recognizer is None:
        from sonomorph.models.recognizer import Recognizer

        try:
            recognizer = Recognizer()
            wer_record["recogniser"] = f"pocketsphinx {importlib.metadata.version('pocketsphinx')}"
        except SonomorphError as exc:
            wer_record["source"] = f"{wer_source}; not measured: {exc}"
            wer_pairs_list = []

    total = len(chosen) * (len(methods) + 1) + len(wer_pairs_list) * (len(methods) + 1) + 1
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    for v in voices.values():
        _embed_reference(v, judge, skipped)
    tick()

    built: dict[str, Any] = dict(transfers or {})
    records: dict[str, dict] = {}
    for m in methods:
        opts = {"device": device, **(options or {}).get(m, {})}
        if m not in built:
            built[m] = build_transfer(m, **opts)
        records[m] = _method_record(m, built[m], opts) if transfers is None or m not in \
            transfers else {"options": {}}

    def score(out: np.ndarray, sr: int, content: _Voice, style: _Voice) -> dict[str, Any]:
        e = _embed(judge, out, sr)
        cs, cc = float(e @ style.reference), float(e @ content.reference)
        return {"cos_style": cs, "cos_content": cc, "closer": cs > cc}

    per_pair: dict[str, list[dict]] = {"input": []}
    for c, s in chosen:
        per_pair["input"].append(score(voices[c].wav, SR, voices[c], voices[s]))
        tick()
    for m in methods:
        per_pair[m] = []
        for c, s in chosen:
            audio, sr, wall, cpu, metrics = _timed(built[m], voices[c].wav, voices[s].style)
            row = score(audio, sr, voices[c], voices[s])
            secs = voices[c].wav.shape[0] / SR
            row.update(wall_s=wall, cpu_s=cpu, seconds_in=secs)
            if "pitch_shift" in metrics:
                row["pitch_shift"] = metrics["pitch_shift"]
            per_pair[m].append(row)
            tick()

    wer_rows: dict[str, list[float]] = {"input": [], **{m: [] for m in methods}}
    for c, s in wer_pairs_list:
        pair = {"content": c.speaker, "style": s.speaker, "text": c.text,
                "content_files": [_rel(p, root) for p in c.files]}
        w_in = _wer(recognizer, c.text, c.wav, SR)
        pair["wer_input"] = w_in
        wer_rows["input"].append(w_in)
        tick()
        for m in methods:
            audio, sr, *_ = _timed(built[m], c.wav, s.style)
            w = _wer(recognizer, c.text, audio, sr)
            pair[f"wer_{m}"] = w
            wer_rows[m].append(w)
            tick()
        wer_record["pairs"].append(pair)

    rows = {name: _summary(per_pair[name]) for name in ["input", *methods]}
    for name, row in rows.items():
        if wer_rows[name]:
            row["wer"] = float(np.mean(wer_rows[name]))
            if name != "input":
                base = float(np.mean(wer_rows["input"]))
                row["wer_ratio"] = row["wer"] / base if base > 0 else (
                    1.0 if row["wer"] == 0 else float("inf"))
        if name in records:
            row["target_met"] = bool(
                row["closer_share"] >= TARGET_SHARE
                and row["cpu_s_per_10s"] <= TARGET_SECONDS
                and row.get("wer_ratio", 0.0) <= TARGET_WER_RATIO)
    pair_list = []
    for i, (c, s) in enumerate(chosen):
        entry = {"content": c, "style": s,
                 "content_files": [_rel(p, root) for p in voices[c].files],
                 "style_files": [_rel(p, root) for p in (voices[s].style_files
                                                         or voices[s].files)],
                 "style_seconds": round(voices[s].style.shape[0] / SR, 3),
                 "content_seconds": round(voices[c].wav.shape[0] / SR, 3),
                 "reference_clips": {"content": len(voices[c].reference_files),
                                     "style": len(voices[s].reference_files)}}
        for name in per_pair:
            r = per_pair[name][i]
            entry[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
        pair_list.append(entry)
    own = [p for p in pair_list if not p["reference_clips"]["style"]
           or not p["reference_clips"]["content"]]
    reference = (f"mean resemblyzer embedding of up to {reference_clips} of each speaker's other "
                 "clips (never those transferred)")
    if own:
        reference += (f"; {len(own)} pair(s) had a speaker with no other clip and used the "
                      "transferred clip itself")
    shown = ("the style speaker's transfer clip" if style_seconds is None else
             f"about {style_seconds:g} s of the style speaker's clips (its front clips, "
             "never its reference clips)")
    return {"protocol": f"{len(chosen)} (content, style) pairs of different real speakers of "
                        f"the {split} split, about {seconds:g} s each, seed {seed}; style "
                        f"given: {shown}; judged by resemblyzer, which no method optimises "
                        "against",
            "split": split, "seed": seed, "seconds": seconds, "style_seconds": style_seconds,
            "reference": reference,
            "judge": judge_record, "methods": records,
            "targets": {"closer_share": TARGET_SHARE, "wer_ratio": TARGET_WER_RATIO,
                        "cpu_s_per_10s": TARGET_SECONDS},
            "speed": "transfer only, seconds per 10 s of content; cpu_s: CPU time of the "
                     "process (one thread), wall_s: wall clock",
            "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "rows": rows, "wer": {**wer_record, "rows": {
                k: {"wer": float(np.mean(v))} for k, v in wer_rows.items() if v}},
            "skipped": dict(sorted(skipped.items())), "note": note, "pairs": pair_list}


def _wer(recognizer, text: str, audio: np.ndarray, sr: int) -> float:
    from sonomorph.models.recognizer import word_error_rate

    return float(word_error_rate(text, recognizer(audio, sr)))


def _summary(rows: list[dict]) -> dict[str, Any]:
    closer = sum(bool(r["closer"]) for r in rows)
    out: dict[str, Any] = {
        "closer_share": closer / len(rows), "closer": closer, "pairs": len(rows),
        "cos_style": float(np.mean([r["cos_style"] for r in rows])),
        "cos_content": float(np.mean([r["cos_content"] for r in rows])),
        "margin": float(np.mean([r["cos_style"] - r["cos_content"] for r in rows]))}
    if rows and "cpu_s" in rows[0]:
        secs = sum(r["seconds_in"] for r in rows)
        out["cpu_s_per_10s"] = 10.0 * sum(r["cpu_s"] for r in rows) / secs
        out["wall_s_per_10s"] = 10.0 * sum(r["wall_s"] for r in rows) / secs
    return out


def format_style(result: dict[str, Any]) -> str:
    """One line per row (input, then each method), then the word error rates and notes."""
    lines = [result["protocol"], f"reference: {result['reference']}"]
    for name, r in result["rows"].items():
        line = (f"  {name:<9} closer to the style speaker {r['closer_share']:.0%} "
                f"({r['closer']}/{r['pairs']}); cosine to style {r['cos_style']:.3f}, to "
                f"content {r['cos_content']:.3f}")
        if "cpu_s_per_10s" in r:
            line += (f"; {r['cpu_s_per_10s']:.1f} s CPU ({r['wall_s_per_10s']:.1f} s wall) "
                     "per 10 s")
        if "wer" in r:
            line += f"; WER {r['wer']:.2f}"
            if "wer_ratio" in r:
                line += f" ({r['wer_ratio']:.2f}x the input's)"
        lines.append(line)
    w = result["wer"]
    lines.append(f"word error rate: {w['source']} ({len(w['pairs'])} pairs)")
    if result.get("skipped"):
        lines.append("skipped clips: " + ", ".join(f"{v} {k}" for k, v in
                                                   result["skipped"].items()))
    if result.get("note"):
        lines.append(f"note: {result['note']}")
    return "\n".join(lines)
