"""sonomorph.audio.io: formats, resampling, channel policy, errors, atomic saves, streaming."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.audio import io
from sonomorph.audio.headers import looks_like_mpeg, wav_truncation
from sonomorph.errors import (
    AudioLoadError,
    AudioSaveError,
    ConfigError,
    InputTooShortError,
    OutputExistsError,
)
from sonomorph.utils.fs import TMP_PREFIX

SR = 16000


def peak_hz(wav: np.ndarray, sr: int) -> float:
    """The frequency of the strongest FFT bin of channel 0."""
    x = wav[0] * np.hanning(wav.shape[1])
    return float(np.argmax(np.abs(np.fft.rfft(x))) * sr / wav.shape[1])


def run_ffmpeg(exe: str, *args: str) -> None:
    subprocess.run([exe, "-nostdin", "-v", "error", "-y", *args], check=True)


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize(("name", "bit_depth", "atol", "subtype"), [
    ("a.wav", "16", 2 / 32768, "PCM_16"),
    ("a.wav", "24", 2 / 2**23, "PCM_24"),
    ("a.wav", "32f", 0.0, "FLOAT"),
    ("a.flac", "16", 2 / 32768, "PCM_16"),
    ("a.flac", "24", 2 / 2**23, "PCM_24"),
    ("a.aiff", "16", 2 / 32768, "PCM_16"),
])
def test_lossless_round_trip(tmp_path, tone, name, bit_depth, atol, subtype):
    wav = tone(440, 0.5, SR, channels=2)
    path = io.save(tmp_path / name, wav, SR, bit_depth=bit_depth)
    back, sr = io.load(path)
    assert sr == SR and back.dtype == np.float32 and back.shape == wav.shape
    np.testing.assert_allclose(back, wav, atol=atol, rtol=0)
    meta = io.info(path)
    assert (meta.sample_rate, meta.channels, meta.frames, meta.subtype) == (SR, 2, wav.shape[1],
                                                                             subtype)


@pytest.mark.parametrize("name", ["a.mp3", "a.ogg", "a.m4a", "a.opus"])
def test_lossy_round_trip_keeps_shape_rate_and_pitch(tmp_path, tone, name):
    sr = 48000 if name.endswith(".opus") else 44100  # opus decodes at 48 kHz
    wav = tone(1000, 1.0, sr, channels=2)
    path = io.save(tmp_path / name, wav, sr)
    back, back_sr = io.load(path)
    assert back_sr == sr and back.dtype == np.float32 and back.shape[0] == 2
    assert abs(back.shape[1] - wav.shape[1]) < 0.06 * sr  # codec padding only
    assert abs(peak_hz(back, sr) - 1000) < 5
    # the louder left channel stays louder: channels are not swapped or mixed
    assert np.abs(back[0]).max() > 1.5 * np.abs(back[1]).max()


def test_format_only_ffmpeg_reads_loads(tmp_path, tone, write_audio, ffmpeg):
    src = write_audio("src.wav", tone(440, 1.0, 22050, channels=2), 22050)
    m4a = tmp_path / "song.m4a"
    run_ffmpeg(ffmpeg, "-i", str(src), "-c:a", "aac", "-b:a", "128k", str(m4a))
    wav, sr = io.load(m4a)
    assert sr == 22050 and wav.shape[0] == 2 and abs(wav.shape[1] - 22050) < 2048
    assert abs(peak_hz(wav, sr) - 440) < 5
    meta = io.info(m4a)
    assert meta.backend == "ffmpeg" and meta.channels == 2 and meta.sample_rate == 22050
    assert abs(meta.duration - 1.0) < 0.1
    part, _ = io.load(m4a, offset=0.5, duration=0.25, channels=1)
    assert part.shape[0] == 1 and abs(part.shape[1] - 22050 // 4) < 64


def test_missing_ffmpeg_is_a_dependency_error(tmp_path, tone, write_audio, monkeypatch):
    from sonomorph.audio import ffmpeg as ff
    from sonomorph.errors import DependencyError

    monkeypatch.setattr(ff, "ffmpeg_exe", lambda: None)
    (tmp_path / "song.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(100))
    with pytest.raises(DependencyError, match=r"song.m4a: ffmpeg is needed"):
        io.load(tmp_path / "song.m4a")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioLoadError, match="junk.wav: not a recognised"):
        io.load(tmp_path / "junk.wav")  # libsndfile formats need no ffmpeg
    assert io.load(write_audio("ok.wav", tone(), SR))[1] == SR


def test_video_container_audio_track_loads(tmp_path, ffmpeg):
    video = tmp_path / "clip.mkv"
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1",
               "-f", "lavfi", "-i", "sine=frequency=880:duration=1:sample_rate=16000",
               "-c:v", "ffv1", "-c:a", "flac", str(video))
    wav, sr = io.load(video)
    assert sr == 16000 and wav.shape == (1, 16000)
    assert abs(peak_hz(wav, sr) - 880) < 5


def test_mp3_written_by_lame_with_id3_tag_reads_through_libsndfile(tmp_path, write_audio,
                                                                   tone, ffmpeg):
    src = write_audio("src.wav", tone(440, 1.0, 44100), 44100)
    mp3 = tmp_path / "tagged.mp3"
    run_ffmpeg(ffmpeg, "-i", str(src), "-c:a", "libmp3lame", "-b:a", "128k",
               "-id3v2_version", "3", "-metadata", "title=" + "x" * 5000, str(mp3))
    assert mp3.read_bytes()[:3] == b"ID3" and looks_like_mpeg(mp3)
    assert io.info(mp3).backend == "soundfile"
    wav, sr = io.load(mp3)
    assert sr == 44100 and abs(peak_hz(wav, sr) - 440) < 5


def test_aac_named_mp3_falls_back_to_ffmpeg(tmp_path, write_audio, tone, ffmpeg):
    src = write_audio("src.wav", tone(440, 1.0, 44100), 44100)
    fake = tmp_path / "actually_aac.mp3"
    run_ffmpeg(ffmpeg, "-i", str(src), "-c:a", "aac", "-f", "adts", str(fake))
    wav, sr = io.load(fake)
    assert sr == 44100 and abs(peak_hz(wav, sr) - 440) < 5


def test_offset_and_duration(write_audio):
    ramp = np.linspace(-1, 1, SR, dtype=np.float32)[None]
    path = write_audio("ramp.wav", ramp, SR, subtype="FLOAT")
    part, _ = io.load(path, offset=0.25, duration=0.5)
    np.testing.assert_array_equal(part, ramp[:, SR // 4: SR // 4 + SR // 2])
    with pytest.raises(AudioLoadError, match="past the end"):
        io.load(path, offset=2.0)
    with pytest.raises(ConfigError):
        io.load(path, offset=-1)


# ------------------------------------------------------------------------------ resampling
def test_resampling_changes_length_and_keeps_frequency(write_audio, tone):
    path = write_audio("t.wav", tone(440, 1.0, SR), SR)
    for target in (8000, 22050, 44100):
        wav, sr = io.load(path, sr=target)
        assert sr == target and abs(wav.shape[1] - target) <= 1
        assert abs(peak_hz(wav, sr) - 440) < 3


def test_resample_function(tone):
    wav = tone(440, 1.0, 44100, channels=2)
    out = io.resample(wav, 44100, 16000)
    assert out.shape[0] == 2 and abs(out.shape[1] - 16000) <= 1 and out.dtype == np.float32
    assert abs(peak_hz(out, 16000) - 440) < 3
    assert io.resample(wav, 44100, 44100) is wav
    assert io.resample(wav[0], 44100, 22050).ndim == 1


# --------------------------------------------------------------------------- channels
def test_mono_and_stereo_policy(write_audio, tone):
    mono = write_audio("m.wav", tone(440, 0.1, SR), SR, subtype="FLOAT")
    stereo = write_audio("s.wav", tone(440, 0.1, SR, channels=2), SR, subtype="FLOAT")
    assert io.load(mono)[0].shape[0] == 1
    dup, _ = io.load(mono, channels=2)
    assert dup.shape[0] == 2 and np.array_equal(dup[0], dup[1])
    s, _ = io.load(stereo)
    assert s.shape[0] == 2
    m, _ = io.load(stereo, channels=1)
    np.testing.assert_allclose(m[0], s.mean(axis=0), atol=1e-7)
    with pytest.raises(ConfigError):
        io.load(stereo, channels=3)


def test_six_channels_downmix_itu_with_warning(write_audio):
    rng = np.random.default_rng(0)
    x = (rng.uniform(-0.3, 0.3, (6, 2000))).astype(np.float32)
    path = write_audio("surround.wav", x, SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"surround\.wav: 6 channels downmixed to stereo"):
        st, _ = io.load(path)
    norm = 1 + 2 * 0.7071
    np.testing.assert_allclose(st[0], (x[0] + 0.7071 * x[2] + 0.7071 * x[4]) / norm, atol=1e-6)
    np.testing.assert_allclose(st[1], (x[1] + 0.7071 * x[2] + 0.7071 * x[5]) / norm, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked-for layouts do not warn
        assert io.load(path, channels="all")[0].shape == (6, 2000)
        mono, _ = io.load(path, channels=1)
    np.testing.assert_allclose(mono[0], st.mean(axis=0), atol=1e-6)


def test_four_channels_alternate_to_left_right(write_audio):
    x = np.stack([np.full(100, v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)])
    path = write_audio("quad.wav", x, SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match="4 channels"):
        st, _ = io.load(path)
    np.testing.assert_allclose(st[:, 0], [0.2, 0.3], atol=1e-6)


# -------------------------------------------------------------------------------- errors
def _bad_files(tmp: Path, tone) -> dict[str, tuple[Path, type, str]]:
    rng = np.random.default_rng(1)
    good = tmp / "good.wav"
    sf.write(good, tone(440, 1.0, SR)[0], SR)
    data = good.read_bytes()
    cases: dict[str, tuple[str, bytes | None, type, str]] = {
        "missing": ("missing.wav", None, AudioLoadError, "no such file"),
        "empty": ("empty.wav", b"", AudioLoadError, "empty"),
        "header_only": ("header.wav", data[:44], AudioLoadError, "truncated"),
        "truncated": ("trunc.wav", data[: len(data) // 3], AudioLoadError, "truncated"),
        "text_wav": ("notes.wav", b"just some text\n" * 50, AudioLoadError, "not a recognised"),
        "text_mp3": ("notes.mp3", b"just some text\n" * 50, AudioLoadError, "not a recognised"),
        "random_wav": ("noise.wav", rng.bytes(30000), AudioLoadError, "not a recognised"),
        "random_mp3": ("noise.mp3", rng.bytes(30000), AudioLoadError, "not a recognised"),
        "sync_mp3": ("sync.mp3", b"\xff\xfb\x90\x64" + rng.bytes(30000), AudioLoadError,
                     "not a recognised"),
        "random_m4a": ("noise.m4a", rng.bytes(30000), AudioLoadError, "not a recognised"),
    }
    out = {}
    for key, (name, content, exc, text) in cases.items():
        path = tmp / name
        if content is not None:
            path.write_bytes(content)
        out[key] = (path, exc, text)
    zero = tmp / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), SR)
    out["zero_samples"] = (zero, AudioLoadError, "no audio samples")
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        x = np.zeros(1000, np.float32)
        x[500] = value
        sf.write(tmp / name, x, SR, subtype="FLOAT")
        out[name] = (tmp / name, AudioLoadError, "NaN or infinite")
    corrupt = tmp / "corrupt.flac"
    sf.write(corrupt, rng.uniform(-0.5, 0.5, 44100).astype(np.float32), 44100)
    raw = bytearray(corrupt.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 4000] = rng.bytes(4000)
    corrupt.write_bytes(bytes(raw))
    out["corrupt_flac"] = (corrupt, AudioLoadError, "corrupt")
    return out


BAD = ["missing", "empty", "header_only", "truncated", "text_wav", "text_mp3", "random_wav",
       "random_mp3", "sync_mp3", "random_m4a", "zero_samples", "nan.wav", "inf.wav",
       "corrupt_flac"]


@pytest.mark.parametrize("case", BAD)
def test_load_errors_name_the_file(tmp_path, tone, case):
    path, exc, text = _bad_files(tmp_path, tone)[case]
    with pytest.raises(exc) as err:
        io.load(path)
    assert type(err.value) is exc and text in str(err.value) and path.name in str(err.value)
    assert "\n" not in str(err.value)
    if case not in ("nan.wav", "inf.wav", "corrupt_flac"):  # info does not decode samples
        with pytest.raises(exc, match=text) as err2:
            io.info(path)
        assert path.name in str(err2.value)
    with pytest.raises(exc, match=text):  # streaming gives the same errors
        list(io.iter_blocks(path, 4096))


def test_folder_given_instead_of_file(tmp_path):
    with pytest.raises(AudioLoadError, match="folder") as err:
        io.load(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_unreadable_file(tmp_path, tone, monkeypatch):
    path = tmp_path / "locked.wav"
    sf.write(path, tone(440, 0.1, SR)[0], SR)
    if os.geteuid() != 0:  # root reads anything: there, the OS refusal is simulated below
        path.chmod(0)
        try:
            with pytest.raises(AudioLoadError, match="locked.wav: permission denied"):
                io.load(path)
        finally:
            path.chmod(0o644)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io, "open", refuse, raising=False)
    with pytest.raises(AudioLoadError, match="permission denied") as err:
        io.load(path)
    assert "locked.wav" in str(err.value)


def test_min_samples(write_audio, tone):
    path = write_audio("short.wav", tone(440, 0.01, SR), SR)  # 160 samples
    assert io.load(path, min_samples=160)[0].shape[1] == 160
    with pytest.raises(InputTooShortError, match="short.wav.*too short"):
        io.load(path, min_samples=161)
    with pytest.raises(InputTooShortError):  # counted after resampling
        io.load(path, sr=8000, min_samples=100)


def test_header_checks_directly(tmp_path, tone):
    good = tmp_path / "g.wav"
    sf.write(good, tone(440, 1.0, SR)[0], SR)
    assert wav_truncation(good) is None
    cut = tmp_path / "c.wav"
    cut.write_bytes(good.read_bytes()[:5000])
    assert "1.00 s" in wav_truncation(cut)
    mp3 = tmp_path / "g.mp3"
    sf.write(mp3, tone(440, 1.0, 44100)[0], 44100)
    assert looks_like_mpeg(mp3)
    rng = np.random.default_rng(3)
    false_hits = 0
    for i in range(200):
        junk = tmp_path / f"j{i}.mp3"
        junk.write_bytes(b"\xff\xfb\x90\x64" + rng.bytes(int(rng.integers(100, 20000))))
        false_hits += looks_like_mpeg(junk)
    assert false_hits == 0


# ---------------------------------------------------------------------------------- save
def test_save_refuses_overwrite_and_input_replacement(tmp_path, tone):
    wav = tone(440, 0.1, SR)
    path = io.save(tmp_path / "out.wav", wav, SR)
    with pytest.raises(OutputExistsError, match="out.wav"):
        io.save(path, wav * 0.5, SR)
    io.save(path, wav * 0.5, SR, overwrite=True)
    np.testing.assert_allclose(io.load(path)[0], wav * 0.5, atol=1e-4)
    with pytest.raises(OutputExistsError, match="replace an input"):
        io.save(path, wav, SR, overwrite=True, inputs=[path])


def test_failed_save_leaves_nothing(tmp_path, tone, monkeypatch):
    wav = tone(440, 0.1, SR)
    bad = wav.copy()
    bad[0, 10] = np.nan
    with pytest.raises(AudioSaveError, match="NaN"):
        io.save(tmp_path / "nan.wav", bad, SR)
    with pytest.raises(AudioSaveError, match="mp3"):
        io.save(tmp_path / "hi.mp3", wav, 96000)
    with pytest.raises(AudioSaveError, match="flac"):
        io.save(tmp_path / "f.flac", wav, SR, bit_depth="32f")
    with pytest.raises(AudioSaveError, match="cannot write .xyz"):
        io.save(tmp_path / "f.xyz", wav, SR)

    original = sf.SoundFile.write
    calls = []

    def fails_midway(self, data):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("Error : disk on fire")
        return original(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", fails_midway)
    with pytest.raises(AudioSaveError, match="disk on fire") as err:
        io.save(tmp_path / "crash.wav", np.zeros((1, 100_000), np.float32), SR)
    assert "crash.wav" in str(err.value) and len(calls) == 2  # failed after a first block

    def interrupted(self, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf.SoundFile, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.save(tmp_path / "ctrl-c.wav", wav, SR)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_long_ogg_does_not_crash_libvorbis(tmp_path):
    # One 3 M-frame write overflows libvorbis's stack (segfault); run it in a child
    # process so that a regression fails this test instead of killing the suite.
    code = ("import numpy as np, sys; from sonomorph.audio import io; "
            "x = np.zeros((1, 3_000_000), np.float32); x[0, ::100] = 0.1; "
            "io.save(sys.argv[1], x, 8000); print(io.info(sys.argv[1]).frames)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "long.ogg")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert int(done.stdout.split()[-1]) == 3_000_000


def test_save_shapes_clipping_and_format_override(tmp_path, caplog):
    x = np.linspace(-1.5, 1.5, 1000, dtype=np.float32)
    with caplog.at_level(logging.WARNING):
        path = io.save(tmp_path / "clip.raw.bin", x, SR, format="wav")  # (samples,) accepted
    assert "clipped" in caplog.text
    back, _ = io.load(path)
    assert back.shape == (1, 1000) and np.abs(back).max() <= 1.0
    assert sf.info(path).format == "WAV"
    kept = io.save(tmp_path / "float.wav", x, SR, bit_depth="32f")  # float keeps > 1
    assert np.abs(io.load(kept)[0]).max() == pytest.approx(1.5)
    with pytest.raises(AudioSaveError, match="samples, channels"):
        io.save(tmp_path / "t.wav", np.zeros((1000, 2), np.float32), SR)


# --------------------------------------------------------------------------- iter_blocks
@pytest.mark.parametrize("sr", [None, 22050])
def test_iter_blocks_concatenated_equals_load(write_audio, tone, sr):
    path = write_audio("b.wav", tone(440, 1.3, SR, channels=2), SR, subtype="FLOAT")
    blocks = list(io.iter_blocks(path, 4000, sr=sr))
    assert all(b.shape == (2, 4000) for b in blocks[:-1]) and 0 < blocks[-1].shape[1] <= 4000
    whole, _ = io.load(path, sr=sr)
    cat = np.concatenate(blocks, axis=1)
    assert cat.shape == whole.shape
    np.testing.assert_allclose(cat, whole, atol=0 if sr is None else 1e-4)


def test_iter_blocks_overlap_and_channels(write_audio, tone):
    path = write_audio("o.wav", tone(440, 0.5, SR, channels=2), SR, subtype="FLOAT")
    blocks = list(io.iter_blocks(path, 1000, overlap=250, channels=1))
    assert all(b.shape[0] == 1 for b in blocks)
    for a, b in zip(blocks, blocks[1:]):
        np.testing.assert_array_equal(a[:, -250:], b[:, :250])
    whole, _ = io.load(path, channels=1)
    rebuilt = np.concatenate([blocks[0]] + [b[:, 250:] for b in blocks[1:]], axis=1)
    np.testing.assert_array_equal(rebuilt, whole)
    with pytest.raises(ConfigError):
        io.iter_blocks(path, 100, overlap=100)


def test_iter_blocks_through_ffmpeg_equals_load(tmp_path, ffmpeg):
    path = tmp_path / "s.opus"
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", "sine=frequency=300:duration=2:sample_rate=48000",
               "-c:a", "libopus", str(path))
    whole, sr = io.load(path)
    blocks = list(io.iter_blocks(path, 10000))
    assert sr == 48000
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)


def _peak_while_streaming(path: Path, block: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        frames = 0
        for b in io.iter_blocks(path, block):
            frames += b.shape[1]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return frames, peak


def test_iter_blocks_streams_in_constant_memory(tmp_path, ffmpeg, monkeypatch):
    long_wav = tmp_path / "long.wav"  # 3 M samples = 12 MB as float32
    with sf.SoundFile(long_wav, "w", SR, 1, "PCM_16") as f:
        chunk = np.sin(np.arange(SR) / 7.0).astype(np.float32) * 0.3
        for _ in range(3_000_000 // SR):
            f.write(chunk)
    reads = []
    original = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read",
                        lambda self, *a, **k: reads.append(1) or original(self, *a, **k))
    frames, peak = _peak_while_streaming(long_wav, 4096)
    assert frames == 3_000_000 // SR * SR
    assert len(reads) > 50  # read piecewise ...
    assert peak < 3_000_000 * 4 / 10  # ... never holding more than a tenth of it
    long_m4a = tmp_path / "long.m4a"  # ffmpeg path: 2.9 M samples = 11.5 MB as float32
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", "sine=frequency=200:duration=360:sample_rate=8000",
               "-c:a", "aac", "-b:a", "16k", str(long_m4a))
    frames, peak = _peak_while_streaming(long_m4a, 4096)
    assert abs(frames - 360 * 8000) < 4096
    assert peak < 360 * 8000 * 4 / 10


# --------------------------------------------------------------------------------- files
def test_find_audio_files(tmp_path):
    for rel in ["b.wav", "a/c.MP3", "a/d.m4a", "a/deep/e.flac", "notes.txt", ".hidden.wav",
                f"{TMP_PREFIX}abc.wav", ".git/f.wav", "out/g.wav", "video.mkv"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in io.find_audio_files(tmp_path)]
    assert found == ["a/c.MP3", "a/d.m4a", "a/deep/e.flac", "b.wav", "out/g.wav", "video.mkv"]
    top = [p.name for p in io.find_audio_files(tmp_path, recursive=False)]
    assert top == ["b.wav", "video.mkv"]
    without_out = io.find_audio_files(tmp_path, exclude=[tmp_path / "out"])
    assert tmp_path / "out/g.wav" not in without_out and len(without_out) == 5
    with pytest.raises(AudioLoadError, match="no such folder"):
        io.find_audio_files(tmp_path / "nope")


def test_output_path_for_and_writable_suffix(tmp_path):
    src = tmp_path / "in" / "sub" / "song.m4a"
    assert io.output_path_for(src, tmp_path / "out", root=tmp_path / "in") == (
        tmp_path / "out" / "sub" / "song.m4a")
    assert io.output_path_for(src, "o", "{stem}_vocals", "flac") == Path("o/song_vocals.flac")
    assert io.writable_suffix("a.FLAC") == ".flac"
    assert io.writable_suffix("clip.mp4") == ".wav"
