"""Scene-cut detection on tiny thumbnails: stateful ops (the cartoon palette, flow
stabilization, interpolators) reset at a cut instead of blending two shots."""

from __future__ import annotations

import cv2
import numpy as np

THUMB_SIZE = (64, 36)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A 64x36 CIE Lab (8-bit) picture of the frame: cheap to compare, blind to grain and noise."""
    small = cv2.resize(image, THUMB_SIZE, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2Lab)


def cut_score(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails in Lab code values (0..255). Motion within a
    shot scores low at this size; a cut to another shot scores high (typically > 30)."""
    return float(cv2.norm(a, b, cv2.NORM_L1)) / a.size


class SceneCutDetector:
    """Feed frames in order; ``update`` says whether a frame starts a new shot. A threshold of 0
    never cuts. The first frame is always a cut (there is nothing before it)."""

    def __init__(self, threshold: float = 30.0) -> None:
        self.threshold = threshold
        self._prev: np.ndarray | None = None

    def update(self, image: np.ndarray) -> bool:
        thumb = thumbnail(image)
        prev, self._prev = self._prev, thumb
        if prev is None or prev.shape != thumb.shape:
            return True
        return self.threshold > 0 and cut_score(prev, thumb) > self.threshold
