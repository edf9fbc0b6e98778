"""The convolutional U-Net separator: shapes, bounds, any length, a finite receptive field
that matches what it reports, checkpoints, the pipeline and the recipe's choice of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonomorph.errors import ConfigError
from sonomorph.models.unet_separator import UNetSeparator

SR = 44100


def tiny_unet(seed: int = 0, **overrides) -> UNetSeparator:
    torch.manual_seed(seed)
    args = dict(n_fft=1024, hop=256, base=4, depth=3, unet_bins=256)
    args.update(overrides)
    model = UNetSeparator(**args)
    with torch.no_grad():  # spread the mask away from 0.5 so a wrong mask would show
        model.head.bias.copy_(torch.tensor([1.5, -1.5]))
    return model.eval()


def song(seconds: float, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    voice = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 5)) * 0.2
    x = np.stack([voice + 0.05 * rng.standard_normal(t.size) * (c + 1) for c in range(2)])
    return torch.from_numpy(x.astype(np.float32))[None]


@pytest.mark.parametrize("seconds", [0.05, 0.3, 1.01])  # frames not a multiple of 2**depth
def test_any_length_gives_bounded_masks_and_an_exact_residual(seconds):
    model = tiny_unet()
    mix = song(seconds)
    with torch.no_grad():
        stems, mask, spec = model(mix, return_mask=True)
        plain = model(mix)
    assert stems.shape == plain.shape == (1, 2, 2, mix.shape[-1])
    assert mask.shape == spec.shape
    assert mask.min() >= 0 and mask.max() <= 1
    assert torch.allclose(stems, plain, atol=1e-6)
    assert torch.allclose(plain.sum(dim=1), mix, atol=1e-4)
    # The two channels get different masks (the head's biases differ): stereo is kept apart.
    assert (mask[0, 0] - mask[0, 1]).abs().mean() > 0.1


def test_mask_above_the_network_band_is_the_top_bins_mean():
    model = tiny_unet()
    spec = model.spectrogram(song(0.3))
    with torch.no_grad():
        m = model.mask(spec)  # (B, C, F, T)
    ub = model.config.unet_bins
    expected = m[:, :, ub - 64:ub].mean(2, keepdim=True)
    assert torch.allclose(m[:, :, ub:], expected.expand_as(m[:, :, ub:]), atol=1e-6)


def test_silence_gives_silence_never_nan():
    with torch.no_grad():
        stems = tiny_unet()(torch.zeros(1, 2, 4000))
    assert torch.isfinite(stems).all() and stems.abs().max() == 0


def test_receptive_field_is_finite_and_within_what_it_reports():
    model = tiny_unet()
    mix = song(4.0)
    n = mix.shape[-1]
    changed = mix.clone()
    changed[..., n - SR // 2:] += 0.3 * torch.randn(2, SR // 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = model(mix)[0, 0], model(changed)[0, 0]
    diff = (a - b).abs().amax(0)
    first_changed = int(torch.nonzero(diff > 1e-6)[0])
    # A change in the last half second reaches back at most context_samples (plus the
    # frame grid's rounding: one window), and the start of the file is untouched.
    assert n - SR // 2 - first_changed <= model.context_samples + model.config.n_fft
    assert diff[: SR // 2].max() == 0


def test_checkpoint_round_trip_and_the_pipeline(tmp_path):
    from sonomorph.models import load_model, save_model
    from sonomorph.pipelines.separate import Separator

    model = tiny_unet()
    path = save_model(tmp_path / "unet.safetensors", model, meta={"sample_rate": SR})
    loaded, meta = load_model(path, expect="separator")
    assert isinstance(loaded, UNetSeparator) and meta["args"]["base"] == 4
    mix = song(0.5)
    with torch.no_grad():
        assert torch.allclose(loaded(mix), model(mix), atol=1e-6)
    out = Separator(str(path)).separate(mix[0].numpy(), SR)
    vocals, acc = out["vocals"], out["accompaniment"]
    assert vocals.shape == acc.shape == mix[0].shape
    assert np.allclose(vocals + acc, mix[0].numpy(), atol=1e-4)


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError):
        UNetSeparator(n_fft=1024, unet_bins=1000, depth=3)  # not a multiple of 8
    with pytest.raises(ConfigError):
        UNetSeparator(n_fft=1024, unet_bins=1024)  # more than the 513 bins
    with pytest.raises(ConfigError):
        UNetSeparator(base=0)


def test_a_few_steps_fit_one_example():
    """The network can learn: 40 Adam steps on one excerpt cut its loss by more than half."""
    from sonomorph.train.recipes.separator import MaskedSeparationLoss

    torch.manual_seed(0)
    model = UNetSeparator(n_fft=1024, hop=256, base=4, depth=3, unet_bins=256).train()
    loss_fn = MaskedSeparationLoss(model.stft.window)
    t = torch.arange(SR // 2) / SR
    voice = (0.3 * torch.sin(2 * torch.pi * 330 * t) * (t * 8 % 1 < 0.5)).expand(1, 2, -1)
    music = 0.1 * torch.randn(1, 2, t.numel(), generator=torch.Generator().manual_seed(2))
    mix = voice + music
    v_spec, a_spec = model.spectrogram(voice), model.spectrogram(music)
    target = torch.stack([voice, music], dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        stems, mask, spec = model(mix, return_mask=True)
        loss = loss_fn(spec, mask, v_spec, a_spec, stems, target)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_recipe_builds_the_unet_when_asked():
    from sonomorph.train.recipes.separator import SeparatorModelArgs, SeparatorTrainConfig

    SeparatorTrainConfig(data="x", model=SeparatorModelArgs(arch="unet")).validate()
    with pytest.raises(ConfigError):
        SeparatorTrainConfig(data="x", model=SeparatorModelArgs(arch="transformer")).validate()
