"""Drawing shared by previews, the demo and reports."""

from __future__ import annotations

import cv2
import numpy as np


def before_after(before: np.ndarray, after: np.ndarray, gap: int = 8) -> np.ndarray:
    """Side by side with a white gap; ``after`` is resized to ``before``'s height if needed."""
    if after.shape[0] != before.shape[0]:
        w = round(after.shape[1] * before.shape[0] / after.shape[0])
        after = cv2.resize(after, (w, before.shape[0]), interpolation=cv2.INTER_AREA)
    spacer = np.full((before.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([before, spacer, after], axis=1)
