"""Dense optical flow helpers (OpenCV DIS) shared by temporal ops and metrics: estimate at a
working resolution, scale to the frame, warp, and find where forward and backward flow agree."""

from __future__ import annotations

import functools

import cv2
import numpy as np

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
PRESETS = tuple(_PRESETS)


def dis(preset: str = "fast") -> cv2.DISOpticalFlow:
    """A new DIS estimator (not thread-safe: make one per stream)."""
    return cv2.DISOpticalFlow_create(_PRESETS[preset])


def gray(image: np.ndarray, width: int | None = None) -> np.ndarray:
    """Luma of an RGB frame, shrunk to ``width`` (keeping the aspect) when the frame is wider."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    if width and w > width:
        g = cv2.resize(g, (width, max(8, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return g


def resize_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """Flow estimated at another size, resampled and rescaled to ``width`` x ``height``."""
    h, w = flow.shape[:2]
    if (w, h) == (width, height):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out


@functools.lru_cache(maxsize=8)
def _grid(width: int, height: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Backward warp: ``out[y, x] = image[(y, x) + flow[y, x]]`` (edges replicated)."""
    h, w = flow.shape[:2]
    coords = _grid(w, h) + flow
    return cv2.remap(image, coords, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def consistent(backward: np.ndarray, forward: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels of the current frame whose backward flow (to the previous frame) is undone by the
    forward flow found there: a round trip shorter than ``tolerance`` pixels (plus 5 % of the
    motion, as in Sundaram et al.). Elsewhere the pixel is occluded or the flow is wrong."""
    round_trip = backward + warp(forward, backward)
    err = cv2.magnitude(round_trip[..., 0], round_trip[..., 1])
    motion = cv2.magnitude(backward[..., 0], backward[..., 1])
    return err <= tolerance + 0.05 * motion


def flow_pair(
    prev: np.ndarray, cur: np.ndarray, estimator: cv2.DISOpticalFlow
) -> tuple[np.ndarray, np.ndarray]:
    """(backward, forward) flow between two gray frames: backward maps ``cur`` pixels into
    ``prev``, forward maps ``prev`` pixels into ``cur``."""
    return estimator.calc(cur, prev, None), estimator.calc(prev, cur, None)
