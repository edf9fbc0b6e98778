"""Model cards: every shipped ``<name>.safetensors`` has a ``<name>.md`` beside it that says
what it was trained on, how (the command and the number of steps) and how well it does.

A card is Markdown written for people, so the check reads it the way a person would:

* **data**: a heading or a list label naming the data (``## Data``, ``- Data:``,
  ``- **Training data:**``);
* **training command**: a ``sonomorph train ...`` command;
* **steps**: how many steps were trained (``1000 steps``, ``--steps 700``,
  ``steps=500``); when the weights are known, their ``step`` (from the file's metadata)
  must be the one the card gives;
* **metrics**: a heading or label for the results (``## Evaluation``, ``## Held-out
  results``, ``- Metrics:``) followed by at least one figure;
* **model**: when the weights are known, the registered model name in their metadata
  (``genre_tcn``...) appears in the card, so a card cannot silently describe another
  architecture.

``python -m sonomorph.pretrained.cards [FOLDER]`` prints the problems of every card (exit
status 1 if there are any); the test suite runs the same check on the shipped folder.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from sonomorph.pretrained import PRETRAINED_DIR, SUFFIX

__all__ = ["REQUIRED", "card_problems", "check_folder"]

REQUIRED = ("data", "training command", "steps", "metrics")

# A heading ("## Data") or a list/bold label ("- Data:", "- **Training data:**", "**Data**").
_LABEL = re.compile(r"^\s*(?:#{1,6}\s+(?P<heading>.+?)\s*#*\s*$|(?:[-*+]\s+)?\*\*(?P<bold>[^*]+?)"
                    r":?\*\*|[-*+]\s+(?P<plain>[A-Z][\w ()/-]{0,40}?):)", re.MULTILINE)
_DATA = re.compile(r"\bdata\b", re.IGNORECASE)
_METRICS = re.compile(r"\b(metrics?|results?|evaluation)\b", re.IGNORECASE)
_TRAIN_COMMAND = re.compile(r"\bsonomorph\s+train\s+[a-z]+")
_STEPS = re.compile(r"\b(\d[\d,]*)\s+(?:training\s+)?steps\b|--steps[ =](\d+)|\bsteps\s*=\s*(\d+)",
                    re.IGNORECASE)
_FIGURE = re.compile(r"\d")


def _labels(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, label text, is_heading) of every heading and list label."""
    out = []
    for m in _LABEL.finditer(text):
        label = m.group("heading") or m.group("bold") or m.group("plain") or ""
        out.append((m.start(), m.end(), label.strip(), m.group("heading") is not None))
    return out


def _section_after(text: str, labels: list[tuple[int, int, str, bool]], index: int) -> str:
    """The text under a label, the label itself left out: up to the next heading (for a
    heading) or the next label (for a list label)."""
    _, end, _, heading = labels[index]
    for start, _, _, is_heading in labels[index + 1:]:
        if is_heading or not heading:
            return text[end:start]
    return text[end:]


def _steps(text: str) -> set[int]:
    found = set()
    for m in _STEPS.finditer(text):
        digits = next(g for g in m.groups() if g)
        found.add(int(digits.replace(",", "")))
    return found


def card_problems(card: str | os.PathLike, weights: str | os.PathLike | None = None) -> list[str]:
    """What the card at ``card`` lacks (an empty list when it is complete). With
    ``weights`` (its ``.safetensors`` file), the card must also agree with the file's
    metadata (model name and step)."""
    card = Path(card)
    if not card.is_file():
        return [f"{card.name}: missing (every shipped model needs a model card)"]
    text = card.read_text(encoding="utf-8")
    labels = _labels(text)
    problems = []
    if not any(_DATA.search(label) for _, _, label, _ in labels):
        problems.append("no data section (a '## Data' heading or a '- Data:' label)")
    if not _TRAIN_COMMAND.search(text):
        problems.append("no training command (`sonomorph train ...`)")
    steps = _steps(text)
    if not steps:
        problems.append("no number of training steps ('N steps', '--steps N' or 'steps=N')")
    metric_sections = [_section_after(text, labels, i)
                       for i, (_, _, label, _) in enumerate(labels) if _METRICS.search(label)]
    if not metric_sections:
        problems.append("no metrics section (a heading or label: Metrics, Results or "
                        "Evaluation)")
    elif not any(_FIGURE.search(section) for section in metric_sections):
        problems.append("the metrics section gives no figure")
    if weights is not None:
        from sonomorph.models import read_metadata

        meta = read_metadata(weights)
        name = meta.get("model")
        if name and name not in text:
            problems.append(f"does not name the model in the file ({name!r})")
        step = meta.get("step")
        if isinstance(step, int) and steps and step not in steps:
            problems.append(f"the weights are from step {step}, the card says "
                            f"{', '.join(str(s) for s in sorted(steps))}")
    return [f"{card.name}: {p}" for p in problems]


def check_folder(folder: str | os.PathLike = PRETRAINED_DIR) -> list[str]:
    """The problems of every card in a folder of shipped models: each ``.safetensors``
    needs a complete ``.md`` beside it, and each card needs its weights."""
    folder = Path(folder)
    problems = []
    for weights in sorted(folder.glob(f"*{SUFFIX}")):
        problems += card_problems(weights.with_suffix(".md"), weights)
    for card in sorted(folder.glob("*.md")):
        if card.name.lower() != "readme.md" and not card.with_suffix(SUFFIX).is_file():
            problems.append(f"{card.name}: a card without weights ({card.stem}{SUFFIX})")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    problems = check_folder(args[0] if args else PRETRAINED_DIR)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
