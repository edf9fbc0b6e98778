"""Scream pipeline: chunking with crossfade, one loudness normalisation per file, silence,
streaming engine against offline processing, ONNX backend, long files, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.errors import ConfigError, InputTooShortError
from sonomorph.models import save_model
from sonomorph.models.melgan import ISTFTGenerator, MelGANGenerator
from sonomorph.pipelines import scream as scream_mod
from sonomorph.pipelines.scream import Screamer, export_scream_onnx
from sonomorph.pipelines.streaming import (
    OnnxBackend,
    StreamingEngine,
    TorchBackend,
    render_chunked,
)

torch.set_num_threads(1)
SR = 22050


def tiny_istft() -> ISTFTGenerator:
    torch.manual_seed(0)
    return ISTFTGenerator(dim=16, hidden=32, n_blocks=1, kernel_size=3)


def tiny_istft_input_phase() -> ISTFTGenerator:
    torch.manual_seed(0)
    return ISTFTGenerator(dim=16, hidden=32, n_blocks=1, kernel_size=3, phase="input")


def tiny_melgan() -> MelGANGenerator:
    torch.manual_seed(0)
    g = MelGANGenerator(ngf=2, weight_norm=False)
    for name, p in g.named_parameters():  # He init: keeps the input's influence alive
        if p.dim() == 3:
            torch.nn.init.kaiming_normal_(p, a=1.0)
        elif name.endswith("bias"):
            torch.nn.init.zeros_(p)
    return g


def voice(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Mono float32 (n,): a gliding harmonic tone with syllables and a little noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.65 + 0.35 * np.sin(2 * np.pi * 2.3 * t)
    return (0.3 * x * env + 0.003 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def backend():
    return TorchBackend(tiny_istft().eval())


class IdentityBackend:
    """A 'model' returning its gained input: makes level handling visible."""

    sample_rate, hop_length, past, future, peak_guard, name = SR, 256, 0, 0, 0.01, "identity"

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        return x * np.float32(gain)


class SmoothBackend:
    """A smooth stand-in model with a known receptive field: a 63-tap low-pass, then tanh
    distortion; peak normalisation per window when gain <= 0 (as the model does)."""

    sample_rate, hop_length, past, future, peak_guard, name = SR, 256, 32, 32, 0.01, "smooth"
    taps = np.hanning(65)[1:-1] / np.hanning(65)[1:-1].sum()

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        gain = gain if gain > 0 else 1.0 / max(float(np.abs(x).max()), self.peak_guard)
        return np.tanh(3 * np.convolve(x * gain, self.taps, mode="same")).astype(np.float32)


def spectral_flux(y: np.ndarray, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Log-spectral flux per frame: mean positive rise in dB between consecutive frames
    (frame t + 1 centred at (t + 1) * hop). A click or a level jump is a broadband rise."""
    spec = np.abs(torch.stft(torch.from_numpy(np.ascontiguousarray(y)), n_fft, hop,
                             window=torch.hann_window(n_fft), return_complex=True).numpy())
    db = 20 * np.log10(spec + 1e-4)
    return np.clip(np.diff(db, axis=1), 0, None).mean(axis=0)


def seam_ratio(y: np.ndarray, seams: list[int], hop: int = 128) -> float:
    """Mean flux of the frames within 2 hops of a seam over the mean flux elsewhere."""
    flux = spectral_flux(y, hop=hop)
    centres = (np.arange(flux.shape[0]) + 1) * hop
    near = np.zeros(flux.shape[0], bool)
    for s in seams:
        near |= np.abs(centres - s) <= 2 * hop
    return float(flux[near].mean() / flux[~near].mean())


def naive_stitch(backend, x: np.ndarray, chunk: int = SR) -> np.ndarray:
    """The original's way: 1-s chunks without overlap, each normalised on its own."""
    parts = [backend(x[s: s + chunk], 0.0) for s in range(0, x.shape[0], chunk)]
    return np.concatenate([p / max(float(np.abs(p).max()), 1e-9) for p in parts])


# ----------------------------------------------------------------------------- offline


@pytest.mark.parametrize("make", [tiny_istft, tiny_melgan])
def test_chunked_rendering_equals_whole_file(make):
    be = TorchBackend(make().eval())
    x = voice(3.0)
    whole = be(x, 2.0)
    chunked = render_chunked(be, x, 2.0, chunk=SR // 2, crossfade=1024)
    assert np.abs(chunked - whole).max() <= 1e-5 * max(1.0, np.abs(whole).max())


@pytest.mark.parametrize("make", [SmoothBackend, lambda: TorchBackend(tiny_melgan().eval())])
def test_seams_have_no_more_spectral_flux_than_elsewhere(make):
    backend = make()
    x = voice(5.0) * np.linspace(0.2, 1.0, 5 * SR, dtype=np.float32)  # a crescendo
    y = Screamer(backend=backend, chunk_seconds=1.0, crossfade_seconds=0.05).process(x, SR)[0]
    seams = [k * SR for k in range(1, 5)]
    ours = seam_ratio(y, seams)
    assert ours <= 1.1
    # The same measure catches the original's clicks and loudness jumps.
    assert seam_ratio(naive_stitch(backend, x), seams) > 1.15 * ours


def test_one_loudness_normalisation_for_the_whole_file():
    """A loud half and a 20 dB quieter half keep their 20 dB apart (per-chunk normalisation
    would equalise them), and the file gets the input's RMS."""
    x = voice(4.0)
    x[2 * SR:] *= 0.1
    screamer = Screamer(backend=IdentityBackend(), chunk_seconds=0.5, crossfade_seconds=0.02)
    y = screamer.process(x, SR)[0]
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    level_in = 20 * np.log10(rms(x[: 2 * SR]) / rms(x[2 * SR:]))
    assert level_in > 19
    assert 20 * np.log10(rms(y[: 2 * SR]) / rms(y[2 * SR:])) == pytest.approx(level_in, abs=0.05)
    assert rms(y) == pytest.approx(rms(x), rel=1e-3)
    np.testing.assert_allclose(y, x, atol=1e-5)


def test_model_output_is_level_matched_and_peak_limited(backend):
    x = voice(2.0) * 3.0  # clipping-level input (peak about 1.2)
    y = Screamer(backend=backend).process(np.clip(x, -1, 1), SR)[0]
    assert np.abs(y).max() <= 0.98 + 1e-6
    quiet = Screamer(backend=backend).process(voice(2.0) * 0.01, SR)[0]
    assert np.sqrt(np.mean(quiet**2)) == pytest.approx(np.sqrt(np.mean((voice(2.0) * 0.01) ** 2)),
                                                       rel=1e-2)


@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0, 1.5])
def test_silence_stays_silent(backend, strength):
    screamer = Screamer(backend=backend, style_strength=strength)
    assert np.abs(screamer.process(np.zeros(SR, np.float32), SR)).max() == 0
    x = voice(3.0)
    x[SR: 2 * SR] = 0
    y = screamer.process(x, SR)[0]
    assert np.abs(y[SR + 1500: 2 * SR - 1500]).max() == 0
    assert np.abs(y[: SR - 2000]).max() > 0.01


def test_style_strength_zero_returns_the_input(backend):
    x = voice(1.5)
    y = Screamer(backend=backend, style_strength=0.0).process(x, SR)[0]
    np.testing.assert_allclose(y, x, atol=1e-6)
    for bad in (2.5, -0.1, float("nan")):
        with pytest.raises(ConfigError):
            Screamer(backend=backend, style_strength=bad)


class TiltBackend:
    """A 'model' that is a zero-phase filter, 1.5 - 0.5 cos(w): unchanged at DC, +6 dB at
    the Nyquist frequency (its change from the input is known exactly)."""

    sample_rate, hop_length, past, future, peak_guard, name = SR, 256, 1, 1, 0.01, "tilt"

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        gain = gain if gain > 0 else 1.0 / max(float(np.abs(x).max()), self.peak_guard)
        return np.convolve(x * gain, [-0.25, 1.5, -0.25], mode="same").astype(np.float32)


def band_tilt_db(y: np.ndarray, x: np.ndarray) -> float:
    """How much more (dB) ``y`` has of 5-10 kHz relative to 0.2-1 kHz than ``x`` has
    (1024-point hann frames, power averaged over each band)."""
    freqs = np.fft.rfftfreq(1024, 1 / SR)

    def tilt(z):
        frames = np.lib.stride_tricks.sliding_window_view(z, 1024)[::256] * np.hanning(1024)
        p = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        band = lambda lo, hi: p[:, (freqs >= lo) & (freqs < hi)].mean()  # noqa: E731
        return 10 * np.log10(band(5000, 10000) / band(200, 1000))

    return tilt(y) - tilt(x)


def test_style_strength_moves_the_output_away_from_the_input_steadily():
    """With a 'model' that lifts the highs (+3 dB at 5 kHz, +6 dB at 10 kHz): 0 is the
    input, the blend (0..1) moves steadily towards the model's lift, and above 1 the lift
    grows in proportion (2 = twice the model's change, in dB); the level stays the input's."""
    rng = np.random.default_rng(3)
    x = voice(2.0) + 0.02 * rng.standard_normal(2 * SR).astype(np.float32)  # broadband
    strengths = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]
    outs = {s: Screamer(backend=TiltBackend(), style_strength=s).process(x, SR)[0]
            for s in strengths}
    t = [band_tilt_db(outs[s], x) for s in strengths]
    assert abs(t[0]) < 1e-3 and np.abs(outs[0.0] - x).max() < 1e-6
    assert all(b > a + 0.2 for a, b in zip(t, t[1:])), t
    # the model alone: its own lift, about 10 log10 of the filter's mean power gain over
    # 5-10 kHz (flat noise there) over that of 0.2-1 kHz
    f = np.fft.rfftfreq(1024, 1 / SR)
    h2 = (1.5 - 0.5 * np.cos(2 * np.pi * f / SR)) ** 2
    lift = 10 * np.log10(h2[(f >= 5000) & (f < 10000)].mean() / h2[(f >= 200) & (f < 1000)].mean())
    assert t[4] == pytest.approx(lift, abs=0.5), (t, lift)
    assert t[7] == pytest.approx(2 * t[4], rel=0.1), t  # twice the change at strength 2
    assert t[6] == pytest.approx(1.5 * t[4], rel=0.1), t
    for s in strengths:
        y = outs[s]
        assert np.isfinite(y).all() and np.abs(y).max() <= 0.98 + 1e-6
        assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.02)


def test_strength_above_one_with_a_trained_like_model_stays_finite(backend):
    x = voice(1.5)
    y1 = Screamer(backend=backend, style_strength=1.0).process(x, SR)[0]
    y2 = Screamer(backend=backend, style_strength=2.0).process(x, SR)[0]
    assert np.isfinite(y2).all() and np.abs(y2).max() <= 0.98 + 1e-6
    assert np.abs(y2 - y1).max() > 0.01


def test_any_rate_and_channel_count_with_notes(backend):
    rate = 44100
    stereo = np.stack([voice(1.0, sr=rate), 0.5 * voice(1.0, seed=1, sr=rate)])
    notes: list[str] = []
    y = Screamer(backend=backend).process(stereo, rate, notes=notes)
    assert y.shape == (1, rate)
    assert any("downmixed" in n for n in notes) and any("44100" in n for n in notes)


def test_bad_input_is_refused(backend):
    with pytest.raises(InputTooShortError, match="too short"):
        Screamer(backend=backend).process(np.zeros(1, np.float32), SR)
    with pytest.raises(ConfigError, match="NaN"):
        Screamer(backend=backend).process(np.full(4096, np.nan, np.float32), SR)


def test_growl_preset_needs_no_model():
    x = voice(1.0)
    y = Screamer(preset="growl").process(x, SR)[0]
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y - x).max() > 0.01
    assert np.abs(Screamer(preset="growl").process(np.zeros(SR, np.float32), SR)).max() == 0


# ----------------------------------------------------------------------------- files


def test_long_files_take_the_constant_memory_path(tmp_path, backend, monkeypatch):
    src = tmp_path / "in.wav"
    sf.write(src, np.stack([voice(3.0, sr=32000), voice(3.0, seed=2, sr=32000)]).T, 32000,
             subtype="FLOAT")
    screamer = Screamer(backend=backend, chunk_seconds=1.0)
    short = screamer.process_file(src, tmp_path / "a.wav", bit_depth="32f")
    monkeypatch.setattr(scream_mod, "LONG_FILE_S", 1.0)
    monkeypatch.setattr(scream_mod, "_LONG_BLOCK", 5000)
    long = screamer.process_file(src, tmp_path / "b.wav", bit_depth="32f")
    assert long.streamed and not short.streamed
    a, ra = sf.read(tmp_path / "a.wav", dtype="float32")
    b, rb = sf.read(tmp_path / "b.wav", dtype="float32")
    assert ra == rb == 32000 and a.shape == b.shape == (96000,)
    # Same gain, same model output; only the streaming resampler's edges differ slightly.
    assert np.abs(a[2000:-2000] - b[2000:-2000]).max() < 2e-3 * np.abs(a).max()
    assert any("downmixed" in n for n in long.notes)
    # above 1 (the exaggeration runs in chunks of its own) the two paths agree too
    screamer.style_strength = 1.6
    screamer.process_file(src, tmp_path / "c.wav", bit_depth="32f")
    monkeypatch.setattr(scream_mod, "LONG_FILE_S", 600.0)
    screamer.process_file(src, tmp_path / "d.wav", bit_depth="32f")
    c, _ = sf.read(tmp_path / "c.wav", dtype="float32")
    d, _ = sf.read(tmp_path / "d.wav", dtype="float32")
    assert c.shape == d.shape == (96000,)
    assert np.abs(c[2000:-2000] - d[2000:-2000]).max() < 2e-3 * np.abs(d).max()
    assert np.abs(c - a).max() > 0.05 * np.abs(a).max()  # and differs from strength 1


def test_outputs_never_replace_inputs_or_existing_files(tmp_path, backend):
    from sonomorph.errors import OutputExistsError

    src = tmp_path / "in.wav"
    sf.write(src, voice(1.0), SR)
    screamer = Screamer(backend=backend)
    with pytest.raises(OutputExistsError):
        screamer.process_file(src, src, overwrite=True)
    screamer.process_file(src, tmp_path / "out.wav")
    with pytest.raises(OutputExistsError):
        screamer.process_file(src, tmp_path / "out.wav")
    screamer.process_file(src, tmp_path / "out.wav", overwrite=True)


# ----------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("make", [tiny_istft, tiny_istft_input_phase, tiny_melgan])
@pytest.mark.parametrize("block", [256, 2048, 300])
def test_streaming_equals_offline_after_the_reported_latency(make, block):
    """Fed block by block, the engine reproduces whole-file processing delayed by its
    look-ahead. Tolerance: float32 rounding only (1e-5 of full scale), since every kept
    sample had its whole receptive field inside the window it was computed from."""
    be = TorchBackend(make().eval())
    x = voice(1.2)
    offline = be(x, 2.0)
    engine = StreamingEngine(be, block, gain=2.0)
    out = [engine.process(x[i: i + block]) for i in range(0, x.shape[0], block)]
    assert all(o.shape[0] == min(block, x.shape[0] - i)
               for o, i in zip(out, range(0, x.shape[0], block)))
    stream = np.concatenate([*out, engine.flush()])
    d = engine.delay
    assert engine.latency_samples == d + block
    assert np.all(stream[:d] == 0)
    assert stream.shape[0] == x.shape[0] + d
    assert np.abs(stream[d:] - offline).max() <= 1e-5 * max(1.0, np.abs(offline).max())
    # Bounded state: input history and pending output never exceed the receptive field.
    assert engine.state_samples <= be.past + 2 * be.future + 2 * block + 2 * be.hop_length


def test_fast_generator_streams_within_50_ms(backend):
    engine = StreamingEngine(backend, 256)
    assert engine.incremental  # frame by frame, not a recomputed window per block
    assert engine.latency_samples == 766 + 256 and engine.latency_ms <= 50.0
    live = StreamingEngine(backend, 256, fixed_blocks=True)  # a sound card's fixed blocks
    assert live.latency_samples == 511 + 256 and live.latency_ms < 35
    x = voice(1.0)[: 80 * 256]
    offline = backend(x, 2.0)
    live = StreamingEngine(backend, 256, gain=2.0, fixed_blocks=True)
    out = np.concatenate([*(live.process(x[i: i + 256]) for i in range(0, x.shape[0], 256)),
                          live.flush()])
    assert np.abs(out[live.delay:] - offline).max() <= 1e-5
    with pytest.raises(ConfigError, match="exactly 256"):
        live.process(np.zeros(100, np.float32))
    window = StreamingEngine(backend, 256, incremental=False)
    assert not window.incremental and window.delay == backend.future == 766
    assert not StreamingEngine(TorchBackend(tiny_melgan().eval()), 256).incremental
    with pytest.raises(ConfigError):
        StreamingEngine(backend, 128)


def test_streaming_runs_the_onnx_model(tmp_path):
    model = tiny_istft_input_phase()
    ckpt = save_model(tmp_path / "tiny.safetensors", model)
    path, diff = export_scream_onnx(tmp_path / "tiny.onnx", ckpt)
    assert diff < 1e-3
    onnx_be, torch_be = OnnxBackend(path), TorchBackend(model.eval())
    assert (onnx_be.past, onnx_be.future) == (torch_be.past, torch_be.future)
    x = voice(1.5)
    offline = torch_be(x, 0.0)
    engine = StreamingEngine(onnx_be, 512, gain=1.0 / np.abs(x).max())
    stream = np.concatenate([*(engine.process(x[i: i + 512]) for i in range(0, x.shape[0], 512)),
                             engine.flush()])
    assert np.abs(stream[engine.delay:] - offline).max() < 1e-3


def test_auto_gain_follows_the_input_level(backend):
    engine = StreamingEngine(backend, 256)  # gain="auto"
    x = voice(1.0) * 0.05
    for i in range(0, x.shape[0], 256):
        engine.process(x[i: i + 256])
    # Within the 3 dB/s release of the input's peak...
    assert engine._current_gain(np.zeros(256, np.float32)) == pytest.approx(
        1 / np.abs(x).max(), rel=0.05)
    # ... and a louder block takes effect at once (instant attack).
    assert engine._current_gain(np.full(256, 0.5, np.float32)) == pytest.approx(2.0)


# ----------------------------------------------------------------------------- shipped model


def test_shipped_model_loads_and_transforms():
    """The default model (sonomorph/pretrained/scream.safetensors, with its card): small, the
    fast generator, streams within 50 ms; on the example spoken line it keeps the words
    (mel correlation), changes the sound, and keeps silence silent."""
    from pathlib import Path

    from sonomorph import pretrained
    from sonomorph.audio.io import load
    from sonomorph.eval.scream import mel_correlation
    from sonomorph.models import read_metadata

    path = pretrained.path_for("scream")
    meta = read_metadata(path)
    assert meta["kind"] == "scream" and meta["model"] == "scream_istft"
    assert meta["sample_rate"] == SR
    assert path.stat().st_size < 2 * 2**20  # float16, small enough to ship in the wheel
    assert pretrained.model_card("scream") is not None
    screamer = Screamer()  # "default"
    assert StreamingEngine(screamer.backend, 256).latency_ms <= 50.0
    example = Path(__file__).resolve().parents[1] / "examples" / "spoken_voice.ogg"
    x = load(example, sr=SR, channels=1)[0][0]
    y = screamer.process(x, SR)[0]
    assert y.shape == x.shape and np.isfinite(y).all()
    assert mel_correlation(x, y) > 0.75  # the words are kept ...
    from sonomorph.audio.spectral import MelSpectrogram

    mel = MelSpectrogram(SR, 1024, 256, 80, power=1.0, log=True, log_floor=1e-5, log_base="10")

    def db(a):
        return 20 * mel(torch.from_numpy(a / np.abs(a).max())[None])[0].numpy()

    ref = db(x)
    active = ref.max(axis=0) > ref.max() - 60
    change = np.sqrt(np.mean((db(y) - ref)[:, active] ** 2))
    assert change > 6.0, change  # ... and the sound is not the input's (a level change: 0)
    quiet = np.concatenate([x[:SR], np.zeros(SR, np.float32), x[:SR]])
    out = screamer.process(quiet, SR)[0]
    assert np.abs(out[SR + 1500: 2 * SR - 1500]).max() == 0
