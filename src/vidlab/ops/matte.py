"""Matting ops for the layers pipeline: coarse masks (``segment_background``,
``segment_person``, ``segment_onnx``, ``segment_rvm``), their refinement into soft mattes
(``matte_refine``) and flow-guided temporal smoothing (``matte_temporal``). Each adds or rewrites the frame's
``alpha`` plane and leaves the pixels as they are, so the stream is an RGBA layer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vidlab.core.errors import ModelError, RecipeError
from vidlab.core.frame import Frame
from vidlab.io.probe import VideoInfo
from vidlab.ops.base import Op, Resources, TemporalOp, param
from vidlab.ops.registry import register_op
from vidlab.vision import flow as vflow
from vidlab.vision.matting import BackgroundModel, guided_refine, matting_refine, trimap_from_mask
from vidlab.vision.scene import SceneCutDetector

__all__ = [
    "MatteRefine",
    "MatteTemporal",
    "SegmentBackground",
    "SegmentOnnx",
    "SegmentPerson",
    "SegmentRvm",
    "rvm_downsample_ratio",
]

_RVM_STATES = ("r1", "r2", "r3", "r4")


def _alpha_f32(frame: Frame, op: str) -> np.ndarray:
    a = frame.alpha
    if a is None:
        raise RecipeError(f"op '{op}': the frames carry no alpha plane (segment them first)")
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    return a.astype(np.float32, copy=False)


class _AlphaOp(Op):
    """An op that writes the alpha plane and keeps the pixels."""

    produces_planes: ClassVar[tuple[str, ...]] = ("alpha",)

    def output_info(self, info: VideoInfo) -> VideoInfo:
        return info.with_changes(has_alpha=True)


@register_op
@dataclass(frozen=True)
class SegmentBackground(_AlphaOp, TemporalOp):
    """Coarse foreground mask for a static camera: a temporal-median or MOG2 background model
    with motion. Warms up on the stream's first ``window`` frames (each chunk on its own)."""

    name: ClassVar[str] = "segment_background"

    method: str = param("median", choices=("median", "mog2"), help="background model")
    window: int = param(30, min=1, max=1000, help="warm-up and median window, frames")
    low: float = param(6.0, min=0.0, max=100.0, help="distance (x noise) where the mask starts")
    high: float = param(16.0, min=0.1, max=200.0, help="distance (x noise) where the mask is full")
    motion: float = param(1.0, min=0.0, max=1.0, help="weight of frame differencing")

    def validate(self) -> None:
        if self.low >= self.high:
            raise RecipeError(f"op '{self.name}': need low < high, got {self.low} and {self.high}")

    def preroll(self) -> int:
        return 0  # each stream warms up on its own first frames

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        model = BackgroundModel(
            self.method, window=self.window, low=self.low, high=self.high, motion=self.motion
        )
        warm: list[Frame] = []
        it = iter(frames)
        for frame in it:
            warm.append(frame)
            if len(warm) >= self.window:
                break
        if not warm:
            return
        model.fit([f.image for f in warm])
        for f in warm:
            yield f.replace(alpha=model.apply(f.image, learn=False))
        for f in it:
            yield f.replace(alpha=model.apply(f.image))


@register_op
@dataclass(frozen=True)
class SegmentPerson(_AlphaOp, TemporalOp):
    """Person mask from MediaPipe's selfie segmentation (``vidlab models install mediapipe``)."""

    name: ClassVar[str] = "segment_person"

    model: str = param("mediapipe_selfie", help="installed MediaPipe segmentation model name")

    def preroll(self) -> int:
        return 0

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        from vidlab.ml.mediapipe import PersonSegmenter

        seg = self.state("segmenter", lambda: PersonSegmenter(self.model))
        for f in frames:
            yield f.replace(alpha=np.asarray(seg.mask(f.image), np.float32))


@register_op
@dataclass(frozen=True)
class SegmentOnnx(_AlphaOp, TemporalOp):
    """Matte from a user ONNX model in the U²-Net / ISNet / MODNet layout: 1x3xHxW float in
    (RGB, normalized), 1x1xHxW matte out (the first output)."""

    name: ClassVar[str] = "segment_onnx"

    model: str = param("", help="path of the .onnx file")
    size: int = param(320, min=16, max=4096, help="square input size the model runs at")
    norm: str = param(
        "imagenet",
        choices=("imagenet", "unit", "half"),
        help="input normalization: ImageNet mean/std, 0..1, -1..1",
    )
    minmax: bool = param(False, help="stretch each output to 0..1 (ISNet)")

    def bind(self, info: VideoInfo) -> Op:
        """Refuse a missing or wrong-layout model before the first frame (an op made with its
        defaults, as ``vidlab ops`` lists it, is fine until it runs)."""
        if not self.model:
            raise RecipeError(f"op '{self.name}': model is required (a .onnx file)", param="model")
        self.state("session", self._session)
        return self

    def preroll(self) -> int:
        return 0

    def _session(self):  # type: ignore[no-untyped-def]
        from vidlab.ml.session import cached_session

        sess = cached_session(self.model)
        shape = sess.inputs[0].shape if sess.inputs else ()
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelError(f"the model takes input of shape {list(shape)}, not 1x3xHxW", self.model)
        return sess

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        sess = self.state("session", self._session)
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        if self.norm == "imagenet":
            x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
                [0.229, 0.224, 0.225], np.float32
            )
        elif self.norm == "half":
            x = x * 2 - 1
        y = np.asarray(sess.run(np.ascontiguousarray(x.transpose(2, 0, 1)[None])))
        if y.ndim != 4 or y.shape[:2] != (1, 1):
            raise ModelError(f"the model's output has shape {list(y.shape)}, not 1x1xHxW", self.model)
        m = y[0, 0].astype(np.float32)
        if self.minmax:
            lo, hi = float(m.min()), float(m.max())
            m = (m - lo) / max(hi - lo, 1e-6)
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(m, 0, 1)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for f in frames:
            yield f.replace(alpha=self.matte(f.image))


def rvm_downsample_ratio(height: int, width: int) -> float:
    """RobustVideoMatting's own automatic choice (its ``inference.py``): the model's coarse
    pass sees at most 512 px on the long side, and never upsamples."""
    return min(1.0, 512.0 / max(height, width))


@register_op
@dataclass(frozen=True)
class SegmentRvm(_AlphaOp, TemporalOp):
    """Matte from a user RobustVideoMatting ONNX (its official export: inputs ``src`` 1x3xHxW
    RGB 0..1, ``r1i``..``r4i``, ``downsample_ratio`` [1]; outputs ``fgr``, ``pha``,
    ``r1o``..``r4o``). Each frame is fed the previous frame's recurrent state; the state
    starts from zeros, restarts at scene cuts, and is warmed on ``warmup`` pre-roll frames
    before a chunk's start so chunk seams match one stream."""

    name: ClassVar[str] = "segment_rvm"

    model: str = param("", help="path of the RobustVideoMatting .onnx file")
    downsample_ratio: float = param(
        0.0, min=0.0, max=1.0, help="RVM's coarse-pass scale (0: auto, min(1, 512/long side))"
    )
    warmup: int = param(8, min=0, max=256, help="pre-roll frames that warm the recurrent state")
    cut_threshold: float = param(30.0, min=0.0, max=255.0, help="scene-cut score that resets (0: never)")
    device: str = param("auto", choices=("auto", "cpu", "cuda", "tensorrt"), help="ONNX Runtime backend")
    threads: int = param(0, min=0, max=256, help="ONNX Runtime threads (0: ORT's default)")

    def bind(self, info: VideoInfo) -> Op:
        """Refuse a missing or wrong-layout model before the first frame."""
        if not self.model:
            raise RecipeError(f"op '{self.name}': model is required (a .onnx file)", param="model")
        self.state("session", self._session)
        return self

    def preroll(self) -> int:
        return self.warmup

    def resources(self) -> Resources:
        return Resources(threads=max(1, self.threads), gpu=self.device in ("cuda", "tensorrt"))

    def _session(self):  # type: ignore[no-untyped-def]
        from vidlab.ml.session import cached_session

        sess = cached_session(self.model, self.device, self.threads)
        ins = {i.name: i for i in sess.inputs}
        outs = {o.name for o in sess.outputs}
        want_in = ("src", *(r + "i" for r in _RVM_STATES), "downsample_ratio")
        want_out = ("pha", *(r + "o" for r in _RVM_STATES))
        missing = [n for n in want_in if n not in ins] + [n for n in want_out if n not in outs]
        extra = [n for n in ins if n not in want_in]
        if missing or extra:
            got = ", ".join(ins) + " -> " + ", ".join(o.name for o in sess.outputs)
            raise ModelError(
                f"not the RobustVideoMatting layout (src, r1i..r4i, downsample_ratio -> fgr, pha, "
                f"r1o..r4o): it has {got}",
                self.model,
            )
        src = ins["src"].shape
        if len(src) != 4 or (isinstance(src[1], int) and src[1] != 3):
            raise ModelError(f"RVM input src has shape {list(src)}, not 1x3xHxW", self.model)
        for r in _RVM_STATES:
            if len(ins[r + "i"].shape) != 4:
                raise ModelError(f"RVM input {r}i has rank {len(ins[r + 'i'].shape)}, not 4", self.model)
        if len(ins["downsample_ratio"].shape) != 1:
            raise ModelError(
                f"RVM input downsample_ratio has shape {list(ins['downsample_ratio'].shape)}, not [1]",
                self.model,
            )
        return sess

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        sess = self.state("session", self._session)
        names = [o.name for o in sess.outputs]
        zero = np.zeros((1, 1, 1, 1), np.float32)  # RVM's documented initial state
        cuts = SceneCutDetector(self.cut_threshold) if self.cut_threshold > 0 else None
        rec: dict[str, np.ndarray] = {}  # this stream's recurrent state (never process-shared)
        for f in frames:
            if cuts is not None and cuts.update(f.image):
                rec = {}
            h, w = f.image.shape[:2]
            ratio = self.downsample_ratio or rvm_downsample_ratio(h, w)
            feed = {
                "src": (f.image.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None],
                "downsample_ratio": np.array([ratio], np.float32),
                **{r + "i": rec.get(r, zero) for r in _RVM_STATES},
            }
            out = dict(zip(names, sess.run_feed(feed), strict=True))
            rec = {r: out[r + "o"] for r in _RVM_STATES}
            pha = out["pha"]
            if pha.ndim != 4 or pha.shape[:2] != (1, 1):
                raise ModelError(f"RVM output pha has shape {list(pha.shape)}, not 1x1xHxW", self.model)
            m = pha[0, 0]
            if m.shape != (h, w):
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
            yield f.replace(alpha=np.clip(m, 0, 1).astype(np.float32))


@register_op
@dataclass(frozen=True)
class MatteRefine(_AlphaOp, TemporalOp):
    """Refine the alpha plane into a soft matte guided by the frame's colours: a fast guided
    filter, or (``mode=quality``) a trimap solved by PyMatting."""

    name: ClassVar[str] = "matte_refine"

    mode: str = param("guided", choices=("guided", "quality"), help="guided filter or pymatting")
    radius: int = param(6, min=1, max=64, help="guided filter window radius, px")
    eps: float = param(1e-3, min=1e-7, max=1.0, help="guided filter regularization")
    subsample: int = param(
        0, min=0, max=16, help="guided filter coefficients at 1/N size (0: auto, 1 per 240 rows)"
    )
    method: str = param("cf", choices=("cf", "knn", "lkm"), help="pymatting solver (quality)")
    erode: int = param(3, min=0, max=64, help="trimap: foreground eroded by px (quality)")
    dilate: int = param(3, min=0, max=64, help="trimap: unknown band beyond the mask, px (quality)")
    epsilon: float = param(1e-4, min=1e-9, max=1.0, help="closed-form regularization (quality)")

    def preroll(self) -> int:
        return 0

    def refine(self, alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        if self.mode == "guided":
            auto = max(1, self.radius // 4, round(alpha.shape[0] / 240))
            return guided_refine(alpha, rgb, self.radius, self.eps, subsample=self.subsample or auto)
        tri = trimap_from_mask(alpha, self.erode, self.dilate)
        return matting_refine(rgb, tri, self.method, epsilon=self.epsilon)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for f in frames:
            yield f.replace(alpha=self.refine(_alpha_f32(f, self.name), f.image))


@register_op
@dataclass(frozen=True)
class MatteTemporal(_AlphaOp, TemporalOp):
    """Remove matte flicker along optical flow. ``window`` (default): average each matte with
    its neighbours' mattes warped onto it (previous and next frame), where forward and
    backward flow agree and the warped matte is close; non-recursive, so it neither drifts nor
    blurs. ``recursive``: blend in the previous smoothed matte, warped. Both reset at cuts."""

    name: ClassVar[str] = "matte_temporal"

    mode: str = param("window", choices=("window", "recursive"), help="neighbour average or recursive blend")
    strength: float = param(
        0.5, min=0.0, max=1.0, help="weight of a warped neighbour (window) or previous matte"
    )
    tolerance: float = param(1.0, min=0.1, max=20.0, help="flow round-trip tolerance, px")
    gate: float = param(0.3, min=0.01, max=1.0, help="alpha difference beyond which the new matte wins")
    flow_width: int = param(480, min=32, max=4096, help="width flow is estimated at")
    cut_threshold: float = param(30.0, min=0.0, max=255.0, help="scene-cut score (0: never cut)")

    def validate(self) -> None:
        if self.mode == "recursive" and self.strength > 0.95:
            raise RecipeError(f"op '{self.name}': strength must be <= 0.95 in recursive mode")

    def preroll(self) -> int:
        return 1 if self.mode == "window" else 8  # the recursive blend forgets its start

    def postroll(self) -> int:
        return 1 if self.mode == "window" else 0

    def _warped(self, est, src_alpha, src_gray, dst_alpha, dst_gray):  # type: ignore[no-untyped-def]
        """``src_alpha`` warped onto the destination frame, and the weight to give it there."""
        h, w = dst_alpha.shape
        bw, fw = vflow.flow_pair(src_gray, dst_gray, est)
        ok = vflow.consistent(bw, fw, self.tolerance * dst_gray.shape[1] / w)
        bw = vflow.resize_flow(bw, w, h)
        ok = cv2.resize(ok.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        warped = vflow.warp(src_alpha, bw)
        close = np.abs(warped - dst_alpha) < self.gate
        return warped, np.float32(self.strength) * (ok & close)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        est = vflow.dis("fast")
        cuts = SceneCutDetector(self.cut_threshold)
        items = (
            (f, _alpha_f32(f, self.name), vflow.gray(f.image, self.flow_width), cuts.update(f.image))
            for f in frames
        )
        if self.mode == "recursive":
            yield from self._recursive(items, est)
        else:
            yield from self._window(items, est)

    def _recursive(self, items, est):  # type: ignore[no-untyped-def]
        prev = None
        for f, alpha, g, cut in items:
            out = alpha
            if not cut and prev is not None and prev[1].shape == g.shape:
                warped, k = self._warped(est, prev[0], prev[1], alpha, g)
                out = k * warped + (1 - k) * alpha
            prev = (out, g)
            yield f.replace(alpha=out.astype(np.float32))

    def _window(self, items, est):  # type: ignore[no-untyped-def]
        def emit(buf: list, i: int) -> Frame:  # type: ignore[type-arg]
            f, alpha, g, cut = buf[i]
            acc, wsum = alpha.copy(), np.ones_like(alpha)
            near = []
            if i > 0 and not cut:
                near.append(buf[i - 1])
            if i + 1 < len(buf) and not buf[i + 1][3]:
                near.append(buf[i + 1])
            for _, a2, g2, _ in near:
                if g2.shape == g.shape:
                    warped, k = self._warped(est, a2, g2, alpha, g)
                    acc += k * warped
                    wsum += k
            return f.replace(alpha=(acc / wsum).astype(np.float32))

        buf: list = []  # type: ignore[type-arg]
        first = True
        for item in items:
            buf.append(item)
            if len(buf) == 2 and first:
                yield emit(buf, 0)
                first = False
            elif len(buf) == 3:
                yield emit(buf, 1)
                buf.pop(0)
        if buf:
            yield emit(buf, 0 if first else len(buf) - 1)
