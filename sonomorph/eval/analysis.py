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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomorph.errors import ConfigError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["evaluate_genre", "plot_confusion", "format_genre", "evaluate_speakers",
           "format_speakers"]


# ----------------------------------------------------------------------------- genre


def evaluate_genre(classifier, root: str | os.PathLike, *, split: str = "test",
                   test_fraction: float = 0.2, val_fraction: float = 0.1,
                   progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Accuracy of ``classifier`` on ``split`` of a GTZAN-layout folder (the same split
    rules as training: :func:`sonomorph.train.recipes.genre.split_clips`). Clips whose label
    the model does not know count as errors. Returns ``accuracy``, ``clips``, ``labels``,
    ``confusion`` (rows: true, columns: predicted), ``recall`` per label and ``errors``."""
    from sonomorph.data.layouts import DatasetError
    from sonomorph.train.recipes.genre import split_clips

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

    cm = np.asarray(scores["confusion"], dtype=float)
    rows, cols = scores["rows"], scores["labels"]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1.0)
    size = max(5.0, 0.55 * len(cols) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size), constrained_layout=True)
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"{scores['split']} split: accuracy {scores['accuracy']:.1%} "
                 f"({scores['clips']} clips)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true genre")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def format_genre(scores: dict[str, Any]) -> str:
    """A short text report: accuracy then recall per genre."""
    lines = [f"accuracy {scores['accuracy']:.1%} on {scores['clips']} clips "
             f"({scores['split']} split)"]
    width = max(len(r) for r in scores["rows"])
    for label, value in scores["recall"].items():
        lines.append(f"  {label:<{width}}  recall {value:.1%}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- speakers


def evaluate_speakers(root: str | os.PathLike, *, speakers: int = 4, enroll: int = 9,
                      test: int = 6, features: str = "gram", settings: dict | None = None,
                      device: str = "cpu", progress: ProgressCallback | None = None
                      ) -> dict[str, Any]:
    """The original speaker-identification protocol on a VCTK-layout folder.

    The first ``speakers`` speakers (sorted ids); each enrols its first ``enroll``
    utterances and is tested on its last ``test`` (a speaker with fewer than
    ``enroll + test`` utterances is an error, so the two sets never overlap). Returns
    ``accuracy``, ``trials``, ``speakers`` (the ids), ``per_speaker`` accuracy,
    ``confusions`` (true -> predicted counts of the errors) and the ``features`` used.
    """
    from sonomorph.data.layouts import DatasetError
    from sonomorph.pipelines.speakers import (
        SpeakerDatabase,
        load_voice,
        make_extractor,
        speaker_files,
    )

    if speakers < 2 or enroll < 1 or test < 1:
        raise ConfigError("the protocol needs at least 2 speakers, 1 enrolment and 1 test "
                          "utterance each")
    groups = speaker_files(root)
    names = sorted(groups)
    if len(names) < speakers:
        raise DatasetError(f"holds {len(names)} speakers, {speakers} asked for", root)
    names = names[:speakers]
    short = [s for s in names if len(groups[s]) < enroll + test]
    if short:
        raise DatasetError(f"speaker {short[0]} has {len(groups[short[0]])} utterances, fewer "
                           f"than {enroll} to enrol + {test} to test", root)
    extractor = make_extractor(features, settings, device=device)
    db = SpeakerDatabase(extractor.name, dict(extractor.settings))
    total = speakers * (enroll + test)
    done = 0

    def vector(path: Path) -> np.ndarray:
        nonlocal done
        v = extractor(load_voice(path, extractor.sample_rate), path)
        done += 1
        if progress is not None:
            progress(done, total)
        return v

    for s in names:
        files = groups[s][:enroll]
        db.add(np.stack([vector(f) for f in files]), [s] * len(files), [str(f) for f in files])
    correct: dict[str, int] = {}
    confusions: dict[str, dict[str, int]] = {}
    for s in names:
        correct[s] = 0
        for f in groups[s][-test:]:
            best = db.rank(vector(f))[0].speaker
            if best == s:
                correct[s] += 1
            else:
                confusions.setdefault(s, {}).setdefault(best, 0)
                confusions[s][best] += 1
    trials = speakers * test
    return {"accuracy": sum(correct.values()) / trials, "trials": trials,
            "speakers": names, "enroll": enroll, "test": test, "features": extractor.name,
            "per_speaker": {s: c / test for s, c in correct.items()},
            "confusions": confusions}


def format_speakers(results: Sequence[dict[str, Any]]) -> str:
    """One line per protocol run: speakers, features, accuracy."""
    lines = []
    for r in results:
        lines.append(f"{len(r['speakers']):>3} speakers  {r['features']:<12} accuracy "
                     f"{r['accuracy']:.1%} ({round(r['accuracy'] * r['trials'])}/{r['trials']}; "
                     f"enrol first {r['enroll']}, test last {r['test']} per speaker)")
    return "\n".join(lines)
