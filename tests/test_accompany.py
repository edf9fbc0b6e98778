"""Vocals to song: tiling of any length, levels, silence, files, the evaluation metrics and
the accompany / train accompany / eval accompany commands (with tiny models)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.audio.images import snr_db
from sonomorph.cli import main
from sonomorph.errors import OutputExistsError
from sonomorph.models.checkpoint import load_model, save_model
from sonomorph.models.pix2pix import UNetGenerator
from sonomorph.pipelines.accompany import Accompanist, crossfade_weights, tile_starts

torch.set_num_threads(1)
TINY = dict(ngf=4, max_channels=8, depth=4, n_fft=64, hop=16, sample_rate=8000)


def tiny(**kw) -> UNetGenerator:
    torch.manual_seed(0)
    return UNetGenerator(**{**TINY, **kw}).eval()


class Identity(UNetGenerator):
    """Returns its input image: the accompaniment must then be the voice itself."""

    def forward(self, x):
        return x.clone()


def voice(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 660 * t + 1)
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)]).astype(np.float32)


# ----------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("frames", [1, 31, 32, 33, 100, 257])
def test_tiles_cover_every_frame_and_end_at_the_end(frames):
    tile, overlap = 32, 8
    starts = tile_starts(frames, tile, overlap)
    covered = np.zeros(max(frames, tile), bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered[:frames].all()
    assert starts[-1] == max(0, frames - tile)
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    w = crossfade_weights(tile, overlap)
    assert (w > 0).all() and w[tile // 2] == 1.0 and w[0] < 0.1


@pytest.mark.parametrize("seconds", [0.03, 0.2, 1.37])
@pytest.mark.parametrize("phase", ["model", "griffinlim"])
def test_identity_model_gives_back_the_voice_at_any_length(seconds, phase):
    """Overlapping tiles cross-faded: an identity network must reproduce the voice (the
    stereo accompaniment's average equals the voice; the song is the voice in the centre
    plus the accompaniment)."""
    acc = Accompanist(Identity(**TINY).eval(), phase=phase, tile_frames=32, overlap=0.25)
    x = voice(seconds, 8000)
    out = acc.generate(x, 8000)
    assert out.accompaniment.shape == out.song.shape == (2, x.shape[1])
    inner = slice(64, -64) if x.shape[1] > 400 else slice(None)
    mid = out.accompaniment.mean(axis=0)
    assert snr_db(x[0, inner], mid[inner]) > 25.0
    np.testing.assert_allclose(out.song, x + out.accompaniment, atol=1e-6)


def test_long_inputs_are_chunked_and_cross_faded():
    """Beyond chunk_seconds the work is done in overlapping chunks: the identity model
    must still give the voice back across the chunk seams."""
    acc = Accompanist(Identity(**TINY).eval(), phase="model", tile_frames=32, chunk_seconds=4.0)
    x = voice(11.0, 8000)
    seen = []
    out = acc.generate(x, 8000, progress=lambda d, t: seen.append((d, t)))
    assert out.accompaniment.shape == (2, x.shape[1])
    assert snr_db(x[0, 64:-64], out.accompaniment.mean(axis=0)[64:-64]) > 25.0
    assert seen[-1][0] == seen[-1][1] == 5  # chunks of 4 s starting every 2 s


@pytest.mark.parametrize("sr,channels,samples", [(44100, 2, 44100), (48000, 3, 1000),
                                                 (16000, 1, 1), (22050, 2, 37)])
def test_any_rate_channels_and_length_give_stereo_of_the_input_length(sr, channels, samples):
    x = (0.1 * np.random.default_rng(0).standard_normal((channels, samples))).astype(np.float32)
    out = Accompanist(tiny(), tile_frames=32).generate(x, sr)
    assert out.song.shape == out.accompaniment.shape == (2, samples)
    assert out.sample_rate == sr
    assert np.isfinite(out.song).all() and np.abs(out.song).max() <= 0.99 + 1e-6


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


def test_stereo_accompaniment_channels_differ_but_correlate_and_average_to_the_mono():
    x = voice(2.0, 8000)
    wide = Accompanist(tiny(), tile_frames=32, phase="model").generate(x, 8000)
    left, right = wide.accompaniment
    assert np.sqrt(np.mean((left - right) ** 2)) > 0.2 * np.sqrt(np.mean(left ** 2))
    assert 0.5 < _corr(left, right) < 0.97
    # width 0 is the same (mono) accompaniment in both channels, and the stereo one
    # averages back to it: a mono downmix loses nothing and has no comb filter
    narrow = Accompanist(tiny(), tile_frames=32, phase="model", width=0.0).generate(x, 8000)
    np.testing.assert_array_equal(narrow.accompaniment[0], narrow.accompaniment[1])
    np.testing.assert_allclose(wide.accompaniment.mean(axis=0), narrow.accompaniment[0],
                               atol=1e-5)
    # a wider setting decorrelates more
    wider = Accompanist(tiny(), tile_frames=32, phase="model", width=0.8).generate(x, 8000)
    assert _corr(*wider.accompaniment) < _corr(left, right) - 0.1


def test_the_side_keeps_the_level_and_loses_the_correlation():
    from sonomorph.pipelines.accompany import decorrelation_filter

    noise = np.random.default_rng(3).standard_normal(40000)
    h = decorrelation_filter(22050)
    side = np.convolve(noise, h)[:40000]
    assert np.mean(side[1000:] ** 2) == pytest.approx(np.mean(noise[1000:] ** 2), rel=0.05)
    lags = [np.corrcoef(noise[1000 - k:40000 - k], side[1000:])[0, 1] for k in range(0, 400)]
    assert max(abs(c) for c in lags) < 0.35
    np.testing.assert_array_equal(h, decorrelation_filter(22050))  # the same every time


@pytest.mark.parametrize("channels", [1, 2])
def test_mono_voice_sits_in_the_centre_and_a_stereo_voice_keeps_its_image(channels):
    x = voice(1.0, 8000, channels)
    if channels == 2:
        x[1] = np.roll(x[1], 40)  # left and right clearly differ
    out = Accompanist(tiny(), tile_frames=32).generate(x, 8000)
    vocal = out.song - out.accompaniment
    expected = np.repeat(x, 2, axis=0) if channels == 1 else x
    np.testing.assert_allclose(vocal, expected, atol=1e-5)


def test_three_times_the_chunk_length_gives_exactly_the_input_length(tmp_path):
    acc = Accompanist(tiny(), tile_frames=32, chunk_seconds=4.0, phase="model")
    x = voice(12.0, 8000)[:, :-3]  # 3 chunks' worth, not a whole number of hops
    out = acc.generate(x, 8000)
    assert out.song.shape == out.accompaniment.shape == (2, x.shape[1])
    tail = out.accompaniment[:, -8000:]  # the end is accompanied too, in stereo
    assert np.abs(tail).max() > 0 and not np.allclose(tail[0], tail[1])
    src = tmp_path / "long.wav"
    sf.write(src, voice(12.0, 11025)[:, :-5].T, 11025)
    written = acc.accompany_file(src, tmp_path / "out")
    for name in ("song", "accompaniment"):
        data, sr = sf.read(written[name], always_2d=True)
        assert sr == 11025 and data.shape == (12 * 11025 - 5, 2)


def test_silence_gives_silence_and_quiet_input_a_quiet_output():
    acc = Accompanist(tiny(), tile_frames=32)
    for channels in (1, 2):
        silent = acc.generate(np.zeros((channels, 8000), np.float32), 8000)
        assert silent.song.shape == silent.accompaniment.shape == (2, 8000)
        assert np.all(silent.accompaniment == 0) and np.all(silent.song == 0)
    hiss = (1e-5 * np.random.default_rng(1).standard_normal((1, 8000))).astype(np.float32)
    quiet = acc.generate(hiss, 8000)
    assert np.isfinite(quiet.accompaniment).all()
    assert np.abs(quiet.accompaniment).max() < 1e-2


def test_level_follows_the_voice():
    acc = Accompanist(tiny(), tile_frames=32, phase="model")
    x = 0.2 * voice(0.5, 8000)  # quiet enough that the song never needs scaling down
    loud, soft = acc.generate(x, 8000), acc.generate(0.1 * x, 8000)
    assert np.abs(loud.song).max() < 0.99
    assert snr_db(0.1 * loud.accompaniment, soft.accompaniment) > 40.0


def test_mixture_target_makes_the_song_and_leaves_the_rest_as_accompaniment():
    out = Accompanist(Identity(**{**TINY, "target": "mixture"}).eval(), tile_frames=32,
                      phase="model").generate(voice(0.5, 8000), 8000)
    assert np.abs(out.accompaniment).max() < 0.1 * np.abs(out.song).max()  # song = voice


def test_accompany_file_writes_song_accompaniment_and_plot(tmp_path):
    src = tmp_path / "voice.wav"
    sf.write(src, voice(0.6, 44100, 2).T, 44100)
    acc = Accompanist(tiny(), tile_frames=32)
    outputs = acc.accompany_file(src, tmp_path / "out", plot=True)
    assert set(outputs) == {"song", "accompaniment", "plot"}
    for name in ("song", "accompaniment"):
        data, sr = sf.read(outputs[name], always_2d=True)
        assert sr == 44100 and data.shape == (int(0.6 * 44100), 2)
    assert outputs["plot"].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputExistsError):
        acc.accompany_file(src, tmp_path / "out")
    acc.accompany_file(src, tmp_path / "out", overwrite=True, format="flac")


# ----------------------------------------------------------------------------- metrics


def test_metrics_on_known_cases():
    from sonomorph.eval.accompany import chroma_similarity, log_spectral_distance, onset_f1

    sr = 22050
    t = np.arange(2 * sr) / sr
    notes = np.zeros_like(t)
    for k, f in enumerate((262, 330, 392, 523)):
        a, b = int(k * 0.5 * sr), int((k + 1) * 0.5 * sr)
        notes[a:b] = np.sin(2 * np.pi * f * t[: b - a]) * np.exp(-4 * t[: b - a])
    notes = notes.astype(np.float32)
    assert chroma_similarity(notes, notes, sr) == pytest.approx(1.0, abs=1e-4)
    assert chroma_similarity(np.zeros_like(notes), notes, sr) == 0.0
    assert onset_f1(notes, notes, sr) == 1.0
    late = np.roll(notes, int(0.2 * sr))
    assert onset_f1(late, notes, sr) < 0.5
    assert log_spectral_distance(notes, notes, sr) == 0.0
    noise = np.random.default_rng(0).standard_normal(sr).astype(np.float32)
    assert log_spectral_distance(0.5 * noise, noise, sr) == pytest.approx(6.02, abs=0.05)
    assert log_spectral_distance(np.zeros_like(noise), noise, sr) > 50.0


def clicks(times, seconds: float, sr: int) -> np.ndarray:
    """Short decaying 2-kHz bursts at ``times`` (seconds)."""
    x = np.zeros(int(seconds * sr), np.float32)
    burst = (np.sin(2 * np.pi * 2000 * np.arange(int(0.03 * sr)) / sr)
             * np.exp(-np.arange(int(0.03 * sr)) / (0.005 * sr))).astype(np.float32)
    for t in times:
        a = int(round(t * sr))
        x[a:a + len(burst)] += burst[: len(x) - a]
    return x


def test_time_shifted_truth_moves_the_onsets_by_the_drawn_shift_and_keeps_the_key():
    from sonomorph.eval.accompany import (
        key_chord,
        key_profile,
        onset_f1,
        score,
        shift_for,
        time_shifted,
    )

    sr, seconds = 22050, 12.0
    shift = shift_for("some-song", seed=0)
    assert 2.0 <= shift <= 4.0 and shift == shift_for("some-song", seed=0)
    assert len({shift_for(f"song{i}") for i in range(5)}) == 5
    gaps = np.random.default_rng(1).uniform(0.3, 0.7, 40)  # irregular: no beat to realign
    times = np.cumsum(gaps)
    times = times[times < seconds - 0.1]
    x = clicks(times, seconds, sr)
    moved = time_shifted(x, sr, shift)
    assert moved.shape == x.shape
    assert onset_f1(x, x, sr) == 1.0
    assert onset_f1(moved, x, sr) < 0.4  # the timing is wrong...
    expected = clicks(np.sort((times + shift) % seconds), seconds, sr)
    assert onset_f1(moved, expected, sr) > 0.95  # ...by exactly the drawn shift
    # The key stays: a C major chord progression keeps its pitch-class profile.
    t = np.arange(int(seconds * sr)) / sr
    chords = [(261.63, 329.63, 392.0), (349.23, 440.0, 523.25), (392.0, 493.88, 587.33)]
    song = np.zeros_like(t)
    for k, chord in enumerate(chords * 4):
        seg = (t >= k) & (t < k + 1)
        song[seg] = sum(np.sin(2 * np.pi * f * t[seg]) for f in chord)
    song = song.astype(np.float32)
    # A sustained chord has no onsets on the song's scale, whatever its own small flutter.
    assert onset_f1(key_chord(key_profile(song, sr), len(song), sr, rms=0.1), song, sr) == 0.0
    a, b = key_profile(song, sr), key_profile(time_shifted(song, sr, shift), sr)
    assert np.abs(a - b).max() < 0.01
    assert score(time_shifted(song, sr, shift), song, sr)["flatness_ratio"] == \
        pytest.approx(1.0, abs=0.2)  # the same texture: the seam adds no click
    stereo = np.stack([song, 0.5 * song])
    assert np.array_equal(time_shifted(stereo, sr, shift)[1], time_shifted(0.5 * song, sr, shift))


def test_key_only_chord_has_the_input_chroma_profile_and_its_level():
    from sonomorph.eval.accompany import key_chord, key_profile

    sr = 22050
    t = np.arange(6 * sr) / sr
    # A minor: A, C, E in several octaves, with a little D.
    voices = [(220.0, 1.0), (261.63, 0.8), (329.63, 0.9), (440.0, 0.5), (146.83, 0.2)]
    song = sum(a * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t + f))
               for f, a in voices).astype(np.float32)
    profile = key_profile(song, sr)
    assert profile.shape == (12,) and profile.sum() == pytest.approx(1.0, abs=1e-5)
    assert set(np.argsort(profile)[-3:]) == {9, 0, 4}  # A, C, E
    chord = key_chord(profile, len(t), sr, rms=0.05)
    assert np.sqrt(np.mean(chord.astype(np.float64) ** 2)) == pytest.approx(0.05, rel=1e-3)
    again = key_profile(chord, sr)
    cosine = float(again @ profile / np.linalg.norm(again) / np.linalg.norm(profile))
    assert cosine > 0.97
    assert np.argmax(again) == np.argmax(profile)
    # Another key gives another chord: D major's profile is far from A minor's.
    other = np.roll(profile, 5)
    moved = key_profile(key_chord(other, len(t), sr), sr)
    assert float(moved @ profile / np.linalg.norm(moved) / np.linalg.norm(profile)) < 0.8


def test_frechet_distance_and_spectral_flatness_on_known_cases():
    from sonomorph.eval.accompany import _power, frechet_distance, spectral_flatness

    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + np.array([3.0, 4.0, 0.0])) == pytest.approx(25.0, rel=1e-6)
    assert np.isnan(frechet_distance(a[:1], a))
    sr = 22050
    noise = rng.standard_normal(2 * sr).astype(np.float32)
    tone = np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr).astype(np.float32)
    assert spectral_flatness(_power(noise)) > 100 * spectral_flatness(_power(tone))
    assert np.isnan(spectral_flatness(_power(np.zeros(sr, np.float32))))


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def songs(tmp_path) -> Path:
    """A tiny MUSDB18-HQ-layout folder: 4 training songs and 1 test song, 3 s at 16 kHz."""
    sr = 16000
    root = tmp_path / "songs"
    t = np.arange(3 * sr) / sr
    for split, names in (("train", ["a", "b", "c", "d"]), ("test", ["e"])):
        for i, name in enumerate(names):
            folder = root / split / name
            folder.mkdir(parents=True)
            f0 = 220 * 2 ** (i / 12)
            melody = 0.3 * np.sin(2 * np.pi * f0 * 2 * t * (1 + (t > 1.5) * 0.12))
            stems = {"vocals": melody, "bass": 0.2 * np.sin(2 * np.pi * f0 / 2 * t),
                     "drums": 0.05 * np.sign(np.sin(2 * np.pi * 2 * t)) * np.exp(-8 * (t % 0.5)),
                     "other": 0.1 * np.sin(2 * np.pi * f0 * 1.5 * t)}
            for stem, x in stems.items():
                sf.write(folder / f"{stem}.wav", np.stack([x, x], 1).astype(np.float32), sr)
    return root


def test_cli_accompany_and_its_errors(tmp_path, capsys):
    model = save_model(tmp_path / "tiny.safetensors", tiny(), meta={"tile_frames": 32})
    sf.write(tmp_path / "v.wav", voice(0.5, 22050).T, 22050)
    assert main(["-q", "accompany", str(tmp_path / "v.wav"), "-o", str(tmp_path / "out"),
                 "--model", str(model), "--plot"]) == 0
    for name in ("song.wav", "accompaniment.wav", "spectrograms.png"):
        assert (tmp_path / "out" / "v" / name).is_file()
    for name in ("song.wav", "accompaniment.wav"):  # a mono voice gives stereo files
        data, _ = sf.read(tmp_path / "out" / "v" / name, always_2d=True)
        assert data.shape[1] == 2 and not np.allclose(data[:, 0], data[:, 1])
    assert main(["-q", "accompany", str(tmp_path / "v.wav"), "-o", str(tmp_path / "narrow"),
                 "--model", str(model), "--width", "0"]) == 0
    narrow, _ = sf.read(tmp_path / "narrow" / "v" / "accompaniment.wav", always_2d=True)
    assert narrow.shape[1] == 2 and np.array_equal(narrow[:, 0], narrow[:, 1])
    (tmp_path / "bad.wav").write_bytes(b"RIFF garbage")
    (tmp_path / "bad.safetensors").write_bytes(b"nonsense")
    capsys.readouterr()
    for argv in (["accompany", str(tmp_path / "missing.wav")],
                 ["accompany", str(tmp_path / "bad.wav"), "--model", str(model)],
                 ["accompany", str(tmp_path / "v.wav"), "--model", str(tmp_path / "bad.safetensors")],
                 ["accompany", str(tmp_path / "v.wav"), "-o", str(tmp_path / "out"),
                  "--model", str(model)]):
        assert main(["-q", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("sonomorph: error:")
    for bad in (["--overlap", "1.5"], ["--width", "1.5"], ["--width", "-0.1"]):
        with pytest.raises(SystemExit) as bad_option:
            main(["accompany", str(tmp_path / "v.wav"), *bad])
        assert bad_option.value.code == 2


def test_cli_train_resumes_and_eval_prints_baselines(songs, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["-q", "train", "accompany", "--data", str(songs), "--out", str(out),
              "--set", "model.ngf=4", "--set", "model.max_channels=8", "--set", "model.depth=4",
              "--set", "model.ndf=4", "--set", "n_fft=64", "--set", "hop=16",
              "--set", "sample_rate=8000", "--set", "inference_tile_frames=32",
              "--tile-frames", "32", "--set", "batch_size=2", "--set", "val_items=2",
              "--set", "validate_every=1", "--set", "checkpoint_every=1", "--set", "log_every=1"]
    assert main([*common, "--steps", "2"]) == 0
    assert main([*common, "--steps", "3"]) == 0  # resumes from step 2
    model, meta = load_model(out / "best.safetensors", expect="accompany")
    assert isinstance(model, UNetGenerator) and meta["tile_frames"] == 32
    assert load_model(out / "last.safetensors")[1]["step"] == 3
    assert main([*common, "--steps", "4", "--no-resume"]) == 2  # an earlier run is there
    capsys.readouterr()
    scores = tmp_path / "scores.json"
    assert main(["-q", "eval", "accompany", "--data", str(songs), "--model",
                 str(out / "last.safetensors"), "--seconds", "2", "--json", str(scores),
                 "--phase", "both"]) == 0
    table = capsys.readouterr().out
    assert "retrieval" in table and "silence" in table
    doc = json.loads(scores.read_text())
    methods = doc["splits"]["test"]["methods"]
    for row in methods.values():
        assert {"chroma", "onset_f1", "lsd", "flatness_ratio", "frechet"} <= set(row)
    record = doc["models"]["sonomorph pix2pix (Griffin-Lim phase)"]
    assert record["sha256"] == hashlib.sha256((out / "last.safetensors").read_bytes()).hexdigest()
    assert record["steps"] == 3 and doc["models"]["genre embedding"]["sha256"]
    assert doc["splits"]["test"]["tracks"] == ["e"]
    assert doc["retrieval_database"]["tracks"]  # the train split, less its validation songs
    assert set(doc["retrieval_database"]["tracks"]) <= {"a", "b", "c", "d"}
    shifted = doc["splits"]["test"]["per_track"]["time-shifted truth (2-4 s)"]
    assert 2.0 <= shifted[0]["shift_s"] <= 4.0
    assert np.isfinite(methods["time-shifted truth (2-4 s)"]["flatness_ratio"])
    assert methods["key only (sustained chord)"]["onset_f1"] < 1.0

    def strings(x):
        if isinstance(x, dict):
            for k, v in x.items():
                yield k
                yield from strings(v)
        elif isinstance(x, list):
            for v in x:
                yield from strings(v)
        elif isinstance(x, str):
            yield x

    for text in strings(doc):  # no absolute paths: nothing of this machine's folders
        assert not text.startswith("/") and str(tmp_path) not in text and "\\" not in text
    assert methods["true accompaniment (ceiling)"]["chroma"] == pytest.approx(1.0, abs=1e-4)
    assert methods["true accompaniment (ceiling)"]["lsd"] == 0.0
    assert methods["silence"]["chroma"] == 0.0
    assert {"sonomorph pix2pix (Griffin-Lim phase)", "sonomorph pix2pix (model phase)",
            "vocal", "retrieval"} <= set(methods)
    assert main(["train", "accompany", "--data", str(tmp_path / "nowhere")]) == 2

    # Two models in one run: a row per model and phase, named after the files, each with
    # the record of its own weights, scored on the same excerpts.
    other = save_model(tmp_path / "other.safetensors", load_model(out / "best.safetensors")[0],
                       meta={"step": 1, "tile_frames": 32})
    both = tmp_path / "both.json"
    assert main(["-q", "eval", "accompany", "--data", str(songs), "--model",
                 str(out / "last.safetensors"), "--model", str(other), "--seconds", "2",
                 "--no-baselines", "--no-frechet", "--json", str(both)]) == 0
    doc = json.loads(both.read_text())
    assert set(doc["splits"]["test"]["methods"]) == {"last (Griffin-Lim phase)",
                                                     "other (Griffin-Lim phase)"}
    assert doc["models"]["last (Griffin-Lim phase)"]["steps"] == 3
    assert doc["models"]["other (Griffin-Lim phase)"]["sha256"] == hashlib.sha256(
        other.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- chroma condition


def test_image_chroma_names_the_sung_pitch_class_and_gives_silence_zeros():
    from sonomorph.models.pix2pix import audio_to_image, chroma_filterbank, image_chroma

    g = UNetGenerator()  # the shipped settings: 22.05 kHz, n_fft 1024, hop 256
    sr = g.sample_rate
    t = np.arange(sr) / sr
    x = np.zeros(2 * sr, np.float32)
    x[:sr] = 0.07 * np.sin(2 * np.pi * 392.0 * t)  # G4 for a second, then silence
    image = audio_to_image(torch.from_numpy(x)[None], g.window, g.n_fft, g.hop, g.log_min,
                           g.log_max)
    track = image_chroma(image, chroma_filterbank(sr, g.n_fft), g.log_min, g.log_max)[0]
    assert track.shape == (12, image.shape[-1])
    sung, quiet = track[:, 10:70], track[:, -40:]
    assert (sung.argmax(dim=0) == 7).all()  # G
    assert float(sung.max()) == pytest.approx(1.0)
    # A 1024-point STFT at 22.05 kHz has 21.5-Hz bins, about a semitone at G4: the
    # neighbours F# and G# catch some leakage, nothing two semitones or more away does.
    assert float(sung[[0, 1, 2, 3, 4, 5, 9, 10, 11]].max()) < 0.05
    assert float(quiet.abs().max()) == 0.0


def test_chroma_conditioned_generator_planes_context_and_checkpoint(tmp_path):
    kw = dict(TINY, sample_rate=22050, n_fft=1024, hop=256, depth=4)
    plain = tiny(**kw)
    cond = tiny(**kw, condition="chroma")
    phrase = tiny(**kw, condition="chroma", chroma_context=31)
    assert (plain.condition_channels, cond.condition_channels, phrase.condition_channels) == \
        (0, 12, 24)
    assert phrase.downs[0][0].in_channels == 3 + 24
    with pytest.raises(ValueError):
        UNetGenerator(condition="pitch")
    with pytest.raises(ValueError):
        UNetGenerator(chroma_context=16)  # a context needs the chroma condition
    sr = 22050
    t = np.arange(sr // 2) / sr
    x = np.zeros(int(1.5 * sr), np.float32)
    x[: len(t)] = 0.07 * np.sin(2 * np.pi * 440.0 * t)  # A for 0.5 s (~43 frames), then silence
    image = phrase.image(torch.from_numpy(x)[None])[..., :128]
    planes = phrase.condition_planes(image)
    assert planes.shape == (1, 24, 512, 128)
    assert torch.equal(planes[:, :, 0], planes[:, :, 300])  # the same at every bin
    now, around = planes[0, :12, 0], planes[0, 12:, 0]
    assert float(now[9, 20]) == pytest.approx(1.0)  # A sounds: its plane is at the top
    assert float(now[:, 52].max()) == -1.0  # 9 frames after the note: nothing now...
    assert float(around[9, 52]) > -0.9  # ...but the phrase's profile still holds the A
    assert float(around[:, 80].max()) == -1.0  # beyond the window it has gone too
    with torch.no_grad():
        y = phrase(image)
    assert y.shape == image.shape
    # The conditioned output depends on the chroma planes: the same input gives another
    # output when the pitch-class track is zeroed.
    with torch.no_grad():
        hidden = phrase.downs[0](torch.cat([image, planes], 1))
        muted = phrase.downs[0](torch.cat([image, -torch.ones_like(planes)], 1))
    assert not torch.allclose(hidden, muted)
    path = save_model(tmp_path / "cond.safetensors", phrase, meta={"tile_frames": 128})
    again, _ = load_model(path, expect="accompany")
    assert (again.condition, again.chroma_context) == ("chroma", 31)
    with torch.no_grad():
        assert torch.allclose(again.eval()(image), y, atol=1e-5)


def test_cli_trains_a_chroma_conditioned_generator_and_accompanies_with_it(songs, tmp_path):
    out = tmp_path / "run"
    assert main(["-q", "train", "accompany", "--data", str(songs), "--out", str(out),
                 "--condition", "chroma", "--chroma-context", "9",
                 "--set", "model.ngf=4", "--set", "model.max_channels=8", "--set", "model.depth=4",
                 "--set", "model.ndf=4", "--set", "n_fft=256", "--set", "hop=64",
                 "--set", "sample_rate=8000", "--set", "inference_tile_frames=32",
                 "--tile-frames", "32", "--set", "batch_size=2", "--set", "val_items=2",
                 "--set", "validate_every=2", "--set", "checkpoint_every=2",
                 "--steps", "2"]) == 0
    model, _ = load_model(out / "last.safetensors", expect="accompany")
    assert (model.condition, model.chroma_context, model.condition_channels) == ("chroma", 9, 24)
    result = Accompanist(out / "last.safetensors").generate(voice(1.0, 22050, 2), 22050)
    assert result.accompaniment.shape == (2, 22050)
    assert np.isfinite(result.accompaniment).all()
    assert main(["-q", "train", "accompany", "--data", str(songs), "--out", str(tmp_path / "x"),
                 "--chroma-context", "9", "--steps", "1"]) == 2  # context without chroma


# ----------------------------------------------------------------------------- streaming files
COARSE = dict(sample_rate=4000, hop=32)  # a quarter of the frames: the file tests stay fast


def _written(outputs: dict) -> dict[str, np.ndarray]:
    out = {}
    for name in ("song", "accompaniment"):
        data, _ = sf.read(outputs[name], dtype="float32", always_2d=True)
        out[name] = data.T
    return out


@pytest.mark.parametrize("case", ["stereo-resampled", "mono-model-rate", "mixture", "loud",
                                  "silent"])
def test_a_streamed_file_equals_the_whole_array_output(tmp_path, case):
    """accompany_file streams (three model chunks here, read 1 s at a time); its float
    files must hold what generate gives for the whole file: same gain, chunks, side,
    voice placement and peak scaling."""
    import sonomorph.pipelines.accompany as accompany

    rate, channels, target = {"stereo-resampled": (11025, 2, "accompaniment"),
                              "mono-model-rate": (4000, 1, "accompaniment"),
                              "mixture": (11025, 1, "mixture"),
                              "loud": (11025, 2, "accompaniment"),
                              "silent": (11025, 2, "accompaniment")}[case]
    x = voice(6.3, rate, channels)
    if case == "loud":  # the song clips: both outputs are scaled to peak at 0.99
        x = 0.99 * x / np.abs(x).max()
    if case == "silent":
        x = np.zeros_like(x)
    src = tmp_path / "voice.wav"
    sf.write(src, x.T, rate, subtype="FLOAT")
    acc = Accompanist(tiny(target=target, **COARSE), tile_frames=32, chunk_seconds=4.0,
                      gl_iters=2)
    whole = acc.generate(x, rate)
    old = accompany.READ_BLOCK_SECONDS
    accompany.READ_BLOCK_SECONDS = 1.0
    try:
        streamed = _written(acc.accompany_file(src, tmp_path / "out", bit_depth="32f"))
    finally:
        accompany.READ_BLOCK_SECONDS = old
    for name in ("song", "accompaniment"):
        expected = getattr(whole, name)
        assert streamed[name].shape == expected.shape == (2, x.shape[1])
        np.testing.assert_allclose(streamed[name], expected, atol=2e-5, rtol=0)
    if case == "loud":
        assert np.abs(whole.song).max() == pytest.approx(0.99, abs=1e-6)
    if case == "silent":
        assert not streamed["accompaniment"].any()
    else:  # the side is there: left and right differ
        assert not np.allclose(streamed["accompaniment"][0], streamed["accompaniment"][1])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accompaniment.wav",
                                                                     "song.wav"]


def test_a_file_is_read_and_written_in_bounded_blocks_whatever_its_length(tmp_path,
                                                                          monkeypatch):
    """Memory does not grow with the file: the largest block read from any file or written
    to any file, and the largest input the model sees, are the same for a 6 s and a 40 s
    voice, and the whole-file loader is never called."""
    import sonomorph.pipelines.accompany as accompany
    from sonomorph.audio import io as audio_io

    reads, writes, model_inputs = [], [], []
    real_read, real_write = sf.SoundFile.read, sf.SoundFile.write

    def read(self, frames=-1, *args, **kwargs):
        reads.append(frames if frames >= 0 else self.frames - self.tell())
        return real_read(self, frames, *args, **kwargs)

    def write(self, data):
        writes.append(len(data))
        return real_write(self, data)

    def no_load(*args, **kwargs):
        raise AssertionError("the whole file was loaded")

    monkeypatch.setattr(sf.SoundFile, "read", read)
    monkeypatch.setattr(sf.SoundFile, "write", write)
    monkeypatch.setattr(audio_io, "load", no_load)
    monkeypatch.setattr(accompany, "READ_BLOCK_SECONDS", 1.0)
    acc = Accompanist(Identity(**{**TINY, **COARSE}).eval(), tile_frames=32,
                      chunk_seconds=4.0, phase="model")
    render = acc._render
    monkeypatch.setattr(acc, "_render", lambda chunk, *a, **k: (
        model_inputs.append(chunk.shape[-1]), render(chunk, *a, **k))[1])
    largest = {}
    for seconds in (6, 40):
        src = tmp_path / f"v{seconds}.wav"
        sf.write(src, voice(seconds, 11025).T, 11025)
        reads.clear(), writes.clear(), model_inputs.clear()
        written = acc.accompany_file(src, tmp_path / f"out{seconds}")
        assert sf.info(written["song"]).frames == seconds * 11025
        largest[seconds] = (max(reads), max(writes), max(model_inputs))
    # reads: libsndfile's 32768-frame reads (3 s at 11025 Hz) and our 1 s blocks; writes:
    # what waits for the model's next chunk, at most one chunk and one block (5 s)
    assert largest[40][0] == largest[6][0] <= 1 << 15
    assert max(largest[6][1], largest[40][1]) <= 5 * 11025 < 40 * 11025 // 5
    assert largest[40][2] == largest[6][2] == 4 * 4000  # one 4 s chunk at the model's rate


@pytest.mark.parametrize("block", [1000, 2048, 7001, 20000])
def test_the_level_of_a_stream_is_measured_over_its_active_frames_whatever_the_blocks(block):
    """The file's gain is measured in blocks: frames of 2048 samples, those more than 50 dB
    below the loudest left out, whatever sizes the blocks come in."""
    from sonomorph.audio.level import active_rms_blocks, gain_to_rms_blocks

    frame = 2048
    loud, soft, silent = np.full(frame, 0.5), np.full(frame, 0.25), np.zeros(frame)
    x = np.concatenate([loud, silent, soft, loud, silent, loud, soft, 1e-4 * loud])
    x = np.concatenate([x, np.full(100, 0.9)])  # after the last whole frame: not counted

    def blocks():
        return (x[i:i + block] for i in range(0, len(x), block))

    # three loud frames (power 0.25) and two soft (0.0625); the rest is 50 dB down or more
    assert active_rms_blocks(blocks) == pytest.approx(np.sqrt((3 * 0.25 + 2 * 0.0625) / 5))
    assert gain_to_rms_blocks(blocks, 0.1) == pytest.approx(0.1 / np.sqrt(0.175))
    short = np.full(1000, 0.3)  # shorter than a frame: its plain RMS
    assert active_rms_blocks(lambda: iter([short[:400], short[400:]])) == pytest.approx(0.3)
    assert gain_to_rms_blocks(lambda: iter([np.zeros(5000)]), 0.1) == 0.0


def test_a_failure_part_way_through_a_file_leaves_no_output_behind(tmp_path, monkeypatch):
    """The model fails on the second chunk, after the first one's blocks were written:
    an existing song is left as it was, and nothing else (no accompaniment, no temporary
    file) stays in its folder; a folder made for the outputs is gone again."""
    import sonomorph.pipelines.accompany as accompany

    monkeypatch.setattr(accompany, "READ_BLOCK_SECONDS", 1.0)
    src = tmp_path / "voice.wav"
    sf.write(src, voice(10, 11025).T, 11025)
    acc = Accompanist(Identity(**{**TINY, **COARSE}).eval(), tile_frames=32,
                      chunk_seconds=4.0, phase="model")
    render, calls = acc._render, []

    def failing(chunk, *args, **kwargs):
        calls.append(chunk.shape[-1])
        if len(calls) == 2:
            raise RuntimeError("the model failed")
        return render(chunk, *args, **kwargs)

    monkeypatch.setattr(acc, "_render", failing)
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "song.wav").write_bytes(b"an earlier song")
    with pytest.raises(RuntimeError, match="the model failed"):
        acc.accompany_file(src, kept, overwrite=True)
    assert [p.name for p in kept.iterdir()] == ["song.wav"]
    assert (kept / "song.wav").read_bytes() == b"an earlier song"
    calls.clear()
    with pytest.raises(RuntimeError, match="the model failed"):
        acc.accompany_file(src, tmp_path / "new" / "folder")
    assert not (tmp_path / "new" / "folder").exists()
