"""Temporal instability (flicker): how much an output changes beyond what the input's motion
explains. For each frame, the previous *output* is warped onto it along the *input's* dense
flow, and the mean absolute difference is taken over pixels that are not occluded (forward and
backward flow agree). A perfectly stable stylization of moving content scores near 0."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from vidlab.vision import flow


@dataclass(frozen=True)
class TemporalInstability:
    per_frame: list[float]  # one value per frame pair (frame 1 vs 0, 2 vs 1, ...)
    coverage: list[float]  # share of pixels used (not occluded)

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_frame)) if self.per_frame else 0.0

    def to_dict(self) -> dict:
        return {
            "mean": self.mean,
            "per_frame": self.per_frame,
            "coverage_mean": float(np.mean(self.coverage)) if self.coverage else 0.0,
        }


def warp_error(
    prev_out: np.ndarray,
    out: np.ndarray,
    prev_gray: np.ndarray,
    gray: np.ndarray,
    estimator: cv2.DISOpticalFlow,
    tolerance: float = 1.0,
    squared: bool = False,
) -> tuple[float, float]:
    """One frame's instability: ``prev_out`` warped onto ``out`` along the input's flow
    (``prev_gray`` -> ``gray``), mean absolute difference in code values (averaged over the
    channels) over the pixels where forward and backward flow agree; and that share of pixels.
    ``squared``: the mean squared difference on a 0..1 scale instead (Lai et al.'s E_warp)."""
    backward, forward = flow.flow_pair(prev_gray, gray, estimator)
    ok = flow.consistent(backward, forward, tolerance)
    if out.shape[:2] != backward.shape[:2]:
        raise ValueError("outputs and inputs must have the same size")
    diff = cv2.absdiff(out, flow.warp(prev_out, backward)).astype(np.float32)
    diff = (np.square(diff / 255.0) if squared else diff).mean(axis=2)
    n = int(ok.sum())
    return (float(diff[ok].mean()) if n else 0.0), n / ok.size


def temporal_instability(
    outputs: Iterable[np.ndarray],
    inputs: Iterable[np.ndarray],
    *,
    tolerance: float = 1.0,
    preset: str = "medium",
    squared: bool = False,
) -> TemporalInstability:
    """Warp error of ``outputs`` (RGB uint8) along the flow of ``inputs`` (same sizes, in order),
    in code values averaged over channels. Flow is DIS at full resolution, which is also why this
    is a measurement and not something to run per frame in a pipeline. Frames too small for flow
    (under ``vision.flow.MIN_FLOW_SIZE`` pixels a side) are compared in place (zero flow)."""
    estimator = flow.dis(preset)
    per_frame: list[float] = []
    coverage: list[float] = []
    prev_out: np.ndarray | None = None
    prev_gray: np.ndarray | None = None
    for out, inp in zip(outputs, inputs, strict=True):
        gray = flow.gray(inp)
        if prev_out is not None and prev_gray is not None:
            value, share = warp_error(prev_out, out, prev_gray, gray, estimator, tolerance, squared)
            per_frame.append(value)
            coverage.append(share)
        prev_out, prev_gray = out, gray
    return TemporalInstability(per_frame, coverage)


def e_warp(outputs: Iterable[np.ndarray], inputs: Iterable[np.ndarray], *, tolerance: float = 1.0) -> float:
    """The warping error of Lai et al. (ECCV 2018, "Learning Blind Video Temporal Consistency"):
    over consecutive frame pairs, the mean squared difference (RGB on 0..1) between each output
    and the previous output warped onto it by the input's flow, over non-occluded pixels only;
    averaged over the pairs. Lower is steadier."""
    return temporal_instability(outputs, inputs, tolerance=tolerance, squared=True).mean
