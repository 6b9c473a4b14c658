"""Frame interpolation: raise the frame rate by a factor or to any target fps.

Output frames sit on an exact grid, ``origin + k / fps`` (the source's first timestamp is the
origin), so an original frame that falls on the grid passes through untouched and every other
grid time ``T`` between source frames ``a`` and ``b`` is made at ``t = (T - a) / (b - a)``.
The grid is absolute, so a chunk of the video makes exactly the frames a whole run makes.

Methods, behind one op:

* ``flow`` (default): bidirectional DIS optical flow; a motion field at time ``t`` chosen per
  pixel between the forward and the backward projection by how well the two warps agree;
  occlusion from forward-backward consistency; time- and visibility-weighted blending; pixels
  whose source lies outside a frame take the other frame. See :class:`FlowPair`.
* ``blend``: a cross-fade (the cheap baseline).
* ``minterpolate``: FFmpeg's motion-compensated filter as a peer backend, run in a subprocess.

Scene cuts (small-thumbnail change) are never morphed across: the policy repeats the last
frame of the old shot, cross-fades, or cuts at the midpoint. Identical or nearly identical
neighbours (static shots, duplicated frames) skip flow and are blended.
"""

from __future__ import annotations

import math
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import ClassVar, Protocol

import cv2
import numpy as np

from vidlab.core.errors import MediaError, RecipeError
from vidlab.core.frame import Frame
from vidlab.io.probe import VideoInfo
from vidlab.ops.base import Resources, TemporalOp, param
from vidlab.ops.registry import register_op
from vidlab.vision import flow
from vidlab.vision.scene import cut_score, thumbnail

METHODS = ("flow", "blend", "minterpolate")
SCENE_POLICIES = ("repeat", "blend", "cut")

# Thumbnails closer than this (mean |Lab difference|) may be a static pair; confirmed at full size.
_STATIC_THUMB = 0.5
# A static pair differs by at most this many code values anywhere (re-encoded duplicates).
_STATIC_MAX_DIFF = 6
# Largest time-base denominator that containers take (MP4 timescales are 32-bit).
_MAX_TB_DEN = (1 << 31) - 1


def grid_time_base(source_tb: Fraction, fps: Fraction) -> Fraction:
    """A time base in which both the source's timestamps and the ``1/fps`` grid are exact (the
    largest common divisor of the two), or ``1/fps`` when that would overflow a container."""
    period = 1 / fps
    tb = Fraction(
        math.gcd(source_tb.numerator, period.numerator), math.lcm(source_tb.denominator, period.denominator)
    )
    return tb if tb.denominator <= _MAX_TB_DEN else period


class PairInterpolator(Protocol):
    """What a pair-based method implements (flow, blend, and later learned models): ``pair``
    takes two neighbouring RGB frames, ``at`` makes the frame at ``0 < t < 1`` between them."""

    def pair(self, a: np.ndarray, b: np.ndarray) -> None: ...

    def at(self, t: float) -> np.ndarray: ...


def plane_at(engine: PairInterpolator, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """A plane (alpha, a mask) of the frame at ``t``, moved as the engine moved the pixels of
    the last :meth:`PairInterpolator.at` call when it can (``engine.plane_at``), else blended."""
    move = getattr(engine, "plane_at", None)
    if move is not None:
        return move(a, b, t)  # type: ignore[no-any-return]
    return _blend(a, b, t)


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - t, b, t, 0.0)


class BlendPair:
    """Cross-fade: ``(1 - t) a + t b``."""

    def pair(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b

    def at(self, t: float) -> np.ndarray:
        return cv2.addWeighted(self.a, 1.0 - t, self.b, t, 0.0)


class FlowPair:
    """Motion-compensated interpolation from bidirectional DIS flow.

    Per pair (at ``flow_width``): forward flow ``f01`` and backward flow ``f10``, each in its own
    thread, and their round-trip errors ``e0`` (on frame 0) and ``e1`` (on frame 1).

    Per time ``t``: a motion vector ``m`` (frame 0 -> frame 1 displacement) for every output
    pixel ``x`` is found two ways, by inverting ``p + t f01(p) = x`` and ``q + (1 - t) f10(q) = x``
    with a few fixed-point steps. Each candidate is scored by the difference between the
    two frames sampled at ``x - t m`` and ``x + (1 - t) m`` (box-filtered), and the better one
    kept. The frames are warped at full size along ``m`` and blended with weights ``(1 - t) c0``
    and ``t c1``: ``c1`` falls where the frame-0 source pixel has no match in frame 1 (it is
    being covered, so only frame 0 shows it), ``c0`` likewise from ``e1``, and a source
    position outside a frame gives that frame no weight (content entering at an edge).
    """

    # Fixed-point steps when inverting a flow to time t (more changed nothing measurable).
    ITERATIONS = 3

    def __init__(
        self, flow_width: int = 640, preset: str = "medium", occlusion: float = 1.0, quadratic: bool = True
    ) -> None:
        self.flow_width = flow_width
        self.occlusion = occlusion
        self.quadratic = quadratic
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
        better = self._mismatch(m_bwd, t) < self._mismatch(m_fwd, t)
        m = np.where(better[..., None], m_bwd, m_fwd)
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

    def at(self, t: float) -> np.ndarray:
        ft0, ft1, w0, w1 = self.motion(t)
        h, w = self.a.shape[:2]
        ft0, ft1 = flow.resize_flow(ft0, w, h), flow.resize_flow(ft1, w, h)
        if w0.shape[:2] != (h, w):
            w0 = cv2.resize(w0, (w, h), interpolation=cv2.INTER_LINEAR)
            w1 = cv2.resize(w1, (w, h), interpolation=cv2.INTER_LINEAR)
        self._last_motion = (t, ft0, ft1, w0, w1)
        return cv2.blendLinear(flow.warp(self.a, ft0), flow.warp(self.b, ft1), w0, w1)

    def plane_at(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """Planes of the pair moved along the same paths and weights as the pixels at ``t``."""
        last = getattr(self, "_last_motion", None)
        if last is None or last[0] != t or last[1].shape[:2] != a.shape[:2]:
            return _blend(a, b, t)
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


@register_op
@dataclass(frozen=True)
class Interpolate(TemporalOp):
    """Raise the frame rate (2x, 4x, any fps): motion-compensated in-between frames, cut-aware.

    Give ``factor`` (an integer: 2 doubles the rate) or ``fps`` (any rate, exact: ``60``,
    ``60000/1001``). Originals on the output grid pass through unchanged; the others are made
    by ``method``. At a scene cut, ``scene_cut`` decides: ``repeat`` holds the last frame of the
    old shot, ``blend`` cross-fades, ``cut`` switches at the midpoint. A target below the
    source's rate drops frames and needs ``allow_drop``.
    """

    name: ClassVar[str] = "interpolate"
    factor: int = param(0, help="multiply the frame rate by this integer (0: use fps, or 2 without it)")
    fps: Fraction = param(
        Fraction(0), min=0, help="target frame rate, exact: 60, 60000/1001, 29.97 (0: use factor)"
    )
    method: str = param("flow", choices=METHODS, help="how in-between frames are made")
    scene_cut: str = param("repeat", choices=SCENE_POLICIES, help="what happens between two shots")
    scene_threshold: float = param(
        30.0, min=0.0, max=255.0, help="thumbnail change (Lab code values) that is a cut; 0: never"
    )
    allow_drop: bool = param(False, help="allow a target below the source's rate (drops frames)")
    flow_width: int = param(640, min=64, max=8192, help="width the optical flow is estimated at")
    preset: str = param("medium", choices=flow.PRESETS, help="DIS optical-flow preset")
    occlusion: float = param(
        1.0, min=0.05, max=20.0, help="forward/backward round trip (px at flow size) that marks occlusion"
    )
    quadratic: bool = param(True, help="bend paths by each pixel's acceleration (from the previous pair)")
    # The stream this op was bound to (see bind): fixes the rate, the grid's origin and the
    # last frame's duration. Not a parameter; recipes never carry it.
    source: VideoInfo | None = field(default=None, repr=False, compare=False)

    def validate(self) -> None:
        if self.factor < 0:
            raise RecipeError(f"op 'interpolate': factor must be a positive integer, got {self.factor}")
        if self.factor and self.fps:
            raise RecipeError("op 'interpolate': give factor or fps, not both")

    def target_fps(self, source_fps: Fraction) -> Fraction:
        if self.fps:
            return self.fps
        return source_fps * (self.factor or 2)

    def output_info(self, info: VideoInfo) -> VideoInfo:
        fps = self.target_fps(info.fps)
        if fps < info.fps and not self.allow_drop:
            raise RecipeError(
                f"op 'interpolate': target {_rate_text(fps)} fps is below the source's "
                f"{_rate_text(info.fps)} fps, which drops frames; allow it with allow_drop=true "
                "(allow_drop)"
            )
        return info.with_changes(
            fps=fps,
            time_base=grid_time_base(info.time_base, fps),
            frame_count=max(1, math.ceil(info.duration * fps)) if info.duration else 0,
            is_vfr=False,
        )

    def bind(self, info: VideoInfo) -> Interpolate:
        self.output_info(info)  # fail early on a bad target
        return replace(self, source=info)

    def resources(self) -> Resources:
        # The flow method measures forward and backward flow on two threads.
        return Resources(threads=2 if self.method == "flow" else 1)

    def preroll(self) -> int:
        # The flow method bends each path with the previous pair's flow: a chunk starts one
        # frame early so its first pair is made exactly as in one stream.
        return 1 if self.method == "flow" and self.quadratic else 0

    def postroll(self) -> int:
        return 1  # the frame after a chunk's last one, to fill the gap after it

    def pair_interpolator(self) -> PairInterpolator:
        if self.method == "blend":
            return BlendPair()
        return FlowPair(self.flow_width, self.preset, self.occlusion, quadratic=self.quadratic)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        if self.source is None:
            raise RecipeError("op 'interpolate' must be bound to its input stream (Recipe.bind) before use")
        info = self.source
        fps = self.target_fps(info.fps)
        grid = _Grid(info.start_time, fps, 1 / info.fps, info.is_vfr)
        if self.method == "minterpolate":
            yield from _minterpolate(frames, grid, info)
            return
        engine = self.pair_interpolator()
        try:
            yield from _resample(frames, grid, engine, self._cut_policy(), self.scene_cut)
        finally:
            if isinstance(engine, FlowPair):
                engine.close()

    def _cut_policy(self) -> Callable[[np.ndarray, np.ndarray], bool]:
        threshold = self.scene_threshold

        def is_cut(a_thumb: np.ndarray, b_thumb: np.ndarray) -> bool:
            return threshold > 0 and cut_score(a_thumb, b_thumb) > threshold

        return is_cut


def _rate_text(fps: Fraction) -> str:
    return (
        str(fps.numerator)
        if fps.denominator == 1
        else f"{fps.numerator}/{fps.denominator} ({float(fps):.3f})"
    )


@dataclass(frozen=True, slots=True)
class _Grid:
    """Output times ``origin + k * period``. ``hold`` is how long the last source frame lasts:
    one nominal period, or for a variable-rate source the last gap, as the probe counts it."""

    origin: Fraction
    fps: Fraction
    hold: Fraction
    vfr: bool = False

    def end(self, last: Fraction, gap: Fraction | None) -> Fraction:
        return last + (gap if self.vfr and gap else self.hold)

    def first_at_or_after(self, pts: Fraction) -> int:
        return math.ceil((pts - self.origin) * self.fps)

    def time(self, k: int) -> Fraction:
        return self.origin + k / self.fps


def _resample(
    frames: Iterator[Frame],
    grid: _Grid,
    engine: PairInterpolator,
    is_cut: Callable[[np.ndarray, np.ndarray], bool],
    scene_cut: str = "repeat",
) -> Iterator[Frame]:
    """Walk the source pairwise and emit every grid time as soon as it can be made: an
    original on the grid when it arrives, an in-between one when the frame after it arrives.
    The latency is one source frame plus the compute."""
    prev: Frame | None = None
    prev_thumb: np.ndarray | None = None
    gap: Fraction | None = None
    k = 0
    for frame in frames:
        thumb = thumbnail(frame.source)
        if prev is None:
            k = grid.first_at_or_after(frame.pts)
        else:
            if frame.pts <= prev.pts:
                raise MediaError(f"timestamps go backwards at frame {frame.index} ({float(frame.pts):.6f}s)")
            assert prev_thumb is not None
            kind: str | None = None  # decided lazily: most pairs of a drop-rate run need nothing
            span = gap = frame.pts - prev.pts
            while (when := grid.time(k)) < frame.pts:
                if kind is None:
                    kind = _pair_kind(prev, frame, prev_thumb, thumb, is_cut)
                    if kind == "motion":
                        engine.pair(prev.image, frame.image)
                t = float((when - prev.pts) / span)
                image = _between(kind, scene_cut, engine, prev, frame, t)
                planes = _between_planes(kind, scene_cut, engine, prev, frame, t)
                yield Frame(image=image, pts=when, index=k, planes=planes)
                k += 1
        if grid.time(k) == frame.pts:
            yield frame.replace(index=k)
            k += 1
        prev, prev_thumb = frame, thumb
    if prev is not None:
        yield from _hold(prev, grid, k, gap)


def _hold(last: Frame, grid: _Grid, k: int, gap: Fraction | None) -> Iterator[Frame]:
    """The last source frame repeated on grid times ``k, k+1, ...`` until it ends."""
    end = grid.end(last.pts, gap)
    while (when := grid.time(k)) < end:
        yield last.replace(pts=when, index=k)
        k += 1


def _pair_kind(
    a: Frame, b: Frame, a_thumb: np.ndarray, b_thumb: np.ndarray, is_cut: Callable[..., bool]
) -> str:
    if is_cut(a_thumb, b_thumb):
        return "cut"
    if (
        cut_score(a_thumb, b_thumb) < _STATIC_THUMB
        and cv2.norm(a.image, b.image, cv2.NORM_INF) <= _STATIC_MAX_DIFF
    ):
        return "static"
    return "motion"


def _between(kind: str, policy: str, engine: PairInterpolator, a: Frame, b: Frame, t: float) -> np.ndarray:
    if kind == "motion":
        return engine.at(t)
    if kind == "static":
        return cv2.addWeighted(a.image, 1.0 - t, b.image, t, 0.0)
    if policy == "blend":
        return cv2.addWeighted(a.image, 1.0 - t, b.image, t, 0.0)
    if policy == "cut":
        return a.image if t < 0.5 else b.image
    return a.image  # repeat


def _between_planes(
    kind: str, policy: str, engine: PairInterpolator, a: Frame, b: Frame, t: float
) -> dict[str, np.ndarray]:
    """The planes both frames carry, made for time ``t`` the way :func:`_between` made the
    pixels (moved with the motion, blended, or taken from one side of a cut)."""
    out = {}
    for name in a.planes.keys() & b.planes.keys():
        pa, pb = a.planes[name], b.planes[name]
        if kind == "motion":
            out[name] = plane_at(engine, pa, pb, t)
        elif kind == "static" or policy == "blend":
            out[name] = _blend(pa, pb, t)
        elif policy == "cut":
            out[name] = pa if t < 0.5 else pb
        else:
            out[name] = pa
    return out


def _minterpolate(frames: Iterator[Frame], grid: _Grid, info: VideoInfo) -> Iterator[Frame]:
    """FFmpeg's ``minterpolate`` (mci, aobmc, bidir, vsbmc) over raw RGB frames in a subprocess;
    frames go in on a feeder thread and come out as they are made."""
    from vidlab.io.ffmpeg import ffmpeg_exe

    it = iter(frames)
    first = next(it, None)
    if first is None:
        return
    h, w = first.image.shape[:2]
    size = w * h * 3
    rate = info.fps
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-r",
        f"{rate.numerator}/{rate.denominator}",
        "-i",
        "pipe:0",
        "-vf",
        f"minterpolate=fps={grid.fps.numerator}/{grid.fps.denominator}:mi_mode=mci:mc_mode=aobmc"
        ":me_mode=bidir:vsbmc=1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-fps_mode",
        "passthrough",
        "pipe:1",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    last = [first]
    failure: list[BaseException] = []

    def feed() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(first.image.tobytes())
            for f in it:
                proc.stdin.write(np.ascontiguousarray(f.image).tobytes())
                last[0] = f
        except BaseException as exc:  # a broken pipe shows up as ffmpeg's own error below
            failure.append(exc)
        finally:
            proc.stdin.close()

    feeder = threading.Thread(target=feed, name="vidlab-minterpolate-feed", daemon=True)
    feeder.start()
    k = grid.first_at_or_after(first.pts)
    assert proc.stdout is not None
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            image = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            yield Frame(image=image, pts=grid.time(k), index=k)
            k += 1
        feeder.join()
        stderr = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            raise MediaError(
                f"ffmpeg minterpolate failed: {stderr.splitlines()[-1] if stderr else proc.returncode}"
            )
        if failure and not isinstance(failure[0], BrokenPipeError):
            raise failure[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    yield from _hold(last[0], grid, k, None)
