"""Scream generators, discriminator, their losses and ONNX export (tiny random models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonomorph.errors import ConfigError
from sonomorph.models import load_model, save_model
from sonomorph.models.melgan import (
    ISTFTGenerator,
    MelGANGenerator,
    MultiScaleDiscriminator,
    count_parameters,
    fold_weight_norm,
)
from sonomorph.train.losses import (
    FeatureMatchingLoss,
    HingeGANLoss,
    MelCorrelationLoss,
    MultiResolutionSTFTLoss,
)

torch.set_num_threads(1)


def tiny_istft(**kw) -> ISTFTGenerator:
    torch.manual_seed(0)
    return ISTFTGenerator(dim=16, hidden=32, n_blocks=1, kernel_size=3, **kw).eval()


def tiny_melgan(**kw) -> MelGANGenerator:
    """ngf=2 (1/16 of the width) with He-initialised weights, so that the input still shapes
    the output after some twenty layers (PyTorch's default init shrinks it away)."""
    torch.manual_seed(0)
    g = MelGANGenerator(ngf=2, **{"weight_norm": False, **kw}).eval()
    if not g.conv_in.__class__.__name__.startswith("Parametrized"):
        for name, p in g.named_parameters():
            if p.dim() == 3:
                torch.nn.init.kaiming_normal_(p, a=0.2)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)
    return g


def tiny_istft_input_phase(**kw) -> ISTFTGenerator:
    return tiny_istft(phase="input", **kw)


GENERATORS = [tiny_istft, tiny_istft_input_phase, tiny_melgan]


def voice_like(n: int, seed: int = 0) -> torch.Tensor:
    """A (1, 1, n) harmonic signal with a syllable-rate envelope and some noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 22050
    f0 = 150 + 30 * torch.sin(2 * torch.pi * 2 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / 22050
    x = sum(torch.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 + 0.5 * torch.sin(2 * torch.pi * 4 * t) ** 2
    return (0.3 * x * env + 0.01 * torch.randn(n, generator=g)).view(1, 1, -1).float()


def test_original_melgan_has_the_original_size():
    g = MelGANGenerator()
    assert 4.2e6 < count_parameters(g) < 4.35e6
    assert g.ratios == [8, 8, 2, 2] and g.dilations == [1, 3, 9]


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("n", [1025, 22050, 7777])
def test_generators_map_waveforms_to_same_length_waveforms(make, n):
    g = make()
    x = voice_like(n).repeat(2, 1, 1)
    with torch.no_grad():
        y = g(x)
    assert y.shape == (2, 1, n)
    assert torch.isfinite(y).all() and y.abs().max() > 0


@pytest.mark.parametrize("make", GENERATORS)
def test_silence_stays_exactly_silent_and_gain_guard(make):
    g = make()
    with torch.no_grad():
        assert g(torch.zeros(1, 1, 4000)).abs().max() == 0
        # A near-silent input is not blown up to full scale: the guard caps the gain.
        gain = g.front.gain(torch.full((1, 1, 10), 1e-5))
        assert gain.item() == pytest.approx(1 / g.front.peak_guard)
        # Silence in the middle of a voice stays silent (gate), away from the edges.
        x = voice_like(22050)
        x[..., 8000:16000] = 0
        y = g(x)
    assert y[..., 9500:14500].abs().max() == 0
    assert y[..., :6000].abs().max() > 0


@pytest.mark.parametrize("make", GENERATORS)
def test_peak_normalisation_and_explicit_gain(make):
    g = make()
    x = voice_like(8000)
    with torch.no_grad():
        auto = g(x)
        scaled = g(0.25 * x)  # auto gain: the level of the input does not matter
        fixed = g(x, torch.tensor([1.0 / x.abs().max().item()]))
        other = g(x, torch.tensor([0.1]))
    assert torch.allclose(auto, scaled, atol=1e-5)
    assert torch.allclose(auto, fixed, atol=1e-5)
    assert not torch.equal(auto, other)  # a given gain is used, not the peak's
    assert g.front.gain(x, torch.tensor([0.1])).item() == pytest.approx(0.1)
    assert g.front.gain(x, torch.tensor([-1.0])).item() == pytest.approx(1 / x.abs().max().item())


@pytest.mark.parametrize("make", GENERATORS)
def test_receptive_field_bounds_the_influence_of_a_sample(make):
    """Changing input sample k changes output only within [k - future, k + past]."""
    g = make()
    past, future = g.receptive_field()
    x = voice_like(16384)
    k = 8000
    x2 = x.clone()
    x2[..., k] += 0.2
    gain = torch.tensor([2.0])
    with torch.no_grad():
        diff = (g(x, gain) - g(x2, gain)).abs()[0, 0]
    changed = torch.nonzero(diff > 1e-6).view(-1)
    assert changed.numel() > 0
    assert changed.min() >= k - future and changed.max() <= k + past


def test_istft_generator_is_causal_up_to_its_lookahead():
    g = tiny_istft()
    past, future = g.receptive_field()
    assert future == 766  # 35 ms at 22.05 kHz: a 256-sample block gives 46 ms of latency
    g1 = tiny_istft(lookahead=1)
    assert g1.receptive_field()[1] == future + 256
    with pytest.raises(ConfigError):
        ISTFTGenerator(lookahead=7, kernel_size=7)


def test_fold_weight_norm_keeps_outputs_and_checkpoint_roundtrip(tmp_path):
    g = tiny_melgan(weight_norm=True)
    x = voice_like(6000)
    with torch.no_grad():
        before = g(x)
        fold_weight_norm(g)
        after = g(x)
    assert torch.allclose(before, after, atol=1e-6)
    path = save_model(tmp_path / "g.safetensors", g)
    loaded, meta = load_model(path, expect="scream")
    assert meta["args"]["weight_norm"] is False
    with torch.no_grad():
        assert torch.allclose(loaded(x), after, atol=1e-6)


def test_multi_scale_discriminator_shapes():
    d = MultiScaleDiscriminator(ndf=4, max_channels=32)
    outs = d(torch.randn(2, 1, 8192))
    assert len(outs) == 3
    assert [o[-1].shape[-1] for o in outs] == [32, 16, 8]
    assert all(o[-1].shape[:2] == (2, 1) for o in outs)
    # The original size: 3 x (16 -> 64 -> 256 -> 1024 -> 1024) grouped convolutions.
    assert 16e6 < count_parameters(MultiScaleDiscriminator(max_channels=1024)) < 18e6


@pytest.mark.parametrize("make", GENERATORS)
def test_onnx_export_matches_torch(make, tmp_path):
    import onnxruntime  # noqa: F401 - part of the environment

    from sonomorph.models.onnx_export import export_onnx, onnx_metadata, onnx_session

    g = make()
    x = voice_like(9000)
    path, diff = export_onnx(
        g, tmp_path / "g.onnx", (x, torch.zeros(1)), input_names=["audio", "gain"],
        output_names=["scream"], dynamic_axes={"audio": {0: "b", 2: "n"}, "gain": {0: "b"},
                                                "scream": {0: "b", 2: "n"}},
        metadata={"hop_length": 256})
    assert diff < 1e-3
    assert onnx_metadata(path)["hop_length"] == "256"
    # Another length, batch and gain than the traced ones.
    x2 = torch.cat([voice_like(5123, seed=1), voice_like(5123, seed=2)])
    gain = torch.tensor([0.0, 3.0])
    got = onnx_session(path).run(None, {"audio": x2.numpy(), "gain": gain.numpy()})[0]
    with torch.no_grad():
        want = g(x2, gain).numpy()
    assert np.abs(got - want).max() < 1e-3


# ----------------------------------------------------------------------------- losses


def test_hinge_loss_values():
    hinge = HingeGANLoss()
    real = [torch.full((2, 1, 5), 2.0)]
    fake = [torch.full((2, 1, 5), -2.0)]
    assert hinge(fake, real).item() == 0.0  # both beyond the margin
    assert hinge([torch.zeros(2, 1, 5)], [torch.zeros(2, 1, 5)]).item() == pytest.approx(2.0)
    assert hinge(fake).item() == pytest.approx(2.0)  # generator: -mean(D(fake))
    feats = [[torch.zeros(1, 3, 4), torch.full((1, 1, 4), 1.0)]]  # feature lists: last = logits
    assert hinge(feats).item() == pytest.approx(-1.0)


def test_feature_matching_paired_and_mean():
    a = [[torch.ones(2, 3, 8), torch.zeros(2, 1, 8)]]
    b = [[torch.zeros(2, 3, 8), torch.ones(2, 1, 8)]]  # the logit maps are not matched
    assert FeatureMatchingLoss("paired")(a, b).item() == pytest.approx(1.0)
    shuffled = [[a[0][0].flip(-1) * torch.linspace(0, 2, 8), a[0][1]]]
    assert FeatureMatchingLoss("mean")(shuffled, a).item() == pytest.approx(0.0, abs=1e-6)
    assert FeatureMatchingLoss("paired")(shuffled, a).item() > 0.1


def test_mel_correlation_loss_is_a_shifted_correlation():
    loss = MelCorrelationLoss()
    a = torch.randn(3, 80, 20)
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(a, -a).item() == pytest.approx(1.0, abs=1e-6)
    # Invariant to a gain (a constant added to a log-mel) and to a floor shift.
    assert loss(a, 2 * a - 5).item() == pytest.approx(0.0, abs=1e-6)
    per_item = MelCorrelationLoss(reduction="none")(a, torch.randn(3, 80, 20))
    assert per_item.shape == (3,) and (per_item > 0.3).all()


def test_multi_resolution_stft_loss():
    loss = MultiResolutionSTFTLoss()
    x = voice_like(8192)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(x + 0.05 * torch.randn_like(x), x).item() > loss(x + 0.005 * torch.randn_like(x), x).item()


def test_checkpoints_hold_only_learned_weights(tmp_path):
    """The front end's window, DFT basis and filterbank are rebuilt, not stored; a state dict
    that still holds them (older checkpoints) loads."""
    g = tiny_istft()
    keys = set(g.state_dict())
    assert not any(k.endswith(("spectrogram.basis", "mel_basis", "spectrogram.window")) for k in keys)
    old = dict(g.state_dict())
    old["front.mel.spectrogram.basis"] = g.front.mel.spectrogram.basis.clone()
    old["front.mel.mel_basis"] = g.front.mel.mel_basis.clone()
    tiny_istft().load_state_dict(old)  # strict
    size = save_model(tmp_path / "g.safetensors", ISTFTGenerator()).stat().st_size
    assert size < 3.2e6  # the shipped size: 0.74M parameters in float32
