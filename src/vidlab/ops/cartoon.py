"""Cartoon: edge-preserving smoothing, a temporally stable k-means palette, bold edges.

Speed comes from three choices: smoothing and quantization run at a working height (540 lines
by default; flat colour regions do not need more), the palette is applied through a 32x32x32
lookup table rebuilt only when the palette moves, and the palette is not refitted every frame.

The palette schedule keeps colours still and chunked runs exact. It is refitted at anchor frames
only: every ``palette_period`` frames of the source (a fixed grid of frame indices) and at each
scene cut. An anchor's fit starts from a fresh fit of the anchor before it, so consecutive
palettes are neighbours rather than unrelated local optima. After an anchor, the previous
palette fades into the new one over ``palette_fade`` frames, each colour into its nearest
successor, so the palette drifts slowly and never jumps, except at a cut, where it resets. A
frame's palette depends only on the last three anchors, which bounds the declared pre-roll.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.ops.base import REFERENCE_HEIGHT, TemporalOp, param
from vidlab.ops.registry import register_op
from vidlab.vision.scene import SceneCutDetector

_BINS = 32  # lookup-table resolution per channel (5 bits)
_SAMPLES = 4096  # pixels on a fixed grid that the palette is fitted to
_SEED = 0x5EED


@functools.lru_cache(maxsize=1)
def _bin_lab() -> np.ndarray:
    """CIE Lab of the centre of every 5-bit RGB bin, shape (32768, 3), index r<<10 | g<<5 | b."""
    centers = (np.arange(_BINS, dtype=np.float32) * 8 + 3.5) / 255.0
    r, g, b = np.meshgrid(centers, centers, centers, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 1, 3)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB pixels (N x 3) to float Lab (L 0..100)."""
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _nearest(samples: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center per sample (elementwise, so identical on every machine and
    thread count, unlike a BLAS product)."""
    d = ((samples[:, None, :] - centers[None, :, :]) ** 2).sum(2)
    return d.argmin(1)


def kmeans(
    samples: np.ndarray, k: int, iterations: int = 12, seed: int = _SEED, init: np.ndarray | None = None
) -> np.ndarray:
    """Deterministic k-means (k-means++ seeding from a fixed seed, or ``init``; Lloyd
    iterations), centers sorted by lightness so the palette's order means something."""
    if init is not None:
        c = init.astype(np.float32)
        for _ in range(iterations):
            c = lloyd_step(samples, c)
        return c[np.argsort(c[:, 0], kind="stable")]
    rng = np.random.default_rng(seed)
    centers = [samples[rng.integers(len(samples))]]
    dist = ((samples - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = dist.sum()
        pick = rng.choice(len(samples), p=dist / total) if total > 0 else rng.integers(len(samples))
        centers.append(samples[pick])
        dist = np.minimum(dist, ((samples - samples[pick]) ** 2).sum(1))
    c = np.array(centers, dtype=np.float32)
    for _ in range(iterations):
        c = lloyd_step(samples, c)
    return c[np.argsort(c[:, 0], kind="stable")]


def lloyd_step(samples: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """One k-means update; a center that wins no sample stays where it is."""
    labels = _nearest(samples, centers)
    k = len(centers)
    counts = np.bincount(labels, minlength=k).astype(np.float32)
    sums = np.zeros_like(centers)
    np.add.at(sums, labels, samples)
    new = centers.copy()
    won = counts > 0
    new[won] = sums[won] / counts[won, None]
    return new


def match(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``old`` reordered so that entry i is the old colour closest to ``new[i]`` (greedy, by
    ascending distance, each used once): the pairs a fade interpolates between."""
    d = ((old[:, None, :] - new[None, :, :]) ** 2).sum(2)
    out = np.empty_like(new)
    free_old, free_new = set(range(len(old))), set(range(len(new)))
    for flat in np.argsort(d, axis=None, kind="stable"):
        i, j = divmod(int(flat), d.shape[1])
        if i in free_old and j in free_new:
            out[j] = old[i]
            free_old.discard(i)
            free_new.discard(j)
    return out


def palette_table(centers: np.ndarray) -> np.ndarray:
    """For every 5-bit RGB bin, its nearest palette colour packed as one uint32 (R, G, B, 255
    in memory order), so :func:`quantize` gathers one word per pixel."""
    rgba = np.concatenate([lab_to_rgb(centers), np.full((len(centers), 1), 255, np.uint8)], axis=1)
    return rgba.view(np.uint32)[:, 0][_nearest(_bin_lab(), centers)]


def quantize(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map every pixel through the 32^3 palette table."""
    v = cv2.cvtColor(image, cv2.COLOR_RGB2BGRA).view(np.uint32)[..., 0]  # b | g<<8 | r<<16 | a<<24
    idx = ((v >> 3) & 0x1F) | ((v >> 6) & 0x3E0) | ((v >> 9) & 0x7C00)
    rgba = np.take(table, idx).view(np.uint8).reshape(*image.shape[:2], 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)


def _grid_samples(image: np.ndarray, n: int = _SAMPLES) -> np.ndarray:
    h, w = image.shape[:2]
    step = max(1, int(math.sqrt(h * w / n)))
    return image[step // 2 :: step, step // 2 :: step].reshape(-1, 3)


@register_op
@dataclass(frozen=True)
class Cartoon(TemporalOp):
    """Cartoon look: smoothed flat colours from a stable k-means palette, with bold black edges."""

    name: ClassVar[str] = "cartoon"
    colors: int = param(8, min=4, max=16, help="palette size (k-means clusters)")
    smoothing: int = param(2, min=0, max=6, help="edge-preserving (bilateral) passes before quantizing")
    sigma_color: float = param(40.0, min=1.0, max=200.0, help="bilateral colour sigma (code values)")
    edges: str = param("canny", choices=("canny", "adaptive", "none"), help="how edges are found")
    edge_threshold: float = param(
        60.0, min=1.0, max=255.0, help="Canny low threshold (high = 2.5x); adaptive: offset C x 4"
    )
    edge_width: float = param(
        2.0, min=0.5, max=8.0, help="line width in pixels at 1080p (scales with height)"
    )
    palette_period: int = param(
        30, min=1, max=600, help="frames between palette refits (on a fixed grid of frame numbers)"
    )
    palette_fade: int = param(
        15, min=0, max=600, help="frames over which the old palette fades into a refit (<= period)"
    )
    scene_threshold: float = param(
        30.0, min=0.0, max=255.0, help="thumbnail change (Lab code values) that resets the palette; 0: never"
    )
    work_height: int = param(540, min=90, max=4320, help="smoothing/quantizing height; taller frames shrink")

    def validate(self) -> None:
        if self.palette_fade > self.palette_period:
            raise RecipeError("op 'cartoon': palette_fade must be <= palette_period")

    def preroll(self) -> int:
        """A frame's palette is fitted at the last anchor, warm-started from a fresh fit at the
        one before, and during a fade also needs the palette before that: so the history
        reaches two periods plus the fade back."""
        return 2 * self.palette_period + self.palette_fade

    # -- per-frame pieces ------------------------------------------------------------------------

    def _smooth(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if h > self.work_height:
            size = (max(2, round(w * self.work_height / h)), self.work_height)
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        for _ in range(self.smoothing):
            image = cv2.bilateralFilter(image, 5, self.sigma_color, 3)
        return image

    def _edge_mask(self, small: np.ndarray, height: int) -> np.ndarray | None:
        """Line mask (255 on lines) at the working size, or None without edges."""
        if self.edges == "none":
            return None
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        scale = height / small.shape[0]
        if self.edges == "canny":
            gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
            mask = cv2.Canny(gray, self.edge_threshold, self.edge_threshold * 2.5, L2gradient=True)
        else:
            gray = cv2.medianBlur(gray, 5)
            mask = cv2.adaptiveThreshold(
                gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 9, self.edge_threshold / 4
            )
        # Line width at output size: edge_width at 1080p, scaled with the frame's height.
        width_small = self.edge_width * height / REFERENCE_HEIGHT / scale
        k = max(1, round(width_small))
        if k > 1:
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        return mask

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        cuts = SceneCutDetector(self.scene_threshold)
        seed_fit: np.ndarray | None = None  # fresh fit at the last anchor (warm start of the next)
        current: np.ndarray | None = None  # palette fitted at the last anchor
        previous: np.ndarray | None = None  # the palette before it, matched to `current`
        since = 0  # frames since the last anchor
        built: np.ndarray | None = None
        table = np.empty(0, np.uint32)
        for frame in frames:
            h, w = frame.image.shape[:2]
            small = self._smooth(frame.image)
            cut = cuts.update(small)
            if cut or current is None or frame.index % self.palette_period == 0:
                samples = to_lab(_grid_samples(small))
                fresh = kmeans(samples, self.colors)
                if cut or current is None or seed_fit is None:
                    new, previous = fresh, None  # a new shot: no fade from the old one
                else:
                    new = kmeans(samples, self.colors, iterations=8, init=seed_fit)
                    previous = match(current, new)
                seed_fit, current, since = fresh, new, 0
            else:
                since += 1
            centers = current
            if previous is not None and since < self.palette_fade:
                a = np.float32((since + 1) / (self.palette_fade + 1))
                centers = previous + a * (current - previous)
            if built is None or not np.array_equal(centers, built):
                table, built = palette_table(centers), centers
            flat = quantize(small, table)
            mask = self._edge_mask(small, h)
            if mask is not None:
                flat[mask > 0] = 0
            if flat.shape[:2] != (h, w):
                flat = cv2.resize(flat, (w, h), interpolation=cv2.INTER_LINEAR)
            yield frame.with_image(flat)
