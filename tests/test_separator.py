"""The separator network and the streaming Separator pipeline (a tiny random model on short
synthetic signals: these tests check behaviour, not quality)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sonomorph.errors import ConfigError, InputTooShortError
from sonomorph.models.separator import MaskSeparator, wiener_refine
from sonomorph.pipelines.separate import ChunkEngine, Separator

SR = 44100


def tiny_model(seed: int = 0, **overrides) -> MaskSeparator:
    torch.manual_seed(seed)
    args = dict(n_fft=1024, hop=256, hidden=16, layers=2)
    args.update(overrides)
    model = MaskSeparator(**args)
    with torch.no_grad():  # a mask far from 0.5 everywhere would hide bugs: spread it
        model.dec_bias.normal_(0.0, 2.0)
    return model.eval()


def song(seconds: float = 2.0, sr: int = SR, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A harmonic 'voice' over noise, different on each channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    voice = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 5)) * 0.2
    x = np.stack([voice + 0.05 * rng.standard_normal(t.size) * (c + 1) for c in range(channels)])
    return x.astype(np.float32)


# ----------------------------------------------------------------------------- model


def test_forward_shapes_and_exact_residual():
    model = tiny_model()
    mix = torch.from_numpy(song(0.5))[None]
    with torch.no_grad():
        stems = model(mix)
    assert stems.shape == (1, 2, 2, mix.shape[-1])
    assert torch.allclose(stems.sum(dim=1), mix, atol=1e-4)
    # A real separation: neither stem is the whole mixture or silence.
    v = stems[0, 0].pow(2).mean().item()
    assert 0.01 * mix.pow(2).mean().item() < v < mix.pow(2).mean().item()


def test_mask_is_bounded_and_training_outputs_match():
    model = tiny_model()
    mix = torch.from_numpy(song(0.3))[None]
    with torch.no_grad():
        stems, mask, spec = model(mix, return_mask=True)
        plain = model(mix)
    assert mask.shape == spec.shape and spec.is_complex()
    assert mask.min() >= 0 and mask.max() <= 1
    assert torch.allclose(stems, plain, atol=1e-6)


def test_silence_gives_silence_never_nan():
    model = tiny_model()
    with torch.no_grad():
        stems = model(torch.zeros(1, 2, 8000))
    assert torch.isfinite(stems).all()
    assert stems.abs().max() == 0


def test_wiener_refinement_keeps_the_mixture_and_shapes():
    model = tiny_model()
    mix = torch.from_numpy(song(0.5))[None]
    with torch.no_grad():
        refined = model(mix, wiener_iterations=2)
        plain = model(mix)
    assert refined.shape == plain.shape
    assert torch.isfinite(refined).all()
    assert torch.allclose(refined.sum(dim=1), mix, atol=1e-4)
    assert not torch.allclose(refined, plain, atol=1e-3)  # it does change the estimate
    # A mask of ones makes the vocals (almost) the whole mixture, whatever the covariances.
    spec = model.spectrogram(mix)
    ones = wiener_refine(spec, torch.ones(spec.shape), 1)
    assert torch.allclose(ones, spec, atol=1e-3 * spec.abs().max().item())


def test_checkpoint_round_trip(tmp_path):
    from sonomorph.models import load_model, save_model

    model = tiny_model()
    path = save_model(tmp_path / "sep.safetensors", model, meta={"sample_rate": SR})
    loaded, meta = load_model(path, expect="separator")
    mix = torch.from_numpy(song(0.3))[None]
    with torch.no_grad():
        assert torch.allclose(loaded(mix), model(mix), atol=1e-6)
    assert meta["args"]["hidden"] == 16 and meta["kind"] == "separator"


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError):
        MaskSeparator(core="transformer")
    with pytest.raises(ConfigError):
        MaskSeparator(kernel=4)


# ----------------------------------------------------------------------------- chunking


def test_chunk_engine_identity_is_exact_for_any_block_sizes():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 10_007)).astype(np.float32)
    seen = []

    def fn(chunk):
        seen.append(chunk.shape[-1])
        return chunk.copy()

    engine = ChunkEngine(fn, chunk=1000, overlap=250)
    out, pos = [], 0
    while pos < x.shape[1]:
        n = int(rng.integers(1, 3000))
        out += engine.push(x[:, pos:pos + n])
        pos += n
    out += engine.finish()
    y = np.concatenate(out, axis=1)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-6)  # complementary fades sum to one
    assert max(seen) <= 1000  # never more than one chunk at once


def test_chunked_output_matches_long_chunks_without_seams():
    model = tiny_model()
    x = song(4.0)
    long = Separator(model, chunk_seconds=30.0).separate(x, SR)["vocals"]
    short = Separator(model, chunk_seconds=1.0, overlap=0.25).separate(x, SR)["vocals"]
    err = short - long
    rms = np.sqrt(np.mean(long**2))
    # Chunk edges only change the output over the model's receptive field (about 40 ms
    # here), inside the cross-fades, where the fading chunk has almost no weight.
    assert np.sqrt(np.mean(err**2)) < 0.02 * rms
    assert np.abs(err).max() < 0.2 * np.abs(long).max()
    # No step at the chunk boundaries: the largest sample-to-sample jump is not larger
    # than in the one-chunk output.
    assert np.abs(np.diff(short, axis=1)).max() < 1.1 * np.abs(np.diff(long, axis=1)).max()


def test_memory_is_bounded_by_the_chunk_not_the_input():
    model = tiny_model()
    sizes = []
    forward = model.forward

    def spy(x, *args, **kwargs):
        sizes.append(x.shape[-1])
        return forward(x, *args, **kwargs)

    model.forward = spy  # type: ignore[method-assign]
    sep = Separator(model, chunk_seconds=0.5, overlap=0.1)
    out = sep.separate(song(6.0), SR)
    assert out["vocals"].shape[1] == 6 * SR
    assert max(sizes) <= sep.chunk
    assert len(sizes) >= 6 / 0.45 - 1  # processed piece by piece


# ----------------------------------------------------------------------------- pipeline


@pytest.mark.parametrize("channels", [1, 2])
def test_separate_keeps_shape_and_sums_to_input(channels):
    x = song(1.5, channels=channels)
    out = Separator(tiny_model(), chunk_seconds=1.0).separate(x, SR)
    assert set(out) == {"vocals", "accompaniment"}
    for stem in out.values():
        assert stem.shape == x.shape and stem.dtype == np.float32
    np.testing.assert_allclose(out["vocals"] + out["accompaniment"], x, atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 96000, 192000])
def test_any_sample_rate_comes_back_at_its_rate(rate):
    x = song(1.0, sr=rate, channels=1)
    out = Separator(tiny_model()).separate(x, rate)
    assert out["vocals"].shape == x.shape
    np.testing.assert_allclose(out["vocals"] + out["accompaniment"], x, atol=1e-4)
    assert np.sqrt(np.mean(out["vocals"] ** 2)) > 1e-4  # the model did see the audio


def test_six_channels_are_downmixed_with_a_warning():
    x = np.concatenate([song(0.5), song(0.5, seed=1), song(0.5, seed=2)])
    with pytest.warns(UserWarning, match="6 channels"):
        out = Separator(tiny_model()).separate(x, SR)
    assert out["vocals"].shape == (2, x.shape[1])


def test_silence_and_clipping():
    sep = Separator(tiny_model())
    silent = sep.separate(np.zeros((2, SR), np.float32), SR)
    assert all(np.isfinite(v).all() and np.abs(v).max() == 0 for v in silent.values())
    clipped = np.clip(song(1.0) * 20, -1, 1)  # a square-ish, fully clipped signal
    out = sep.separate(clipped, SR)
    assert all(np.isfinite(v).all() for v in out.values())
    np.testing.assert_allclose(out["vocals"] + out["accompaniment"], clipped, atol=1e-4)


def test_shorter_than_a_chunk_and_too_short():
    sep = Separator(tiny_model(), chunk_seconds=30.0)
    short = song(0.1)  # much shorter than a chunk, longer than one STFT window
    assert sep.separate(short, SR)["vocals"].shape == short.shape
    with pytest.raises(InputTooShortError, match="too short"):
        sep.separate(np.zeros((2, 1), np.float32), SR)


def test_progress_callback_reaches_the_total():
    calls = []
    x = song(3.0)
    Separator(tiny_model(), chunk_seconds=1.0).separate(
        x, SR, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] == x.shape[1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError):
        Separator(tiny_model(), overlap=1.0)
    with pytest.raises(ConfigError):
        Separator(tiny_model(), chunk_seconds=0)


def test_separate_file_streams_to_wav_and_keeps_rate(tmp_path, write_audio):
    import soundfile as sf

    src = write_audio("in/song.flac", song(1.2, sr=48000), 48000)
    paths = Separator(tiny_model()).separate_file(src, tmp_path / "out", format="flac",
                                                  bit_depth="24")
    assert set(paths) == {"vocals", "karaoke"}
    assert paths["vocals"] == tmp_path / "out" / "song" / "vocals.flac"
    v, sr = sf.read(paths["vocals"], always_2d=True)
    k, _ = sf.read(paths["karaoke"], always_2d=True)
    x, _ = sf.read(src, always_2d=True)
    assert sr == 48000 and v.shape == x.shape == k.shape
    assert sf.info(paths["vocals"]).subtype == "PCM_24"
    np.testing.assert_allclose(v + k, x, atol=1e-3)


def test_shipped_model_loads_and_separates():
    from sonomorph import pretrained
    from sonomorph.models import read_metadata

    path = pretrained.path_for("separator")
    meta = read_metadata(path)
    assert meta["kind"] == "separator" and meta["sample_rate"] == SR
    assert path.stat().st_size < 8 * 2**20  # small enough to ship in the wheel
    assert pretrained.model_card("separator") is not None
    sep = Separator()  # "default"
    x = song(1.0)
    out = sep.separate(x, SR)
    np.testing.assert_allclose(out["vocals"] + out["accompaniment"], x, atol=1e-4)
    assert 0 < np.sqrt(np.mean(out["vocals"] ** 2)) < np.sqrt(np.mean(x**2))


def test_augment_batch_band_limits_and_scales_both_stems_alike():
    from sonomorph.data.stem_augment import augment_batch

    gen = torch.Generator().manual_seed(0)
    vocals = torch.randn(16, 2, 8192, generator=gen) * 0.5
    acc = torch.randn(16, 2, 8192, generator=gen) * 0.5
    v, a = augment_batch(vocals, acc, SR, level_db=(-30.0, 0.0), lowpass_probability=1.0,
                         lowpass_hz=(4000.0, 8000.0), generator=gen)
    spec = torch.fft.rfft(v + a, dim=-1).abs()
    freqs = torch.fft.rfftfreq(8192, 1.0 / SR)
    above = spec[..., freqs > 8600.0]  # past the highest cut plus its 500-Hz edge
    assert float(above.max()) < 1e-3 * float(spec.max())
    assert float((v + a).abs().max()) <= 1.0 + 1e-6  # never past full scale
    # the level changes per example (over a 30-dB range), the same for both stems
    gains = (v.pow(2).mean((1, 2)) / a.pow(2).mean((1, 2))).log10() * 10
    ref = (vocals.pow(2).mean((1, 2)) / acc.pow(2).mean((1, 2))).log10() * 10
    torch.testing.assert_close(gains, ref, atol=0.5, rtol=0)
    levels = 10 * (v + a).pow(2).mean((1, 2)).log10()
    assert float(levels.max() - levels.min()) > 10.0
    # with probability 0 nothing is band-limited
    v0, a0 = augment_batch(vocals, acc, SR, level_db=(0.0, 0.0), lowpass_probability=0.0)
    peak = (vocals + acc).abs().amax(dim=(1, 2), keepdim=True).clamp_min(1.0)
    torch.testing.assert_close(v0, vocals / peak)
    torch.testing.assert_close(a0, acc / peak)


def test_shipped_model_finds_the_voice_in_a_lossy_file_at_any_level():
    """A lossy (Ogg Vorbis) song must still give the voice back, at about the right level,
    whether the song is loud or 20 dB quieter. The song is made here: the example festival
    singing (examples/sung_voice.ogg) over the example rock clip (examples/genre_clip.ogg),
    at equal loudness, the music a little quieter on the right, written to Ogg Vorbis in
    memory and read back (nothing above ~16 kHz survives)."""
    import io
    from pathlib import Path

    import soundfile as sf

    from sonomorph.audio.io import load

    root = Path(__file__).resolve().parents[1] / "examples"
    voice, _ = load(root / "sung_voice.ogg", SR)
    music, _ = load(root / "genre_clip.ogg", SR)
    n = min(voice.shape[-1], music.shape[-1])
    voice, music = voice[:, :n].mean(0), music[:, :n].mean(0)
    voice = 0.1 * voice / np.sqrt(np.mean(voice**2))
    music = 0.1 * music / np.sqrt(np.mean(music**2))
    buf = io.BytesIO()
    sf.write(buf, np.stack([voice + music, voice + 0.8 * music]).T, SR, format="OGG",
             subtype="VORBIS")
    buf.seek(0)
    x = sf.read(buf, dtype="float32")[0].T

    def db(a):
        return 10 * np.log10(np.mean(np.square(a)) + 1e-20)

    def si_sdr(est):
        target = np.dot(est, voice) / np.dot(voice, voice) * voice
        return 10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2))

    sep = Separator()
    results = {}
    for gain_db in (0.0, -20.0):
        g = 10 ** (gain_db / 20)
        v = sep.separate(x * g, SR)["vocals"].mean(0) / g
        results[gain_db] = (db(v), si_sdr(v))
    baseline = si_sdr(x.mean(0))
    for level, quality in results.values():
        assert abs(level - db(voice)) < 6.0  # not near-silent, not the whole mixture
        assert quality > baseline + 1.0  # better than doing nothing (measured: +2.6 dB)
    assert abs(results[0.0][1] - results[-20.0][1]) < 2.0  # the level barely matters


def test_varispeed_batch_is_exact_at_one_and_moves_a_tone_by_the_ratio():
    from sonomorph.data.stem_augment import varispeed_batch

    n = 8192
    t = torch.arange(2 * n, dtype=torch.float32) / SR
    tone = torch.sin(2 * math.pi * 1000.0 * t).expand(2, 2, -1).clone()  # (B=2, C=2, 2n)
    out = varispeed_batch(tone, torch.tensor([1.0, 1.25]), n)
    assert out.shape == (2, 2, n)
    torch.testing.assert_close(out[0], tone[0, :, :n], rtol=0, atol=0)  # ratio 1: untouched
    spec = torch.fft.rfft(out[1, 0] * torch.hann_window(n), dim=-1).abs()
    peak_hz = float(torch.fft.rfftfreq(n, 1.0 / SR)[spec.argmax()])
    assert abs(peak_hz - 1250.0) < 2 * SR / n  # 1 kHz played 1.25x faster: 1.25 kHz


def test_limiter_keeps_the_mixture_the_sum_and_holds_peaks_near_full_scale():
    from sonomorph.data.stem_augment import limit_batch

    gen = torch.Generator().manual_seed(1)
    vocals = torch.randn(3, 2, 22050, generator=gen) * 0.03  # peaks about 0.2
    acc = torch.randn(3, 2, 22050, generator=gen) * 0.03
    v, a = limit_batch(vocals, acc, torch.tensor([0.0, 6.0, 12.0]), SR)
    # one gain curve for both stems: the ratio of the stems is unchanged sample by sample
    torch.testing.assert_close(v * acc, a * vocals, rtol=1e-4, atol=1e-6)
    peaks = (v + a).abs().amax(dim=(1, 2))
    assert float(peaks.max()) <= 1.0 + 1e-5
    # 12 dB of drive (x4) pushes the peaks past full scale: the limiter holds them, and the
    # result is still louder on average than the input
    assert float((v[2] + a[2]).pow(2).mean()) > float((vocals[2] + acc[2]).pow(2).mean())


def test_augment_batch_varispeed_gives_the_asked_length_and_stems_sum():
    from sonomorph.data.stem_augment import augment_batch

    gen = torch.Generator().manual_seed(2)
    vocals = torch.randn(4, 2, 12000, generator=gen) * 0.2
    acc = torch.randn(4, 2, 12000, generator=gen) * 0.2
    v, a = augment_batch(vocals, acc, SR, speed_range=(0.9, 1.1), speed_probability=1.0,
                         length=10000, limiter_probability=1.0, lowpass_probability=0.0,
                         generator=gen)
    assert v.shape == a.shape == (4, 2, 10000)
    assert float((v + a).abs().max()) <= 1.0 + 1e-6
    assert not torch.allclose(v, vocals[..., :10000])


def test_lr_schedule_warms_up_holds_and_decays_only_at_the_end():
    from sonomorph.train.recipes.separator import SeparatorTrainConfig, lr_factor

    cfg = SeparatorTrainConfig(data="x", steps=1000, lr=1e-3, lr_final=1e-4, warmup_steps=100,
                               decay_steps=200)
    assert lr_factor(0, cfg) == pytest.approx(0.01)
    assert lr_factor(99, cfg) == pytest.approx(1.0)
    assert lr_factor(500, cfg) == 1.0
    assert lr_factor(800, cfg) == 1.0
    assert lr_factor(900, cfg) == pytest.approx(0.55)
    assert lr_factor(1000, cfg) == pytest.approx(0.1)
    # raising the total steps on resume moves only the decay: step 900 is back at full rate
    cfg.steps = 3000
    assert lr_factor(900, cfg) == 1.0


def test_complex_loss_term_penalises_a_wrong_phase_that_magnitudes_miss():
    from sonomorph.train.recipes.separator import MaskedSeparationLoss

    window = torch.hann_window(16)
    loss = MaskedSeparationLoss(window, wave_weight=0.0, complex_weight=1.0)
    mix = torch.polar(torch.ones(1, 1, 4, 3), torch.zeros(1, 1, 4, 3))
    flipped = torch.polar(torch.full((1, 1, 4, 3), 0.5), torch.full((1, 1, 4, 3), math.pi))
    same = torch.polar(torch.full((1, 1, 4, 3), 0.5), torch.zeros(1, 1, 4, 3))
    mask = torch.full((1, 1, 4, 3), 0.5)
    wave = torch.zeros(1, 2, 1, 8)
    right = loss(mix, mask, same, mix - same, wave, wave)
    wrong = loss(mix, mask, flipped, mix - flipped, wave, wave)
    assert float(right["spec_l1"]) == pytest.approx(0.0, abs=1e-7)
    # the vocals' magnitude is right, only its phase is flipped: the magnitude term sees
    # the accompaniment's error alone, the complex term both
    assert float(wrong["spec_l1"]) < float(wrong["complex_l1"])
    assert float(right["complex_l1"]) == pytest.approx(0.0, abs=1e-7)
    assert float(wrong["complex_l1"]) > 0.1


def test_thresholded_sdr_loss_is_the_negative_sdr_in_db_with_a_ceiling_and_a_silence_floor():
    from sonomorph.models.losses import ThresholdedSDRLoss

    loss = ThresholdedSDRLoss(max_sdr_db=30.0, silence_db=30.0)
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 2, 4000, generator=gen)
    noise = torch.randn(2, 2, 4000, generator=gen)
    noise = noise / noise.square().sum(dim=(1, 2), keepdim=True).sqrt()
    ref_e = ref.square().sum(dim=(1, 2), keepdim=True)
    mix = torch.zeros_like(ref)  # no mixture: no silence floor
    # a perfect estimate sits at the ceiling, -30 dB
    assert float(loss(ref, ref, mix)) == pytest.approx(-30.0, abs=1e-3)
    # an error 10 dB below the target: -10 dB, plus the ceiling's 1e-3 share
    est = ref + noise * (0.1 * ref_e).sqrt()
    assert float(loss(est, ref, mix)) == pytest.approx(10 * math.log10(0.1 + 1e-3), abs=1e-3)
    # the same example 40 dB quieter scores the same (an L1 loss would shrink 100-fold)
    assert float(loss(est * 0.01, ref * 0.01, mix)) == pytest.approx(float(loss(est, ref, mix)),
                                                                     abs=1e-3)
    # a silent target: a silent estimate costs nothing, one as loud as the mixture +30 dB
    silent = torch.zeros_like(ref)
    assert float(loss(silent, silent, ref)) == pytest.approx(0.0, abs=1e-4)
    assert float(loss(ref, silent, ref)) == pytest.approx(10 * math.log10(1 + 1e3), abs=1e-3)
    with pytest.raises(ValueError):
        loss(ref[:, :1], ref, mix)


def test_separation_loss_adds_the_sdr_term_only_when_weighted():
    from sonomorph.train.recipes.separator import MaskedSeparationLoss

    window = torch.hann_window(16)
    mix = torch.polar(torch.ones(1, 1, 4, 3), torch.zeros(1, 1, 4, 3))
    mask = torch.full((1, 1, 4, 3), 0.5)
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(1, 2, 1, 64, generator=gen)
    estimate = target + 0.3 * torch.randn(1, 2, 1, 64, generator=gen)
    plain = MaskedSeparationLoss(window)(mix, mask, mix / 2, mix / 2, estimate, target)
    weighted = MaskedSeparationLoss(window, sdr_weight=0.01)(mix, mask, mix / 2, mix / 2,
                                                             estimate, target)
    assert "sdr_db" not in plain
    # an estimate with errors well below the target has a negative SDR loss
    assert float(weighted["sdr_db"]) < -3.0
    assert float(weighted["loss"]) == pytest.approx(
        float(plain["loss"]) + 0.01 * float(weighted["sdr_db"]), rel=1e-5)
    with pytest.raises(ConfigError):
        from sonomorph.train.recipes.separator import SeparatorTrainConfig
        SeparatorTrainConfig(data="x", sdr_weight=-1.0).validate()


def test_augment_batch_solo_silences_one_stem_of_some_examples():
    from sonomorph.data.stem_augment import augment_batch

    gen = torch.Generator().manual_seed(3)
    vocals = torch.randn(64, 2, 2048, generator=gen) * 0.1
    acc = torch.randn(64, 2, 2048, generator=gen) * 0.1
    v, a = augment_batch(vocals, acc, SR, level_db=(0.0, 0.0), lowpass_probability=0.0,
                         solo_probability=0.5, generator=gen)
    v_silent = v.abs().amax(dim=(1, 2)) == 0
    a_silent = a.abs().amax(dim=(1, 2)) == 0
    assert not bool((v_silent & a_silent).any())  # never both
    assert int(v_silent.sum()) > 5 and int(a_silent.sum()) > 5  # both kinds occur (seeded)
    keep = ~(v_silent | a_silent)
    torch.testing.assert_close(v[keep], vocals[keep])


def test_validation_goes_on_past_an_excerpt_with_a_silent_source():
    """A pause in a real voice gives a validation excerpt with silent vocals; museval
    refuses it, which once stopped a training run. It is left out of the vocals median."""
    from types import SimpleNamespace

    from sonomorph.train.recipes.separator import SeparatorTask

    x = torch.from_numpy(np.stack([song(1.0, seed=0), song(1.0, seed=1)]))
    vocals = x * 0.5
    vocals[0] = 0.0  # the first excerpt's voice is silent
    batch = {"mixture": x, "vocals": vocals, "accompaniment": x - vocals}
    task = SimpleNamespace(sample_rate=SR, config=SimpleNamespace(val_bsseval=True))
    scores = SeparatorTask.validate(task, {"separator": tiny_model()}, [batch])
    assert math.isfinite(scores["vocals_sdr"]) and math.isfinite(scores["accompaniment_sdr"])
