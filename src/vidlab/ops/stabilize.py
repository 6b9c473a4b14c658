"""Temporal stabilization after a style: flow-guided blending and edge-map stabilization.

A per-frame style flickers because small changes in the input (noise, sub-pixel motion) flip
quantization boundaries, halftone dots and edge pixels. ``flow_stabilize`` carries the previous
*stylized* frame along the *input's* motion and blends it in where that motion is trustworthy;
``edge_stabilize`` drops line pixels that have no support in the previous frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.frame import Frame
from vidlab.ops.base import TemporalOp, param
from vidlab.ops.registry import register_op
from vidlab.vision import flow
from vidlab.vision.scene import SceneCutDetector


@register_op
@dataclass(frozen=True)
class FlowStabilize(TemporalOp):
    """Blend the previous output, warped by the input's optical flow, where the flow is consistent.

    Flow (OpenCV DIS) is measured on the decoded input (``Frame.source``), never on the
    stylized pictures, at ``flow_width`` pixels wide. A pixel takes ``strength`` of the warped
    previous output only where the forward and backward flows agree (no occlusion) and the
    warped input matches the current input (no lighting change or flow failure); elsewhere, and
    on the first frame of a shot, the current stylized frame passes through. Frames too small
    for optical flow (under ``vision.flow.MIN_FLOW_SIZE`` pixels a side) pass through as well.
    """

    name: ClassVar[str] = "flow_stabilize"
    strength: float = param(0.65, min=0.0, max=0.95, help="weight of the warped previous output")
    consistency: float = param(
        1.0, min=0.1, max=10.0, help="forward/backward round-trip tolerance in pixels at flow_width"
    )
    photometric: float = param(
        20.0, min=1.0, max=255.0, help="input difference (code values) above which blending fades out"
    )
    flow_width: int = param(480, min=64, max=4096, help="width the flow is estimated at")
    preset: str = param("medium", choices=flow.PRESETS, help="DIS optical-flow preset")
    scene_threshold: float = param(30.0, min=0.0, max=255.0, help="thumbnail change that resets; 0: never")

    def preroll(self) -> int:
        """Frames until a start's influence falls below 1/256 (the blend is recursive)."""
        if self.strength <= 0:
            return 0
        return math.ceil(math.log(1 / 256) / math.log(self.strength))

    def weight_map(
        self, prev_gray: np.ndarray, cur_gray: np.ndarray, estimator: cv2.DISOpticalFlow
    ) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow, blend weight of the warped previous frame), both at flow size."""
        backward, forward = flow.flow_pair(prev_gray, cur_gray, estimator)
        ok = flow.consistent(backward, forward, self.consistency).astype(np.float32)
        diff = cv2.absdiff(flow.warp(prev_gray, backward), cur_gray).astype(np.float32)
        # Full weight for matching pixels, fading to zero at twice the photometric tolerance.
        photo = np.clip(2.0 - diff / self.photometric, 0.0, 1.0)
        weight = cv2.GaussianBlur(ok * photo, (5, 5), 0) * self.strength
        return backward, weight

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        estimator = flow.dis(self.preset)
        cuts = SceneCutDetector(self.scene_threshold)
        prev_gray: np.ndarray | None = None
        prev_out: np.ndarray | None = None
        for frame in frames:
            source = frame.source
            cut = cuts.update(source)
            cur_gray = flow.gray(source, self.flow_width)
            image = frame.image
            if (
                self.strength <= 0
                or cut
                or prev_out is None
                or prev_gray is None
                or prev_gray.shape != cur_gray.shape
                or prev_out.shape != image.shape
                or flow.too_small(cur_gray)  # no flow to follow: no stabilization
            ):
                out = image
            else:
                h, w = image.shape[:2]
                backward, weight = self.weight_map(prev_gray, cur_gray, estimator)
                warped = flow.warp(prev_out, flow.resize_flow(backward, w, h))
                wmap = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
                # blendLinear: (image * (1 - w) + warped * w) per pixel, in one pass.
                out = cv2.blendLinear(image, warped, 1.0 - wmap, wmap)
            prev_gray, prev_out = cur_gray, out
            yield frame.with_image(out)


@register_op
@dataclass(frozen=True)
class EdgeStabilize(TemporalOp):
    """Keep only line pixels that were lines (within ``tolerance`` pixels) in the previous frame.

    Lines are the dark strokes a style draws (luma below ``threshold``). A line that pops up
    for a single frame has no support and is painted over with the surrounding colours (a
    grey-level closing that lifts thin dark strokes); a line that persists appears one frame
    late and then stays. Depends only on the previous input frame, so chunked runs match.
    """

    name: ClassVar[str] = "edge_stabilize"
    threshold: int = param(48, min=1, max=254, help="luma below which a pixel counts as a line")
    tolerance: int = param(2, min=0, max=16, help="motion in pixels a line may move and keep support")
    line_width: int = param(5, min=3, max=31, help="widest line to repaint (closing size, pixels)")

    def preroll(self) -> int:
        return 1

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        prev_lines: np.ndarray | None = None
        support_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.tolerance + 1,) * 2)
        k = self.line_width | 1
        fill_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        for frame in frames:
            image = frame.image
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            _, lines = cv2.threshold(gray, self.threshold - 1, 255, cv2.THRESH_BINARY_INV)
            if prev_lines is None or prev_lines.shape != lines.shape:
                out = image
            else:
                support = cv2.dilate(prev_lines, support_kernel)
                orphan = cv2.bitwise_and(lines, cv2.bitwise_not(support))
                if cv2.countNonZero(orphan):
                    filled = cv2.morphologyEx(image, cv2.MORPH_CLOSE, fill_kernel)
                    out = image.copy()
                    cv2.copyTo(filled, orphan, out)
                else:
                    out = image
            prev_lines = lines
            yield frame.with_image(out)
