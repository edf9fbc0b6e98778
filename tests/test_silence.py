"""Silence removal: the algorithm, the file pipeline (format kept) and the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.audio.silence import join, remove_silence
from sonomorph.cli import main
from sonomorph.errors import AudioLoadError, ConfigError
from sonomorph.pipelines import SilenceRemover

SR = 16000


def signal(*parts: tuple[str, float], sr: int = SR, channels: int = 1) -> np.ndarray:
    """('tone', seconds) / ('gap', seconds) pieces, concatenated; (channels, samples)."""
    out = []
    for kind, seconds in parts:
        n = int(round(seconds * sr))
        t = np.arange(n) / sr
        out.append(0.5 * np.sin(2 * np.pi * 440 * t) if kind == "tone" else np.zeros(n))
    x = np.concatenate(out).astype(np.float32)
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)])


def test_tone_silence_tone_loses_the_silence():
    x = signal(("tone", 1.0), ("gap", 1.0), ("tone", 1.0))
    out, intervals = remove_silence(x, SR)
    assert len(intervals) == 2
    assert intervals[0, 0] == 0 and intervals[1, 1] == x.shape[1]
    assert 2.0 * SR < out.shape[1] < 2.3 * SR  # 1 s of silence gone, padding kept
    # both tones are there in full: the loud part of the output lasts 2 s
    loud = np.abs(out[0]) > 0.05
    assert loud.sum() > 0.6 * 2 * SR
    # the join does not click: no step bigger than the tone's own
    assert np.abs(np.diff(out[0])).max() <= np.abs(np.diff(x[0])).max() * 1.05


def test_min_gap_keeps_short_pauses():
    x = signal(("tone", 0.5), ("gap", 0.3), ("tone", 0.5))
    kept, iv_kept = remove_silence(x, SR, min_gap=0.5, padding=0.0)
    assert len(iv_kept) == 1 and kept.shape == x.shape
    cut, iv_cut = remove_silence(x, SR, min_gap=0.1, padding=0.0)
    assert len(iv_cut) == 2 and cut.shape[1] < x.shape[1] - 0.2 * SR


def test_padding_widens_every_kept_region():
    x = signal(("gap", 1.0), ("tone", 0.5), ("gap", 1.0), ("tone", 0.5), ("gap", 1.0))
    _, bare = remove_silence(x, SR, padding=0.0)
    out, padded = remove_silence(x, SR, padding=0.1)
    assert len(bare) == len(padded) == 2
    np.testing.assert_array_equal(padded, bare + np.array([-1600, 1600]))
    bare_len = remove_silence(x, SR, padding=0.0)[0].shape[1]
    assert out.shape[1] == bare_len + 4 * 1600


def test_crossfade_smooths_a_jump():
    x = np.concatenate([np.full(1000, 0.5), np.full(1000, -0.5)]).astype(np.float32)[None]
    joined = join(x, np.array([[0, 500], [1500, 2000]]), SR, crossfade=0.005)
    assert joined.shape == (1, 1000 - 80)
    assert np.abs(np.diff(joined[0])).max() < 0.05  # a hard cut would step by 1.0
    assert joined[0, 0] == pytest.approx(0.5) and joined[0, -1] == pytest.approx(-0.5)


def test_channels_kept_and_digital_silence():
    x = signal(("tone", 0.5), ("gap", 1.0), ("tone", 0.5), channels=3)
    out = SilenceRemover().process(x, SR)
    assert out.shape[0] == 3 and out.shape[1] < 1.3 * SR
    np.testing.assert_allclose(out[1], out[0] * 0.7, atol=1e-6)
    empty, intervals = remove_silence(np.zeros((2, SR), np.float32), SR)
    assert empty.shape == (2, 0) and intervals.shape == (0, 2)
    with pytest.raises(ConfigError):
        SilenceRemover(top_db=-3)
    with pytest.raises(ConfigError, match="NaN"):
        SilenceRemover().process(np.full(100, np.nan, np.float32), SR)


@pytest.mark.parametrize(("name", "subtype", "sr", "channels"), [
    ("a.flac", "PCM_24", 22050, 2),
    ("a.wav", "FLOAT", 16000, 1),
    ("a.wav", "PCM_16", 8000, 6),
    ("a.mp3", None, 24000, 2),
])
def test_process_file_keeps_the_format(tmp_path, name, subtype, sr, channels):
    x = signal(("tone", 0.5), ("gap", 1.0), ("tone", 0.5), sr=sr, channels=channels)
    src = tmp_path / name
    sf.write(src, x.T, sr, subtype=subtype)
    dst = tmp_path / "out" / name
    report = SilenceRemover().process_file(src, dst)
    meta_in, meta_out = sf.info(src), sf.info(dst)
    assert (meta_out.format, meta_out.samplerate, meta_out.channels) == (
        meta_in.format, sr, channels)
    if subtype:
        assert meta_out.subtype == subtype
    assert report.seconds_in == pytest.approx(2.0, abs=0.06)
    assert report.seconds_out == pytest.approx(meta_out.frames / sr, abs=0.06)
    assert 0.3 < report.fraction_removed < 0.5
    with pytest.raises(Exception, match="exists"):
        SilenceRemover().process_file(src, dst)  # no silent overwrite


def test_process_file_refuses_silent_input_and_writes_nothing(tmp_path):
    src = tmp_path / "quiet.wav"
    sf.write(src, np.zeros(SR, np.float32), SR)
    with pytest.raises(AudioLoadError, match="quiet.wav.*entirely silent"):
        SilenceRemover().process_file(src, tmp_path / "o.wav")
    assert not (tmp_path / "o.wav").exists()


def _tree(root: Path) -> list[Path]:
    x = signal(("tone", 0.4), ("gap", 0.6), ("tone", 0.4))
    files = [root / "a.wav", root / "sub" / "b.flac", root / "sub" / "deeper" / "c.ogg"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        sf.write(f, x.T, SR)
    return files


def test_cli_folder_mirrors_tree_and_summarises(tmp_path, capsys):
    src = tmp_path / "in"
    _tree(src)
    out = src / "cleaned"  # inside IN: must not be re-read
    assert main(["-q", "remove-silence", str(src), "-o", str(out)]) == 0
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["a_trimmed.wav", "sub/b_trimmed.wav", "sub/deeper/c_trimmed.wav"]
    summary = capsys.readouterr().out.strip()
    assert summary.startswith("removed ") and summary.endswith("from 3 files")
    assert "of 4.2 s" in summary  # 3 x 1.4 s in
    assert main(["-q", "remove-silence", "-f", "-j", "2", str(src), "-o", str(out),
                 "--format", "flac"]) == 0
    assert "from 3 files" in capsys.readouterr().out  # the outputs were not taken as inputs
    assert not (out / "cleaned").exists()


def test_cli_folder_with_broken_file_exits_1_and_writes_the_rest(tmp_path, capsys):
    src = tmp_path / "in"
    _tree(src)
    (src / "sub" / "broken.wav").write_bytes(b"this is not audio")
    out = tmp_path / "out"
    assert main(["-q", "remove-silence", str(src), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "broken.wav" in captured.err and "from 3 files" in captured.out
    assert (out / "a_trimmed.wav").exists() and (out / "sub/deeper/c_trimmed.wav").exists()
    assert not (out / "sub" / "broken_trimmed.wav").exists()


def test_cli_single_file_and_errors(tmp_path, capsys):
    (src,) = _tree(tmp_path / "in")[:1]
    out = tmp_path / "out"
    dst = out / "single.flac"
    argv = ["-q", "remove-silence", str(src), "-o", str(out), "--format", "flac",
            "--filename", "single"]
    assert main([*argv, "--top-db", "40", "--min-gap", "0.2", "--padding", "0"]) == 0
    assert sf.info(dst).format == "FLAC" and "from 1 file" in capsys.readouterr().out
    assert main(argv) == 2  # exists, no --force
    err = capsys.readouterr().err
    assert "single.flac" in err and "--force" in err
    assert main(["-q", "remove-silence", str(tmp_path / "nope.wav"), "-o", str(out)]) == 2
    assert "nope.wav" in capsys.readouterr().err


def test_console_script_help():
    exe = Path(sys.executable).parent / "sonomorph"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sonomorph"]
    done = subprocess.run(cmd + ["remove-silence", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert "--top-db" in done.stdout and "--min-gap" in done.stdout and "IN" in done.stdout
