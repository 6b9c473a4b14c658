"""Bjøntegaard delta metrics: BD-rate and BD-quality (BD-PSNR) between two rate/quality curves.

Computed the way libvmaf's ``BDrateCalculator`` (``python/vmaf/tools/bd_rate_calculator.py``, validated
against JCTVC-E137) does: bitrates go to log10, each curve is interpolated with a piecewise cubic Hermite
polynomial (PCHIP, Fritsch-Carlson slopes with the non-centred three-point end slopes), and the
interpolants are integrated exactly over the interval where the two curves overlap. Points are
de-duplicated and sorted by bitrate; each curve needs at least 4 of them, strictly increasing in both
bitrate and quality. Curves that do not overlap are refused rather than extrapolated.

``integration="trapezoid"`` reproduces libvmaf's newer ``calculate_bd_rate`` (``python/vmaf/tools/
bd_rate.py``) instead: the same PCHIP sampled at 100 points and integrated with the trapezoid rule,
which differs from the exact integral by a few hundredths of a percentage point on long curves.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from vidlab.core.errors import UsageError

if TYPE_CHECKING:
    from scipy.interpolate import PchipInterpolator

__all__ = ["MIN_POINTS", "BDRateError", "Integration", "bd_quality", "bd_rate"]

MIN_POINTS = 4
"""Fewest points per curve: PCHIP's end slopes need three and a cubic fit is meaningless on fewer than 4."""

INF_QUALITY = 100.0
"""Stand-in for an infinite quality (PSNR of a lossless encode), as libvmaf's ``bd_rate.py`` uses."""

TRAPEZOID_SAMPLES = 100
"""Samples across the overlap for ``integration="trapezoid"`` (libvmaf ``bd_rate.py``'s ``NUM_SAMPLES``)."""

Integration = Literal["exact", "trapezoid"]

Point = tuple[float, float]


class BDRateError(UsageError):
    """The rate/quality curves cannot give a Bjøntegaard delta: too few points, not monotonic,
    a bitrate that is not positive, or quality (or rate) ranges that do not overlap."""


def bd_rate(
    anchor: Sequence[Point],
    test: Sequence[Point],
    *,
    anchor_name: str = "anchor",
    test_name: str = "test",
    min_quality: float | None = None,
    max_quality: float | None = None,
    integration: Integration = "exact",
) -> float:
    """Average bitrate difference of ``test`` against ``anchor`` at equal quality, in percent.

    ``anchor`` and ``test`` are ``(bitrate, quality)`` points in any order (any bitrate unit, the same for
    both). Negative means the test curve needs fewer bits for the same quality (-20.0: 20 % saving).
    ``min_quality``/``max_quality`` narrow the integration to part of the shared quality range.
    Raises :class:`BDRateError` with one clear line when the curves cannot be compared.
    """
    what = "BD-rate"
    a_rate, a_qual = _curve(anchor, anchor_name, what)
    t_rate, t_qual = _curve(test, test_name, what)
    lo = max(a_qual[0], t_qual[0])
    hi = min(a_qual[-1], t_qual[-1])
    if hi <= lo:
        raise BDRateError(
            f"{what} needs curves whose quality ranges overlap, but {anchor_name!r} spans quality "
            f"{_num(a_qual[0])} to {_num(a_qual[-1])} and {test_name!r} spans {_num(t_qual[0])} to "
            f"{_num(t_qual[-1])}"
        )
    if min_quality is not None:
        lo = max(lo, float(min_quality))
    if max_quality is not None:
        hi = min(hi, float(max_quality))
    if not hi > lo:  # also catches a NaN bound
        raise BDRateError(
            f"{what}: no quality range is left to integrate between min_quality={min_quality} and "
            f"max_quality={max_quality} (the curves overlap from {_num(max(a_qual[0], t_qual[0]))} to "
            f"{_num(min(a_qual[-1], t_qual[-1]))})"
        )
    # Rate as a function of quality: x = quality, y = log10(bitrate).
    avg_log_diff = _mean_difference(a_qual, a_rate, t_qual, t_rate, lo, hi, integration)
    return float((10.0**avg_log_diff - 1.0) * 100.0)


def bd_quality(
    anchor: Sequence[Point],
    test: Sequence[Point],
    *,
    anchor_name: str = "anchor",
    test_name: str = "test",
    integration: Integration = "exact",
) -> float:
    """Average quality difference of ``test`` minus ``anchor`` at equal bitrate (BD-PSNR for PSNR).

    The quality of each curve is interpolated with PCHIP over log10(bitrate) and averaged over the
    shared log-bitrate range; the result is in the quality's own unit (dB for PSNR, points for VMAF).
    Positive means the test curve gives better quality for the same bits. Swapping the curves negates it.
    """
    what = "BD-quality"
    a_rate, a_qual = _curve(anchor, anchor_name, what)
    t_rate, t_qual = _curve(test, test_name, what)
    lo = max(a_rate[0], t_rate[0])
    hi = min(a_rate[-1], t_rate[-1])
    if hi <= lo:
        raise BDRateError(
            f"{what} needs curves whose bitrate ranges overlap, but {anchor_name!r} spans bitrate "
            f"{_num(10 ** a_rate[0])} to {_num(10 ** a_rate[-1])} and {test_name!r} spans "
            f"{_num(10 ** t_rate[0])} to {_num(10 ** t_rate[-1])}"
        )
    # Quality as a function of rate: x = log10(bitrate), y = quality.
    return float(_mean_difference(a_rate, a_qual, t_rate, t_qual, lo, hi, integration))


def _curve(points: Sequence[Point], name: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve; return ``(log10 bitrate, quality)`` sorted by bitrate, duplicates dropped."""
    pairs: set[Point] = set()
    for i, point in enumerate(points):
        try:
            rate, quality = point
            rate, quality = float(rate), float(quality)
        except (TypeError, ValueError):
            raise BDRateError(
                f"{what}: point {i} of {name!r} is not a (bitrate, quality) pair of numbers: {point!r}"
            ) from None
        if not (math.isfinite(rate) and rate > 0):
            raise BDRateError(
                f"{what} needs positive, finite bitrates, but {name!r} has bitrate {_num(rate)} "
                f"at quality {_num(quality)}"
            )
        if quality == math.inf:
            quality = INF_QUALITY
        elif not math.isfinite(quality):
            raise BDRateError(f"{what}: {name!r} has quality {quality} at bitrate {_num(rate)}")
        pairs.add((rate, quality))
    curve = sorted(pairs)
    if len(curve) < MIN_POINTS:
        dropped = len(points) - len(curve)
        note = (
            f" distinct (after dropping {dropped} duplicate{'s' if dropped > 1 else ''})" if dropped else ""
        )
        raise BDRateError(
            f"{what} needs at least {MIN_POINTS} rate/quality points per curve, got {len(curve)}{note} "
            f"for {name!r}"
        )
    for (r0, q0), (r1, q1) in itertools.pairwise(curve):
        if r1 == r0:
            raise BDRateError(
                f"{what} needs one quality per bitrate, but {name!r} has ({_num(r0)}, {_num(q0)}) and "
                f"({_num(r1)}, {_num(q1)})"
            )
        if q1 <= q0:
            raise BDRateError(
                f"{what} needs quality to rise strictly with bitrate, but {name!r} is not monotonic: "
                f"({_num(r0)}, {_num(q0)}) is followed by ({_num(r1)}, {_num(q1)})"
            )
    arr = np.asarray(curve, dtype=np.float64)
    return np.log10(arr[:, 0]), arr[:, 1]


def _pchip(x: np.ndarray, y: np.ndarray) -> PchipInterpolator:
    """PCHIP through strictly increasing ``x``; imported lazily so ``vidlab.lab`` stays cheap to import.

    For strictly monotone data scipy's slopes are exactly libvmaf's ``InterpolationUtils``: the weighted
    harmonic mean ``3(h[k-1] + h[k]) / ((2h[k] + h[k-1]) / d[k-1] + (h[k] + 2h[k-1]) / d[k])`` inside and
    the non-centred three-point formula (clamped to 0 or 3 * d) at both ends.
    """
    from scipy.interpolate import PchipInterpolator

    return PchipInterpolator(x, y, extrapolate=False)


def _mean_difference(
    x_a: np.ndarray,
    y_a: np.ndarray,
    x_t: np.ndarray,
    y_t: np.ndarray,
    lo: float,
    hi: float,
    integration: Integration,
) -> float:
    """Mean of ``test(x) - anchor(x)`` over ``[lo, hi]`` for the PCHIP interpolants of both curves."""
    f_a, f_t = _pchip(x_a, y_a), _pchip(x_t, y_t)
    if integration == "exact":
        area_a = float(f_a.integrate(lo, hi))
        area_t = float(f_t.integrate(lo, hi))
    elif integration == "trapezoid":
        xs, dx = np.linspace(lo, hi, TRAPEZOID_SAMPLES, retstep=True)
        area_a = _trapezoid(f_a(xs), float(dx))
        area_t = _trapezoid(f_t(xs), float(dx))
    else:
        raise BDRateError(f"integration must be 'exact' or 'trapezoid', got {integration!r}")
    return (area_t - area_a) / (hi - lo)


def _trapezoid(values: np.ndarray, dx: float) -> float:
    """Trapezoid rule on evenly spaced samples (``np.trapezoid`` needs NumPy 2, we accept 1.26)."""
    return float(dx * (values.sum() - 0.5 * (values[0] + values[-1])))


def _num(value: float) -> str:
    """A number for a message: up to 10 significant digits, no trailing zeros."""
    return f"{value:.10g}"
