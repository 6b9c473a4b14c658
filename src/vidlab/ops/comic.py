"""Comic: CMYK halftone screens at the classic angles, ink edges.

Colors are separated into CMYK with full under-colour removal (``K = 1 - max(R,G,B)``,
``C = (1 - R - K) / (1 - K)``...), each ink is screened with an amplitude-modulated dot screen at
its own angle (C 15°, M 75°, Y 0°, K 45°), and the inks are printed back subtractively on white
paper. The continuous-tone separation runs at reduced size (the dots only need a few samples per
cell); each screen is a precomputed, tone-equalised threshold array fixed in image space (the
print look: no crawling dots on a static shot), compared with the ink in one saturating
``addWeighted`` whose gain anti-aliases the dot borders over about a pixel.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.ops.base import REFERENCE_HEIGHT, SpatialOp, param
from vidlab.ops.registry import register_op

#: The smallest cell a screen is drawn with, whatever the frame size (smaller dots alias away).
MIN_CELL = 3.0


@register_op
@dataclass(frozen=True)
class Comic(SpatialOp):
    """Comic print: CMYK halftone dots at the classic screen angles, with bold ink edges."""

    name: ClassVar[str] = "comic"
    dot_size: float = param(
        10.0, min=2.0, max=96.0, help="halftone cell in px at 1080p (scales with frame height; >= 3 px)"
    )
    edges: bool = param(True, help="draw bold black ink outlines on strong edges")
    edge_strength: float = param(0.9, min=0.0, max=1.0, help="opacity of the ink outlines")
    edge_width: float = param(3.0, min=0.5, max=24.0, help="outline width in px at 1080p")
    posterize: int = param(0, min=0, max=64, help="levels per RGB channel before screening (0: off)")
    angle_c: float = param(15.0, min=0.0, max=180.0, help="cyan screen angle, degrees counterclockwise")
    angle_m: float = param(75.0, min=0.0, max=180.0, help="magenta screen angle in degrees")
    angle_y: float = param(0.0, min=0.0, max=180.0, help="yellow screen angle in degrees")
    angle_k: float = param(45.0, min=0.0, max=180.0, help="black screen angle in degrees")

    def validate(self) -> None:
        if self.posterize == 1:
            raise RecipeError("op 'comic': posterize needs 0 (off) or at least 2 levels")

    def cell(self, height: int) -> float:
        """The halftone cell in pixels for frames ``height`` pixels tall."""
        return max(MIN_CELL, self.dot_size * height / REFERENCE_HEIGHT)

    def posterized(self, image: np.ndarray) -> np.ndarray:
        """The colors the screens start from: ``image`` with ``posterize`` levels per channel."""
        return cv2.LUT(image, _posterize_lut(self.posterize)) if self.posterize else image

    def apply(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        cell = self.cell(h)
        gain = max(3.0, cell)  # dot borders ramp over about one pixel (dots of >= 2 px radius)
        margin = math.ceil(128 / gain)
        # Continuous-tone separation at reduced size, smoothed over about a cell so dots carry
        # local coverage; transmittances (255 = no ink) to print with directly.
        factor = max(1, min(4, int(cell // 3)))
        small = self.posterized(image)
        if factor > 1:
            small = cv2.resize(
                small, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA
            )
        small = cv2.GaussianBlur(small, (0, 0), cell / (3 * factor))
        r, g, b = cv2.split(small)
        top = cv2.max(cv2.max(r, g), b)  # 255 - K
        # C = 1 - R / max(R,G,B) etc.; +1 on both sides so pure black takes K ink only.
        den = cv2.add(top, 1)
        lut = _ink_lut(gain, margin)
        trans = [cv2.LUT(cv2.divide(cv2.add(p, 1), den, scale=255), lut) for p in (r, g, b)]
        trans.append(cv2.LUT(top, lut))
        angles = (self.angle_c, self.angle_m, self.angle_y, self.angle_k)
        planes = []
        for t, angle in zip(trans, angles, strict=True):
            if factor > 1:
                t = cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR)
            screen = _screen(h, w, cell, angle % 180, margin)
            planes.append(cv2.addWeighted(screen, gain, t, gain, 128 - 255 * gain))
        c, m, y, k = planes
        if self.edges and self.edge_strength > 0:
            k = cv2.subtract(k, self._edges(image))
        rgb = [cv2.multiply(p, k, scale=1 / 255) for p in (c, m, y)]
        return cv2.merge(rgb)

    def _edges(self, image: np.ndarray) -> np.ndarray:
        """Ink outlines (255 = full ink): Canny on a blurred, downscaled gray (the blur keeps them
        from flickering on noise), widened and scaled back with a soft, anti-aliased border."""
        h, w = image.shape[:2]
        s = h / REFERENCE_HEIGHT
        factor = 2 if h >= 540 else 1
        small = image
        if factor > 1:
            small = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (0, 0), max(1.0, 2.0 * s / factor))
        lines = cv2.Canny(gray, 40, 110, L2gradient=True)
        width = round(self.edge_width * s / factor)
        if width >= 2:
            lines = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width)))
        if factor > 1:
            lines = cv2.resize(lines, (w, h), interpolation=cv2.INTER_LINEAR)
            lines = cv2.convertScaleAbs(lines, alpha=2.0)  # solid core, soft one-pixel rim
        if self.edge_strength < 1:
            lines = cv2.convertScaleAbs(lines, alpha=self.edge_strength)
        return lines


@functools.lru_cache(maxsize=16)
def _posterize_lut(levels: int) -> np.ndarray:
    x = np.arange(256, dtype=np.float64)
    lut = np.round(np.round(x * (levels - 1) / 255) * 255 / (levels - 1)).astype(np.uint8)
    lut.setflags(write=False)
    return lut


@functools.lru_cache(maxsize=16)
def _ink_lut(gain: float, margin: int) -> np.ndarray:
    """Transmittance -> the value to screen with, so that the *mean* printed transmittance of a
    flat patch equals the input despite the soft (anti-aliased) dot borders: the tone response
    of the screen (thresholds uniform on ``[margin, 255 - margin]``) is computed and inverted.
    No ink and full ink map exactly (white stays white, solid stays solid)."""
    thresholds = np.linspace(margin, 255 - margin, 2048)
    level = np.arange(256, dtype=np.float64)  # the value fed to the screen
    printed = np.clip(np.round((thresholds[None, :] + level[:, None] - 255) * gain + 128), 0, 255)
    response = printed.mean(axis=1)  # increasing in level, 0 at 0 and 255 at 255
    lut = np.round(np.interp(level, response, level))
    lut[0], lut[255] = 0, 255
    lut = lut.astype(np.uint8)
    lut.setflags(write=False)
    return lut


@functools.cache
def _spot_quantiles() -> np.ndarray:
    """Sorted values of the spot function over one cell: its CDF, for tone equalisation."""
    t = (np.arange(512) + 0.5) * (2 * np.pi / 512)
    spot = -(np.cos(t)[:, None] + np.cos(t)[None, :])
    q = np.sort(spot.ravel())[::64].astype(np.float64)
    q.setflags(write=False)
    return q


@functools.lru_cache(maxsize=16)
def _screen(h: int, w: int, cell: float, angle: float, margin: int) -> np.ndarray:
    """The threshold array of one ink: round dots (spot function ``-(cos u + cos v)``) on a
    square lattice of period ``cell`` rotated ``angle`` degrees counterclockwise, equalised so
    the inked area is proportional to ink, spanning ``[margin, 255 - margin]``."""
    theta = math.radians(angle)
    k = 2 * math.pi / cell
    x = (np.arange(w, dtype=np.float32) - w / 2)[None, :]
    y = (h / 2 - np.arange(h, dtype=np.float32))[:, None]  # y up: angles read counterclockwise
    u = k * (x * math.cos(theta) + y * math.sin(theta))
    v = k * (y * math.cos(theta) - x * math.sin(theta))
    spot = -(np.cos(u) + np.cos(v))
    q = _spot_quantiles()
    cdf = np.interp(spot.ravel(), q, np.linspace(0.0, 1.0, q.size)).reshape(h, w)
    screen = np.round(margin + cdf * (255 - 2 * margin)).astype(np.uint8)
    screen.setflags(write=False)
    return screen
