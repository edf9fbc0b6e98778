"""The package's layers, enforced: every ``import`` of a sonomorph module (at the top of a
file or inside a function) must point to the same layer or one it is allowed to use. The
allow-list below is the one docs/ARCHITECTURE.md shows; change both together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sonomorph"
ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"

#: Module prefix -> layer (the longest matching prefix wins).
LAYER_OF = {
    "sonomorph": "base",  # the package's __init__ (version, error names)
    "sonomorph.errors": "base",
    "sonomorph.utils": "base",
    "sonomorph.audio": "audio",
    "sonomorph.models": "models",
    "sonomorph.pretrained": "models",
    "sonomorph.data": "data",
    "sonomorph.data.layouts": "data.layouts",
    "sonomorph.train": "train",
    "sonomorph.pipelines": "pipelines",
    "sonomorph.eval": "eval",
    "sonomorph.capabilities": "front",
    "sonomorph.cli": "front",
    "sonomorph.app": "front",
    "sonomorph.app_jobs": "front",
    "sonomorph.demo": "front",
    "sonomorph.demo_report": "front",
    "sonomorph.__main__": "front",
}

#: Layer -> the layers its modules may import (besides their own).
ALLOWED = {
    "base": {"base"},
    "audio": {"base"},
    "models": {"base", "audio"},
    "data": {"base", "audio", "data.layouts"},
    "data.layouts": {"base", "audio", "data"},
    "train": {"base", "audio", "models", "data", "data.layouts"},
    "pipelines": {"base", "audio", "models", "data.layouts"},
    "eval": {"base", "audio", "models", "data", "data.layouts", "pipelines"},
    "front": {"base", "audio", "models", "data", "data.layouts", "train", "pipelines", "eval"},
}

#: (importing module, imported module): known back-edges waiting for their fix. Each entry
#: says why it is still here; the test fails when an entry is no longer needed.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def layer(module: str) -> str:
    best = max((p for p in LAYER_OF if module == p or module.startswith(p + ".")), key=len)
    return LAYER_OF[best]


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """(line, absolute module name) of every sonomorph import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base == "sonomorph":  # "from sonomorph import pretrained": the submodule
                found += [(node.lineno, f"sonomorph.{a.name}") if a.name in SUBPACKAGES
                          else (node.lineno, "sonomorph") for a in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, m) for line, m in found if m == "sonomorph" or m.startswith("sonomorph.")]


SUBPACKAGES = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem != "__init__"}
FILES = sorted(PACKAGE.rglob("*.py"))


def violations() -> tuple[list[str], set[tuple[str, str]]]:
    bad, used = [], set()
    for path in FILES:
        src = module_name(path)
        for line, target in imports(path):
            a, b = layer(src), layer(target)
            if a == b or b in ALLOWED[a]:
                continue
            if (src, target) in EXCEPTIONS:
                used.add((src, target))
                continue
            bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {src} ({a}) imports "
                       f"{target} ({b})")
    return bad, used


def test_every_module_has_a_layer() -> None:
    assert FILES
    for path in FILES:
        assert layer(module_name(path)) in ALLOWED, path


def test_imports_follow_the_layers() -> None:
    bad, used = violations()
    assert not bad, "imports against the layers (see docs/ARCHITECTURE.md):\n" + "\n".join(bad)
    stale = set(EXCEPTIONS) - used
    assert not stale, f"exceptions no longer needed, remove them: {sorted(stale)}"


def test_the_check_sees_a_back_edge(tmp_path) -> None:
    """The check itself: a lower layer importing a higher one (at the top of the file or
    inside a function, absolute or relative) is found and refused."""
    fake = tmp_path / "sonomorph" / "audio" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..train import losses\n\n\ndef f():\n"
                    "    from sonomorph.pipelines.separate import Separator\n")
    found = imports(fake, root=tmp_path)
    assert found == [(1, "sonomorph.train"), (5, "sonomorph.pipelines.separate")]
    assert module_name(fake, tmp_path) == "sonomorph.audio.x"
    for _, target in found:
        assert layer(target) not in ALLOWED["audio"]


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_the_architecture_page_shows_the_allow_list(name) -> None:
    """docs/ARCHITECTURE.md shows each layer's line of the allow-list exactly."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    allowed = ", ".join(sorted(ALLOWED[name])) if ALLOWED[name] else "-"
    assert f"| {name} | {allowed} |" in text, f"ARCHITECTURE.md lacks the row for {name}"
