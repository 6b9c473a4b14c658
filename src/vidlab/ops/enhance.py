"""Decoder-side enhancers: ops that reduce compression artifacts in decoded video.

Enhancers are ordinary spatial ops in the same registry, so any op or plugin can serve as one.
The built-ins are ``bilateral`` (edge-preserving smoothing of ringing and mosquito noise) and
``deblock`` (an H.264-style adaptive filter across the block grid); ``identity`` is the baseline
of a comparison, and the shipped preset ``combined`` (bilateral, then ``sharpen``) is a recipe.

They filter in Y'CbCr with BT.709 weights and turn the change back into RGB, so a pixel the
filter leaves alone keeps its exact value: a luma change ``dY`` is added to R, G and B alike
(which leaves Cb and Cr as they were). The block grid is assumed to start at the frame's
top-left corner, as it does for any decoded, uncropped video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.io.colors import ColorInfo, luma_weights
from vidlab.ops.base import SpatialOp, param
from vidlab.ops.registry import register_op

# BT.709 luma weights (from io.colors' matrix table) and the RGB -> Y'CbCr matrix (full range,
# no offsets: only differences and deltas pass through it).
_KR, _KG, _KB = luma_weights(ColorInfo(matrix=1), 1080)
_RGB2YCC = np.array(
    [
        [_KR, _KG, _KB],
        [-_KR / (2 * (1 - _KB)), -_KG / (2 * (1 - _KB)), 0.5],
        [0.5, -_KG / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR))],
    ],
    dtype=np.float32,
)
_YCC2RGB = np.linalg.inv(_RGB2YCC.astype(np.float64)).astype(np.float32)
_RGB2YCC_8BIT = np.hstack([_RGB2YCC, np.array([[0.0], [128.0], [128.0]], np.float32)])

# The H.264 loop filter's tables (ITU-T H.264, Tables 8-16 and 8-17), indexed by indexA/indexB
# (the QP plus the slice's offsets): alpha bounds the step across an edge that may still be a
# blocking artifact, beta the activity on either side, tc the largest correction (bS = 2).
# fmt: off
_ALPHA = np.array([0] * 16 + [
    4, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 17, 20, 22, 25, 28, 32, 36, 40, 45, 50, 56, 63, 71, 80, 90,
    101, 113, 127, 144, 162, 182, 203, 226, 255, 255,
], dtype=np.float32)
_BETA = np.array([0] * 16 + [
    2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
    14, 14, 15, 15, 16, 16, 17, 17, 18, 18,
], dtype=np.float32)
_TC0 = np.array([0] * 21 + [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 8, 10, 11, 12, 13, 15, 17,
], dtype=np.float32)
# fmt: on


def _planes(image: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` Y'CbCr planes of a uint8 RGB image, as uint8 (rounded like a decoder's
    8-bit planes; Cb and Cr centred on 128). One 3x4 transform plus channel extraction is
    several times faster in OpenCV than a 1-row transform or ``cv2.split``."""
    ycc = cv2.transform(image, _RGB2YCC_8BIT)
    return [cv2.extractChannel(ycc, i) for i in range(count)]


def _add_change(image: np.ndarray, changes: list[np.ndarray]) -> np.ndarray:
    """Add Y'CbCr changes (int16 planes: luma, or luma, Cb and Cr) to a uint8 RGB image, rounded
    and saturated. A luma change alone moves R, G and B alike, leaving Cb and Cr as they were.
    (Few full-frame temporaries: each new one costs page faults at 720p and up.)"""
    merged = cv2.merge(changes * 3 if len(changes) == 1 else changes)
    if len(changes) > 1:
        cv2.transform(merged, _YCC2RGB, dst=merged)  # int16 in place, rounded
    return cv2.add(image, merged, dtype=cv2.CV_8U)


def blockiness(image: np.ndarray, block: int = 8) -> float:
    """Mean absolute luma step across the ``block`` grid's boundaries divided by the mean step
    between neighbours inside blocks: about 1 for natural images, above 1 when blocks show."""
    y = cv2.transform(image.astype(np.float32), _RGB2YCC[:1]) if image.ndim == 3 else image.astype(np.float32)
    dx = np.abs(np.diff(y, axis=1))
    dy = np.abs(np.diff(y, axis=0))
    on_x = np.zeros(dx.shape[1], bool)
    on_x[block - 1 :: block] = True
    on_y = np.zeros(dy.shape[0], bool)
    on_y[block - 1 :: block] = True
    edge = dx[:, on_x].sum() + dy[on_y].sum()
    n_edge = dx[:, on_x].size + dy[on_y].size
    inner = dx[:, ~on_x].sum() + dy[~on_y].sum()
    n_inner = dx[:, ~on_x].size + dy[~on_y].size
    if n_edge == 0 or n_inner == 0 or inner == 0:
        return 1.0
    return float((edge / n_edge) / (inner / n_inner))


@register_op
@dataclass(frozen=True)
class Bilateral(SpatialOp):
    """Edge-preserving bilateral filter against ringing and mosquito noise (luma only by default)."""

    name: ClassVar[str] = "bilateral"
    diameter: int = param(5, min=1, max=15, help="neighbourhood diameter in pixels (5 is fast at 720p)")
    sigma_color: float = param(
        20.0, min=0.0, max=255.0, help="code-value difference that still blends; 0 turns the filter off"
    )
    sigma_space: float = param(1.5, min=0.1, max=20.0, help="spatial Gaussian sigma in pixels")
    luma_only: bool = param(True, help="filter luma (Y'CbCr) and leave colour alone; off: filter RGB")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.sigma_color == 0:
            return image
        if not self.luma_only:
            return cv2.bilateralFilter(image, self.diameter, self.sigma_color, self.sigma_space)
        (y,) = _planes(image, 1)
        smooth = cv2.bilateralFilter(y, self.diameter, self.sigma_color, self.sigma_space)
        return _add_change(image, [cv2.subtract(smooth, y, dtype=cv2.CV_16S)])


def _filter_rows(
    plane: np.ndarray,
    block: int,
    alpha: int,
    beta: int,
    tc: int,
    luma_mask: np.ndarray | None = None,
    axis: int = 0,
) -> np.ndarray | None:
    """H.264's normal-strength (bS < 4) edge filter, in its integer arithmetic, on every
    horizontal boundary of the block grid (rows ``y = block * k``; with ``axis=1`` the vertical
    ones, columns ``x = block * k``) of an int16 plane, in place and all boundaries at once.
    Returns where it filtered (boundaries along ``axis``, samples along the other).

    A boundary sample is filtered only where the step across it is below ``alpha`` and both
    sides are flat to within ``beta``: a genuine blocking artifact. A real edge (a large step,
    or busy texture beside it) is left alone. Luma moves p1..q1 (p1, q1 only where that side is
    flat). A chroma plane (given ``luma_mask``, the luma decision for the same samples) moves
    p0, q0 and only where luma was filtered too, so colour never bleeds across an edge that
    luma shows to be real. Every boundary reads the values from before the pass and writes rows
    of its own (block >= 4), so the vectorised result does not depend on an order."""
    n = (plane.shape[axis] - 3) // block  # boundaries whose q2 exists
    if n <= 0:
        return None

    def rows(j: int) -> np.ndarray:
        if axis == 1:
            return plane[:, block + j : block + j + n * block : block]
        return plane[block + j : block + j + n * block : block]

    p0, q0, p1, q1 = rows(-1), rows(0), rows(-2), rows(1)
    step = q0 - p0
    mask = np.abs(step) < alpha
    mask &= np.abs(p1 - p0) < beta
    mask &= np.abs(q1 - q0) < beta
    delta = step << 2  # (4 (q0 - p0) + (p1 - q1) + 4) >> 3
    delta += p1
    delta -= q1
    delta += 4
    delta >>= 3
    if luma_mask is not None:
        mask &= luma_mask
        np.clip(delta, -(tc + 1), tc + 1, out=delta)
        delta *= mask
        p0 += delta
        q0 -= delta
        return mask
    p2, q2 = rows(-3), rows(2)
    flat_p = np.abs(p2 - p0) < beta
    flat_q = np.abs(q2 - q0) < beta
    tc_edge = flat_p.astype(np.int16)
    tc_edge += flat_q
    tc_edge += tc
    np.clip(delta, -tc_edge, tc_edge, out=delta)
    delta *= mask
    mid = p0 + q0  # (p0 + q0 + 1) >> 1
    mid += 1
    mid >>= 1
    changes = []
    for x1, x2, flat in ((p1, p2, flat_p), (q1, q2, flat_q)):
        d1 = x2 + mid  # (x2 + mid - 2 x1) >> 1, clipped to tc, where that side is flat
        d1 -= x1 << 1
        d1 >>= 1
        np.clip(d1, -tc, tc, out=d1)
        flat &= mask
        d1 *= flat
        changes.append(d1)
    # Write only now: with block 4, one boundary's q2 is the next one's p1.
    p1 += changes[0]
    q1 += changes[1]
    p0 += delta
    q0 -= delta
    return mask


@register_op
@dataclass(frozen=True)
class Deblock(SpatialOp):
    """H.264-style adaptive deblocking across the block grid: smooths blocking, keeps real edges.

    The H.264 loop filter's normal mode run as a post-filter on every boundary of the grid
    (vertical boundaries, then horizontal), on luma and by default on Cb and Cr. For codecs
    whose own loop filter was off or weak (MPEG-2, MJPEG, x264 with ``no-deblock``, very low
    bitrates). ``qp`` picks the thresholds from the H.264 tables, ``strength`` scales them."""

    name: ClassVar[str] = "deblock"
    block: int = param(
        8, min=4, max=16, help="block grid in pixels: 8 (8x8 transforms, MPEG-2, JPEG), 4 or 16"
    )
    strength: float = param(1.0, min=0.0, max=3.0, help="scales the thresholds alpha, beta and tc; 0 is off")
    qp: int = param(
        44, min=16, max=51, help="H.264 table index for alpha/beta/tc: ~40 mild, 44 low, 48 very low bitrate"
    )
    chroma: bool = param(True, help="also filter the colour-difference planes (Cb, Cr); off is faster")

    def validate(self) -> None:
        if self.block not in (4, 8, 16):
            raise RecipeError(f"op 'deblock': block must be 4, 8 or 16, got {self.block}")

    @property
    def thresholds(self) -> tuple[int, int, int]:
        """(alpha, beta, tc) in code values after ``strength``."""
        s = self.strength
        return round(_ALPHA[self.qp] * s), round(_BETA[self.qp] * s), round(_TC0[self.qp] * s)

    def filter_planes(self, planes: list[np.ndarray]) -> list[np.ndarray]:
        """Deblock int16 planes (luma, then any chroma planes): vertical boundaries first, then
        horizontal ones (as H.264 does), chroma following luma's decisions. Returns a new luma
        plane; chroma planes are filtered in place. Luma's vertical pass runs transposed (its
        boundaries become contiguous rows); chroma reads only four columns per boundary, so
        strided slices are cheaper there."""
        alpha, beta, tc = self.thresholds
        luma = cv2.transpose(planes[0])
        mask = _filter_rows(luma, self.block, alpha, beta, tc)
        luma = cv2.transpose(luma)
        chroma = planes[1:]
        if mask is not None and chroma:
            mask = np.ascontiguousarray(mask.T)
            for plane in chroma:
                _filter_rows(plane, self.block, alpha, beta, tc, luma_mask=mask, axis=1)
        mask = _filter_rows(luma, self.block, alpha, beta, tc)
        if mask is not None:
            for plane in chroma:
                _filter_rows(plane, self.block, alpha, beta, tc, luma_mask=mask)
        return [luma, *chroma]

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return image
        originals = _planes(image, 3 if self.chroma else 1)  # uint8
        filtered = self.filter_planes([p.astype(np.int16) for p in originals])
        for new, old in zip(filtered, originals, strict=True):
            new -= old  # the change, in place
        return _add_change(image, filtered)
