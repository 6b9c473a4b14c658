"""Interpolation evaluation: drop frames from a real video, make them again, and score them.

Every ``factor``-th frame is kept (frames ``0, k, 2k, ...``), the kept stream is interpolated
back to the source's rate by each method in turn, and the frames that were dropped are scored
against the made ones: PSNR and SSIM on luma (Y' from RGB with the source's matrix weights, full
range), only on reconstructed frames (originals passing through and the held tail are not
counted). Speed is reconstructed frames per second of the op's wall time (decoding excluded,
the same for every method). :func:`eval_interp_folder` does this for every video in a folder and
sums up: each method's mean over the clips and its per-clip gain over minterpolate.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.frame import Frame
from vidlab.io import colors
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.reader import VideoReader
from vidlab.metrics.image import psnr
from vidlab.ops.interpolate import METHODS, Interpolate
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import FrameSource, StageTimes, stream

log = logging.getLogger(__name__)


def luma_weights(info: VideoInfo) -> np.ndarray:
    """The stream's own luma weights (its matrix tag; untagged: BT.709 for HD, BT.601 for SD)."""
    return np.array(colors.luma_weights(info.color, info.height), np.float32)


def luma(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Full-range Y' (float32, 0..255) of an RGB frame."""
    return cv2.transform(image.astype(np.float32), weights[None, :])


def ssim_y(reference: np.ndarray, test: np.ndarray) -> float:
    """SSIM of two luma planes (Wang et al. 2004: 11x11 Gaussian, sigma 1.5)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_x, mu_y = blur(reference), blur(test)
    sxx = blur(reference * reference) - mu_x * mu_x
    syy = blur(test * test) - mu_y * mu_y
    sxy = blur(reference * test) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


@dataclass(frozen=True, slots=True)
class MethodScore:
    """One method's result: mean/min Y-PSNR and mean Y-SSIM over ``frames`` reconstructed
    frames, and its speed in reconstructed frames per second."""

    method: str
    frames: int
    psnr_y: float
    psnr_y_min: float
    ssim_y: float
    seconds: float
    fps: float
    per_frame_psnr: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class InterpEval:
    video: str
    width: int
    height: int
    source_fps: str
    factor: int
    frames_used: int
    scores: tuple[MethodScore, ...]

    def to_dict(self, per_frame: bool = False) -> dict[str, Any]:
        d = asdict(self)
        for s in d["scores"]:
            for key in ("psnr_y", "psnr_y_min"):
                s[key] = None if math.isinf(s[key]) else round(s[key], 4)
            s["ssim_y"] = round(s["ssim_y"], 6)
            s["seconds"] = round(s["seconds"], 4)
            s["fps"] = round(s["fps"], 3)
            if per_frame:
                s["per_frame_psnr"] = [None if math.isinf(v) else round(v, 4) for v in s["per_frame_psnr"]]
            else:
                del s["per_frame_psnr"]
        return d


def eval_interp(
    video: str | os.PathLike[str],
    methods: Sequence[str] = ("flow", "minterpolate"),
    *,
    factor: int = 2,
    max_frames: int | None = 300,
    params: dict[str, Any] | None = None,
    method_params: dict[str, dict[str, Any]] | None = None,
) -> InterpEval:
    """Score each method in ``methods`` on ``video`` (see the module's description). ``params``
    are extra ``interpolate`` parameters (flow_width, preset, ...) for every method,
    ``method_params`` for one method each (``{"rife": {"model": "flownet.pkl"}}``)."""
    path = Path(video)
    if factor < 2:
        raise UsageError(f"factor must be an integer >= 2, got {factor}", param="factor")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method '{unknown[0]}' (methods: {', '.join(METHODS)})")
    if not methods:
        raise UsageError("give at least one method", param="methods")
    info = probe(path)
    frames: list[Frame] = []
    for frame in VideoReader(path, info=info):
        frames.append(frame)
        if max_frames is not None and len(frames) >= max_frames:
            break
    # Only dropped frames with a kept frame after them can be reconstructed.
    n = (len(frames) - 1) // factor * factor + 1
    if n < factor + 1:
        raise UsageError(
            f"needs at least {factor + 1} frames to drop and rebuild one, has {len(frames)}", path
        )
    frames = frames[:n]
    if not info.is_vfr:
        # A constant-rate stream's frames sit on its nominal grid; containers that store rounded
        # times (Matroska keeps milliseconds: 1/30 s is 0.033) would otherwise put the kept frames
        # off the output grid, and the dropped frames' times would never be made exactly.
        origin = frames[0].pts
        frames = [f.replace(pts=origin + Fraction(i) / info.fps) for i, f in enumerate(frames)]
    kept = frames[::factor]
    truth = {f.pts: f for i, f in enumerate(frames) if i % factor}
    kept_info = info.with_changes(fps=info.fps / factor, frame_count=len(kept), is_vfr=False)
    weights = luma_weights(info)
    rate = f"{info.fps.numerator}/{info.fps.denominator}"
    scores = []
    for method in methods:
        extra = {**(params or {}), **(method_params or {}).get(method, {})}
        op = Interpolate.create(fps=info.fps, method=method, **extra)
        made: dict[Fraction, np.ndarray] = {}

        def keep(out: Frame, made: dict[Fraction, np.ndarray] = made) -> None:
            if out.pts in truth:
                made[out.pts] = out.image

        times: StageTimes = {}
        stream(FrameSource(kept, kept_info), Recipe((op,)), None, on_output=keep, timings=times)
        seconds = times["ops"]
        psnrs, ssims = [], []
        for pts, ref in truth.items():
            if pts not in made:
                raise UsageError(f"method {method} made no frame at {float(pts):.4f}s", path)
            y_ref, y_out = luma(ref.image, weights), luma(made[pts], weights)
            psnrs.append(psnr(y_ref, y_out))
            ssims.append(ssim_y(y_ref, y_out))
        finite = [p for p in psnrs if math.isfinite(p)]
        scores.append(
            MethodScore(
                method=method,
                frames=len(psnrs),
                psnr_y=float(np.mean(finite)) if len(finite) == len(psnrs) else math.inf,
                psnr_y_min=min(psnrs),
                ssim_y=float(np.mean(ssims)),
                seconds=seconds,
                fps=len(psnrs) / seconds if seconds > 0 else 0.0,
                per_frame_psnr=tuple(psnrs),
            )
        )
    return InterpEval(
        video=str(path),
        width=info.width,
        height=info.height,
        source_fps=rate,
        factor=factor,
        frames_used=n,
        scores=tuple(scores),
    )


@dataclass(frozen=True, slots=True)
class FolderEval:
    """:func:`eval_interp` on every video of ``folder`` (sorted), and the summary over them."""

    folder: str
    clips: tuple[InterpEval, ...]
    skipped: tuple[str, ...] = ()  # "path: why" for each video that could not be read

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(s.method for s in self.clips[0].scores)

    def per_clip(self, method: str, key: str) -> list[float]:
        """``key`` (psnr_y, ssim_y, fps, ...) of ``method`` on each clip, in clip order."""
        return [float(getattr(next(s for s in c.scores if s.method == method), key)) for c in self.clips]

    def overall(self) -> dict[str, Any]:
        """Per method: the mean over clips of Y-PSNR, Y-SSIM and fps (each clip weighs the same,
        whatever its length) and the worst clip's Y-PSNR; with minterpolate among the methods,
        each other method's Y-PSNR gain over it per clip, its mean and its minimum."""
        methods: dict[str, Any] = {}
        for m in self.methods:
            psnrs = self.per_clip(m, "psnr_y")
            methods[m] = {
                "psnr_y": _mean(psnrs),
                "psnr_y_min_clip": min(psnrs),
                "ssim_y": _mean(self.per_clip(m, "ssim_y")),
                "fps": _mean(self.per_clip(m, "fps")),
                "frames": int(sum(self.per_clip(m, "frames"))),
            }
        out: dict[str, Any] = {"clips": len(self.clips), "methods": methods}
        if "minterpolate" in self.methods:
            base = self.per_clip("minterpolate", "psnr_y")
            gains = {}
            for m in self.methods:
                if m == "minterpolate":
                    continue
                per = [a - b for a, b in zip(self.per_clip(m, "psnr_y"), base, strict=True)]
                gains[m] = {"per_clip": per, "mean": _mean(per), "min": min(per)}
            out["gain_over_minterpolate_db"] = gains
        return out

    def to_dict(self, per_frame: bool = False) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "clips": [c.to_dict(per_frame=per_frame) for c in self.clips],
            "overall": _rounded(self.overall()),
            "skipped": list(self.skipped),
        }


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if all(math.isfinite(v) for v in values) else math.inf


def _rounded(value: Any) -> Any:
    """Floats rounded to 4 decimals (infinite ones as None, as in :meth:`InterpEval.to_dict`)."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def eval_interp_folder(
    folder: str | os.PathLike[str],
    methods: Sequence[str] = ("flow", "minterpolate"),
    *,
    factor: int = 2,
    max_frames: int | None = 300,
    params: dict[str, Any] | None = None,
    method_params: dict[str, dict[str, Any]] | None = None,
) -> FolderEval:
    """:func:`eval_interp` on every video under ``folder`` (recursively, sorted by path; found
    by extension as the dataset builder finds them). A folder without videos is a UsageError; a
    video that cannot be read or is too short is skipped with a warning (a folder of user clips
    often holds one), and none usable is the first one's error."""
    from vidlab.ml.datasets import find_videos

    options = {"factor": factor, "max_frames": max_frames, "params": params, "method_params": method_params}
    clips, skipped, first = [], [], None
    for p in find_videos(folder):
        try:
            clips.append(eval_interp(p, methods, **options))
        except (MediaError, UsageError) as exc:
            if exc.params:  # a bad option, not a bad file: the same for every clip
                raise
            log.warning("skipping %s", exc)
            skipped.append(str(exc))
            first = first or exc
    if not clips:
        assert first is not None
        raise first
    return FolderEval(folder=str(folder), clips=tuple(clips), skipped=tuple(skipped))
