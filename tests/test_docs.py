"""The docs run as written: every `sonomorph ...` command in README.md and docs/*.md parses
with the current command line, the Python examples of docs/api.md run (with tiny models
standing in for the shipped ones), docs/cli.md matches the commands' --help, and the
results page renders benchmark files."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sonomorph.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]


def _blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def _commands(path: Path) -> list[str]:
    """The `sonomorph ...` commands of a file's sh blocks (comments dropped, && split)."""
    out = []
    for block in _blocks(path, "sh"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith(("sonomorph ", ".venv/bin/sonomorph ")):
                    out.append(part)
    return out


def test_every_documented_command_parses() -> None:
    found = 0
    for path in DOCS:
        for command in _commands(path):
            argv = shlex.split(command)[1:]
            try:
                build_parser().parse_args(argv)
            except SystemExit as exc:  # argparse's way of failing
                pytest.fail(f"{path.name}: `{command}` does not parse (exit {exc.code})")
            found += 1
    assert found >= 20, f"only {found} commands found in the docs"


def test_cli_reference_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, ("docs/cli.md is stale: run .venv/bin/python "
                                    "scripts/gen_cli_docs.py and commit docs/cli.md")


def test_api_examples_run(tmp_path, monkeypatch) -> None:
    from sonomorph import pretrained

    shipped = tmp_path / "pretrained"
    for kind, path in make_tiny_models(tmp_path / "models").items():
        shipped.mkdir(exist_ok=True)
        Path(path).rename(shipped / f"{kind}.safetensors")
    # The default speaker features need the speaker back-end: the real one is 5 kB.
    shutil.copy(pretrained.path_for("speaker-backend"), shipped / "speaker-backend.safetensors")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shipped)
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(work)
    namespace: dict = {"__name__": "docs_api"}
    blocks = _blocks(ROOT / "docs" / "api.md", "python")
    assert len(blocks) >= 10
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"docs/api.md block {i + 1}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - report which block failed
            pytest.fail(f"docs/api.md block {i + 1} failed: {type(exc).__name__}: {exc}\n{code}")
    assert (work / "out" / "separated" / "song" / "vocals.wav").is_file()
    assert (work / "out" / "demo" / "index.html").is_file()


def test_results_page_renders_benchmark_and_eval_files(tmp_path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import gen_results

    results = tmp_path / "results"
    results.mkdir()
    (results / "speed.json").write_text(json.dumps({
        "seconds": 30.0, "rows": [{"name": "a", "x_realtime": 12.3456, "times": [1.0, 2.0]},
                                  {"name": "b", "x_realtime": None}]}))
    (results / "eval-genre.json").write_text(json.dumps({
        "accuracy": 0.9375, "per_genre": {"rock": {"recall": 1.0}, "jazz": {"recall": 0.875}}}))
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "genre.safetensors").write_bytes(b"\0" * 1000)
    (cards / "genre.md").write_text("# genre\n\n## Data\nx\n\n## Metrics\n\naccuracy 93.8%\n")
    page = gen_results.render(results, cards)
    assert "| name | x_realtime | times |" in page and "| a | 12.35 | 1, 2 |" in page
    assert "| b | — |" in page
    assert "- accuracy: 0.9375" in page and "| rock | 1 |" in page
    assert page.index("## Evaluations") < page.index("eval-genre") < page.index("## Benchmarks")
    assert "accuracy 93.8%" in page and "## Data" not in page
    out = tmp_path / "results.md"
    args = ["--results", str(results), "--cards", str(cards), "--out", str(out)]
    assert gen_results.main(args) == 0 and out.read_text() == page
    assert gen_results.main([*args, "--check"]) == 0
    out.write_text("old")
    assert gen_results.main([*args, "--check"]) == 1
