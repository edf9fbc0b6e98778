"""Model cards: every shipped model has one beside it, and a card lacking a required field
(data, training command, steps, metrics) or disagreeing with its weights is caught."""

from __future__ import annotations

import shutil

import pytest

from sonomorph import pretrained
from sonomorph.models import build_model, save_model
from sonomorph.pretrained.cards import REQUIRED, card_problems, check_folder, main

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
"""

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
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE)
    assert card_problems(card) == []


@pytest.mark.parametrize("field", REQUIRED)
def test_a_card_lacking_a_field_fails(field, tmp_path):
    old, new = WITHOUT[field]
    assert old in COMPLETE
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace(old, new))
    problems = card_problems(card)
    assert len(problems) == 1 and field.split()[-1] in problems[0], problems
    assert problems[0].startswith("genre.md: ")


def test_metrics_without_a_figure_fail(tmp_path):
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE.replace("Accuracy 91.2 %.", "Accuracy was good.")
                    .replace("## Evaluation (test split)\n```\nsonomorph eval genre --data "
                             "corpora/genres\n```", "## Evaluation\n"))
    assert card_problems(card) == ["genre.md: the metrics section gives no figure"]


def test_card_must_agree_with_its_weights(tmp_path):
    weights = save_model(tmp_path / "genre.safetensors", build_model("genre_cnn", n_classes=3,
                                                                     channels=[4, 4]),
                         meta={"step": 300, "labels": ["a", "b", "c"]})
    card = tmp_path / "genre.md"
    card.write_text(COMPLETE)
    assert card_problems(card, weights) == []
    card.write_text(COMPLETE.replace("300", "250"))
    assert card_problems(card, weights) == [
        "genre.md: the weights are from step 300, the card says 250"]
    card.write_text(COMPLETE.replace("`genre_cnn`", "`genre_tcn`"))
    assert card_problems(card, weights) == [
        "genre.md: does not name the model in the file ('genre_cnn')"]


def test_folder_check_pairs_weights_and_cards(tmp_path, capsys):
    folder = tmp_path / "shipped"
    folder.mkdir()
    for name in pretrained.available():
        shutil.copy(pretrained.PRETRAINED_DIR / f"{name}.safetensors", folder)
        shutil.copy(pretrained.PRETRAINED_DIR / f"{name}.md", folder)
    assert check_folder(folder) == [] and main([str(folder)]) == 0
    first = pretrained.available()[0]
    (folder / f"{first}.md").unlink()
    (folder / "orphan.md").write_text(COMPLETE)
    assert check_folder(folder) == [
        f"{first}.md: missing (every shipped model needs a model card)",
        "orphan.md: a card without weights (orphan.safetensors)"]
    capsys.readouterr()
    assert main([str(folder)]) == 1
    assert capsys.readouterr().out.count("\n") == 2
