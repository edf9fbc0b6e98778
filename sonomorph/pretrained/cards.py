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
  architecture;
* **sources**: every decimal figure (``0.772``, ``12.4x``, ``95.9 %``) in a measured
  section (a heading that mentions metrics, results, evaluation, accuracy, benchmark,
  speed or latency: the sections ``docs/results.md`` copies) must come from a results
  file the card names on its ``Sources:`` line (``Sources: `benchmarks/results/a.json`,
  `benchmarks/results/b.json```). A figure matches a number of those files rounded as
  printed (``0.7718`` prints as ``0.772``; a ``%`` figure may be a fraction times 100; a
  figure may be a value in thousands or thousandths, for ``ms``/``s`` or ``GB``/``MB``, or
  in millions, for ``M`` parameters).
  Each named file must record the sha256 of the shipped weights (as any string value), so
  the figures are about these weights. Code (fenced or indented blocks, inline code)
  and HTML comments are not read for figures; figures that are not measurements (a
  setting, a date) are listed in a comment, ``<!-- not measured: 22.05 0.5 -->``, and
  then accepted wherever they appear in the card.

``python -m sonomorph.pretrained.cards [FOLDER]`` prints the problems of every card (exit
status 1 if there are any); the test suite runs the same check on the shipped folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from sonomorph.pretrained import PRETRAINED_DIR, SUFFIX

__all__ = ["REQUIRED", "MEASURED", "REPO_ROOT", "card_problems", "check_folder",
           "measured_figures", "source_problems"]

#: Where the card's ``Sources:`` paths (``benchmarks/results/...``) are resolved.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Headings of measured sections: their figures need a source (``scripts/gen_results.py``
#: copies the same sections into docs/results.md).
MEASURED = re.compile(r"metric|result|evaluat|accuracy|benchmark|speed|latenc", re.IGNORECASE)

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
_SOURCES = re.compile(r"^[ \t]*(?:[-*+][ \t]+)?(?:\*\*)?Sources?(?:\*\*)?[ \t]*:(?:\*\*)?"
                      r"(?P<rest>.*)$", re.MULTILINE | re.IGNORECASE)
_RESULTS_FILE = re.compile(r"benchmarks/results/[\w.+-]+\.json")
_NOT_MEASURED = re.compile(r"<!--\s*not measured:(?P<list>.*?)-->", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCED = re.compile(r"^[ \t]*(?P<fence>```|~~~).*?^[ \t]*(?P=fence)[ \t]*$",
                     re.DOTALL | re.MULTILINE)
# An indented code block's line: 4 spaces or a tab, not a list item (a nested list is prose).
_INDENTED = re.compile(r"^(?: {4}|\t)(?![ \t]*(?:[-*+]|\d+[.)])[ \t])")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)
# A decimal figure: digits, a point, digits (an exponent allowed); not part of a version
# (0.1.5), a name (v1.2, a-1.5) or a path; a sign before it is allowed (the check compares
# magnitudes); "%" after it is kept.
_DECIMAL = re.compile(r"(?<![\w./])(?<![A-Za-z_]-)(?P<num>\d+\.\d+(?:[eE][-+]?\d+)?)"
                      r"(?![\w.]?\d)(?P<pct>\s*%)?")


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


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _without_indented_code(text: str) -> str:
    """``text`` with its indented code blocks blanked: runs of indented lines that follow a
    blank line (an indented line right after prose continues that paragraph)."""
    lines = text.split("\n")
    code = False
    for i, line in enumerate(lines):
        if not line.strip():  # a blank line neither starts nor ends a block
            continue
        follows_blank = i == 0 or not lines[i - 1].strip()
        if _INDENTED.match(line) and (code or follows_blank):
            code = True
            lines[i] = _blank(line)
        else:
            code = False
    return "\n".join(lines)


def _prose(text: str) -> str:
    """The card without code and comments (same length, so positions keep their meaning)."""
    for pattern in (_COMMENT, _FENCED):
        text = pattern.sub(lambda m: _blank(m.group(0)), text)
    text = _without_indented_code(text)
    return _INLINE_CODE.sub(lambda m: _blank(m.group(0)), text)


def measured_figures(text: str) -> list[tuple[str, bool, str]]:
    """(figure as printed, whether a ``%`` follows, heading above it) of every decimal
    figure in the measured sections of a card's text (a section runs to the next heading
    of its level or above), code and comments left out."""
    prose = _prose(text)
    headings = list(_HEADING.finditer(prose))
    spans = []
    for i, h in enumerate(headings):
        if len(h.group(1)) >= 2 and MEASURED.search(h.group(2)):
            end = next((o.start() for o in headings[i + 1:]
                        if len(o.group(1)) <= len(h.group(1))), len(prose))
            spans.append((h.end(), end))
    found = []
    for m in _DECIMAL.finditer(prose):
        if any(a <= m.start() < b for a, b in spans):
            above = [h.group(2).strip() for h in headings if h.start() < m.start()]
            found.append((m.group("num"), bool(m.group("pct")), above[-1]))
    return found


def _numbers(value) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            yield float(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _matches(figure: str, percent: bool, values: list[float]) -> bool:
    """Whether a value rounds to ``figure`` as printed (see the module docstring)."""
    target = float(figure)
    digits = len(figure.split(".")[1].split("e")[0].split("E")[0])
    mantissa_exp = int(figure.lower().split("e")[1]) if "e" in figure.lower() else 0
    half = 0.5 * 10.0 ** (mantissa_exp - digits) * (1 + 1e-9)
    scales = (1.0, 1e3, 1e-3, 1e-6) + ((100.0,) if percent else ())
    return any(abs(abs(v) * k - target) <= half for v in values for k in scales)


def source_problems(card: str | os.PathLike, weights: str | os.PathLike | None = None, *,
                    root: str | os.PathLike | None = None) -> list[str]:
    """Problems with the sources of a card's figures (see the module docstring): the
    ``Sources:`` files must exist under ``root`` (default: the repository), record the
    weights' sha256 (when ``weights`` is given) and hold every measured decimal figure."""
    text = Path(card).read_text(encoding="utf-8")
    root = Path(root) if root is not None else REPO_ROOT
    given = {g for m in _NOT_MEASURED.finditer(text)
             for g in re.findall(r"\d[\d.eE+-]*%?", m.group("list"))}
    named = [f for m in _SOURCES.finditer(_prose(text))
             for f in _RESULTS_FILE.findall(text[m.start("rest"):m.end("rest")])]
    figures = [f for f in measured_figures(text)
               if f[0] not in given and f[0] + "%" not in given]
    problems: list[str] = []
    if not named:
        if figures:
            problems.append("measured figures without a 'Sources:' line naming their "
                            "benchmarks/results/*.json files (first: "
                            f"{figures[0][0]} under '{figures[0][2]}')")
        return problems
    sha = None
    if weights is not None:
        from sonomorph.utils.hashing import sha256_file

        sha = sha256_file(weights)
    values: list[float] = []
    for rel in dict.fromkeys(named):
        path = root / rel
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"source {rel} cannot be read ({type(exc).__name__})")
            continue
        if sha is not None and sha not in set(_strings(data)):
            problems.append(f"source {rel} does not record the weights' sha256 ({sha[:12]}...)")
        values += list(_numbers(data))
    missing = [f for f in figures if not _matches(f[0], f[1], values)]
    for figure, pct, heading in dict.fromkeys(missing):
        problems.append(f"{figure}{' %' if pct else ''} under '{heading}' is in none of its "
                        "sources")
    return problems


def card_problems(card: str | os.PathLike, weights: str | os.PathLike | None = None, *,
                  root: str | os.PathLike | None = None) -> list[str]:
    """What the card at ``card`` lacks (an empty list when it is complete). With
    ``weights`` (its ``.safetensors`` file), the card must also agree with the file's
    metadata (model name and step) and its sources must record the file's sha256.
    ``root``: where the ``Sources:`` paths are resolved (default: the repository)."""
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
    problems += source_problems(card, weights, root=root)
    return [f"{card.name}: {p}" for p in problems]


def check_folder(folder: str | os.PathLike = PRETRAINED_DIR, *,
                 root: str | os.PathLike | None = None) -> list[str]:
    """The problems of every card in a folder of shipped models: each ``.safetensors``
    needs a complete ``.md`` beside it, and each card needs its weights."""
    folder = Path(folder)
    problems = []
    for weights in sorted(folder.glob(f"*{SUFFIX}")):
        problems += card_problems(weights.with_suffix(".md"), weights, root=root)
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
