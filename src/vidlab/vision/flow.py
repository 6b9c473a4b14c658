"""Dense optical flow helpers (OpenCV DIS) shared by temporal ops and metrics: estimate at a
working resolution, scale to the frame, warp, and find where forward and backward flow agree.

DIS needs pictures of at least :data:`MIN_FLOW_SIZE` pixels each way (OpenCV refuses smaller
ones). Below that, :func:`calc` reports zero flow (no motion is measurable in a handful of
pixels): the flow is skipped, not an error. Users decide what zero flow means for them
(:func:`too_small`): ``flow_stabilize`` passes such frames through, ``interpolate`` blends them
and the instability metric compares them in place."""

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
#: Smallest width and height DIS estimates flow at (OpenCV's limit, with a margin for its
#: patch size); smaller pictures get zero flow.
MIN_FLOW_SIZE = 12


def too_small(image: np.ndarray) -> bool:
    """Whether ``image`` is below the size DIS can measure flow at (see the module)."""
    h, w = image.shape[:2]
    return h < MIN_FLOW_SIZE or w < MIN_FLOW_SIZE


def calc(estimator: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow from gray ``a`` to gray ``b`` (``H x W x 2`` float32); zero flow for pictures below
    :data:`MIN_FLOW_SIZE`, which DIS cannot measure."""
    if too_small(a):
        return np.zeros((*a.shape[:2], 2), np.float32)
    return estimator.calc(a, b, None)


def dis(preset: str = "fast") -> cv2.DISOpticalFlow:
    """A new DIS estimator (not thread-safe: make one per stream)."""
    return cv2.DISOpticalFlow_create(_PRESETS[preset])


def gray(image: np.ndarray, width: int | None = None) -> np.ndarray:
    """Luma of an RGB frame, shrunk to ``width`` (keeping the aspect) when the frame is wider."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    if width and w > width:
        g = cv2.resize(g, (width, max(MIN_FLOW_SIZE, round(h * width / w))), interpolation=cv2.INTER_AREA)
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
    ``prev``, forward maps ``prev`` pixels into ``cur``. Zero flow below :data:`MIN_FLOW_SIZE`."""
    return calc(estimator, cur, prev), calc(estimator, prev, cur)
