"""Training losses for image-to-image networks (N x C x H x W, 0..1), in plain torch: L1, L2,
Charbonnier and SSIM, and :func:`make_loss`, which reads a weighted sum such as ``"l1+0.2*ssim"``
(the ``loss`` of a training config)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vidlab.core.errors import UsageError
from vidlab.ml.torchdep import require_torch

torch, nn = require_torch()
F = torch.nn.functional

#: Charbonnier's epsilon: sqrt(d^2 + eps^2) is smooth at 0 and |d| for errors well above it.
CHARBONNIER_EPS = 1e-3
#: SSIM's Gaussian window (Wang et al. 2004): 11 x 11, sigma 1.5; constants for a 0..1 range.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2


def l1_loss(pred: Any, target: Any) -> Any:
    """Mean absolute error."""
    return (pred - target).abs().mean()


def l2_loss(pred: Any, target: Any) -> Any:
    """Mean squared error."""
    return ((pred - target) ** 2).mean()


def charbonnier_loss(pred: Any, target: Any, eps: float = CHARBONNIER_EPS) -> Any:
    """Mean of sqrt(d^2 + eps^2): a differentiable L1 (robust to outliers, smooth at 0)."""
    d = pred - target
    return torch.sqrt(d * d + eps * eps).mean()


def _gaussian_window(size: int, sigma: float, channels: int, like: Any) -> Any:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma * sigma))
    g = g / g.sum()
    w = torch.outer(g, g).to(device=like.device, dtype=like.dtype)
    return w.expand(channels, 1, size, size).contiguous()


def ssim(pred: Any, target: Any, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Any:
    """Mean structural similarity over channels and positions (Gaussian window, valid
    positions only; images smaller than the window use the largest odd window that fits)."""
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(
            f"ssim needs two N x C x H x W tensors of one shape, got {pred.shape}, {target.shape}"
        )
    c = pred.shape[1]
    size = min(window, pred.shape[-2], pred.shape[-1])
    size -= 1 - size % 2  # odd
    w = _gaussian_window(size, sigma, c, pred)

    def blur(t: Any) -> Any:
        return F.conv2d(t, w, groups=c)

    mu_x, mu_y = blur(pred), blur(target)
    sxx = blur(pred * pred) - mu_x * mu_x
    syy = blur(target * target) - mu_y * mu_y
    sxy = blur(pred * target) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * sxy + _C2)
    den = (mu_x * mu_x + mu_y * mu_y + _C1) * (sxx + syy + _C2)
    return (num / den).mean()


def ssim_loss(pred: Any, target: Any) -> Any:
    """1 - SSIM (0 for identical images)."""
    return 1 - ssim(pred, target)


LOSSES: dict[str, Callable[[Any, Any], Any]] = {
    "l1": l1_loss,
    "l2": l2_loss,
    "mse": l2_loss,
    "charbonnier": charbonnier_loss,
    "ssim": ssim_loss,
}

_TERM = re.compile(r"(?:(?P<w>[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*\*\s*)?(?P<name>[a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Loss:
    """A weighted sum of named losses, callable as ``loss(pred, target)`` -> a scalar tensor."""

    spec: str
    terms: tuple[tuple[float, str], ...]

    def __call__(self, pred: Any, target: Any) -> Any:
        total = None
        for weight, name in self.terms:
            value = LOSSES[name](pred, target) * weight
            total = value if total is None else total + value
        return total


def make_loss(spec: str) -> Loss:
    """Parse ``"charbonnier"`` or ``"l1+0.2*ssim"`` (terms ``[WEIGHT*]NAME`` joined by ``+``)."""
    text = str(spec).strip().lower()
    terms: list[tuple[float, str]] = []
    for part in text.split("+") if text else [""]:
        m = _TERM.fullmatch(part.strip())
        if m is None:
            raise UsageError(
                f"loss {spec!r}: cannot read {part.strip()!r} (expected NAME or WEIGHT*NAME joined by +)",
                param="loss",
            )
        name = m["name"]
        if name not in LOSSES:
            raise UsageError(
                f"unknown loss {name!r} in {spec!r} (known: {', '.join(sorted(LOSSES))})", param="loss"
            )
        weight = float(m["w"]) if m["w"] is not None else 1.0
        if not math.isfinite(weight) or weight <= 0:
            raise UsageError(f"loss {spec!r}: weight of {name} must be > 0", param="loss")
        terms.append((weight, name))
    return Loss(spec=str(spec), terms=tuple(terms))
