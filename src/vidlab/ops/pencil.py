"""Pencil sketch: grayscale, invert, blur, color dodge; optional paper texture and colored pencil.

The dodge ``gray * 255 / (255 - blur(255 - gray))`` equals ``gray * 255 / blur(gray)``, so the
inverted image is never materialised. The big blur runs at 1/2 or 1/4 resolution and is scaled
back with a linear filter (the blur hides it), and every full-frame step is a uint8 OpenCV call
(OpenCV releases the GIL and uses its own threads). Textures and LUTs are cached per plain key
at module level, so the op itself stays a tiny picklable dataclass.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.ops.base import REFERENCE_HEIGHT, SpatialOp, param
from vidlab.ops.registry import register_op


@register_op
@dataclass(frozen=True)
class Pencil(SpatialOp):
    """Pencil sketch (color dodge of a blurred negative), optionally colored and on paper."""

    name: ClassVar[str] = "pencil"
    stroke: float = param(
        6.0, min=0.5, max=64.0, help="line width: blur sigma in px at 1080p (scales with frame height)"
    )
    darkness: float = param(
        1.6, min=0.2, max=8.0, help="gamma on the sketch: >1 darkens lines and shading, 1 = plain dodge"
    )
    paper: str = param(
        "none", choices=("none", "procedural", "image"), help="paper texture (image: paper_image's file)"
    )
    paper_image: Path | None = param(
        None, type=Path, help="a paper image file, tiled at 1080p scale with its colors (sets paper=image)"
    )
    paper_seed: int = param(0, min=0, max=2**31 - 1, help="seed of the procedural paper texture")
    paper_strength: float = param(0.5, min=0.0, max=1.0, help="how strongly the paper shows (0: not)")
    color: bool = param(False, help="colored pencil: tint strokes with softened, saturated source colors")

    def validate(self) -> None:
        if self.paper_image is not None and self.paper == "none":
            object.__setattr__(self, "paper", "image")
        if self.paper == "image" and self.paper_image is None:
            raise RecipeError("op 'pencil': paper=image needs a paper_image file", param="paper_image")
        if self.paper != "image" and self.paper_image is not None:
            raise RecipeError(f"op 'pencil': paper_image is only used with paper=image, not {self.paper}")

    def apply(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        scale = h / REFERENCE_HEIGHT
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        sketch = _dodge(gray, self.stroke * scale)
        sketch = cv2.LUT(sketch, _gamma_lut(self.darkness))
        paper = self._paper(w, h)
        if paper is not None and paper.ndim == 2:
            sketch = cv2.multiply(sketch, paper, scale=1 / 255)
        out = cv2.cvtColor(sketch, cv2.COLOR_GRAY2RGB)
        if self.color:
            out = _colorize(out, image, scale)
        if paper is not None and paper.ndim == 3:
            out = cv2.multiply(out, paper, scale=1 / 255)
        return out

    def _paper(self, w: int, h: int) -> np.ndarray | None:
        if self.paper == "none" or self.paper_strength == 0:
            return None
        if self.paper == "procedural":
            return _procedural_paper(self.paper_seed, w, h, self.paper_strength)
        return _image_paper(str(self.paper_image), w, h, self.paper_strength)


def _dodge(gray: np.ndarray, sigma: float) -> np.ndarray:
    """``gray * 255 / blur(gray)`` with the blur done at reduced size; +1 on both sides so flat
    black stays paper white instead of dividing by zero."""
    h, w = gray.shape
    factor = 4 if sigma >= 8 else 2 if sigma >= 4 else 1
    factor = min(factor, max(1, min(h, w) // 8))
    if factor > 1:
        small = cv2.resize(gray, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
        blurred = cv2.resize(cv2.add(small, 1), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        blurred = cv2.add(cv2.GaussianBlur(gray, (0, 0), sigma), 1)
    return cv2.divide(cv2.add(gray, 1), blurred, scale=255)


@functools.lru_cache(maxsize=32)
def _gamma_lut(gamma: float) -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255
    lut = np.round(255 * x**gamma).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def _colorize(sketch_rgb: np.ndarray, image: np.ndarray, scale: float) -> np.ndarray:
    """Colored pencil: multiply the sketch with a pastel, saturated, blurred color layer whose
    pigment is broken up by a static diagonal hatching texture (pencil strokes, not a wash)."""
    h, w = image.shape[:2]
    factor = max(1, min(4, round(h / 270)))
    small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.8, 3.0 * scale / factor))
    hue, sat, val = cv2.split(cv2.cvtColor(small, cv2.COLOR_RGB2HSV))
    sat = cv2.convertScaleAbs(sat, alpha=1.5)
    val = cv2.convertScaleAbs(val, alpha=0.85, beta=40)
    # Pigment = 255 - color (how much light the pencil removes), 0 on white.
    pigment = cv2.bitwise_not(cv2.cvtColor(cv2.merge([hue, sat, val]), cv2.COLOR_HSV2RGB))
    pigment = cv2.resize(pigment, (w, h), interpolation=cv2.INTER_LINEAR)
    pigment = cv2.multiply(pigment, _hatching(w, h), scale=1 / 255)
    return cv2.multiply(sketch_rgb, cv2.bitwise_not(pigment), scale=1 / 255)


def _streaks(rng: np.random.Generator, h: int, w: int, length: float, angle: float) -> np.ndarray:
    """Unit-variance noise smeared along ``angle`` degrees: fibers or pencil strokes."""
    noise = rng.standard_normal((h, w), dtype=np.float32)
    n = max(3, int(length) | 1)
    kernel = np.zeros((n, n), np.float32)
    c, r = n // 2, n / 2
    dx, dy = r * math.cos(math.radians(angle)), -r * math.sin(math.radians(angle))
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    kernel /= kernel.sum()
    out = cv2.filter2D(noise, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return out / max(float(out.std()), 1e-6)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Unit-variance low-frequency noise with features about ``cell`` px across."""
    gh, gw = max(2, math.ceil(h / cell) + 1), max(2, math.ceil(w / cell) + 1)
    small = rng.standard_normal((gh, gw), dtype=np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return (out - out.mean()) / max(float(out.std()), 1e-6)


@functools.lru_cache(maxsize=8)
def _procedural_paper(seed: int, w: int, h: int, strength: float) -> np.ndarray:
    """Static paper: blotchy low-frequency tone, fibers along one direction and fine grain,
    deterministic in ``seed`` (white = 255; darker where the texture is)."""
    rng = np.random.default_rng(seed)
    s = h / REFERENCE_HEIGHT
    angle = float(rng.uniform(-20, 20))
    low = _smooth_noise(rng, h, w, 180 * s)
    fibers = _streaks(rng, h, w, 24 * s, angle)
    grain = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), max(0.5, 0.8 * s))
    grain /= max(float(grain.std()), 1e-6)
    tex = 0.45 * low + 0.45 * fibers + 0.35 * grain
    t = np.clip((tex + 2.5) / 5.0, 0.0, 1.0)
    paper = np.round(255 * (1 - 0.3 * strength * t)).astype(np.uint8)
    paper.setflags(write=False)
    return paper


@functools.lru_cache(maxsize=4)
def _hatching(w: int, h: int) -> np.ndarray:
    """Static diagonal pencil strokes for the colored variant, 3 channels, 255 = full pigment."""
    rng = np.random.default_rng(0x9E7C11)
    s = h / REFERENCE_HEIGHT
    strokes = _streaks(rng, h, w, 40 * s, 50.0)
    t = np.clip(0.7 + 0.22 * strokes, 0.25, 1.0)
    hatch = np.round(255 * t).astype(np.uint8)
    hatch = np.ascontiguousarray(cv2.cvtColor(hatch, cv2.COLOR_GRAY2RGB))
    hatch.setflags(write=False)
    return hatch


@functools.lru_cache(maxsize=4)
def _image_paper(path: str, w: int, h: int, strength: float) -> np.ndarray:
    """A paper image at 1080p scale, tiled over the frame, mixed toward white by ``strength``.
    Gray papers come back as one plane (the sketch stays gray), colored ones as RGB."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise RecipeError(f"op 'pencil': cannot read paper image {path}: {exc.strerror or exc}") from None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise RecipeError(f"op 'pencil': cannot read paper image {path} (not a supported image)")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    s = h / REFERENCE_HEIGHT
    ph, pw = img.shape[:2]
    size = (max(1, round(pw * s)), max(1, round(ph * s)))
    if size != (pw, ph):
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    reps = (math.ceil(h / img.shape[0]), math.ceil(w / img.shape[1]), 1)
    img = np.tile(img, reps)[:h, :w]
    img = cv2.addWeighted(img, strength, img, 0.0, 255 * (1 - strength))
    if np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]):
        img = img[..., 0]
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img
