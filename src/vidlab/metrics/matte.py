"""Alpha matte errors, defined as RobustVideoMatting's evaluation defines them (its
``evaluation/evaluate_lr.py``), so figures compare with published matting results:

- MAD: mean absolute difference of alpha in 0..1, x 1e3.
- MSE: mean squared difference, x 1e3.
- Grad: the squared difference of the two mattes' gradient magnitudes, summed over the
  picture, / 1e3. Gradients come from first-derivative-of-Gaussian filters (sigma 1.4, the
  kernel cut where the Gaussian falls below 1% of its peak and scaled to unit L2 norm), after
  each matte is min-max normalized to 0..1 (``normalize=False`` skips that, as RVM's
  high-resolution script does).
- Conn: connectivity error (Rhemann et al.), / 1e3: for thresholds 0.1..1, the largest
  4-connected region where both mattes reach the threshold; each pixel's "connected level" is
  the last threshold before it left that region; differences of at least 0.15 above that
  level count, summed over the picture.
- dtSSD: temporal coherence, x 1e2: the root of the mean squared difference between the
  predicted and the true matte's frame-to-frame change (0 on a clip's first frame).

Functions take ``uint8`` mattes (0..255) or float ones (0..1), ``H x W``. :class:`MatteErrors`
pools them over a clip.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "MatteErrors",
    "conn",
    "dtssd",
    "grad",
    "mad",
    "matte_errors",
    "mse",
]


def _unit(alpha: np.ndarray) -> np.ndarray:
    """A matte as float32 in 0..1 (``uint8`` is divided by 255)."""
    a = np.asarray(alpha)
    if a.ndim != 2:
        raise ValueError(f"a matte is H x W, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    return a.astype(np.float32, copy=False)


def _pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = _unit(pred), _unit(true)
    if p.shape != t.shape:
        raise ValueError(f"mattes differ in size: {p.shape} and {t.shape}")
    return p, t


def mad(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute difference (alpha 0..1) x 1e3."""
    p, t = _pair(pred, true)
    return float(np.mean(np.abs(p - t), dtype=np.float64)) * 1e3


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean squared difference (alpha 0..1) x 1e3."""
    p, t = _pair(pred, true)
    d = (p - t).astype(np.float64)
    return float(np.mean(d * d)) * 1e3


@functools.cache
def _gauss_derivative(sigma: float, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """The separable x-derivative-of-Gaussian kernel: (smoothing along y, derivative along x),
    whose outer product has unit L2 norm. The half size is where the Gaussian drops to
    ``epsilon`` of the unit-area peak, as in the reference implementation."""
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dg = -x * g / sigma**2
    scale = math.sqrt(float((g**2).sum() * (dg**2).sum()))  # L2 norm of the outer product
    return g / math.sqrt(scale), dg / math.sqrt(scale)


def _gradient_magnitude(a: np.ndarray, sigma: float) -> np.ndarray:
    smooth, deriv = _gauss_derivative(sigma)
    gx = cv2.sepFilter2D(a, cv2.CV_32F, deriv, smooth, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(a, cv2.CV_32F, smooth, deriv, borderType=cv2.BORDER_REPLICATE)
    return cv2.magnitude(gx, gy)


def _min_max(a: np.ndarray) -> np.ndarray:
    """Stretch to 0..1; a constant matte becomes all zeros (as OpenCV's NORM_MINMAX does)."""
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(a)
    return (a - np.float32(lo)) * np.float32(1 / (hi - lo))


def grad(pred: np.ndarray, true: np.ndarray, sigma: float = 1.4, normalize: bool = True) -> float:
    """Gradient error / 1e3: the summed squared difference of Gaussian-derivative gradient
    magnitudes (``sigma`` px), each matte min-max normalized first unless ``normalize`` is off."""
    p, t = _pair(pred, true)
    if normalize:
        p, t = _min_max(p), _min_max(t)
    d = (_gradient_magnitude(p, sigma) - _gradient_magnitude(t, sigma)).astype(np.float64)
    return float((d * d).sum()) / 1e3


def conn(pred: np.ndarray, true: np.ndarray, step: float = 0.1) -> float:
    """Connectivity error / 1e3 (thresholds ``step``, 2 ``step`` ... 1)."""
    p, t = _pair(pred, true)
    thresholds = np.arange(0, 1 + step, step)  # the reference's float steps, kept bit for bit
    level = np.full(t.shape, -1.0, np.float32)  # -1: still connected at every threshold so far
    for i in range(1, len(thresholds)):
        both = ((t >= thresholds[i]) & (p >= thresholds[i])).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        largest = np.zeros(t.shape, bool)
        if count > 1:
            largest = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        dropped = (level == -1) & ~largest
        level[dropped] = thresholds[i - 1]
    level[level == -1] = 1.0
    dt, dp = t - level, p - level
    phi_t = 1 - dt * (dt >= 0.15)
    phi_p = 1 - dp * (dp >= 0.15)
    return float(np.abs(phi_t - phi_p).sum(dtype=np.float64)) / 1e3


def dtssd(pred: np.ndarray, pred_prev: np.ndarray, true: np.ndarray, true_prev: np.ndarray) -> float:
    """Temporal coherence error x 1e2: sqrt(mean(((p_t - p_t-1) - (g_t - g_t-1))^2))."""
    p, t = _pair(pred, true)
    pp, tp = _pair(pred_prev, true_prev)
    if p.shape != pp.shape:
        raise ValueError(f"frames differ in size: {p.shape} and {pp.shape}")
    d = ((p - pp) - (t - tp)).astype(np.float64)
    return math.sqrt(float((d * d).sum()) / d.size) * 1e2


@dataclass
class MatteErrors:
    """Per-frame matte errors of a clip, pooled as RVM reports them (the mean over frames; dtSSD
    counts 0 for the first frame, as its script does)."""

    mad: list[float] = field(default_factory=list)
    mse: list[float] = field(default_factory=list)
    grad: list[float] = field(default_factory=list)
    conn: list[float] = field(default_factory=list)
    dtssd: list[float] = field(default_factory=list)
    _prev: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def add(self, pred: np.ndarray, true: np.ndarray, *, full: bool = True) -> None:
        """Score the next frame; ``full=False`` skips Grad and Conn (the slow ones)."""
        p, t = _pair(pred, true)
        self.mad.append(mad(p, t))
        self.mse.append(mse(p, t))
        if full:
            self.grad.append(grad(p, t))
            self.conn.append(conn(p, t))
        self.dtssd.append(0.0 if self._prev is None else dtssd(p, self._prev[0], t, self._prev[1]))
        self._prev = (p, t)

    @property
    def frames(self) -> int:
        return len(self.mad)

    def means(self) -> dict[str, float]:
        """The clip's figures: the mean of each measured metric."""
        out = {}
        for name in ("mad", "mse", "grad", "conn", "dtssd"):
            values = getattr(self, name)
            if values:
                out[name] = float(np.mean(values))
        return out

    def to_dict(self) -> dict[str, object]:
        per_frame = {k: getattr(self, k) for k in ("mad", "mse", "grad", "conn", "dtssd") if getattr(self, k)}
        return {"frames": self.frames, "global": self.means(), "per_frame": per_frame}


def matte_errors(
    preds: Iterable[np.ndarray], trues: Iterable[np.ndarray], *, full: bool = True
) -> MatteErrors:
    """Score a clip: predicted and true mattes in order (same sizes)."""
    errors = MatteErrors()
    for p, t in zip(preds, trues, strict=True):
        errors.add(p, t, full=full)
    return errors
