"""Pair interpolators: the engines behind ``interpolate`` that make the frame at ``0 < t < 1``
between two neighbouring frames. They live below the ops (plain NumPy/OpenCV) so the trainer
builds a learned interpolator's inputs with exactly the code that runs at inference.

* :class:`BlendPair`: a cross-fade.
* :class:`FlowPair`: motion-compensated from bidirectional DIS flow; its :meth:`FlowPair.warped`
  (both frames warped to ``t`` and their visibility weights) is also the input of the learned
  refinement network (``method=learned``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import cv2
import numpy as np

from vidlab.vision import flow


class PairInterpolator(Protocol):
    """What a pair-based method implements (flow, blend, learned models): ``pair`` takes two
    neighbouring RGB frames, ``at`` makes the frame at ``0 < t < 1`` between them."""

    def pair(self, a: np.ndarray, b: np.ndarray) -> None: ...

    def at(self, t: float) -> np.ndarray: ...


def blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``(1 - t) a + t b``, rounded, in the inputs' dtype."""
    return cv2.addWeighted(a, 1.0 - t, b, t, 0.0)


def plane_at(engine: PairInterpolator, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """A plane (alpha, a mask) of the frame at ``t``, moved as the engine moved the pixels of
    the last :meth:`PairInterpolator.at` call when it can (``engine.plane_at``), else blended."""
    move = getattr(engine, "plane_at", None)
    if move is not None:
        return move(a, b, t)  # type: ignore[no-any-return]
    return blend(a, b, t)


class BlendPair:
    """Cross-fade: ``(1 - t) a + t b``."""

    def pair(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b

    def at(self, t: float) -> np.ndarray:
        return blend(self.a, self.b, t)


class FlowPair:
    """Motion-compensated interpolation from bidirectional DIS flow.

    Per pair (at ``flow_width``): forward flow ``f01`` and backward flow ``f10``, each in its own
    thread, and their round-trip errors ``e0`` (on frame 0) and ``e1`` (on frame 1).

    Per time ``t``: a motion vector ``m`` (frame 0 -> frame 1 displacement) for every output
    pixel ``x`` is found two ways, by inverting ``p + t f01(p) = x`` and ``q + (1 - t) f10(q) = x``
    with a few fixed-point steps. Each candidate is scored by the difference between the
    two frames sampled at ``x - t m`` and ``x + (1 - t) m`` (box-filtered), and the better one
    kept; a third candidate, no motion at all, wins where it explains the pixel as well within
    ``static`` code values (a still background under sensor noise: DIS fits the noise with small
    random vectors, and warping along them smears the picture). The frames are warped at full size
    along ``m`` and blended with weights ``(1 - t) c0`` and ``t c1``: ``c1`` falls where the
    frame-0 source pixel has no match in frame 1 (it is being covered, so only frame 0 shows it),
    ``c0`` likewise from ``e1``, and a source position outside a frame gives that frame no weight
    (content entering at an edge).
    """

    # Fixed-point steps when inverting a flow to time t (more changed nothing measurable).
    ITERATIONS = 3
    # Motion (px at flow size) below which the no-motion candidate may replace the flow's.
    STATIC_MOTION = 2.0

    def __init__(
        self,
        flow_width: int = 640,
        preset: str = "medium",
        occlusion: float = 1.0,
        quadratic: bool = True,
        static: float = 1.0,
    ) -> None:
        self.flow_width = flow_width
        self.occlusion = occlusion
        self.quadratic = quadratic
        self.static = static
        self._dis = (flow.dis(preset), flow.dis(preset))
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (frame 1, its flow to frame 0)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vidlab-flow")

    def pair(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b
        g0 = flow.gray(a, self.flow_width)
        g1 = flow.gray(b, self.flow_width)
        # (frames below DIS's minimum size get zero flow: the pair is blended in place)
        fwd = self._pool.submit(flow.calc, self._dis[0], g0, g1)
        f10 = flow.calc(self._dis[1], g1, g0)
        f01 = fwd.result()
        self.g0, self.g1, self.f01, self.f10 = g0, g1, f01, f10
        self.e0 = _round_trip(f01, f10)  # on frame 0: large where frame 0's pixel is hidden in 1
        self.e1 = _round_trip(f10, f01)  # on frame 1: large where frame 1's pixel is hidden in 0
        self._still = cv2.blur(cv2.absdiff(g0, g1).astype(np.float32), (5, 5)) if self.static > 0 else None
        # The previous pair's backward flow is this frame 0's flow to the frame before it: with
        # it, each pixel's acceleration (a quadratic path, as in Xu et al.'s QVI, from the past
        # alone so the latency stays one frame).
        self.accel: np.ndarray | None = None
        if self.quadratic and self._last is not None and self._last[0] is a:
            f0m1 = self._last[1]
            accel = cv2.blur(f01 + f0m1, (9, 9))
            limit = 0.5 * cv2.magnitude(f01[..., 0], f01[..., 1]) + 2.0
            norm = cv2.magnitude(accel[..., 0], accel[..., 1])
            self.accel = accel * np.minimum(1.0, limit / np.maximum(norm, 1e-6))[..., None]
        self._last = (b, f10)

    def _project(self, f: np.ndarray, s: float) -> np.ndarray:
        """``f`` sampled at the point ``p`` with ``p + s f(p) = x``, for every ``x``."""
        v = f
        for _ in range(self.ITERATIONS):
            v = flow.warp(f, -s * v)
        return v

    def motion(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flows from time ``t`` to frames 0 and 1 and their blend weights (at flow size)."""
        m_fwd = self._project(self.f01, t)
        m_bwd = -self._project(self.f10, 1.0 - t)
        mis_fwd, mis_bwd = self._mismatch(m_fwd, t), self._mismatch(m_bwd, t)
        better = mis_bwd < mis_fwd
        m = np.where(better[..., None], m_bwd, m_fwd)
        if self._still is not None:
            best = np.minimum(mis_fwd, mis_bwd)
            small = cv2.magnitude(m[..., 0], m[..., 1]) < self.STATIC_MOTION
            m = np.where(((self._still <= best + self.static) & small)[..., None], np.float32(0), m)
        ft0, ft1 = -t * m, (1.0 - t) * m
        if self.accel is not None:
            # The point a straight path puts at y is at y + c on its curved path, so x shows the
            # point of y = x - c (with c read at x: accelerations vary slowly).
            c = flow.warp(self.accel, ft0) * (0.5 * (t * t - t))
            ft0 = flow.warp(ft0, -c) - c
            ft1 = flow.warp(ft1, -c) - c
        tol = self.occlusion + 0.05 * cv2.magnitude(m[..., 0], m[..., 1])
        h, w = m.shape[:2]
        c1 = 1.0 / (1.0 + (flow.warp(self.e0, ft0) / tol) ** 2) * _inside(ft1, w, h)
        c0 = 1.0 / (1.0 + (flow.warp(self.e1, ft1) / tol) ** 2) * _inside(ft0, w, h)
        w0 = (1.0 - t) * c0 + 1e-3 * (1.0 - t)
        w1 = t * c1 + 1e-3 * t
        total = w0 + w1
        return ft0, ft1, w0 / total, w1 / total

    def _mismatch(self, m: np.ndarray, t: float) -> np.ndarray:
        """How much the two frames disagree along motion ``m`` at time ``t`` (box-filtered)."""
        diff = cv2.absdiff(flow.warp(self.g0, -t * m), flow.warp(self.g1, (1.0 - t) * m))
        return cv2.blur(diff.astype(np.float32), (5, 5))

    def warped(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both frames warped to time ``t`` at full size, and frame 0's blend weight (float32
        ``H x W``; frame 1's is ``1 - w0``)."""
        ft0, ft1, w0, w1 = self.motion(t)
        h, w = self.a.shape[:2]
        ft0, ft1 = flow.resize_flow(ft0, w, h), flow.resize_flow(ft1, w, h)
        if w0.shape[:2] != (h, w):
            w0 = cv2.resize(w0, (w, h), interpolation=cv2.INTER_LINEAR)
            w1 = cv2.resize(w1, (w, h), interpolation=cv2.INTER_LINEAR)
        self._last_motion = (t, ft0, ft1, w0, w1)
        return flow.warp(self.a, ft0), flow.warp(self.b, ft1), w0

    def at(self, t: float) -> np.ndarray:
        wa, wb, w0 = self.warped(t)
        return cv2.blendLinear(wa, wb, w0, self._last_motion[4])

    def plane_at(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """Planes of the pair moved along the same paths and weights as the pixels at ``t``."""
        last = getattr(self, "_last_motion", None)
        if last is None or last[0] != t or last[1].shape[:2] != a.shape[:2]:
            return blend(a, b, t)
        _, ft0, ft1, w0, w1 = last
        return cv2.blendLinear(flow.warp(a, ft0), flow.warp(b, ft1), w0, w1)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _round_trip(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``|f(x) + g(x + f(x))|``: how far a pixel lands from home after going there and back."""
    r = f + flow.warp(g, f)
    return cv2.magnitude(r[..., 0], r[..., 1])


def _inside(offsets: np.ndarray, w: int, h: int) -> np.ndarray:
    """1 where ``grid + offsets`` lands inside a ``w`` x ``h`` picture, else 0."""
    coords = flow._grid(w, h) + offsets
    x, y = coords[..., 0], coords[..., 1]
    return ((x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)).astype(np.float32)
