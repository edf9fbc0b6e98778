"""Every option that takes a model file (or a speaker database) answers a bad one the same
way: one line naming the file, exit status 2, no traceback, no output, and a pickled
payload never runs.

Bad files: truncated, random bytes, a pickled .pt carrying a payload (with a sidecar
naming the right model, so the loader gets as far as unpickling), a checkpoint of another
model kind, and a missing file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

from sonomorph.cli import main  # noqa: E402
from sonomorph.models import read_metadata  # noqa: E402

SR = 22050


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("models")
    tiny = make_tiny_models(root / "good")
    t = np.arange(2 * SR) / SR
    voice = root / "voice.wav"
    sf.write(voice, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    folder = root / "voices"
    folder.mkdir()
    for i in range(2):
        sf.write(folder / f"v{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t))
                 .astype(np.float32), SR)
    # A speaker database made by the real command, to be damaged like the models.
    speakers = root / "speakers"
    for who in ("ann", "bob"):
        (speakers / who).mkdir(parents=True)
        for i in range(2):
            f0 = 150 if who == "ann" else 240
            sf.write(speakers / who / f"{i}.wav",
                     (0.3 * np.sin(2 * np.pi * (f0 + 7 * i) * t)).astype(np.float32), SR)
    db = root / "speakers.safetensors"
    assert main(["-q", "speakers", "enroll", str(speakers), "--db", str(db)]) == 0
    tiny["speakers"] = str(db)
    return {"root": root, "tiny": tiny, "voice": voice, "folder": folder}


def _bad_model(case: str, kind: str, tiny: dict[str, str], folder: Path) -> Path:
    """A bad file standing in for a model of ``kind``."""
    good = Path(tiny[kind])
    if case == "truncated":
        path = folder / f"truncated {kind}.safetensors"
        data = good.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
    elif case == "random":
        path = folder / f"random-{kind}.safetensors"
        path.write_bytes(np.random.default_rng(1).bytes(5000))
    elif case == "pickle":
        path = folder / f"evil-{kind}.pt"
        marker = folder / "PWNED"
        torch.save({"weight": torch.zeros(2), "x": Payload(marker)}, path)
        if kind != "speakers":
            meta = read_metadata(good)
            path.with_suffix(".json").write_text(json.dumps(
                {"model": meta["model"], "args": meta["args"]}))
    elif case == "other-kind":
        other = "genre" if kind != "genre" else "separator"
        path = folder / f"{other}-given-as-{kind}.safetensors"
        path.write_bytes(Path(tiny[other]).read_bytes())
    elif case == "missing":
        path = folder / f"missing-{kind}.safetensors"
    elif case == "random-onnx":
        path = folder / "random.onnx"
        path.write_bytes(np.random.default_rng(2).bytes(5000))
    else:  # pragma: no cover
        raise AssertionError(case)
    return path


# command -> (model kind, argv builder(model, setup, out))
COMMANDS = {
    "separate": ("separator", lambda m, s, o: ["separate", str(s["voice"]), "-o", str(o),
                                               "--model", str(m)]),
    "scream": ("scream", lambda m, s, o: ["scream", str(s["voice"]), "-o", str(o),
                                          "--model", str(m)]),
    "export-scream": ("scream", lambda m, s, o: ["export", "scream", "--onnx",
                                                 str(o / "x.onnx"), "--model", str(m)]),
    "accompany": ("accompany", lambda m, s, o: ["accompany", str(s["voice"]), "-o", str(o),
                                                "--model", str(m)]),
    "style-classifier": ("genre", lambda m, s, o: ["style", str(s["voice"]), str(s["voice"]),
                                                   "-o", str(o / "x.wav"), "--method",
                                                   "classifier", "--steps", "1", "--model",
                                                   str(m)]),
    "classify": ("genre", lambda m, s, o: ["classify", str(s["voice"]), "--model", str(m)]),
    "eval-separator": ("separator", lambda m, s, o: ["eval", "separator", "--data",
                                                     str(s["folder"]), "--model", str(m),
                                                     "--json", str(o / "x.json")]),
    "eval-scream": ("scream", lambda m, s, o: ["eval", "scream", "--voices", str(s["folder"]),
                                               "--screams", str(s["folder"]), "--model",
                                               str(m), "--no-wer", "--json", str(o / "x.json")]),
    "eval-accompany": ("accompany", lambda m, s, o: ["eval", "accompany", "--data",
                                                     str(s["folder"]), "--model", str(m),
                                                     "--json", str(o / "x.json")]),
    "eval-genre": ("genre", lambda m, s, o: ["eval", "genre", "--data", str(s["folder"]),
                                             "--model", str(m), "--confusion",
                                             str(o / "x.png")]),
    "speakers-identify": ("speakers", lambda m, s, o: ["speakers", "identify",
                                                       str(s["voice"]), "--db", str(m)]),
    "speakers-enroll": ("speakers", lambda m, s, o: ["speakers", "enroll",
                                                     str(s["root"] / "speakers"), "--db",
                                                     str(m)]),
}
CASES = ["truncated", "random", "pickle", "other-kind", "missing"]
# `speakers enroll --db NEW` makes a new database: a missing one is not an error there.
PARAMS = [(c, case) for c in COMMANDS for case in CASES
          if (c, case) != ("speakers-enroll", "missing")]
PARAMS += [("scream", "random-onnx"), ("eval-scream", "random-onnx")]


@pytest.mark.parametrize("command, case", PARAMS)
def test_bad_model_file_is_one_line_exit_2(command, case, setup, tmp_path, capsys):
    kind, argv = COMMANDS[command]
    bad = _bad_model(case, kind, setup["tiny"], tmp_path)
    before = bad.read_bytes() if bad.exists() else None
    out = tmp_path / "out"
    rc = main(argv(bad, setup, out))
    err = capsys.readouterr().err
    assert rc == 2, f"{command} with a {case} model: exit {rc}\n{err}"
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("sonomorph: error:")]
    assert len(errors) == 1, err
    assert bad.name in errors[0], errors[0]
    assert not (tmp_path / "PWNED").exists(), "the pickled payload ran"
    assert (bad.read_bytes() if bad.exists() else None) == before
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == [], leftovers


# The web UI and the demo take KIND=FILE; a bad file is refused before the server starts
# or the demo writes anything.
UI_KINDS = ["separator", "scream", "accompany", "genre"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["app", "demo"])
def test_bad_model_for_the_app_and_the_demo(command, case, setup, tmp_path, capsys,
                                            monkeypatch):
    gr = pytest.importorskip("gradio")

    def never(self, **kwargs):
        raise AssertionError("the server started with a bad model")

    monkeypatch.setattr(gr.Blocks, "launch", never)
    out = tmp_path / "demo out"
    for kind in UI_KINDS:
        bad = _bad_model(case, kind, setup["tiny"], tmp_path)
        spec = f"{kind}={bad}"
        if command == "app":
            argv = ["app", "--port", "0", "--model", spec]
        else:
            argv = ["demo", "-o", str(out), "--model", spec]
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2, f"{command} with a {case} {kind} model: exit {rc}\n{err}"
        errors = [line for line in err.splitlines() if line.startswith("sonomorph: error:")]
        assert len(errors) == 1 and bad.name in errors[0], err
        assert "Traceback" not in err
        assert not (tmp_path / "PWNED").exists(), "the pickled payload ran"
        assert not out.exists()
