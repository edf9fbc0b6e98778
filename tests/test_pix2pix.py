"""pix2pix networks: shapes, size, skip connections, dropout, the 70x70 PatchGAN receptive
field, the spectrogram image, the pix2pix losses and checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from sonomorph.models.pix2pix import (
    PatchDiscriminator,
    UNetGenerator,
    audio_to_image,
    count_parameters,
    image_to_spectrogram,
)
from sonomorph.train.losses import BCEGANLoss, SpectrogramImageL1Loss

torch.set_num_threads(1)


def test_default_generator_fits_a_cpu_budget_and_keeps_shapes():
    g = UNetGenerator().eval()
    assert count_parameters(g) < 10_000_000
    assert g.multiple == 128
    with torch.no_grad():
        y = g(torch.randn(1, 3, 512, 128))
    assert y.shape == (1, 3, 512, 128)
    assert y.abs().max() <= 1.0  # tanh output


def test_generator_refuses_shapes_it_cannot_take():
    g = UNetGenerator(ngf=4, max_channels=8, depth=4, n_fft=64, hop=16, sample_rate=8000)
    with pytest.raises(ValueError, match="multiples"):
        g(torch.randn(1, 3, 32, 20))
    with pytest.raises(ValueError, match="expected"):
        g(torch.randn(1, 2, 32, 16))
    with pytest.raises(ValueError):
        UNetGenerator(depth=10)  # 512 bins are not a multiple of 1024


def test_skip_connections_carry_fine_detail():
    """With the innermost layers' output zeroed, the outermost skip still carries the
    input to the output: the output depends on each input pixel locally."""
    g = UNetGenerator(ngf=8, max_channels=16, depth=4, n_fft=64, hop=16, dropout=0.0).eval()
    x = torch.zeros(1, 3, 32, 32, requires_grad=True)
    y = g(x)
    y[0, 0, 5, 7].backward()
    grad = x.grad.abs().sum(dim=(0, 1))
    assert grad[5, 7] > 0
    assert grad.count_nonzero() > 1  # and the deep path sees far


def test_dropout_is_noise_in_training_and_off_in_eval():
    torch.manual_seed(0)
    g = UNetGenerator(ngf=8, max_channels=16, depth=4, n_fft=64, hop=16, dropout=0.5)
    x = torch.randn(2, 3, 32, 32)
    g.train()
    assert not torch.allclose(g(x), g(x))
    g.eval()
    assert torch.equal(g(x), g(x))
    assert any(isinstance(m, torch.nn.Dropout) for m in g.modules())


def test_patchgan_sees_70_by_70_patches():
    d = PatchDiscriminator(in_channels=6, ndf=8).eval()
    assert d.receptive_field() == 70
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    out = d(x, torch.randn(1, 3, 160, 160))
    assert out.shape[1] == 1 and out.shape[-1] > 1  # a map of patch decisions
    i, j = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, 0, i, j].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert int(rows.max() - rows.min()) + 1 == 70
    assert int(cols.max() - cols.min()) + 1 == 70


def test_discriminator_is_conditioned_on_the_input():
    d = PatchDiscriminator(in_channels=6, ndf=8).eval()
    y = torch.randn(1, 3, 64, 64)
    a = d(torch.zeros(1, 3, 64, 64), y)
    b = d(torch.ones(1, 3, 64, 64), y)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError):
        d(torch.zeros(1, 1, 64, 64), y)


def test_image_round_trip_and_silence():
    torch.manual_seed(0)
    wav = 0.1 * torch.randn(1, 4096)
    window = torch.hann_window(256)
    image = audio_to_image(wav, window, 256, 64, math.log(1e-4), math.log(1e2))
    assert image.shape == (1, 3, 128, 1 + 4096 // 64)
    assert image[:, 0].abs().max() <= 1.0
    mag, phase = image_to_spectrogram(image, math.log(1e-4), math.log(1e2))
    spec = torch.stft(wav, 256, 64, window=window, return_complex=True)
    assert mag.shape == spec.shape
    keep = spec[:, :128].abs() > 1e-3
    torch.testing.assert_close((mag * phase)[:, :128][keep], spec[:, :128][keep],
                               rtol=1e-3, atol=1e-4)
    assert torch.all(mag[:, 128] == 0)  # the Nyquist bin comes back empty
    silent = audio_to_image(torch.zeros(1, 4096), window, 256, 64, math.log(1e-4), math.log(1e2))
    assert torch.all(silent[:, 0] == -1)
    mag, _ = image_to_spectrogram(silent, math.log(1e-4), math.log(1e2))
    assert torch.all(mag == 0)


def test_bce_gan_loss_values():
    loss = BCEGANLoss()
    big = torch.full((2, 1, 4, 4), 20.0)
    assert loss(big) < 1e-6  # the generator fooled D
    assert loss(-big, big) < 1e-6  # D is right on both
    assert torch.isclose(loss(torch.zeros(3)), torch.tensor(math.log(2.0)))
    assert torch.isclose(loss(torch.zeros(3), torch.zeros(3)), torch.tensor(math.log(2.0)))


def test_spectrogram_l1_weights_phase_by_target_magnitude():
    loss = SpectrogramImageL1Loss(phase_weight=1.0)
    target = torch.zeros(1, 3, 4, 4)
    target[:, 0] = -1.0  # all at the floor: phase errors there do not count
    pred = target.clone()
    pred[:, 1:] = 1.0
    terms = loss(pred, target)
    assert terms["phase"] == 0 and terms["loss"] == 0
    target[:, 0] = 1.0
    terms = loss(pred, target)
    assert terms["phase"] > 0 and terms["magnitude"] == 2.0


def test_checkpoint_round_trip(tmp_path):
    from sonomorph.models.checkpoint import load_model, save_model

    g = UNetGenerator(ngf=4, max_channels=8, depth=4, n_fft=64, hop=16, sample_rate=8000,
                      target="mixture").eval()
    save_model(tmp_path / "g.safetensors", g, meta={"tile_frames": 32})
    h, meta = load_model(tmp_path / "g.safetensors", expect="accompany")
    assert isinstance(h, UNetGenerator) and h.target == "mixture" and h.sample_rate == 8000
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(g(x), h(x))
    assert meta["tile_frames"] == 32
