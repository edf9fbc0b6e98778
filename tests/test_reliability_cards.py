"""Model cards: every shipped model has one beside it, and a card lacking a required field
(data, training command, steps, metrics), disagreeing with its weights, or giving a measured
figure that its named results files do not hold (or that are not about these weights) is
caught."""

from __future__ import annotations

import json

import pytest

from sonomorph import pretrained
from sonomorph.models import build_model, save_model
from sonomorph.pretrained.cards import (
    REQUIRED,
    card_problems,
    check_folder,
    main,
    source_problems,
)

COMPLETE = """# genre: a test card

## Model
`genre_cnn`, a small CNN.

## Data
`sonomorph corpus genres --out corpora/genres` (seed 0).

## Training
```
sonomorph train genre --data corpora/genres --out runs/g --set steps=300
```
It ran for 300 steps.

## Evaluation (test split)
```
sonomorph eval genre --data corpora/genres
```
Accuracy 91.2 %.

Sources: `benchmarks/results/eval-genre.json`
"""
SOURCE = "benchmarks/results/eval-genre.json"


def write_source(root, weights=None, source=SOURCE, **values):
    """A results file under ``root`` holding ``values`` (and the sha256 of ``weights``,
    computed here with hashlib, not with the code under test)."""
    import hashlib

    record = {"accuracy": 0.9124, **values}
    if weights is not None:
        record["model_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    path = root / source
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def tiny_weights(folder, name="genre", step=300):
    return save_model(folder / f"{name}.safetensors",
                      build_model("genre_cnn", n_classes=3, channels=[4, 4]),
                      meta={"step": step, "labels": ["a", "b", "c"]})

# Each required field, and an edit of the complete card that removes it.
WITHOUT = {
    "data": ("## Data\n", "## Corpus\n"),
    "training command": ("sonomorph train genre", "python train.py"),
    "steps": ("--set steps=300\n```\nIt ran for 300 steps.", "\n```\nIt ran for a while."),
    "metrics": ("## Evaluation (test split)", "## Notes"),
}


def test_shipped_cards_are_complete():
    assert pretrained.available(), "no shipped model to check"
    assert check_folder(pretrained.PRETRAINED_DIR) == []
    for name in pretrained.available():
        assert pretrained.model_card(name) is not None, name


def test_a_complete_card_passes(tmp_path):
    write_source(tmp_path)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE)
    assert card_problems(card, root=tmp_path) == []


@pytest.mark.parametrize("field", REQUIRED)
def test_a_card_lacking_a_field_fails(field, tmp_path):
    old, new = WITHOUT[field]
    assert old in COMPLETE
    write_source(tmp_path)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace(old, new))
    problems = card_problems(card, root=tmp_path)
    assert len(problems) == 1 and field.split()[-1] in problems[0], problems
    assert problems[0].startswith("genre.md: ")


def test_metrics_without_a_figure_fail(tmp_path):
    write_source(tmp_path)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace("Accuracy 91.2 %.", "Accuracy was good.")
                    .replace("## Evaluation (test split)\n```\nsonomorph eval genre --data "
                             "corpora/genres\n```", "## Evaluation\n"))
    assert card_problems(card, root=tmp_path) == [
        "genre.md: the metrics section gives no figure"]


def test_card_must_agree_with_its_weights(tmp_path):
    weights = tiny_weights(tmp_path)
    write_source(tmp_path, weights)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE)
    assert card_problems(card, weights, root=tmp_path) == []
    card.write_text(COMPLETE.replace("300", "250"))
    assert card_problems(card, weights, root=tmp_path) == [
        "genre.md: the weights are from step 300, the card says 250"]
    card.write_text(COMPLETE.replace("`genre_cnn`", "`genre_tcn`"))
    assert card_problems(card, weights, root=tmp_path) == [
        "genre.md: does not name the model in the file ('genre_cnn')"]


def test_folder_check_pairs_weights_and_cards(tmp_path, capsys):
    folder = tmp_path / "shipped"
    folder.mkdir()
    for name in ("genre", "mood"):
        weights = tiny_weights(folder, name)
        (folder / f"{name}.md").write_text(COMPLETE.replace("genre.json", f"{name}.json"))
        write_source(tmp_path, weights, f"benchmarks/results/eval-{name}.json")
    assert check_folder(folder, root=tmp_path) == []
    (folder / "mood.md").unlink()
    (folder / "orphan.md").write_text(COMPLETE)
    assert check_folder(folder, root=tmp_path) == [
        "mood.md: missing (every shipped model needs a model card)",
        "orphan.md: a card without weights (orphan.safetensors)"]
    capsys.readouterr()
    assert main([str(folder)]) == 1  # the repository's results files: not these weights
    assert "orphan.md: a card without weights" in capsys.readouterr().out


# The sources check: every decimal figure of a measured section comes from a named results
# file, and each named file records the sha256 of the weights the card describes.

def test_a_figure_held_by_its_source_passes(tmp_path):
    weights = tiny_weights(tmp_path)
    write_source(tmp_path, weights, speed={"x_realtime": 12.4186}, lsd_db=14.7099,
                 fraction=0.8123, latency_s=0.0348)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE + "\n## Speed\n12.4x real time, LSD 14.71 dB, 81.2 %, "
                    "latency 34.8 ms, a drop of -14.7 dB.\n")
    assert source_problems(card, weights, root=tmp_path) == []
    assert card_problems(card, weights, root=tmp_path) == []


@pytest.mark.parametrize("printed", ["91.3 %", "0.95", "12.5x", "3.1415"])
def test_a_figure_missing_from_its_source_fails(printed, tmp_path):
    weights = tiny_weights(tmp_path)
    write_source(tmp_path, weights)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace("Accuracy 91.2 %.", f"Accuracy 91.2 %, then {printed}."))
    number = printed.split()[0].rstrip("x")
    problems = card_problems(card, weights, root=tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"genre.md: {number}"), problems
    assert "Evaluation (test split)" in problems[0] and "none of its sources" in problems[0]


def test_a_source_without_the_weights_sha256_fails(tmp_path):
    weights = tiny_weights(tmp_path)
    (tmp_path / "other").mkdir()
    other = tiny_weights(tmp_path / "other", step=301)
    write_source(tmp_path, other)  # the figures are right, but about other weights
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE)
    problems = card_problems(card, weights, root=tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"genre.md: source {SOURCE} does not record the weights' "
                                  "sha256")


def test_measured_figures_need_a_sources_line(tmp_path):
    write_source(tmp_path)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace("Sources: `benchmarks/results/eval-genre.json`", ""))
    problems = card_problems(card, root=tmp_path)
    assert len(problems) == 1 and "'Sources:' line" in problems[0] and "91.2" in problems[0]
    card.write_text(COMPLETE.replace("eval-genre.json", "eval-missing.json"))
    problems = card_problems(card, root=tmp_path)
    assert problems[0] == ("genre.md: source benchmarks/results/eval-missing.json cannot be "
                           "read (FileNotFoundError)"), problems


def test_code_comments_and_other_sections_are_not_read_for_figures(tmp_path):
    write_source(tmp_path)
    card = tmp_path / "genre.md"
    extra = ("\n## Results in detail\n"
             "Fenced:\n\n```\nsonomorph eval genre --gain 7.25\n```\n"
             "Indented:\n\n    sonomorph eval genre --gain 8.75\n\n"
             "Inline `--lr 3.5e-3`, a comment <!-- was 93.1 -->, version v1.2 of 0.1.5.\n"
             "\n## Limits\nAn unmeasured guess: 42.5 %.\n")
    card.write_text(COMPLETE + extra)
    assert card_problems(card, root=tmp_path) == []
    # the same figure in the prose of a measured section is checked
    card.write_text(COMPLETE + extra.replace("Inline `--lr 3.5e-3`", "Inline 3.5e-3"))
    assert card_problems(card, root=tmp_path) == [
        "genre.md: 3.5e-3 under 'Results in detail' is in none of its sources"]


def test_settings_listed_as_not_measured_are_accepted(tmp_path):
    write_source(tmp_path)
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace("Accuracy 91.2 %.", "Accuracy 91.2 % at 22.05 kHz."))
    assert card_problems(card, root=tmp_path) == [
        "genre.md: 22.05 under 'Evaluation (test split)' is in none of its sources"]
    card.write_text(COMPLETE.replace("Accuracy 91.2 %.", "Accuracy 91.2 % at 22.05 kHz.\n"
                                     "<!-- not measured: 22.05 (the sample rate) -->"))
    assert card_problems(card, root=tmp_path) == []
