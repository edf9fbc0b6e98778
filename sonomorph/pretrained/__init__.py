"""Shipped models: ``<name>.safetensors`` files (with a ``<name>.md`` model card) in this
folder, installed with the package.

The name of a shipped file is the *kind* of job it does ("separator", "scream", "genre"...),
so ``--model default`` for a command resolves to :func:`path_for` of that command's kind.
"""

from __future__ import annotations

from pathlib import Path

from sonomorph.errors import CheckpointError

PRETRAINED_DIR = Path(__file__).resolve().parent
SUFFIX = ".safetensors"


def available() -> list[str]:
    """Sorted names of the shipped models."""
    return sorted(p.name[: -len(SUFFIX)] for p in PRETRAINED_DIR.glob(f"*{SUFFIX}") if p.is_file())


def path_for(name: str) -> Path:
    """The shipped ``.safetensors`` file called ``name``; CheckpointError when none ships."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"not a shipped model name: {name!r}")
    path = PRETRAINED_DIR / f"{name}{SUFFIX}"
    if not path.is_file():
        shipped = ", ".join(available()) or "none yet"
        raise CheckpointError(
            f"no shipped model for '{name}' (shipped: {shipped}); train one with "
            f"`sonomorph train` and pass its .safetensors file instead",
            path,
        )
    return path


def model_card(name: str) -> Path | None:
    """The model card (``<name>.md``) of a shipped model, if it has one."""
    card = PRETRAINED_DIR / f"{name}.md"
    return card if card.is_file() else None
