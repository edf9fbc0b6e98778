"""What the code never does, checked on its syntax tree: run a shell, unpickle, or
evaluate text. A new call that breaks one of these rules fails here with its file and line.

* subprocesses (ffmpeg, fluidsynth, git...) get an argument list, never ``shell=True`` or
  a command string; ``os.system``/``os.popen`` are not used;
* ``torch.load`` always has ``weights_only=True``; nothing is loaded with ``pickle``,
  ``marshal``, ``shelve``, ``dill`` or ``joblib`` (importing pickle for its exception type
  is fine); ``numpy.load`` never allows pickles;
* no ``eval``/``exec`` of text.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "sonomorph").rglob("*.py")) + sorted((ROOT / "scripts").rglob("*.py"))
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput",
                    "getstatusoutput"}
UNPICKLERS = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "joblib",
              "cloudpickle"}
UNPICKLE_CALLS = {"load", "loads", "Unpickler", "open"}


def _name(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain, the name for a name, else ''."""
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Every broken rule in one module's source, as 'file:line: what'."""
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
            for alias in node.names:
                if alias.name in UNPICKLE_CALLS:
                    found.append(f"{where}: imports {node.module}.{alias.name} (unpickling)")
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        last = name.rsplit(".", 1)[-1]
        if name.split(".")[0] in UNPICKLERS and last in UNPICKLE_CALLS:
            found.append(f"{where}: {name}() unpickles")
        if name in ("os.system", "os.popen") or name.startswith("os.exec"):
            found.append(f"{where}: {name}() runs a shell")
        if name.startswith("subprocess.") and last in SUBPROCESS_CALLS or last == "Popen":
            if _is_true(_keyword(node, "shell")):
                found.append(f"{where}: {name}(shell=True)")
            if last in ("getoutput", "getstatusoutput"):
                found.append(f"{where}: {name}() runs a shell")
            first = node.args[0] if node.args else _keyword(node, "args")
            if isinstance(first, ast.Constant | ast.JoinedStr | ast.BinOp):
                found.append(f"{where}: {name}() given a command string, not a list")
        if name == "torch.load":
            if not _is_true(_keyword(node, "weights_only")):
                found.append(f"{where}: torch.load without weights_only=True")
        if last == "load" and name.split(".")[0] in ("np", "numpy"):
            if _is_true(_keyword(node, "allow_pickle")):
                found.append(f"{where}: {name}(allow_pickle=True)")
        if isinstance(node.func, ast.Name) and name in ("eval", "exec") or name in (
                "builtins.eval", "builtins.exec"):
            found.append(f"{where}: {name}() of text")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_shell_no_unpickling_no_eval(path):
    assert violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def test_the_checker_catches_each_rule():
    bad = """
from pickle import loads
import os, subprocess, torch, numpy as np
pickle.load(f)
os.system("ls")
subprocess.run("ffmpeg -i x", shell=True)
subprocess.Popen(f"ffmpeg {x}")
TORCH_LOAD(path)
TORCH_LOAD(path, weights_only=False)
np.load(path, allow_pickle=True)
eval(text)
""".replace("TORCH_LOAD", "torch" + ".load")  # spelt apart: this file holds no unsafe call itself
    found = violations(bad)
    for what in ("imports pickle.loads", "pickle.load() unpickles", "os.system() runs a shell", "subprocess.run(shell=True)",
                 "subprocess.run() given a command string", "subprocess.Popen() given a command",
                 "torch.load without weights_only=True", "np.load(allow_pickle=True)",
                 "eval() of text"):
        assert any(what in f for f in found), (what, found)
    assert sum("torch.load" in f for f in found) == 2
    good = """
import pickle, subprocess, torch, numpy as np
subprocess.run(["ffmpeg", "-i", path], check=True)
except_type = pickle.UnpicklingError
torch.load(path, map_location="cpu", weights_only=True)
np.load(path, allow_pickle=False)
model.eval()
"""
    assert violations(good) == []
