"""Every command that reads audio answers every bad input the same way.

A one-line error naming the file, exit status 2, no traceback, no output left behind,
the input untouched. The files are made here by fixtures, never committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.cli import main

SR = 22050


def _wav_header(frames: int, channels: int = 1, sr: int = SR) -> bytes:
    data = frames * channels * 2
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * channels * 2, channels * 2, 16)
            + b"data" + struct.pack("<I", data))


def _make_bad(kind: str, folder: Path) -> Path:
    rng = np.random.default_rng(0)
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype(np.float32)
    if kind == "empty":
        path = folder / "empty.wav"
        path.write_bytes(b"")
    elif kind == "zero-samples":
        path = folder / "zero samples.wav"
        sf.write(path, np.zeros(0, np.float32), SR)
    elif kind == "one-sample":
        path = folder / "one_sample.wav"
        sf.write(path, np.array([0.1], np.float32), SR)
    elif kind == "header-only":
        path = folder / "header_only.wav"
        path.write_bytes(_wav_header(SR))
    elif kind == "truncated":
        path = folder / "truncated.wav"
        pcm = (tone * 32767).astype("<i2").tobytes()
        path.write_bytes(_wav_header(SR) + pcm[: len(pcm) // 3])
    elif kind == "random-wav":
        path = folder / "noise.wav"
        path.write_bytes(rng.bytes(20000))
    elif kind == "random-mp3":
        path = folder / "noise.mp3"
        path.write_bytes(rng.bytes(20000))
    elif kind == "text":
        path = folder / "notes.wav"
        path.write_text("these are not the samples you are looking for\n" * 50)
    elif kind == "missing":
        path = folder / "missing.wav"
    elif kind == "nan":
        path = folder / "nan.wav"
        bad = tone.copy()
        bad[100:200] = np.nan
        sf.write(path, bad, SR, subtype="FLOAT")
    elif kind == "inf":
        path = folder / "inf.wav"
        bad = tone.copy()
        bad[5000] = np.inf
        sf.write(path, bad, SR, subtype="FLOAT")
    elif kind == "non-ascii":
        path = folder / "chanson d'été – ça.wav"  # a bad file whose name must survive the message
        path.write_bytes(rng.bytes(5000))
    else:  # pragma: no cover - guarded by the parametrisation
        raise AssertionError(kind)
    return path


BAD_KINDS = ["empty", "zero-samples", "one-sample", "header-only", "truncated", "random-wav",
             "random-mp3", "text", "missing", "nan", "inf", "non-ascii"]


def _good_voice(folder: Path) -> Path:
    t = np.arange(2 * SR) / SR
    f0 = 180 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wav = sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.2
    path = folder / "good voice.wav"
    sf.write(path, wav.astype(np.float32), SR)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """Tiny random models, so these checks do not depend on which weights are shipped."""
    import torch

    from sonomorph.models import build_model, save_model
    from sonomorph.models.classifier import GenreCNN
    from sonomorph.models.pix2pix import UNetGenerator
    from sonomorph.models.separator import MaskSeparator

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models")
    return {
        "separator": str(save_model(folder / "sep.safetensors",
                                    MaskSeparator(n_fft=1024, hop=256, hidden=16, layers=2),
                                    meta={"sample_rate": 44100})),
        "accompany": str(save_model(folder / "acc.safetensors",
                                    UNetGenerator(ngf=4, max_channels=8, depth=4, n_fft=64, hop=16,
                                                  sample_rate=8000),
                                    meta={"tile_frames": 32})),
        "genre": str(save_model(folder / "genre.safetensors", GenreCNN(),
                                meta={"labels": [f"g{i}" for i in range(10)]})),
        "scream": str(save_model(folder / "scream.safetensors", build_model("melgan", ngf=2))),
        "speakers": _speaker_db(folder),
    }


def _speaker_db(folder: Path) -> str:
    """A two-speaker database made by `speakers enroll` from synthetic voices."""
    t = np.arange(SR) / SR
    for who, f0 in (("ann", 150.0), ("bob", 240.0)):
        (folder / "speakers" / who).mkdir(parents=True)
        for i in range(2):
            wav = 0.3 * np.sin(2 * np.pi * (f0 + 9 * i) * t) + 0.1 * np.sin(2 * np.pi * 3 * f0 * t)
            sf.write(folder / "speakers" / who / f"{i}.wav", wav.astype(np.float32), SR)
    db = folder / "speakers.safetensors"
    assert main(["-q", "speakers", "enroll", str(folder / "speakers"), "--db", str(db)]) == 0
    return str(db)


# Each command: argv from (input, output folder, a good audio file, tiny models).
COMMANDS = {
    "separate": lambda src, out, good, m: ["separate", str(src), "-o", str(out), "--model", m["separator"]],
    "scream": lambda src, out, good, m: ["scream", str(src), "-o", str(out), "--preset", "growl"],
    "scream-model": lambda src, out, good, m: ["scream", str(src), "-o", str(out), "--model", m["scream"]],
    "speakers-identify": lambda src, out, good, m: ["speakers", "identify", str(src), "--db", m["speakers"]],
    "accompany": lambda src, out, good, m: ["accompany", str(src), "-o", str(out), "--model", m["accompany"]],
    "style-content": lambda src, out, good, m: ["style", str(src), str(good), "-o", str(out), "--steps", "1"],
    "style-style": lambda src, out, good, m: ["style", str(good), str(src), "-o", str(out), "--steps", "1"],
    "classify": lambda src, out, good, m: ["classify", str(src), "--model", m["genre"]],
    "remove-silence": lambda src, out, good, m: ["remove-silence", str(src), "-o", str(out)],
    "effect-growl": lambda src, out, good, m: ["effect", "growl", str(src), "-o", str(out)],
    "image-encode": lambda src, out, good, m: ["image", "encode", str(src), "-o", str(out), "--encoding", "float"],
}


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _case(make, kind: str, tmp_path: Path) -> tuple[Path, Path, Path, str | None]:
    """One test case's files: the input ``make(kind, folder)`` writes, a good voice, the
    output folder (not created) and the input's digest before the command runs."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    src = make(kind, inputs)
    return src, _good_voice(tmp_path), tmp_path / "out", _digest(src)


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_input_one_line_exit_2(command, kind, tmp_path, capsys, models):
    src, good, out, before = _case(_make_bad, kind, tmp_path)
    rc = main(COMMANDS[command](src, out, good, models))
    err = capsys.readouterr().err
    assert rc == 2, f"{command} on {kind}: exit {rc}\n{err}"
    errors = [line for line in err.splitlines() if line.startswith("sonomorph: error:")]
    assert len(errors) == 1, err
    assert src.name in errors[0], errors[0]
    assert "Traceback" not in err
    assert _digest(src) == before
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == [], leftovers


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_folder_where_a_file_is_expected(command, tmp_path, capsys, models):
    folder = tmp_path / "a folder.wav"
    folder.mkdir()
    good = _good_voice(tmp_path)
    rc = main(COMMANDS[command](folder, tmp_path / "out", good, models))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert "a folder.wav" in err


def test_batch_goes_on_past_a_broken_file(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = _good_voice(inputs)
    broken = _make_bad("truncated", inputs)
    out = tmp_path / "out"
    rc = main(["effect", "growl", str(inputs), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert broken.name in err
    written = sorted(p.name for p in out.rglob("*.wav"))
    assert written == [f"{good.stem}_growl.wav"]


# Commands that take several files: (argv from inputs, the output folder and the models;
# what each good input writes, relative to the output folder, or None for printed answers).
BATCH = {
    "separate": (lambda ins, out, m: ["separate", *ins, "-o", str(out), "--model", m["separator"]],
                 lambda stem: [f"{stem}/vocals.wav", f"{stem}/karaoke.wav"]),
    "scream": (lambda ins, out, m: ["scream", *ins, "-o", str(out), "--model", m["scream"]],
               lambda stem: [f"{stem}_scream.wav"]),
    "accompany": (lambda ins, out, m: ["accompany", *ins, "-o", str(out), "--model", m["accompany"]],
                  lambda stem: [f"{stem}/song.wav", f"{stem}/accompaniment.wav"]),
    "classify": (lambda ins, out, m: ["classify", *ins, "--model", m["genre"]], None),
    "speakers-identify": (lambda ins, out, m: ["speakers", "identify", *ins, "--db",
                                               m["speakers"]], None),
}


@pytest.mark.parametrize("command", sorted(BATCH))
def test_batch_of_files_goes_on_past_broken_ones(command, tmp_path, capsys, models):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = _good_voice(inputs)
    broken = _make_bad("truncated", inputs)
    noise = _make_bad("random-wav", inputs)
    second = inputs / "second voice.wav"
    second.write_bytes(good.read_bytes())
    argv, outputs = BATCH[command]
    out = tmp_path / "out"
    rc = main(["-q", *argv([str(p) for p in (good, broken, noise, second)], out, models)])
    captured = capsys.readouterr()
    assert rc == 1, captured.err
    assert "Traceback" not in captured.err
    assert broken.name in captured.err and noise.name in captured.err
    if outputs is None:  # the good files' answers are printed
        assert good.name in captured.out and second.name in captured.out
        assert broken.name not in captured.out
    else:
        expected = sorted(rel for p in (good, second) for rel in outputs(p.stem))
        assert sorted(str(p.relative_to(out)) for p in _outputs(out)) == expected


def test_parser_builds_without_heavy_imports():
    """`sonomorph --help` must stay fast: building the parser imports no torch or scipy."""
    import subprocess
    import sys

    code = ("import sys; from sonomorph.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'scipy.signal', 'librosa') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"parser imports {out.stdout.strip()}"


def test_growl_styles_agree():
    from sonomorph.audio.growl import STYLES
    from sonomorph.cli.effects import STYLES as CLI_STYLES

    assert CLI_STYLES == STYLES


def test_cli_constants_agree_with_their_modules():
    from sonomorph.audio.images import ENCODINGS
    from sonomorph.cli import build_parser
    from sonomorph.models.random_cnn import KERNELS

    text = build_parser()._subparsers._group_actions[0].choices
    assert set(ENCODINGS) <= set(text["image"]._subparsers._group_actions[0].choices["encode"]
                                 ._option_string_actions["--encoding"].choices)
    assert tuple(text["style"]._option_string_actions["--kernel"].choices) == KERNELS
    from sonomorph.pipelines.speakers import DEFAULT_DB

    enroll = text["speakers"]._subparsers._group_actions[0].choices["enroll"]
    assert enroll._option_string_actions["--db"].default == DEFAULT_DB


# ---------------------------------------------------------------------- odd but valid inputs

def _make_odd(kind: str, folder: Path) -> Path:
    """A valid file that is unusual in one way; every command must take it."""
    def tone(sr: int, seconds: float = 1.0) -> np.ndarray:
        t = np.arange(int(sr * seconds)) / sr
        return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1330 * t)).astype(np.float32)

    sub = None
    if kind == "silence":
        path, wav, sr = folder / "silence.wav", np.zeros(SR, np.float32), SR
    elif kind == "dc":
        path, wav, sr = folder / "dc.wav", np.full(SR, 0.5, np.float32), SR
    elif kind == "clipped":  # a square wave at full scale: every sample at +-1
        path, sr = folder / "clipped.wav", SR
        wav = np.where(tone(SR) >= 0, 1.0, -1.0).astype(np.float32)
    elif kind == "6-channels":
        path, sr = folder / "surround 5.1.wav", SR
        wav = np.stack([tone(SR) * (c + 1) / 7 for c in range(6)], axis=1)
    elif kind == "8khz":
        path, wav, sr = folder / "phone.wav", tone(8000), 8000
    elif kind == "192khz":
        path, wav, sr = folder / "studio.wav", tone(192000, 0.5), 192000
    elif kind == "24-bit":
        path, wav, sr, sub = folder / "deep.wav", tone(SR), SR, "PCM_24"
    elif kind == "32-bit-float":
        path, wav, sr, sub = folder / "float.wav", tone(SR), SR, "FLOAT"
    elif kind == "spaces-non-ascii":
        path, wav, sr = folder / "a folder with spaces" / "voix d'été – ça.flac", tone(SR), SR
        path.parent.mkdir()
    else:  # pragma: no cover - guarded by the parametrisation
        raise AssertionError(kind)
    sf.write(path, wav, sr, subtype=sub)
    return path


REFUSE_SILENCE = {"classify", "remove-silence", "style-content", "style-style",
                  "speakers-identify"}
ODD_KINDS = ["silence", "dc", "clipped", "6-channels", "8khz", "192khz", "24-bit",
             "32-bit-float", "spaces-non-ascii"]


def _outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file()) if out.exists() else []


@pytest.mark.parametrize("kind", ODD_KINDS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_odd_but_valid_input_succeeds_with_finite_output(command, kind, tmp_path, capsys, models):
    src, good, out, before = _case(_make_odd, kind, tmp_path)
    rc = main(["-q", *COMMANDS[command](src, out, good, models)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert _digest(src) == before
    written = _outputs(out)
    if kind == "silence" and command in REFUSE_SILENCE:
        # Nothing to classify, keep or take the texture of: a one-line refusal is the sane answer.
        assert rc == 2, f"{command} on silence: exit {rc}\n{captured.err}"
        errors = [line for line in captured.err.splitlines() if line.startswith("sonomorph: error:")]
        assert len(errors) == 1 and src.name in errors[0] and "silent" in errors[0], captured.err
        assert written == []
        return
    assert rc == 0, f"{command} on {kind}: exit {rc}\n{captured.err}"
    if command in ("classify", "speakers-identify"):  # they print their answer
        assert written == [] and src.name in captured.out
        assert "nan" not in captured.out.lower(), captured.out
        return
    assert written, f"{command} on {kind} wrote nothing"
    assert not [p for p in written if p.name.startswith(".sonomorph-tmp-")]
    for path in written:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif path.suffix == ".json":  # the .npy picture's sidecar
            assert json.loads(path.read_text(encoding="utf-8"))
            continue
        else:
            data, _ = sf.read(path, dtype="float32")
        assert data.size > 0 and np.isfinite(data).all(), path


# ---------------------------------------------------------------------- unreadable file

@contextlib.contextmanager
def _unprivileged():
    """Run the block as an ordinary user. Root reads a mode-000 file anyway (it bypasses
    permission bits), so as root the effective user becomes nobody for the block; yields
    False where that is impossible (no CAP_SETUID), and root then reads the file."""
    if os.geteuid() != 0:
        yield True
        return
    try:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    except PermissionError:
        os.setegid(0)
        yield False
        return
    try:
        yield True
    finally:
        os.seteuid(0)
        os.setegid(0)


NOBODY = 65534


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unreadable_file(command, capsys, models):
    import shutil
    import tempfile

    # Everything but the locked file must be reachable by an ordinary user: pytest's own
    # temporary folders are private to their owner.
    folder = Path(tempfile.mkdtemp(prefix="sonomorph-unreadable-"))
    try:
        folder.chmod(0o777)
        local = {}
        for kind, path in models.items():
            local[kind] = str(shutil.copy(path, folder / Path(path).name))
            os.chmod(local[kind], 0o644)
        good = _good_voice(folder)
        src = folder / "locked song.wav"
        sf.write(src, np.zeros(SR, np.float32) + 0.1, SR)
        src.chmod(0)
        out = folder / "out"
        # The same command on a text file first, as ourselves: it imports every module the
        # failing run needs (an ordinary user may not be able to read the Python install).
        warm = folder / "warm-up.wav"
        warm.write_text("not audio\n" * 40)
        assert main(COMMANDS[command](warm, folder / "warm", good, local)) == 2
        capsys.readouterr()
        with _unprivileged() as enforced:
            if enforced:
                with pytest.raises(PermissionError):  # the test really tests a refusal
                    src.open("rb")
            rc = main(COMMANDS[command](src, out, good, local))
        err = capsys.readouterr().err
        if not enforced:  # root without CAP_SETUID: permission bits cannot stop it reading
            assert rc == 0 or "permission" not in err, err
            return
        assert rc == 2, err
        errors = [line for line in err.splitlines() if line.startswith("sonomorph: error:")]
        assert len(errors) == 1 and src.name in errors[0], err
        assert "permission denied" in errors[0]
        assert _outputs(out) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------- long files

def _long_wav(path: Path, seconds: int, sr: int = 8000) -> Path:
    """Written a second at a time (the test itself never holds the file)."""
    t = np.arange(sr) / sr
    with sf.SoundFile(path, "w", sr, 1, "PCM_16") as f:
        for i in range(seconds):
            f.write((0.3 * np.sin(2 * np.pi * (200 + i) * t)).astype(np.float32))
    return path


def _numpy_peak(argv: list[str]) -> int:
    """Peak bytes of traced allocations (numpy's, the file buffers) while ``argv`` runs."""
    import tracemalloc

    tracemalloc.start()
    try:
        assert main(["-q", *argv]) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("command, short, long, work_rate, channels", [
    ("separate", 50, 150, 44100, 2),  # streams every file, 10-s blocks, 2-s chunks here
    ("scream", 20, 100, 22050, 1),    # streams files over LONG_FILE_S (lowered here)
])
def test_long_file_is_streamed_in_bounded_memory(command, short, long, work_rate, channels,
                                                tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _tiny_models import make_tiny_models

    import sonomorph.pipelines.scream as scream_pipeline

    monkeypatch.setattr(scream_pipeline, "LONG_FILE_S", 5.0)
    tiny = make_tiny_models(tmp_path / "models")
    argv = {"separate": ["separate", "--chunk", "2", "--model", tiny["separator"]],
            "scream": ["scream", "--model", tiny["scream"]]}[command]
    warm = _long_wav(tmp_path / "warm-up.wav", 2)  # one-off allocations (caches) happen here
    _numpy_peak([*argv, str(warm), "-o", str(tmp_path / "warm")])
    peaks = {}
    for seconds in (short, long):
        src = _long_wav(tmp_path / f"long {seconds}.wav", seconds)
        out = tmp_path / f"out{seconds}"
        peaks[seconds] = _numpy_peak([*argv, str(src), "-o", str(out)])
        written = _outputs(out)
        assert written
        for path in written:  # complete: the whole length came out
            assert sf.info(path).duration == pytest.approx(seconds, abs=0.05), path
    # Holding the long file at the model's rate would take this much more than the short one:
    whole = (long - short) * work_rate * channels * 4
    growth = peaks[long] - peaks[short]
    # Block boundaries fall differently in files of different lengths, so the peak moves a
    # little (measured: 0.2 MB for separate, 0.4 MB for scream); holding the file would add
    # all of ``whole`` (35 and 7 MB).
    assert growth < 0.1 * whole, f"peak grew by {growth / 1e6:.1f} MB ({peaks})"


@pytest.mark.parametrize("kind", [k for k in BAD_KINDS if k != "missing"])
def test_enroll_skips_a_bad_file_and_counts_it(kind, tmp_path, capsys, models):
    """`speakers enroll` reads folders of speakers, and real folders hold broken clips: a
    bad file is skipped, counted in the summary and named with -v; the others are
    enrolled."""
    import shutil

    from sonomorph.pipelines.speakers import SpeakerDatabase

    folder = tmp_path / "speakers"
    shutil.copytree(Path(models["speakers"]).parent / "speakers", folder)
    bad = _make_bad(kind, folder / "bob")
    db = tmp_path / "db.safetensors"
    rc = main(["-v", "speakers", "enroll", str(folder), "--db", str(db)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "Traceback" not in err
    assert "1 clips skipped" in " ".join(err.split()), err
    assert [line for line in err.splitlines() if "skipped (" in line and bad.name in line], err
    enrolled = SpeakerDatabase.load(db)
    assert len(enrolled.labels) == 4 and not [f for f in enrolled.files if bad.name in f]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sonomorph-tmp-")]
