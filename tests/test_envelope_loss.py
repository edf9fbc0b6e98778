"""EnvelopeCorrelationLoss: a content loss that keeps the spectral envelope (what is said)
and leaves the excitation (pitch, a noisy or rough source: the timbre a scream changes)
free. Source-filter test signals: the same vowel sequence on different excitations, and
different vowel sequences on the same excitation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonomorph.audio.spectral import MelSpectrogram
from sonomorph.models.losses import EnvelopeCorrelationLoss, MelCorrelationLoss

torch.set_num_threads(1)
SR = 22050
SEG = SR // 4  # one vowel per quarter second
#: vowel -> formant frequencies (Hz), textbook values for an adult male voice
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240),
          "e": (530, 1840, 2480)}


def pulses(f0: float) -> np.ndarray:
    x = np.zeros(4 * SEG)
    x[(np.arange(0, 4 * SEG, SR / f0)).astype(int)] = 1.0
    return x


def noise(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(4 * SEG)


def say(vowels: str, excitation: np.ndarray) -> np.ndarray:
    """Each quarter second of ``excitation`` filtered by the next vowel's formant envelope
    (three resonances, -6 dB/octave tilt above 500 Hz), each segment at the same RMS."""
    f = np.fft.rfftfreq(SEG, 1 / SR)
    out = []
    for k, v in enumerate(vowels):
        env = sum(1 / (1 + ((f - fk) / bw) ** 2) for fk, bw in zip(VOWELS[v], (80, 100, 140)))
        env = (env + 0.01) / np.maximum(1.0, f / 500)
        y = np.fft.irfft(np.fft.rfft(excitation[k * SEG:(k + 1) * SEG]) * env, SEG)
        out.append(y / np.sqrt(np.mean(y**2)))
    return 0.1 * np.concatenate(out).astype(np.float32)


def logmel(x: np.ndarray) -> torch.Tensor:
    """The scream generator's features: 80-band log10 magnitude mel, n_fft 1024, hop 256."""
    mel = MelSpectrogram(SR, 1024, 256, 80, power=1.0, log=True, log_base="10")
    return mel(torch.from_numpy(x))[None]


def test_envelope_loss_ignores_the_excitation_and_follows_the_envelope():
    env, plain = EnvelopeCorrelationLoss(n_mels=80, n_coeffs=20), MelCorrelationLoss()
    ref = logmel(say("aiue", pulses(110)))
    same_words = [logmel(say("aiue", pulses(190))), logmel(say("aiue", noise()))]
    other_words = [logmel(say("iaeu", pulses(110))), logmel(say("uaei", pulses(110)))]
    same = [float(env(ref, x)) for x in same_words]
    other = [float(env(ref, x)) for x in other_words]
    # the same vowels on another pitch or on noise: envelopes correlate closely (r > 0.9)
    assert max(same) < 0.05, same
    # other vowels on the same excitation: far apart, even though pitch and source match
    assert min(other) > 4 * max(same), (same, other)
    # plain mel correlation is tied to the excitation: a new pitch or a noise source costs
    # it more than the envelope loss, so it holds the timbre the envelope loss leaves free
    for x, e in zip(same_words, same):
        assert float(plain(ref, x)) > 1.5 * e


def test_envelope_loss_shapes_gradients_and_settings():
    loss = EnvelopeCorrelationLoss(n_mels=80, n_coeffs=80)
    a = torch.randn(2, 80, 30)
    # keeping every coefficient is the identity: the plain mel correlation
    assert torch.allclose(loss(a, a.flip(0)), MelCorrelationLoss()(a, a.flip(0)), atol=1e-5)
    assert float(EnvelopeCorrelationLoss()(a, 3 * a + 1)) == pytest.approx(0.0, abs=1e-5)
    b = a.clone().requires_grad_(True)
    EnvelopeCorrelationLoss(reduction="none")(a.flip(0), b).sum().backward()
    assert b.grad is not None and torch.isfinite(b.grad).all()
    assert EnvelopeCorrelationLoss(reduction="none")(a, a.flip(0)).shape == (2,)
    with pytest.raises(ValueError):
        EnvelopeCorrelationLoss(n_mels=80, n_coeffs=0)
    with pytest.raises(ValueError):
        loss(torch.randn(1, 64, 10), torch.randn(1, 64, 10))


@pytest.mark.parametrize("keys", [{}, {"drop_c0": True}, {"time_smoothing": 3},
                                  {"drop_c0": True, "time_smoothing": 5}])
def test_identical_envelopes_cost_nothing_and_other_words_cost_more(keys):
    """With any of the options, a clip against itself (or the same vowels on noise instead
    of pulses, i.e. the same filter on another excitation) costs little, and other vowels on
    the same excitation cost at least four times as much."""
    loss = EnvelopeCorrelationLoss(n_mels=80, n_coeffs=20, **keys)
    ref = logmel(say("aiue", pulses(110)))
    assert float(loss(ref, ref)) == pytest.approx(0.0, abs=1e-6)
    same = float(loss(ref, logmel(say("aiue", noise(1)))))
    other = float(loss(ref, logmel(say("iaeu", pulses(110)))))
    assert same < 0.05 and other > 4 * same, (same, other)


def test_drop_c0_frees_the_loudness_contour_only():
    """A level that changes from frame to frame (the same number added to every band of a
    frame: quefrency 0) costs nothing with ``drop_c0`` and costs with it kept; a change of
    spectral shape costs in both."""
    ref = logmel(say("aiue", pulses(110)))
    level = torch.from_numpy(np.random.default_rng(3).uniform(-1.0, 1.0, ref.shape[-1])).float()
    louder = ref + level
    kept, dropped = EnvelopeCorrelationLoss(), EnvelopeCorrelationLoss(drop_c0=True)
    assert float(dropped(ref, louder)) == pytest.approx(0.0, abs=1e-5)
    assert float(kept(ref, louder)) > 0.02
    reshaped = logmel(say("uaei", pulses(110)))
    assert float(dropped(ref, reshaped)) > 0.05
    with pytest.raises(ValueError):
        EnvelopeCorrelationLoss(n_coeffs=1, drop_c0=True)


def test_time_smoothing_frees_fast_wobble_but_keeps_the_phonemes():
    """A frame-to-frame wobble of the envelope (one frame up, the next down: the fast
    amplitude modulation of a rough voice) costs far less after 3-frame smoothing; vowels
    that change places (a quarter second each) still cost."""
    ref = logmel(say("aiue", pulses(110)))
    t = ref.shape[-1]
    wobble = 0.4 * torch.tensor([(-1.0) ** i for i in range(t)])
    tilt = torch.linspace(1.0, -1.0, 80)[:, None]  # the wobble also tilts the spectrum
    rough = ref + tilt * wobble
    plain, smooth = EnvelopeCorrelationLoss(), EnvelopeCorrelationLoss(time_smoothing=3)
    assert float(smooth(ref, rough)) < 0.3 * float(plain(ref, rough))
    assert float(smooth(ref, logmel(say("iaeu", pulses(110))))) > 0.05
    # smoothing is an average over frames: a constant envelope is left as it is
    flat = torch.ones(1, 80, 12)
    assert torch.allclose(smooth.envelope(flat), EnvelopeCorrelationLoss().envelope(flat), atol=1e-5)
    for n in (0, 2):
        with pytest.raises(ValueError):
            EnvelopeCorrelationLoss(time_smoothing=n)
