"""Losses: SSIM's fixed points, Charbonnier against L1, and make_loss's weighted sums."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from vidlab.core.errors import UsageError  # noqa: E402
from vidlab.ml.losses import (  # noqa: E402
    charbonnier_loss,
    l1_loss,
    l2_loss,
    make_loss,
    ssim,
    ssim_loss,
)


def images(seed: int = 0, shape=(2, 3, 32, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g)


def test_ssim_of_identical_images_is_one() -> None:
    x = images()
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    assert float(ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-6)


def test_ssim_falls_with_noise_and_is_per_channel() -> None:
    x = images()
    noisy = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    s = float(ssim(x, noisy))
    assert 0 < s < 0.9
    assert float(ssim(noisy, x)) == pytest.approx(s, abs=1e-6)  # symmetric
    # per channel: damaging one channel only costs a third of damaging all three
    one = x.clone()
    one[:, 0] = noisy[:, 0]
    assert 1 - float(ssim(x, one)) == pytest.approx((1 - s) / 3, rel=0.05)


def test_ssim_gradient_flows_and_small_images_work() -> None:
    x = images(shape=(1, 3, 6, 6))  # smaller than the 11 x 11 window
    y = images(2, shape=(1, 3, 6, 6)).requires_grad_()
    loss = ssim_loss(y, x)
    loss.backward()
    assert 0 < float(loss.detach()) < 2 and y.grad is not None and torch.isfinite(y.grad).all()


def test_charbonnier_is_l1_for_large_errors_and_smooth_at_zero() -> None:
    x = images()
    far = x + 0.5
    assert float(charbonnier_loss(far, x)) == pytest.approx(float(l1_loss(far, x)), rel=1e-5)
    assert float(charbonnier_loss(x, x)) == pytest.approx(1e-3)  # eps at zero error
    y = x.clone().requires_grad_()
    charbonnier_loss(y, x).backward()
    assert torch.all(y.grad == 0)  # differentiable at 0, no subgradient jump


def test_l1_and_l2() -> None:
    a, b = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    assert float(l1_loss(a, b)) == pytest.approx(1.0)
    assert float(l2_loss(a, b)) == pytest.approx(1.5)


def test_make_loss_parses_weighted_sums() -> None:
    x, y = images(), images(3)
    assert make_loss("charbonnier").terms == ((1.0, "charbonnier"),)
    combo = make_loss(" L1 + 0.2*ssim ")
    assert combo.terms == ((1.0, "l1"), (0.2, "ssim"))
    assert float(combo(x, y)) == pytest.approx(float(l1_loss(x, y) + 0.2 * ssim_loss(x, y)), rel=1e-6)
    assert make_loss("mse").terms == ((1.0, "mse"),)
    assert float(make_loss("0.5*l2+1e-1*l1")(x, y)) == pytest.approx(
        float(0.5 * l2_loss(x, y) + 0.1 * l1_loss(x, y)), rel=1e-6
    )


@pytest.mark.parametrize("spec", ["l3", "l1+perceptual", "", "l1+", "0*l1", "2*"])
def test_make_loss_rejects_unknowns_in_one_line(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        make_loss(spec)
    assert info.value.params == ("loss",) and "\n" not in str(info.value)
    if spec == "l3":
        assert "unknown loss 'l3'" in str(info.value) and "charbonnier" in str(info.value)
