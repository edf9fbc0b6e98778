"""The command line's shared conventions hold for every command, found by walking the
parser (so that a new command cannot break them), and its messages speak the user's words.

Conventions (docs/cli.md, "Outputs"): ``-o/--out`` is a folder, never a positional output
file; file-writing commands default to ``./sonomorph-out/<command>`` and take
``--filename`` and the same ``--format`` choices; the global options work before and after
the command name; ``--device cuda`` without CUDA is one line and exit status 2 everywhere.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.cli import build_parser, main
from sonomorph.cli.common import FORMATS, OUT_ROOT, Item, collect, plan_outputs

ROOT = Path(__file__).resolve().parents[1]
PARSER = build_parser()


def _children(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _leaves(parser: argparse.ArgumentParser, words=()):
    """(command words, parser) of every runnable command (no subcommands below it)."""
    kids = list(_children(parser))
    if not kids and words:
        yield words, parser
    for name, child in kids:
        yield from _leaves(child, (*words, name))


LEAVES = list(_leaves(PARSER))
IDS = [" ".join(w) for w, _ in LEAVES]


def _option(parser, flag):
    return parser._option_string_actions.get(flag)


def _writes_audio_or_files(parser) -> bool:
    """A command that processes input files into output files: it has --filename."""
    return _option(parser, "--filename") is not None


def test_the_walk_finds_the_commands():
    names = set(IDS)
    assert {"separate", "scream", "accompany", "style", "classify", "remove-silence",
            "effect growl", "image encode", "image decode", "speakers identify",
            "train separator", "eval separator", "eval style"} <= names
    assert sum(_writes_audio_or_files(p) for _, p in LEAVES) >= 8


@pytest.mark.parametrize("words, parser", LEAVES, ids=IDS)
def test_outputs_are_folders_and_never_positional(words, parser):
    for action in parser._actions:
        if not action.option_strings:  # a positional names inputs, never an output
            assert action.dest not in ("out", "output", "dst"), (words, action.dest)
            assert (action.metavar or "").upper() not in ("OUT", "OUTPUT"), words
    out = _option(parser, "-o") or _option(parser, "--out")
    if out is not None:
        assert out.metavar == "DIR", f"{' '.join(words)}: -o/--out must name a folder"
        assert "folder" in (out.help or ""), words


@pytest.mark.parametrize("words, parser", [(w, p) for w, p in LEAVES if _writes_audio_or_files(p)],
                         ids=[i for i, (_, p) in zip(IDS, LEAVES) if _writes_audio_or_files(p)])
def test_file_writing_commands_share_the_output_options(words, parser):
    out = _option(parser, "--out")
    assert out is not None and _option(parser, "-o") is out
    assert out.default is None  # resolved to the one default root at run time
    assert f"{OUT_ROOT}/" in out.help, out.help
    assert parser.get_default("out_command"), words
    assert _option(parser, "-f") is _option(parser, "--force")
    template = _option(parser, "--filename").default
    assert "{track}" in template and "{stem}" in template and template.endswith(".{ext}")
    fmt = _option(parser, "--format")
    if fmt is not None:  # every audio-writing command offers the same formats
        assert tuple(fmt.choices) == FORMATS == ("wav", "flac", "mp3", "ogg")


def _minimal(parser, value: str = "x") -> list[str]:
    """The arguments ``parser`` cannot do without, each given ``value``."""
    required = []
    for action in parser._actions:
        if action.required and action.option_strings:
            required += [action.option_strings[0], value]
        elif not action.option_strings and action.nargs not in ("?", "*", argparse.SUPPRESS) \
                and not isinstance(action, argparse._SubParsersAction):
            required.append(value)
    return required


@pytest.mark.parametrize("words, parser", LEAVES, ids=IDS)
def test_global_options_before_and_after_the_command(words, parser):
    required = _minimal(parser)
    before = PARSER.parse_args(["-q", "--device", "cpu", *words, *required])
    after = PARSER.parse_args([*words, *required, "-q", "--device", "cpu"])
    loud = PARSER.parse_args([*words, *required, "-v", "-v"])
    plain = PARSER.parse_args([*words, *required])
    assert before.quiet and after.quiet and before.device == after.device == "cpu"
    assert loud.verbose == 2 and not loud.quiet
    assert plain.device == "auto" and not plain.quiet and plain.verbose == 0


def test_cuda_without_cuda_is_one_line_and_status_2_in_every_command(tmp_path, capsys,
                                                                     monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a GPU machine
    for words, parser in LEAVES:
        rest = _minimal(parser, str(tmp_path / "missing.wav"))
        for flag_first in (True, False):
            argv = (["--device", "cuda", *words, *rest] if flag_first
                    else [*words, *rest, "--device", "cuda"])
            rc = main(argv)
            err = capsys.readouterr().err.strip().splitlines()
            assert rc == 2, (argv, err)
            assert len(err) == 1 and "--device cuda" in err[0] and "CUDA" in err[0], (argv, err)


def test_colliding_names_keep_the_extension(tmp_path):
    for name in ("song.mp3", "song.ogg", "other.wav"):
        (tmp_path / name).write_bytes(b"x")
    items = collect([tmp_path / "song.mp3", tmp_path / "song.ogg", tmp_path / "other.wav"],
                    tmp_path / "out")
    assert [i.track for i in items] == ["song-mp3", "song-ogg", "other"]
    plan = plan_outputs(items, tmp_path / "out", "{track}/{stem}.{ext}", ("vocals", "karaoke"),
                        "wav")
    names = sorted(str(p.relative_to(tmp_path / "out")) for o in plan.values() for p in o.values())
    assert names == ["other/karaoke.wav", "other/vocals.wav", "song-mp3/karaoke.wav",
                     "song-mp3/vocals.wav", "song-ogg/karaoke.wav", "song-ogg/vocals.wav"]
    # Same name and extension from two folders given as files: a number keeps them apart.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "take.wav").write_bytes(b"x")
    items = collect([tmp_path / "a" / "take.wav", tmp_path / "b" / "take.wav"], tmp_path / "o")
    assert len({i.track for i in items}) == 2


def test_a_template_that_merges_outputs_is_refused(tmp_path):
    from sonomorph.errors import ConfigError

    items = [Item(tmp_path / "a.wav", track="a"), Item(tmp_path / "b.wav", track="b")]
    with pytest.raises(ConfigError, match=r"same name.*\{track\}"):
        plan_outputs(items, tmp_path, "{stem}", ("scream",), "wav")
    with pytest.raises(ConfigError, match=r"\{stem\}"):
        plan_outputs(items[:1], tmp_path, "{track}", ("vocals", "karaoke"), "wav")
    for bad in ("{nope}", "/abs/{track}", "../{track}", "{track"):
        with pytest.raises(ConfigError):
            plan_outputs(items[:1], tmp_path, bad, ("x",), "wav")
    # .{ext} is added when missing
    plan = plan_outputs(items[:1], tmp_path, "{track}-{stem}", ("x",), "flac")
    assert plan[items[0].src]["x"] == tmp_path / "a-x.flac"


def _voice(path: Path, seconds: float = 1.0, sr: int = 22050) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def test_same_stem_inputs_and_the_summary_lists_every_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = _voice(tmp_path / "take.wav")
    b = tmp_path / "take.flac"
    sf.write(b, sf.read(a)[0], 22050)
    assert main(["effect", "growl", str(a), str(b), "--format", "ogg"]) == 0
    out = Path(OUT_ROOT) / "effect-growl"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["take-flac_growl.ogg", "take-wav_growl.ogg"]
    err = capsys.readouterr().err
    assert "wrote 2 files:" in err
    for name in written:
        assert str(out / name) in err


def test_growl_preset_and_model_get_different_names(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _tiny_models import make_tiny_models

    tiny = make_tiny_models(tmp_path / "models")
    src = _voice(tmp_path / "voice.wav")
    out = tmp_path / "out"
    assert main(["-q", "scream", str(src), "-o", str(out), "--preset", "growl"]) == 0
    assert main(["-q", "scream", str(src), "-o", str(out), "--model", tiny["scream"]]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["voice_growl.wav", "voice_scream.wav"]


def test_output_folder_that_is_a_file_is_one_line_in_plain_words(tmp_path, capsys):
    src = _voice(tmp_path / "voice.wav")
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    for out in (blocker, blocker / "below"):
        assert main(["effect", "growl", str(src), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is a file" in err[0] and "Errno" not in err[0], err


def test_an_existing_output_names_the_option_not_the_api(tmp_path, capsys):
    src = _voice(tmp_path / "voice.wav")
    out = tmp_path / "out"
    assert main(["-q", "effect", "growl", str(src), "-o", str(out)]) == 0
    assert main(["-q", "effect", "growl", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0] and "--force" in err[0], err
    assert "overwrite" not in err[0]


def test_no_bar_is_left_behind_by_an_error(tmp_path, capsys, monkeypatch):
    """A failure after the work (and its bar) started leaves only the error line."""
    import sonomorph.pipelines.silence as silence
    from sonomorph.errors import AudioSaveError

    def fail(self, src, dst, *, overwrite=False, bit_depth=None, progress=None):
        progress(1, 3)  # the bar is on screen now
        raise AudioSaveError("disk full", dst)

    monkeypatch.setattr(silence.SilenceRemover, "process_file", fail)
    src = _voice(tmp_path / "voice.wav")
    assert main(["remove-silence", str(src), "-o", str(tmp_path / "out")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("sonomorph: error:"), err


# ------------------------------------------------------------------- messages in user words

API_WORDS = re.compile(r"overwrite=|\bkwarg|\bNone\b|\bTrue\b|\bFalse\b|Errno|\bdtype\b|"
                       r"\bndarray\b|\bself\b|--[a-z-]+ / [a-z_]+=")


def _error_messages() -> list[tuple[str, int, str]]:
    """The literal text of every message raised as a SonomorphError (or subclass) by the
    package, and of the command line's argparse refusals."""
    from sonomorph import errors

    kinds = {name for name, obj in vars(errors).items()
             if isinstance(obj, type) and issubclass(obj, errors.SonomorphError)}
    kinds |= {"ArgumentTypeError", "SpectrogramImageError"}
    found = []
    for path in sorted((ROOT / "sonomorph").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in kinds:
                continue
            text = "".join(part.value for part in ast.walk(node.args[0])
                           if isinstance(part, ast.Constant) and isinstance(part.value, str))
            found.append((str(path.relative_to(ROOT)), node.lineno, text))
    return found


MESSAGES = _error_messages()


def test_the_message_scan_finds_the_messages():
    assert len(MESSAGES) > 150
    assert any("no such file or folder" in t for _, _, t in MESSAGES)


# Messages only a Python caller can meet (the command line always passes valid values):
# they name the argument the caller got wrong. (file, start of the message)
API_ONLY = {
    ("sonomorph/audio/io.py", "channels must be None, 1, 2 or 'all'"),
    ("sonomorph/pipelines/streaming.py", "this engine takes blocks of exactly"),
}


def test_no_error_message_speaks_the_api():
    bad = [(f, n, t) for f, n, t in MESSAGES if API_WORDS.search(t)
           and not any(f == af and t.startswith(start) for af, start in API_ONLY)]
    assert bad == [], "\n".join(f"{f}:{n}: {t}" for f, n, t in bad)
    for af, start in API_ONLY:  # the allowance stays as small as the code
        assert any(f == af and t.startswith(start) for f, _, t in MESSAGES), (af, start)


BAD_RUNS = {
    "folder for a file": lambda d: ["effect", "growl", str(_voice(d / "v.wav")), "-o",
                                    str(_file(d / "f"))],
    "exists": lambda d: ["effect", "growl", str(_voice(d / "v.wav")), "-o", str(_exists(d))],
    "missing": lambda d: ["separate", str(d / "nope.mp3"), "-o", str(d / "o")],
    "not audio": lambda d: ["remove-silence", str(_file(d / "t.wav")), "-o", str(d / "o")],
    "bad template": lambda d: ["scream", str(_voice(d / "v.wav")), "--preset", "growl",
                               "--filename", "{nope}", "-o", str(d / "o")],
    "template merges": lambda d: ["scream", str(_voice(d / "v.wav")), str(_voice(d / "w.wav")),
                                  "--preset", "growl", "--filename", "x", "-o", str(d / "o")],
    "accompany template": lambda d: ["accompany", str(_voice(d / "v.wav")), "--filename",
                                     "{track}-{stem}", "-o", str(d / "o")],
    "empty folder": lambda d: ["effect", "growl", str(_empty(d)), "-o", str(d / "o")],
}


def _file(path: Path) -> Path:
    path.write_text("not audio\n" * 20)
    return path


def _empty(d: Path) -> Path:
    (d / "nothing here").mkdir()
    return d / "nothing here"


def _exists(d: Path) -> Path:
    (d / "o").mkdir()
    (d / "o" / "v_growl.wav").write_bytes(b"x")
    return d / "o"


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_errors_met_at_the_command_line_are_in_plain_words(case, tmp_path, capsys):
    rc = main(BAD_RUNS[case](tmp_path))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith("sonomorph: error:"), err
    assert not API_WORDS.search(err[0]), err[0]
    assert not re.search(r"\[Errno|\((File exists|Not a directory|Is a directory)\)", err[0])


# ------------------------------------------------------------------- constants and answers

def test_cli_constants_agree_with_the_pipeline_and_the_model():
    from sonomorph.cli import analysis as cli
    from sonomorph.models import read_metadata
    from sonomorph.pipelines import analysis

    assert (cli.SURE, cli.SHORT_S) == (analysis.SURE, analysis.SHORT_S)
    labels = read_metadata(ROOT / "sonomorph" / "pretrained" / "genre.safetensors")["labels"]
    assert tuple(labels) == cli.GENRES
    help_text = dict(_children(PARSER))["classify"].format_help()
    for label in labels:
        assert label in help_text


def test_classify_says_unsure_for_a_short_clip(tmp_path, capsys):
    src = _voice(tmp_path / "blip.wav", seconds=0.3)
    assert main(["-q", "classify", str(src)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{src}: unsure"), first


def test_calibration_results_back_the_thresholds():
    import json

    from sonomorph.pipelines import analysis

    result = json.loads((ROOT / "benchmarks" / "results" / "classify-calibration.json")
                        .read_text(encoding="utf-8"))
    s = result["summary"]
    assert s["thresholds"] == {"sure": analysis.SURE, "short_s": analysis.SHORT_S,
                               "voiced_run_s": analysis.VOICED_RUN_S, "steady": analysis.STEADY}
    assert s["speech_answered_a_genre"] == 0  # no speech clip got a genre
    assert s["speech_top_p_max"] < analysis.SURE
    assert s["singing_flagged_as_speech"] == 0  # the shipped singing is not warned about
    assert s["short_answered_unsure"] == 3


def test_the_shipped_singing_is_not_taken_for_speech_and_speech_is():
    from sonomorph.pipelines.analysis import speech_or_singing

    examples = ROOT / "examples"
    assert not speech_or_singing(examples / "song_vocals.ogg").speech
    assert speech_or_singing(examples / "speakers" / "p226" / "p226_002.ogg").speech


def test_accompany_warns_on_speech_and_not_on_the_shipped_singing(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _tiny_models import make_tiny_models

    tiny = make_tiny_models(tmp_path / "models")
    examples = ROOT / "examples"
    for name, warned in (("spoken_voice.ogg", True), ("song_vocals.ogg", False)):
        assert main(["accompany", str(examples / name), "-o", str(tmp_path / "out"),
                     "--model", tiny["accompany"]]) == 0
        err = capsys.readouterr().err
        assert ("sounds like speech" in err) is warned, (name, err)
        assert f"{Path(name).stem}/song.wav" in err  # the summary names what was written
