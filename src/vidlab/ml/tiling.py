"""Tiled inference: one function that runs any image model over a frame of any size in
overlapping tiles, with memory bounded by the tile size, and blends the seams away.

Tile origins are multiples of ``multiple`` so that a codec's 8/16-px block grid keeps its phase
inside every tile (an artifact remover sees the blocks where the whole frame has them), and
every tile is padded (reflect) to a multiple of ``multiple``, as the whole frame would be.
Overlaps are blended with feathered weights: zero over the outer quarter of an overlap (the
pixels a convolution computed from padding), a linear ramp across the middle, one in the
interior and at the image's borders; the sum of the weights normalises the result."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from vidlab.core.errors import ModelError, UsageError

RunFn = Callable[[np.ndarray], np.ndarray]


class Tile(NamedTuple):
    """One tile of a frame: rows ``y0:y1`` and columns ``x0:x1`` (``y0``, ``x0`` are multiples)."""

    y0: int
    y1: int
    x0: int
    x1: int


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _spans(n: int, tile: int, stride: int, multiple: int) -> list[tuple[int, int]]:
    """``[start, end)`` spans covering ``0..n``, as few as ``tile`` and ``stride`` allow and of
    equal length (so a 720-px side with 512-px tiles costs 768 px, not 1024): starts are
    multiples of ``multiple``, neighbours overlap by at least ``tile - stride``, and the last span
    ends at ``n`` (it may be up to ``multiple - 1`` longer than the others)."""
    if n <= tile:
        return [(0, n)]
    overlap = tile - stride
    count = max(2, -(-(n - overlap) // stride))
    while True:
        length = min(tile, _round_up(-(-(n + (count - 1) * overlap) // count), multiple))
        last = (n - length) // multiple * multiple
        starts = sorted({round(i * last / (count - 1) / multiple) * multiple for i in range(count)})
        spans = [(s, min(s + length, n)) for s in starts]
        spans[-1] = (spans[-1][0], n)
        if all(a[1] - b[0] >= overlap for a, b in itertools.pairwise(spans)):
            return spans
        count += 1  # the starts' rounding ate into an overlap: one more span


def _check(tile: int, overlap: int, multiple: int) -> tuple[int, int, int]:
    if multiple < 1:
        raise UsageError(f"multiple must be >= 1, got {multiple}", param="multiple")
    if tile < 1:
        raise UsageError(f"tile must be >= 1 px, got {tile}", param="tile")
    tile = _round_up(max(tile, multiple), multiple)
    if overlap < 0 or 2 * overlap > tile:
        raise UsageError(
            f"overlap must be between 0 and half the tile ({tile // 2} px), got {overlap}", param="overlap"
        )
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    return tile, stride, overlap


def tile_grid(h: int, w: int, tile: int = 512, overlap: int = 32, multiple: int = 16) -> list[Tile]:
    """The tiles that cover an ``h`` x ``w`` frame, row by row: ``tile`` px (rounded up to a
    multiple of ``multiple``), overlapping by at least ``overlap`` px. A frame no larger than a
    tile is one tile."""
    tile, stride, _ = _check(tile, overlap, multiple)
    rows = _spans(h, tile, stride, multiple)
    cols = _spans(w, tile, stride, multiple)
    return [Tile(y0, y1, x0, x1) for y0, y1 in rows for x0, x1 in cols]


def pick_tile(h: int, w: int, budget_pixels: int, multiple: int = 16) -> int:
    """The largest square tile (a multiple of ``multiple``) of at most ``budget_pixels`` pixels,
    no larger than the frame needs."""
    side = max(multiple, math.isqrt(max(1, int(budget_pixels))) // multiple * multiple)
    return min(side, _round_up(max(h, w), multiple))


def _ramp(length: int, overlap: int, left: bool, right: bool) -> np.ndarray:
    """1-D weights of a span: feathered on the sides shared with a neighbour, 1 elsewhere."""
    k = np.arange(length, dtype=np.float64)
    w = np.ones(length)
    if overlap <= 0:
        return w
    margin = overlap // 4
    width = max(1, overlap - 2 * margin)
    if left:
        w = np.minimum(w, np.clip((k - margin + 0.5) / width, 0.0, 1.0))
    if right:
        w = np.minimum(w, np.clip((length - 1 - k - margin + 0.5) / width, 0.0, 1.0))
    return w


def _axis_weights(spans: list[tuple[int, int]], overlap: int, n: int) -> list[np.ndarray]:
    """Each span's 1-D weights; where the feathering would leave a pixel with no weight (an
    irregular last span), the ramps start at the tile's edge instead."""
    last = len(spans) - 1
    for margin_ok in (True, False):
        ov = overlap if margin_ok else 0
        weights = []
        for i, (s, e) in enumerate(spans):
            if margin_ok:
                weights.append(_ramp(e - s, ov, left=i > 0, right=i < last))
            else:  # plain linear ramps (k + 0.5) / overlap: positive everywhere
                k = np.arange(e - s, dtype=np.float64)
                w = np.ones(e - s)
                if i > 0:
                    w = np.minimum(w, (k + 0.5) / max(1, overlap))
                if i < last:
                    w = np.minimum(w, (e - s - k - 0.5) / max(1, overlap))
                weights.append(np.clip(w, 1e-6, 1.0))
        total = np.zeros(n)
        for (s, e), w in zip(spans, weights, strict=True):
            total[s:e] += w
        if total.min() > 0:
            return weights
    return weights


def _pad_to(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad a ``N x C x H x W`` batch at the bottom and right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = _round_up(h, multiple) - h, _round_up(w, multiple) - w
    if not ph and not pw:
        return x
    mode = "reflect" if h > 1 and w > 1 else "edge"
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def infer_tiled(
    run: RunFn,
    image: np.ndarray,
    *,
    tile: int = 512,
    overlap: int = 32,
    multiple: int = 16,
    batch: int = 1,
    scale: int = 1,
    layout: str = "CHW",
) -> np.ndarray:
    """Run ``run`` (an ``N x C x H x W`` float32 batch in, the same spatial size times ``scale``
    out) over ``image`` (float32 ``C x H x W``, or ``H x W x C`` with ``layout="HWC"``) in
    tiles of ``tile`` px overlapping by ``overlap``, ``batch`` tiles per call; the result has
    the image's layout. A frame smaller than a tile runs whole, padded to ``multiple``."""
    if layout not in ("CHW", "HWC"):
        raise UsageError(f"layout must be CHW or HWC, got {layout!r}", param="layout")
    if image.ndim != 3:
        raise UsageError(f"image must be 3-D ({layout}), got shape {image.shape}", param="image")
    if scale < 1:
        raise UsageError(f"scale must be >= 1, got {scale}", param="scale")
    chw = np.asarray(image, dtype=np.float32)
    if layout == "HWC":
        chw = chw.transpose(2, 0, 1)
    _, h, w = chw.shape
    tile_r, stride, overlap = _check(tile, overlap, multiple)
    rows = _spans(h, tile_r, stride, multiple)
    cols = _spans(w, tile_r, stride, multiple)
    s = scale
    wy = _axis_weights([(a * s, b * s) for a, b in rows], overlap * s, h * s)
    wx = _axis_weights([(a * s, b * s) for a, b in cols], overlap * s, w * s)
    total_y = np.zeros(h * s)
    total_x = np.zeros(w * s)
    for (a, b), wt in zip(rows, wy, strict=True):
        total_y[a * s : b * s] += wt
    for (a, b), wt in zip(cols, wx, strict=True):
        total_x[a * s : b * s] += wt

    out: np.ndarray | None = None
    pending: list[tuple[int, int]] = []  # (row index, column index) of the tiles in the batch

    def flush() -> None:
        nonlocal out
        if not pending:
            return
        crops = [chw[:, rows[i][0] : rows[i][1], cols[j][0] : cols[j][1]] for i, j in pending]
        x = _pad_to(np.stack(crops), multiple)
        y = np.asarray(run(x), dtype=np.float32)
        want = (len(pending), x.shape[2] * s, x.shape[3] * s)
        if y.ndim != 4 or (y.shape[0], y.shape[2], y.shape[3]) != want:
            raise ModelError(
                f"the model returned shape {tuple(y.shape)} for a tile batch of shape {tuple(x.shape)} "
                f"(expected N x C x {want[1]} x {want[2]} at scale {s})"
            )
        if out is None:
            out = np.zeros((y.shape[1], h * s, w * s), dtype=np.float32)
        for k, (i, j) in enumerate(pending):
            (y0, y1), (x0, x1) = rows[i], cols[j]
            th, tw = (y1 - y0) * s, (x1 - x0) * s
            weight = np.outer(wy[i], wx[j]).astype(np.float32)
            out[:, y0 * s : y1 * s, x0 * s : x1 * s] += y[k, :, :th, :tw] * weight
        pending.clear()

    shape_of = None
    for i in range(len(rows)):
        for j in range(len(cols)):
            shape = (rows[i][1] - rows[i][0], cols[j][1] - cols[j][0])
            if pending and (shape != shape_of or len(pending) >= batch):
                flush()
            shape_of = shape
            pending.append((i, j))
    flush()
    assert out is not None
    out /= np.outer(total_y, total_x).astype(np.float32)
    return out.transpose(1, 2, 0) if layout == "HWC" else out
