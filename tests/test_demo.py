"""The demo (`make demo` / `sonomorph demo`): every capability runs on example inputs, the
HTML report links only to files that exist, skipped and failed capabilities are reported,
and the output folder is handled safely. Tiny random models and 3-second cuts of the
committed examples keep it fast."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph import demo
from sonomorph.errors import OutputExistsError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    """The committed examples cut to 3 s (the speakers and held-out voices as they are)."""
    out = tmp_path_factory.mktemp("examples")
    for name in ("song.ogg", "song_vocals.ogg", "sung_voice.ogg", "spoken_voice.ogg"):
        wav, sr = sf.read(EXAMPLES / name, dtype="float32", always_2d=True)
        sf.write(out / name, wav[: 3 * sr], sr, format="OGG", subtype="VORBIS")
    genre = EXAMPLES / "genre_clip.ogg"
    shutil.copyfile(genre if genre.exists() else out / "song.ogg", out / "genre_clip.ogg")
    shutil.copytree(EXAMPLES / "speakers", out / "speakers")
    shutil.copytree(EXAMPLES / "scream_voices", out / "scream_voices")
    return out


@pytest.fixture
def fast(monkeypatch):
    """Style transfer with a handful of steps."""
    monkeypatch.setitem(demo.DEMO_OPTIONS, "style", {"steps": 3})


def _links(page: Path) -> list[str]:
    return re.findall(r'(?:src|href)="([^"#]+)"', page.read_text())


def test_committed_examples_exist_and_are_small() -> None:
    for names in demo.DEMO_INPUTS.values():
        for name in names.values():
            if name == "genre_clip.ogg" and not (EXAMPLES / name).exists():
                continue  # made once the genres builder is in the build (examples/README.md)
            assert (EXAMPLES / name).exists(), name
    total = sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file())
    assert total < 800 * 1024, f"examples/ holds {total // 1024} KB"
    info = sf.info(EXAMPLES / "song.ogg")
    assert info.channels == 2 and info.samplerate == 44100 and info.duration >= 9.5
    held_out = sorted(p.name for p in (EXAMPLES / "scream_voices").iterdir())
    assert held_out == ["flite_rms-001.ogg", "flite_rms-001.txt", "flite_slt-001.ogg",
                        "flite_slt-001.txt"]
    for clip in (EXAMPLES / "scream_voices").glob("*.ogg"):
        info = sf.info(clip)
        assert info.channels == 1 and info.samplerate == 22050 and 1 < info.duration < 5
        assert clip.with_suffix(".txt").read_text().strip().endswith(".")


def test_demo_runs_every_capability(tmp_path, models, examples, fast) -> None:
    """With a small test model of every kind, every capability runs: none is skipped."""
    assert set(models) == {"separator", "scream", "accompany", "genre"}
    out = tmp_path / "demo" / "out"
    sections = demo.run_demo(out, examples=examples, models=models, quiet=True)
    assert [s.key for s in sections] == [c.key for c in demo.CAPABILITIES]
    for s in sections:
        assert s.status == "ok", (s.key, s.status, s.reason)
        assert s.outcome.images and all(p.is_file() for _, p in s.outcome.images)
        for _, p in s.outcome.audio:
            assert p.is_file() and p.is_relative_to(out)
            info = sf.info(p)
            assert info.frames > 0
    page = out / "index.html"
    html = page.read_text()
    assert (out / demo.MARKER).is_file()
    for link in _links(page):
        assert (out / link).is_file(), f"report links to a missing file: {link}"
    assert html.count("<section") == len(demo.CAPABILITIES)
    assert "<audio" in html and "<img" in html
    # No staging or trash folders are left beside the output.
    assert [p.name for p in out.parent.iterdir()] == ["out"]
    by_key = {s.key: s for s in sections}
    names = dict(by_key["karaoke"].outcome.metrics)
    assert "vocals SI-SDR (dB)" in names and "vocals SI-SDR (dB)" in html
    vocals, karaoke = (sf.read(p, dtype="float32")[0] for _, p in by_key["karaoke"].outcome.audio)
    song = sf.read(out / "inputs" / "song.ogg", dtype="float32")[0]
    np.testing.assert_allclose(vocals + karaoke, song[: len(vocals)], atol=2e-3)
    best = dict(by_key["speakers"].outcome.metrics)["best match"]
    assert best in {p.name for p in (examples / "speakers").iterdir()}
    assert "seconds out" in dict(by_key["silence"].outcome.metrics)
    assert by_key["genre"].outcome.probabilities
    # The model, the growl preset and scream-real on the voice; each held-out clip, the
    # model's and scream-real's output of it.
    assert len(by_key["scream"].outcome.audio) == 3 + 2 * 3


def test_demo_scream_plays_held_out_voices_through_both_models(tmp_path, examples) -> None:
    """Each held-out clip goes through the default shipped scream model and scream-real:
    one playable output per clip and model, about as long as the clip, and its sentence."""
    assert demo.DEMO_INPUTS["scream"]["held_out"] == "scream_voices"
    assert tuple(demo.DEMO_OPTIONS["scream"]["also_models"]) == ("scream-real",)
    out = tmp_path / "out"
    (section,) = demo.run_demo(out, examples=examples, only=["scream"], quiet=True)
    assert section.status == "ok", section.reason
    audio = dict(section.outcome.audio)
    assert len(audio) == len(section.outcome.audio)  # labels are unique
    assert len({p for p in audio.values()}) == len(audio)  # and so are the files
    clips = sorted((examples / "scream_voices").glob("*.ogg"))
    assert len(clips) == 2
    metrics = dict(section.outcome.metrics)
    for clip in clips:
        seconds = sf.info(clip).duration
        for model in ("scream", "scream-real"):
            label = f"held-out {clip.stem}: scream ({model})"
            path = audio[label]
            assert path.is_file() and path.is_relative_to(out / "scream")
            info = sf.info(path)
            assert info.channels == 1 and abs(info.duration - seconds) < 0.1, (label, info)
            wav, _ = sf.read(path, dtype="float32")
            assert np.isfinite(wav).all() and np.abs(wav).max() > 0
            assert f"mel correlation with the input: {label}" in metrics
        assert audio[f"held-out {clip.stem}: input voice"].is_file()
        sentence = clip.with_suffix(".txt").read_text().strip()
        assert sentence in section.outcome.text
    assert "scream (scream-real)" in audio  # also run on the main voice
    html = (out / "index.html").read_text()
    assert "held-out flite_slt-001: scream (scream-real)" in html
    for link in _links(out / "index.html"):
        assert (out / link).is_file(), f"report links to a missing file: {link}"


def test_only_a_missing_model_is_skipped_and_import_errors_surface(tmp_path, examples,
                                                                    monkeypatch) -> None:
    needs_model = demo.Capability("m", "M", "", "sonomorph.pipelines.silence",
                                  ("SilenceRemover",), model_kind="no-such-kind")
    assert "no shipped 'no-such-kind' model" in demo.unavailable(needs_model)
    assert demo.unavailable(needs_model, {"no-such-kind": "x.safetensors"}) is None
    # A pipeline that cannot be imported is an error, not a note.
    ghost = demo.Capability("ghost", "Ghost", "does nothing", "sonomorph.pipelines.ghost", ("X",))
    with pytest.raises(ModuleNotFoundError, match="sonomorph.pipelines.ghost"):
        demo.unavailable(ghost)
    lacking = demo.Capability("lack", "Lack", "", "sonomorph.pipelines.silence", ("Nope",))
    with pytest.raises(ImportError, match="lacks Nope"):
        demo.unavailable(lacking)

    monkeypatch.setattr(demo, "CAPABILITIES", (ghost, needs_model, demo.capability("silence")))
    monkeypatch.setitem(demo.DEMO_INPUTS, "ghost", {"audio": "sung_voice.ogg"})
    monkeypatch.setitem(demo.DEMO_INPUTS, "m", {"audio": "sung_voice.ogg"})
    out = tmp_path / "out"
    sections = demo.run_demo(out, examples=examples, quiet=True)
    assert [s.status for s in sections] == ["failed", "skipped", "ok"]
    assert "cannot be imported" in sections[0].reason
    html = (out / "index.html").read_text()
    assert "sonomorph.pipelines.ghost" in html and "no-such-kind" in html


def test_a_failing_capability_is_reported_and_the_others_run(tmp_path, examples) -> None:
    broken = tmp_path / "examples"
    shutil.copytree(examples, broken)
    (broken / "song.ogg").write_bytes(b"not audio at all" * 100)
    out = tmp_path / "out"
    sections = demo.run_demo(out, examples=broken, only=["karaoke", "silence"],
                             models=make_tiny_models(tmp_path / "m"), quiet=True)
    karaoke, silence = sections
    assert karaoke.status == "failed" and "song.ogg" in karaoke.reason
    assert "\n" not in karaoke.reason
    assert silence.status == "ok"
    assert "Failed" in (out / "index.html").read_text()


def test_output_folder_safety(tmp_path, examples) -> None:
    out = tmp_path / "out"
    demo.run_demo(out, examples=examples, only=["silence"], quiet=True)
    (out / "stale.txt").write_text("from an older run")
    # A second run replaces the previous demo run (it carries the marker).
    demo.run_demo(out, examples=examples, only=["silence"], quiet=True)
    assert not (out / "stale.txt").exists()
    assert (out / demo.MARKER).is_file() and (out / "index.html").is_file()
    # A folder that is not a demo run is never touched without --force.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="--force"):
        demo.run_demo(other, examples=examples, only=["silence"], quiet=True)
    assert (other / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "out"]  # nothing staged
    demo.run_demo(other, examples=examples, only=["silence"], quiet=True, force=True)
    assert not (other / "precious.txt").exists() and (other / "index.html").is_file()


def test_safe_stem_drops_folders_and_odd_characters() -> None:
    assert demo.safe_stem("../../etc/passwd") == "passwd"
    assert demo.safe_stem("..\\..\\windows\\evil.wav") == "evil"
    assert demo.safe_stem("/abs/path/My Song (live).mp3") == "My_Song_live"
    assert demo.safe_stem("....") == "audio"
    assert demo.safe_stem("") == "audio"
    assert demo.safe_stem(".hidden.wav") == "hidden"
    assert demo.safe_stem("Ærø søng.flac") == "Ærø_søng"
    assert len(demo.safe_stem("x" * 500 + ".wav")) == 60


def test_parse_models() -> None:
    assert demo.parse_models(["separator=a.safetensors", "genre=b"]) == {
        "separator": "a.safetensors", "genre": "b"}
    from sonomorph.errors import ConfigError

    for bad in (["separator"], ["nothing=x"], ["separator="]):
        with pytest.raises(ConfigError, match="KIND=FILE"):
            demo.parse_models(bad)


def test_demo_command_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        demo.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--examples" in text and "demo/out" in text and "--only" in text
    bad = subprocess.run([sys.executable, "-m", "sonomorph.demo", "--examples",
                          str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nope" in bad.stderr
    assert not (tmp_path / "o").exists()
