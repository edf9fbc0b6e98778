"""Evaluation of the analysis capabilities: genre accuracy with a confusion matrix, and the
original speaker-identification protocol.

* :func:`evaluate_genre` classifies every clip of a GTZAN-layout split with a
  :class:`~sonomorph.pipelines.analysis.GenreClassifier` (whole clips, segment
  probabilities averaged) and returns accuracy, per-genre recall and the confusion matrix;
  :func:`plot_confusion` writes it as a PNG.
* :func:`evaluate_speakers` runs the protocol of the random-CNN speaker-identification
  original on any VCTK-layout folder: the first ``speakers`` speakers (sorted ids), each
  speaker's first ``enroll`` utterances enrolled and last ``test`` utterances identified by
  1-nearest-neighbour; accuracy is the share identified correctly.
* :func:`evaluate_speakers_split` runs the real-speaker protocol on a split of the speech
  corpus (``test-real``: speakers never seen in training): every feature set on the same
  trials, closed-set accuracy and the open-set error rate with a threshold calibrated on
  the ``valid`` speakers; :func:`plot_speaker_confusions` draws the confusion matrices.

Both skip unusable clips (unreadable, silent, too short), counting them by reason, and
drop speakers left with too few clips, listing them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomorph.errors import ConfigError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["evaluate_genre", "plot_confusion", "format_genre", "evaluate_speakers",
           "describe_speaker_clips",
           "format_speakers", "evaluate_speakers_split", "format_speakers_split",
           "plot_speaker_confusions"]


# ----------------------------------------------------------------------------- genre


def evaluate_genre(classifier, root: str | os.PathLike, *, split: str = "test",
                   test_fraction: float = 0.2, val_fraction: float = 0.1,
                   progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Accuracy of ``classifier`` on ``split`` of a GTZAN-layout folder (the same split
    rules as training: :func:`sonomorph.data.splits.split_clips`). Clips whose label
    the model does not know count as errors. Returns ``accuracy``, ``clips``, ``labels``,
    ``confusion`` (rows: true, columns: predicted), ``recall`` per label and ``errors``."""
    from sonomorph.data.layouts import DatasetError
    from sonomorph.data.splits import split_clips

    clips = split_clips(os.fspath(root), split, test_fraction=test_fraction,
                        val_fraction=val_fraction)
    if not clips:
        raise DatasetError(f"the {split} split is empty", root)
    labels = list(classifier.labels)
    extra = sorted({c.label for c in clips} - set(labels))
    rows = labels + extra
    confusion = np.zeros((len(rows), len(labels)), dtype=np.int64)
    errors = []
    for i, clip in enumerate(clips):
        pred = classifier.predict_file(clip.path)
        confusion[rows.index(clip.label), labels.index(pred.label)] += 1
        if pred.label != clip.label:
            errors.append({"file": os.fspath(clip.path), "true": clip.label,
                           "predicted": pred.label})
        if progress is not None:
            progress(i + 1, len(clips))
    correct = sum(confusion[i, i] for i in range(len(labels)))
    recall = {r: float(confusion[i, labels.index(r)] / confusion[i].sum())
              if r in labels and confusion[i].sum() else 0.0 for i, r in enumerate(rows)}
    return {"split": split, "clips": len(clips), "accuracy": correct / len(clips),
            "labels": labels, "rows": rows, "confusion": confusion.tolist(), "recall": recall,
            "errors": errors}


def plot_confusion(scores: dict[str, Any], path: str | os.PathLike, *,
                   overwrite: bool = True, title: str | None = None) -> Path:
    """Write the confusion matrix of :func:`evaluate_genre` as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sonomorph.utils.fs import atomic_path

    size = max(5.0, 0.55 * len(scores["labels"]) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), constrained_layout=True)
    image = _draw_confusion(ax, scores, title or f"{scores['split']} split: accuracy "
                            f"{scores['accuracy']:.1%} ({scores['clips']} clips)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true genre")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def _draw_confusion(ax, scores: dict[str, Any], title: str, *, annotate: bool = True):
    """Draw ``scores["confusion"]`` (rows ``scores["rows"]`` true, columns
    ``scores["labels"]`` predicted) on ``ax``, shaded by the share of each true row."""
    cm = np.asarray(scores["confusion"], dtype=float)
    rows, cols = scores["rows"], scores["labels"]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1.0)
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j] and annotate:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=90 if len(cols) > 12 else 45,
                  ha="center" if len(cols) > 12 else "right", fontsize=8 if len(cols) > 12 else None)
    ax.set_yticks(range(len(rows)), rows, fontsize=8 if len(rows) > 12 else None)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return image


def format_genre(scores: dict[str, Any]) -> str:
    """A short text report: accuracy then recall per genre."""
    lines = [f"accuracy {scores['accuracy']:.1%} on {scores['clips']} clips "
             f"({scores['split']} split)"]
    width = max(len(r) for r in scores["rows"])
    for label, value in scores["recall"].items():
        lines.append(f"  {label:<{width}}  recall {value:.1%}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- speakers


@dataclass
class _Gathered:
    """Feature vectors of the clips a protocol kept: ``vectors[feature][speaker]`` is
    ``(enrol vectors, test vectors)``; ``files[speaker]`` the same clips' paths."""

    vectors: dict[str, dict[str, tuple[list[np.ndarray], list[np.ndarray]]]]
    files: dict[str, tuple[list[Path], list[Path]]]
    skipped: dict[str, list[str]]
    dropped: dict[str, str]


def _computed_base(ex: Any, extractors: dict[str, Any], vecs: dict[str, np.ndarray]
                   ) -> str | None:
    """The name of an extractor already run on this clip whose vector ``ex`` only
    transforms (``adapted`` over ``resemblyzer``: the same network on the same clip), so
    its vector can be reused instead of computed again; None when there is none."""
    base = getattr(ex, "base", None)
    if base is None or not hasattr(ex, "adapt"):
        return None
    for name, other in extractors.items():
        if name in vecs and type(other) is type(base) and other.sample_rate == base.sample_rate:
            return name
    return None


def _gather(groups: dict[str, list[Path]], order: Sequence[str], wanted: int | None,
            enroll: int, test: int, extractors: dict[str, Any], min_seconds: float,
            progress: ProgressCallback | None) -> _Gathered:
    """Walk ``order`` until ``wanted`` speakers (None: all) have ``enroll`` usable clips
    from the front of their list and ``test`` from the back, never the same clip.

    A clip is usable when it is readable, not silent, at least ``min_seconds`` long, not a
    byte-identical copy of a clip already used, and every extractor describes it; the others
    are skipped (counted by reason), so every feature set sees the same trials. A speaker
    without enough usable clips is dropped."""
    from sonomorph.errors import InputTooShortError, SonomorphError
    from sonomorph.pipelines.speakers import load_voice, skip_reason
    from sonomorph.utils.hashing import sha256_file

    out = _Gathered({k: {} for k in extractors}, {}, {}, {})
    total = (wanted or len(order)) * (enroll + test)
    done = 0
    seen: set[str] = set()

    def describe(path: Path) -> dict[str, np.ndarray] | None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, total), max(total, done))
        try:
            digest = sha256_file(path)
        except OSError as exc:
            out.skipped.setdefault("unreadable", []).append(f"{path}: {exc.strerror}")
            return None
        if digest in seen:
            out.skipped.setdefault("duplicate", []).append(f"{path}: same bytes as another clip")
            return None
        seen.add(digest)
        waves: dict[int, np.ndarray] = {}
        try:
            vecs = {}
            for name, ex in extractors.items():
                if ex.sample_rate not in waves:
                    wav = load_voice(path, ex.sample_rate)
                    if wav.shape[-1] < min_seconds * ex.sample_rate:
                        raise InputTooShortError(f"shorter than {min_seconds:g} s", path)
                    waves[ex.sample_rate] = wav
                base = _computed_base(ex, extractors, vecs)
                vecs[name] = (ex.adapt(vecs[base]) if base is not None
                              else ex(waves[ex.sample_rate], path))
            return vecs
        except SonomorphError as exc:
            out.skipped.setdefault(skip_reason(exc), []).append(str(exc))
            return None

    for spk in order:
        if wanted is not None and len(out.files) >= wanted:
            break
        files = groups[spk]
        front, back = 0, len(files) - 1
        enrol: list[tuple[Path, dict]] = []
        tests: list[tuple[Path, dict]] = []
        while len(enrol) < enroll and front <= back:
            v = describe(files[front])
            if v is not None:
                enrol.append((files[front], v))
            front += 1
        while len(tests) < test and back >= front:
            v = describe(files[back])
            if v is not None:
                tests.append((files[back], v))
            back -= 1
        if len(enrol) < enroll or len(tests) < test:
            out.dropped[spk] = (f"{len(enrol) + len(tests)} usable clips, fewer than {enroll} to "
                                f"enrol + {test} to test")
            continue
        tests.reverse()
        out.files[spk] = ([p for p, _ in enrol], [p for p, _ in tests])
        for name in extractors:
            out.vectors[name][spk] = ([v[name] for _, v in enrol], [v[name] for _, v in tests])
    return out


def _closed_set(method: str, vectors: dict[str, tuple[list, list]]) -> dict[str, Any]:
    """1-NN identification of every test vector among every speaker's enrolment vectors."""
    from sonomorph.pipelines.speakers import SpeakerDatabase

    names = sorted(vectors)
    db = SpeakerDatabase(method, {})
    for s in names:
        db.add(np.stack(vectors[s][0]), [s] * len(vectors[s][0]), [""] * len(vectors[s][0]))
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for i, s in enumerate(names):
        for v in vectors[s][1]:
            confusion[i, names.index(db.rank(v)[0].speaker)] += 1
    trials = int(confusion.sum())
    correct = int(np.trace(confusion))
    confusions = {s: {names[j]: int(confusion[i, j]) for j in range(len(names))
                      if j != i and confusion[i, j]} for i, s in enumerate(names)}
    return {"accuracy": correct / trials if trials else float("nan"), "correct": correct,
            "trials": trials,
            "per_speaker": {s: float(confusion[i, i] / confusion[i].sum())
                            for i, s in enumerate(names)},
            "confusions": {s: c for s, c in confusions.items() if c},
            "labels": names, "rows": names, "confusion": confusion.tolist()}


def evaluate_speakers(root: str | os.PathLike, *, speakers: int = 4, enroll: int = 9,
                      test: int = 6, features: str = "gram", settings: dict | None = None,
                      device: str = "cpu", min_seconds: float = 0.0,
                      progress: ProgressCallback | None = None) -> dict[str, Any]:
    """The original speaker-identification protocol on a VCTK-layout folder.

    The first ``speakers`` speakers (sorted ids) that have ``enroll + test`` usable clips;
    each enrols its first usable ``enroll`` clips and is tested on its last usable
    ``test`` (never the same clip). Unusable clips (unreadable, silent, shorter than
    ``min_seconds`` or than the features allow) are skipped and counted; speakers without
    enough usable clips are dropped and listed; when the folder holds fewer speakers than
    asked, all are used and ``note`` says so. Returns ``accuracy``, ``trials``,
    ``speakers`` (the ids), ``per_speaker`` accuracy, ``confusions`` (true -> predicted
    counts of the errors), the ``features`` used, ``skipped`` (counts by reason),
    ``dropped`` ({speaker: why}) and ``note``.
    """
    from sonomorph.data.layouts import DatasetError
    from sonomorph.pipelines.speakers import choose_speakers, make_extractor, speaker_files

    if speakers < 2 or enroll < 1 or test < 1:
        raise ConfigError("the protocol needs at least 2 speakers, 1 enrolment and 1 test "
                          "utterance each")
    groups = speaker_files(root)
    _, note = choose_speakers(groups, speakers)
    extractor = make_extractor(features, settings, device=device)
    got = _gather(groups, sorted(groups), speakers, enroll, test, {extractor.name: extractor},
                  min_seconds, progress)
    if len(got.files) < 2:
        raise DatasetError(f"fewer than 2 speakers have {enroll} usable clips to enrol + {test} "
                           f"to test ({len(got.dropped)} dropped)", root)
    if len(got.files) < speakers and note is None:
        note = (f"{speakers} speakers asked for, {len(got.files)} have enough usable clips: "
                f"using {len(got.files)}")
    r = _closed_set(extractor.name, got.vectors[extractor.name])
    return {"accuracy": r["accuracy"], "trials": r["trials"], "speakers": sorted(got.files),
            "enroll": enroll, "test": test, "features": extractor.name,
            "per_speaker": r["per_speaker"], "confusions": r["confusions"],
            "skipped": {k: len(v) for k, v in sorted(got.skipped.items())},
            "dropped": got.dropped, "note": note}


def _open_set(method: str, known: dict[str, tuple[list, list]],
              unknown: dict[str, tuple[list, list]],
              heldout: dict[str, tuple[list, list]]) -> dict[str, Any]:
    """Open-set identification: the ``known`` speakers enrolled, the threshold calibrated
    on ``heldout`` speakers (:func:`sonomorph.pipelines.speakers.calibrate`), then every
    test clip of the known and the ``unknown`` speakers identified. An error is a known
    clip rejected or misnamed, or an unknown clip accepted."""
    from sonomorph.pipelines.speakers import UNKNOWN, SpeakerDatabase, calibrate

    db = SpeakerDatabase(method, {})
    for s in sorted(known):
        db.add(np.stack(known[s][0]), [s] * len(known[s][0]), [""] * len(known[s][0]))
    cal = calibrate(db, {s: v[0] + v[1] for s, v in heldout.items()})
    rejected = misnamed = accepted = 0
    for s in sorted(known):
        for v in known[s][1]:
            answer = db.decide(db.rank(v))
            rejected += answer == UNKNOWN
            misnamed += answer not in (UNKNOWN, s)
    for s in sorted(unknown):
        for v in unknown[s][1]:
            accepted += db.decide(db.rank(v)) != UNKNOWN
    n_known = sum(len(v[1]) for v in known.values())
    n_unknown = sum(len(v[1]) for v in unknown.values())
    return {"open_set_error_rate": (rejected + misnamed + accepted) / (n_known + n_unknown),
            "false_reject_rate": rejected / n_known, "misnamed_rate": misnamed / n_known,
            "false_accept_rate": accepted / n_unknown, "known_trials": n_known,
            "unknown_trials": n_unknown, "known_speakers": sorted(known),
            "unknown_speakers": sorted(unknown), "threshold": cal["threshold"],
            "calibration": cal}


def evaluate_speakers_split(root: str | os.PathLike, *, split: str = "test-real",
                            features: Sequence[str] = ("gram", "resemblyzer", "ours",
                                                       "adapted"),
                            optional: Sequence[str] = ("ours", "adapted"), enroll: int = 8,
                            test: int = 7,
                            calibration_split: str | None = "valid", min_seconds: float = 0.5,
                            seed: int = 0, device: str = "cpu",
                            settings: dict[str, dict] | None = None,
                            progress: ProgressCallback | None = None) -> dict[str, Any]:
    """The real-speaker protocol: every speaker of ``split`` of a speech corpus (speakers
    never seen in training) with ``enroll + test`` usable clips (at least ``min_seconds``)
    enrols its first ``enroll`` and is tested on its last ``test`` by 1-NN, for each feature
    set on the same trials. Open set: a seeded half of those speakers is enrolled, the
    'unknown' threshold is calibrated on the ``calibration_split`` speakers, and the test
    clips of both halves are identified (:func:`_open_set`). Features in ``optional`` that
    cannot be made (no speaker encoder of ours, no speaker back-end) are listed in
    ``unavailable``. ``settings`` gives a feature set its extractor settings (``{"ours":
    {"model": PATH}}``: a trained speaker encoder's file; ``{"adapted": {"model": PATH}}``:
    a fitted speaker back-end's file)."""
    from sonomorph.data.corpus.common import job_rng
    from sonomorph.data.corpus.speech import read_splits
    from sonomorph.data.layouts import DatasetError
    from sonomorph.errors import CheckpointError, DependencyError
    from sonomorph.pipelines.speakers import feature_versions, make_extractor, speaker_files

    splits = read_splits(root)
    groups = speaker_files(root)
    names = sorted(s for s, sp in splits.items() if sp == split and s in groups)
    if len(names) < 2:
        raise DatasetError(f"the {split} split has {len(names)} speakers with clips, 2 needed",
                           root)
    extractors, unavailable = {}, {}
    for name in features:
        try:
            extractors[name] = make_extractor(name, (settings or {}).get(name), device=device)
        except (DependencyError, CheckpointError) as exc:
            if name not in optional:
                raise
            unavailable[name] = str(exc)
    if not extractors:
        raise DependencyError(f"no feature set could be made: {'; '.join(unavailable.values())}")
    got = _gather(groups, names, None, enroll, test, extractors, min_seconds, progress)
    kept = sorted(got.files)
    if len(kept) < 2:
        raise DatasetError(f"fewer than 2 speakers of the {split} split have {enroll} usable "
                           f"clips to enrol + {test} to test", root)
    cal_names = sorted(s for s, sp in splits.items() if sp == calibration_split and s in groups)
    cal = (_gather(groups, cal_names, None, max(1, (enroll + test) // 2), 0, extractors,
                   min_seconds, None) if calibration_split and cal_names else None)
    order = [kept[i] for i in job_rng(seed, "open-set").permutation(len(kept))]
    known_names = set(order[: (len(order) + 1) // 2])
    rows = {}
    for name, ex in extractors.items():
        vectors = got.vectors[name]
        row = {"versions": feature_versions(ex), **_closed_set(name, vectors)}
        if cal is not None and cal.files:
            row["open_set"] = _open_set(
                name, {s: v for s, v in vectors.items() if s in known_names},
                {s: v for s, v in vectors.items() if s not in known_names}, cal.vectors[name])
        rows[name] = row
    files = {s: {"enroll": [p.relative_to(root).as_posix() for p in e],
                 "test": [p.relative_to(root).as_posix() for p in t]}
             for s, (e, t) in sorted(got.files.items())}
    return {"protocol": f"real speakers: {split} split, {enroll} enrolment and {test} test "
                        f"clips per speaker (first and last usable, at least {min_seconds:g} s), "
                        "1-NN cosine",
            "split": split, "enroll": enroll, "test": test, "min_seconds": min_seconds,
            "speakers": kept, "trials": len(kept) * test,
            "skipped": {k: len(v) for k, v in sorted(got.skipped.items())},
            "dropped": got.dropped, "calibration_split": calibration_split if cal else None,
            "calibration_speakers": sorted(cal.files) if cal else [],
            "features": rows, "unavailable": unavailable, "files": files}


def describe_speaker_clips(root: str | os.PathLike, split: str, extractors: Mapping[str, Any],
                           *, derived: Mapping[str, Callable[[dict], np.ndarray]] | None = None,
                           min_seconds: float = 0.5, seen: set[str] | None = None,
                           progress: ProgressCallback | None = None
                           ) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Every usable clip of every speaker of ``split`` (``splits/<split>.txt``) of a speech
    corpus, described by each of ``extractors`` (name -> extractor; all must read the same
    sample rate): ``({speaker: [{name: vector}]}, {skip reason: count})``. Usable: readable,
    not silent, at least ``min_seconds`` long, and bytes not met before (``seen``, a set of
    sha256 that callers may share across splits). ``derived`` adds vectors computed from a
    clip's others (name -> function of the row), e.g. a back-end over resemblyzer's."""
    from sonomorph.data.corpus.speech import read_splits
    from sonomorph.data.speaker_clips import usable_clips
    from sonomorph.pipelines.speakers import skip_reason, speaker_files

    rates = {ex.sample_rate for ex in extractors.values()}
    if len(rates) != 1:
        raise ConfigError(f"the extractors read different sample rates: {sorted(rates)}")
    splits, groups = read_splits(root), speaker_files(root)
    names = sorted(s for s, sp in splits.items() if sp == split and s in groups)

    def describe(wav: np.ndarray, path: Path) -> dict:
        row = {n: ex(wav, path) for n, ex in extractors.items()}
        for n, fn in (derived or {}).items():
            row[n] = fn(row)
        return row

    skipped: dict[str, list[str]] = {}
    clips = usable_clips({s: groups[s] for s in names}, describe, rates.pop(), skip_reason,
                         min_seconds=min_seconds, seen=seen, skipped=skipped,
                         progress=progress)
    return clips, {reason: len(messages) for reason, messages in skipped.items()}


def plot_speaker_confusions(result: dict[str, Any], path: str | os.PathLike, *,
                            overwrite: bool = True) -> Path:
    """The confusion matrices of :func:`evaluate_speakers_split`, one panel per feature
    set side by side, as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sonomorph.utils.fs import atomic_path

    rows = result["features"]
    n = len(rows[next(iter(rows))]["labels"])
    size = max(4.0, 0.28 * n + 2.0)
    fig, axes = plt.subplots(1, len(rows), figsize=(size * len(rows), size + 0.6),
                             constrained_layout=True, squeeze=False)
    for ax, (name, row) in zip(axes[0], rows.items()):
        _draw_confusion(ax, row, f"{name}: {row['accuracy']:.1%} ({row['correct']}/"
                        f"{row['trials']})", annotate=n <= 20)
    fig.suptitle(f"{result['split']} split, {len(result['speakers'])} speakers, "
                 f"{result['enroll']} enrolled / {result['test']} tested each")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def format_speakers_split(result: dict[str, Any]) -> str:
    """One line per feature set: closed-set accuracy and open-set error rate."""
    lines = [f"{len(result['speakers'])} speakers of the {result['split']} split, "
             f"{result['enroll']} enrolled / {result['test']} tested each"]
    for name, r in result["features"].items():
        line = (f"  {name:<12} accuracy {r['accuracy']:.1%} ({r['correct']}/{r['trials']})")
        o = r.get("open_set")
        if o:
            line += (f"; open set error {o['open_set_error_rate']:.1%} (false accept "
                     f"{o['false_accept_rate']:.1%}, false reject {o['false_reject_rate']:.1%})")
        lines.append(line)
    for name, why in result["unavailable"].items():
        lines.append(f"  {name:<12} not available: {why}")
    lines += _skip_lines(result)
    return "\n".join(lines)


def _skip_lines(result: dict[str, Any]) -> list[str]:
    out = []
    if result.get("skipped"):
        reasons = ", ".join(f"{v} {k}" for k, v in result["skipped"].items())
        out.append(f"  skipped clips: {sum(result['skipped'].values())} ({reasons})")
    if result.get("dropped"):
        out.append(f"  dropped speakers (too few usable clips): {len(result['dropped'])}")
    if result.get("note"):
        out.append(f"  note: {result['note']}")
    return out


def format_speakers(results: Sequence[dict[str, Any]]) -> str:
    """One line per protocol run: speakers, features, accuracy (then skips and notes)."""
    lines = []
    for r in results:
        lines.append(f"{len(r['speakers']):>3} speakers  {r['features']:<12} accuracy "
                     f"{r['accuracy']:.1%} ({round(r['accuracy'] * r['trials'])}/{r['trials']}; "
                     f"enrol first {r['enroll']}, test last {r['test']} per speaker)")
        lines += _skip_lines(r)
    return "\n".join(lines)
