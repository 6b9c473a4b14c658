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
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, ClassVar

import cv2
import numpy as np

from vidlab.core.errors import MediaError, RecipeError, VidlabError
from vidlab.core.frame import Frame
from vidlab.io.probe import VideoInfo
from vidlab.ops.base import Resources, TemporalOp, param
from vidlab.ops.registry import register_op
from vidlab.vision import flow
from vidlab.vision.interp import BlendPair, FlowPair, PairInterpolator, plane_at
from vidlab.vision.interp import blend as _blend
from vidlab.vision.scene import cut_score, thumbnail

METHODS = ("flow", "learned", "rife", "blend", "minterpolate")
#: The learned method's shipped model (``vidlab models info interpolate_learned``).
LEARNED_MODEL = "interpolate_learned"
DEVICES = ("auto", "cpu", "cuda", "tensorrt")
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
    model: str = param(
        "",
        help="learned: a registry name or .onnx (default interpolate_learned); rife: a flownet.pkl",
    )
    device: str = param(
        "auto", choices=DEVICES, help="learned/rife: ONNX Runtime backend (auto: CUDA if present)"
    )
    threads: int = param(
        0, min=0, max=256, help="learned/rife: ONNX Runtime threads (0: all of this worker's cores)"
    )
    tile: int = param(
        1024, min=64, max=8192, help="learned: tile size in pixels (bounds memory on large frames)"
    )
    static: float = param(
        1.0,
        min=0.0,
        max=50.0,
        help="keep a pixel still where no motion explains it within this (code values; 0: off)",
    )
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
        if self.method in ("learned", "rife"):
            # ORT's intra-op pool keeps the machine busy on one frame (as neural_enhance).
            threads = self.threads or os.cpu_count() or 1
            return Resources(threads=threads, gpu=self.device in ("cuda", "tensorrt"))
        # The flow method measures forward and backward flow on two threads.
        return Resources(threads=2 if self.method == "flow" else 1)

    def preroll(self) -> int:
        # The flow method bends each path with the previous pair's flow: a chunk starts one
        # frame early so its first pair is made exactly as in one stream.
        return 1 if self.method in ("flow", "learned") and self.quadratic else 0

    def postroll(self) -> int:
        return 1  # the frame after a chunk's last one, to fill the gap after it

    def pair_interpolator(self) -> PairInterpolator:
        if self.method == "blend":
            return BlendPair()
        if self.method == "rife":
            return self._rife()
        flow_options = dict(
            flow_width=self.flow_width,
            preset=self.preset,
            occlusion=self.occlusion,
            quadratic=self.quadratic,
            static=self.static,
        )
        if self.method == "learned":
            session = self.state("learned", self._open_learned)
            return LearnedPair(session, self.tile, **flow_options)
        return FlowPair(**flow_options)

    def _open_learned(self) -> Any:
        from vidlab.ml.registry import resolve
        from vidlab.ml.session import cached_session

        try:
            card, path = resolve(self.model or LEARNED_MODEL)
            sess = cached_session(path, self.device, self.threads, sha256=card.sha256)
            sess.check_input(channels=8, layout="NCHW")
        except VidlabError as exc:
            raise RecipeError(f"op 'interpolate' (method learned): {exc}", param="model") from None
        return sess

    def _rife(self) -> PairInterpolator:
        if not self.model:
            raise RecipeError(
                "op 'interpolate': method rife needs model=PATH to a Practical-RIFE flownet.pkl",
                param="model",
            )
        from vidlab.ml.rife import RifePair

        try:
            return self.state("rife", lambda: RifePair(self.model, self.device, self.threads))
        except VidlabError as exc:
            raise RecipeError(f"op 'interpolate' (method rife): {exc}", param="model") from None

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


class LearnedPair(FlowPair):
    """The flow method's two warped frames and weight refined by the learned network
    (:class:`vidlab.ml.models.InterpRefineNet` in ONNX), run tiled so large frames stay in
    bounded memory."""

    OVERLAP = 64  # > twice the network's reach (about 24 px): tiled equals whole

    def __init__(self, session: Any, tile: int = 1024, **flow_options: Any) -> None:
        super().__init__(**flow_options)
        self.session, self.tile = session, tile

    def at(self, t: float) -> np.ndarray:
        from vidlab.ml.tiling import infer_tiled

        wa, wb, w0 = self.warped(t)
        x = np.empty((8, *w0.shape), np.float32)
        x[0:3] = wa.transpose(2, 0, 1)
        x[3:6] = wb.transpose(2, 0, 1)
        x[0:6] *= 1 / 255.0
        x[6] = w0
        x[7] = t
        y = infer_tiled(self.session.run, x, tile=self.tile, overlap=self.OVERLAP, multiple=16)
        y *= 255.0
        y += 0.5
        np.clip(y, 0, 255, out=y)
        return np.ascontiguousarray(y.astype(np.uint8).transpose(1, 2, 0))


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
