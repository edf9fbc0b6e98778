"""Behaviour of sonomorph.audio.spectral: exactness against torch/librosa references, ONNX export,
buffers (state_dict, dtype moves, no shared caches), inverse mel and Griffin-Lim quality."""

from __future__ import annotations

import functools
import io
import warnings

import librosa
import numpy as np
import onnxruntime as ort
import pytest
import torch

import sonomorph.audio.spectral as spectral
from sonomorph.audio.inverse import GriffinLim, InverseMel, MelToAudio, spectral_convergence
from sonomorph.audio.spectral import ISTFT, STFT, MelSpectrogram, Spectrogram
from sonomorph.errors import ConfigError, InputTooShortError, SonomorphError

SR = 22050


def _signal(n: int = SR, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Two tones plus noise: broadband, so every mel band carries energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 1375 * t + 1.0)
    return (x + 0.1 * rng.standard_normal(n)).astype(np.float32)


def _harmonic(n: int = 16000, sr: int = 16000) -> torch.Tensor:
    """A 200 Hz tone with 7 harmonics (1/k amplitudes)."""
    t = np.arange(n) / sr
    return torch.from_numpy(
        sum(0.3 / k * np.sin(2 * np.pi * 200 * k * t) for k in range(1, 8)).astype(np.float32))


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|: the error relative to the largest reference value."""
    return float(np.abs(a - b).max() / np.abs(b).max())


# ----------------------------------------------------------------------------- STFT / ISTFT


def test_stft_istft_round_trip_float32_within_1e5():
    """STFT -> ISTFT gives the signal back: max abs error < 1e-5 in float32, batch dims kept."""
    x = torch.from_numpy(np.stack([_signal(10000, s) for s in range(6)]).reshape(2, 3, 10000))
    stft, istft = STFT(1024, 256), ISTFT(1024, 256)
    spec = stft(x)
    assert spec.shape == (2, 3, 513, 1 + 10000 // 256)
    assert spec.dtype == torch.complex64
    y = istft(spec, length=x.shape[-1])
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert (y - x).abs().max().item() < 1e-5


def test_stft_matches_torch_stft_and_librosa():
    x = _signal(8000)
    ours = STFT(512, 128, pad_mode="constant")(torch.from_numpy(x)).numpy()
    ref = librosa.stft(x, n_fft=512, hop_length=128, pad_mode="constant")
    assert ours.shape == ref.shape
    assert _max_rel(ours, ref) < 1e-5


# ----------------------------------------------------------------------------- spectrograms


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_conv_backend_agrees_with_torch_backend(power):
    """The exportable conv STFT equals torch.stft to 1e-5 relative (max-normalised), also with a
    hamming window shorter than n_fft (zero-padded window) and constant padding."""
    x = torch.from_numpy(_signal(12000)).reshape(1, 1, -1).repeat(2, 1, 1)
    for kw in (dict(n_fft=2048, hop_length=512),
               dict(n_fft=1024, hop_length=200, win_length=800, window="hamming",
                    pad_mode="constant")):
        a = Spectrogram(**kw, power=power)(x)
        b = Spectrogram(**kw, power=power, backend="conv")(x)
        assert a.shape == b.shape == (2, 1, kw["n_fft"] // 2 + 1, 1 + 12000 // kw["hop_length"])
        assert _max_rel(b.numpy(), a.numpy()) < 1e-5


@pytest.mark.parametrize("backend", ["torch", "conv"])
@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_mel_matches_librosa_within_1e4_relative(pad_mode, power, backend):
    """Against librosa.feature.melspectrogram with the same padding (librosa 0.11 defaults to
    pad_mode="constant", so it is given on both sides).

    Measure: every bin must satisfy |ours - ref| <= 1e-4 * (|ref| + 1e-6 * max|ref|): a 1e-4
    relative error on each bin down to 60 dB (power) below the peak, where float32 rounding of
    the peak's energy (~1e-7 of the peak) starts to dominate. This is stricter than
    max|a-b| / max|b| <= 1e-4, which would let quiet bins be wrong by orders of magnitude.
    """
    x = _signal()
    mel = MelSpectrogram(SR, 2048, 512, n_mels=128, power=power, pad_mode=pad_mode,
                         backend=backend)
    ours = mel(torch.from_numpy(x)).numpy()
    ref = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=2048, hop_length=512, n_mels=128,
                                         power=power, pad_mode=pad_mode)
    assert ours.shape == ref.shape == (128, 1 + SR // 512)
    err = np.abs(ours - ref) / (np.abs(ref) + 1e-6 * np.abs(ref).max())
    assert err.max() <= 1e-4
    assert mel.n_mels == 128 and mel.sample_rate == SR and mel.fmax == SR / 2
    assert mel.n_fft == 2048 and mel.hop_length == 512 and mel.power == power


def test_mel_log_variants():
    """log(max(x, floor)) in base e, 10 and dB (10 log10 for power, 20 log10 for magnitude)."""
    x = torch.from_numpy(_signal(8000))
    x[:2000] = 0.0  # silent frames hit the floor
    for power in (1.0, 2.0):
        lin = MelSpectrogram(SR, 1024, 256, n_mels=40, power=power)(x)
        floor = 1e-5
        for base, expect in (("e", torch.log(lin.clamp_min(floor))),
                             ("10", torch.log10(lin.clamp_min(floor))),
                             ("db", 20.0 / power * torch.log10(lin.clamp_min(floor)))):
            out = MelSpectrogram(SR, 1024, 256, n_mels=40, power=power, log=True,
                                 log_floor=floor, log_base=base)(x)
            torch.testing.assert_close(out, expect)
        assert out.min().item() == pytest.approx(20.0 / power * np.log10(floor), rel=1e-5)


def test_leading_dims_are_independent_items():
    x = torch.from_numpy(np.stack([_signal(6000, s) for s in range(6)])).reshape(3, 2, 6000)
    for module in (MelSpectrogram(SR, 512, 128, n_mels=32),
                   MelSpectrogram(SR, 512, 128, n_mels=32, backend="conv")):
        batched = module(x)
        assert batched.shape[:3] == (3, 2, 32)
        # A batch and a single item take different FFT/BLAS blockings, so they agree to
        # rounding only: each mel value is a 257-term sum of powers from a 512-point FFT
        # (9 butterfly stages), about 300 float32 roundings of 6e-8 each in the worst
        # case, hence a relative tolerance of 2e-5 (CI once saw 1.6e-6 at a 49.0 value).
        # A leak between items would be off by the whole value, far beyond it.
        scale = float(batched.abs().max())
        for i in range(3):
            for j in range(2):
                torch.testing.assert_close(batched[i, j], module(x[i, j]), rtol=2e-5,
                                           atol=2e-5 * scale)


# ----------------------------------------------------------------------------- ONNX


@pytest.mark.parametrize("log", [False, True])
def test_conv_mel_exports_to_onnx_with_dynamic_time(log):
    """One exported model (dynamic batch and time axes, reflect padding) runs in onnxruntime at
    two lengths and matches torch within 1e-4 (relative to the largest value; in dB, 1e-4 of the
    value range).

    The TorchScript exporter (dynamo=False) is used because the dynamo exporter needs the
    onnxscript package, which is not a dependency.
    """
    mel = MelSpectrogram(SR, 1024, 256, n_mels=80, backend="conv", log=log,
                         log_base="db").eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(mel, (torch.randn(2, 9000),), buf, dynamo=False, opset_version=17,
                          input_names=["audio"], output_names=["mel"],
                          dynamic_axes={"audio": {0: "batch", 1: "time"},
                                        "mel": {0: "batch", 2: "frames"}})
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for n, batch in ((5000, 3), (SR, 1)):
        x = np.stack([_signal(n, s) for s in range(batch)])
        got = session.run(None, {"audio": x})[0]
        want = mel(torch.from_numpy(x)).detach().numpy()
        assert got.shape == want.shape == (batch, 80, 1 + n // 256)
        scale = np.ptp(want) if log else np.abs(want).max()
        assert np.abs(got - want).max() / scale < 1e-4


# ----------------------------------------------------------------------------- buffers


def test_buffers_are_in_state_dict_and_reload():
    assert set(STFT(256).state_dict()) == {"window"}
    assert set(Spectrogram(256, backend="conv").state_dict()) == {"window", "basis"}
    assert set(MelSpectrogram(SR, 256, n_mels=20).state_dict()) == {
        "spectrogram.window", "mel_basis"}
    assert set(InverseMel(SR, 256, 20).state_dict()) == {"mel_basis", "mel_pinv", "nnls_step"}
    assert set(GriffinLim(256).state_dict()) == {"stft.window", "istft.window"}
    mel = MelSpectrogram(SR, 256, n_mels=20)
    assert mel.state_dict()["mel_basis"].shape == (20, 129)
    np.testing.assert_allclose(
        mel.state_dict()["mel_basis"].numpy(),
        librosa.filters.mel(sr=SR, n_fft=256, n_mels=20), rtol=1e-6, atol=1e-9)
    # A state dict saved from one module loads into a fresh one (strict keys and shapes).
    other = MelSpectrogram(SR, 256, n_mels=20)
    other.load_state_dict(mel.state_dict())


def test_to_float64_moves_buffers_and_computes_in_float64():
    x = torch.from_numpy(_signal(4000)).double()
    for module in (MelSpectrogram(SR, 512, 128, n_mels=32),
                   MelSpectrogram(SR, 512, 128, n_mels=32, backend="conv")):
        module32 = MelSpectrogram(SR, 512, 128, n_mels=32, backend=module.backend)
        module = module.to(torch.float64)
        assert all(b.dtype == torch.float64 for b in module.buffers())
        out = module(x)
        assert out.dtype == torch.float64
        assert _max_rel(out.numpy(), module32(x.float()).double().numpy()) < 1e-5
    stft, istft = STFT(512).to(torch.float64), ISTFT(512).to(torch.float64)
    assert stft(x).dtype == torch.complex128
    assert (istft(stft(x), length=4000) - x).abs().max().item() < 1e-12


def test_no_shared_or_module_level_caches():
    """Each module owns its buffers: changing one module's window or filterbank in place does not
    leak into another or a new one, and the module keeps no memoised helpers."""
    a, b = MelSpectrogram(SR, 512, n_mels=32), MelSpectrogram(SR, 512, n_mels=32)
    assert a.mel_basis.data_ptr() != b.mel_basis.data_ptr()
    a.mel_basis.mul_(0.0)
    a.spectrogram.window.zero_()
    c = MelSpectrogram(SR, 512, n_mels=32)
    assert b.mel_basis.abs().sum() > 0 and c.mel_basis.abs().sum() > 0
    assert c.spectrogram.window.abs().sum() > 0
    for value in vars(spectral).values():
        assert not hasattr(value, "cache_info"), value
        assert not isinstance(value, functools.partial)


# ----------------------------------------------------------------------------- errors


def test_user_errors_are_one_line_sonomorph_errors():
    with pytest.raises(InputTooShortError):
        STFT(1024)(torch.zeros(300))
    with pytest.raises(InputTooShortError):
        Spectrogram(1024, backend="conv")(torch.zeros(512))
    with pytest.raises(InputTooShortError):
        Spectrogram(1024, center=False)(torch.zeros(1000))
    bad = [lambda: MelSpectrogram(16000, fmax=9000), lambda: MelSpectrogram(16000, fmin=-1),
           lambda: STFT(512, win_length=1024), lambda: STFT(512, hop_length=0),
           lambda: STFT(512, window="kaiserish"), lambda: Spectrogram(512, backend="cuda"),
           lambda: MelSpectrogram(log_base="2"), lambda: InverseMel(method="lsq"),
           lambda: GriffinLim(init="ones"), lambda: GriffinLim(momentum=1.5),
           lambda: STFT(512, pad_mode="mirror")]
    for make in bad:
        with pytest.raises(ConfigError) as info:
            make()
        assert isinstance(info.value, SonomorphError) and "\n" not in str(info.value)


def test_magnitude_gradient_is_finite_on_silence():
    """sqrt(re^2 + im^2) is clamped so that silence (zero magnitude) gives zero, not NaN, grads."""
    for backend in ("torch", "conv"):
        x = torch.zeros(2, 2048, requires_grad=True)
        Spectrogram(512, power=1.0, backend=backend)(x).sum().backward()
        assert torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------- inverse mel


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_inverse_mel_nnls_beats_pinv_and_matches_librosa(power):
    """NNLS output is non-negative; its mel-domain error is <= the clamped pseudo-inverse's and
    <= that of librosa.feature.inverse.mel_to_stft (L-BFGS-B), the reference; its estimate of
    the true magnitude is also closer than the pseudo-inverse's."""
    x = _harmonic(16000, 16000).numpy() + 0.01 * _signal(16000, 1, 16000)
    magnitude = np.abs(librosa.stft(x, n_fft=1024, hop_length=256))
    mel = librosa.feature.melspectrogram(S=magnitude ** power, sr=16000, n_fft=1024, n_mels=80)
    mel_t = torch.from_numpy(mel).unsqueeze(0).repeat(2, 1, 1)
    pinv = InverseMel(16000, 1024, 80, method="pinv", power=power)
    nnls = InverseMel(16000, 1024, 80, method="nnls", power=power)
    est_pinv, est_nnls = pinv(mel_t), nnls(mel_t)
    assert est_nnls.shape == (2, 513, mel.shape[-1])
    assert est_nnls.min().item() >= 0.0 and est_pinv.min().item() >= 0.0
    err_pinv = nnls.mel_error(est_pinv, mel_t)
    err_nnls = nnls.mel_error(est_nnls, mel_t)
    ref = librosa.feature.inverse.mel_to_stft(mel, sr=16000, n_fft=1024, power=power)
    err_ref = nnls.mel_error(torch.from_numpy(ref), torch.from_numpy(mel))
    assert (err_nnls <= err_pinv).all()
    assert err_nnls[0].item() <= err_ref.item() + 1e-6
    assert err_nnls[0].item() < 0.5 * err_pinv[0].item()

    def lin_err(est: torch.Tensor) -> float:
        return float(np.linalg.norm(est[0].numpy() - magnitude) / np.linalg.norm(magnitude))

    assert lin_err(est_nnls) < lin_err(est_pinv)


# ----------------------------------------------------------------------------- Griffin-Lim


def test_griffin_lim_converges_and_momentum_helps():
    x = _harmonic()
    stft = STFT(512, 128)
    magnitude = stft(x).abs()

    def sc(n_iter: int, momentum: float) -> float:
        y = GriffinLim(512, 128, n_iter=n_iter, momentum=momentum)(magnitude, length=x.shape[-1])
        assert y.shape == x.shape
        return spectral_convergence(magnitude, y, stft).item()

    fast = [sc(n, 0.99) for n in (0, 8, 32)]
    assert fast[0] > fast[1] > fast[2]
    assert fast[2] < 0.12
    assert fast[2] < 0.75 * sc(32, 0.0)  # momentum 0.99 beats plain Griffin-Lim at 32 iters


def test_griffin_lim_is_deterministic_and_batched():
    magnitude = STFT(512, 128)(torch.stack([_harmonic(), 0.5 * _harmonic()])).abs()
    gl = GriffinLim(512, 128, n_iter=4, seed=3)
    a, b = gl(magnitude), GriffinLim(512, 128, n_iter=4, seed=3)(magnitude)
    assert torch.equal(a, b)
    assert a.shape == (2, 128 * (magnitude.shape[-1] - 1))
    assert not torch.equal(a, GriffinLim(512, 128, n_iter=4, seed=4)(magnitude))
    zeros = GriffinLim(512, 128, n_iter=4, init="zeros")
    assert torch.equal(zeros(magnitude), zeros(magnitude))
    with pytest.raises(ValueError):
        gl(magnitude, length=100)  # 1 frame, not 126


def test_griffin_lim_from_the_true_phase_gives_the_signal_back():
    """Started from the signal's own phases, zero iterations already rebuild the signal and
    a few more stay there; from random phases the same few iterations do not."""
    x = _harmonic()
    stft = STFT(512, 128)
    spec = stft(x)
    magnitude, true_phase = spec.abs(), spec / spec.abs().clamp_min(1e-12)
    for n_iter in (0, 4):
        y = GriffinLim(512, 128, n_iter=n_iter)(magnitude, length=x.shape[-1], phase=true_phase)
        assert torch.allclose(y, x, atol=1e-3)
    assert spectral_convergence(magnitude, GriffinLim(512, 128, n_iter=4)(
        magnitude, length=x.shape[-1]), stft).item() > 0.05
    with pytest.raises(ValueError):
        GriffinLim(512, 128)(magnitude, phase=true_phase[..., :-1])  # not the same shape
    with pytest.raises(ValueError):
        GriffinLim(512, 128)(magnitude, phase=magnitude)  # real, not unit complex


def test_mel_to_audio_inverts_a_log_mel():
    """from_mel_spectrogram undoes the log and framing: the mel of the audio it returns is within
    20% (relative L2) of the mel it was given."""
    x = _harmonic()
    lin = MelSpectrogram(16000, 512, 128, n_mels=64)
    for base in ("e", "db"):
        mel = MelSpectrogram(16000, 512, 128, n_mels=64, log=True, log_base=base)
        inverse = MelToAudio.from_mel_spectrogram(mel, n_iter=32)
        assert inverse.n_mels == 64 and inverse.sample_rate == 16000 and inverse.hop_length == 128
        y = inverse(mel(x), length=x.shape[-1])
        assert y.shape == x.shape and torch.isfinite(y).all()
        rel = torch.linalg.norm(lin(y) - lin(x)) / torch.linalg.norm(lin(x))
        assert rel.item() < 0.2
