"""Basic spatial ops: identity, resize, denoise, sharpen."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.io.probe import VideoInfo
from vidlab.ops.base import SpatialOp, param
from vidlab.ops.registry import register_op

_INTERP = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


@register_op
@dataclass(frozen=True)
class Identity(SpatialOp):
    """Pass frames through untouched: decoded frames go to the encoder as they are, unless
    ``via_rgb`` sends them through RGB and back (to measure the pipeline's conversions)."""

    name: ClassVar[str] = "identity"
    via_rgb: bool = param(False, help="convert each frame to RGB and back instead of passing it through")

    @property
    def reads_pixels(self) -> bool:  # type: ignore[override]
        return self.via_rgb

    def apply(self, image: np.ndarray) -> np.ndarray:
        return image

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        if not self.via_rgb:
            yield from frames
            return
        for frame in frames:
            yield frame.with_image(frame.image)


@register_op
@dataclass(frozen=True)
class Resize(SpatialOp):
    """Scale to a new size; 0 for one side keeps the aspect ratio."""

    name: ClassVar[str] = "resize"
    width: int = param(0, min=0, max=16384, help="output width in pixels (0: from height and aspect)")
    height: int = param(0, min=0, max=16384, help="output height in pixels (0: from width and aspect)")
    interp: str = param(
        "auto", choices=("auto", *_INTERP), help="filter; auto = area when shrinking, cubic when growing"
    )

    def validate(self) -> None:
        if self.width == 0 and self.height == 0:
            raise RecipeError("op 'resize': give width, height or both")

    def target(self, width: int, height: int) -> tuple[int, int]:
        w, h = self.width, self.height
        if w == 0:
            w = max(1, round(width * h / height))
        if h == 0:
            h = max(1, round(height * w / width))
        return w, h

    def output_info(self, info: VideoInfo) -> VideoInfo:
        w, h = self.target(info.width, info.height)
        return info.with_changes(width=w, height=h)

    def apply(self, image: np.ndarray) -> np.ndarray:
        h0, w0 = image.shape[:2]
        w, h = self.target(w0, h0)
        if (w, h) == (w0, h0):
            return image
        if self.interp == "auto":
            flag = cv2.INTER_AREA if w * h < w0 * h0 else cv2.INTER_CUBIC
        else:
            flag = _INTERP[self.interp]
        return cv2.resize(image, (w, h), interpolation=flag)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        # Planes (alpha, masks) are resized with the picture, by the same filter.
        for frame in frames:
            image = self.apply(frame.image)
            planes = {k: self.apply(v) for k, v in frame.planes.items()}
            yield frame.with_image(image, planes)


@register_op
@dataclass(frozen=True)
class Denoise(SpatialOp):
    """Remove noise: non-local means (best, slow), bilateral, median or gaussian."""

    name: ClassVar[str] = "denoise"
    strength: float = param(5.0, min=0.0, max=50.0, help="filter strength (nlmeans h, bilateral sigma/6)")
    method: str = param("nlmeans", choices=("nlmeans", "bilateral", "median", "gaussian"), help="algorithm")
    search: int = param(11, min=3, max=35, help="nlmeans search window in pixels (odd)")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return image
        if self.method == "nlmeans":
            search = self.search | 1
            return cv2.fastNlMeansDenoisingColored(image, None, self.strength, self.strength, 5, search)
        if self.method == "bilateral":
            return cv2.bilateralFilter(image, 0, self.strength * 6, max(1.0, self.strength / 2))
        if self.method == "median":
            k = max(3, round(self.strength / 5) * 2 + 1)
            return cv2.medianBlur(image, min(k, 9))
        return cv2.GaussianBlur(image, (0, 0), self.strength / 12)


@register_op
@dataclass(frozen=True)
class Sharpen(SpatialOp):
    """Unsharp mask: add back the difference to a Gaussian blur, above a threshold."""

    name: ClassVar[str] = "sharpen"
    amount: float = param(0.6, min=0.0, max=10.0, help="how much of the detail to add back")
    radius: float = param(1.0, min=0.1, max=20.0, help="Gaussian sigma of the blur, in pixels")
    threshold: int = param(0, min=0, max=255, help="ignore detail smaller than this (code values)")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.amount == 0:
            return image
        blurred = cv2.GaussianBlur(image, (0, 0), self.radius)
        sharp = cv2.addWeighted(image, 1.0 + self.amount, blurred, -self.amount, 0)
        if self.threshold > 0:
            detail = cv2.absdiff(image, blurred)
            keep = detail.max(axis=2, keepdims=True) < self.threshold
            sharp = np.where(keep, image, sharp)
        return sharp
