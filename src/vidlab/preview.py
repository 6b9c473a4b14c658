"""Before/after pictures and short preview clips: the quick look before a long batch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab.errors import MediaError
from vidlab.fsutil import write_atomic
from vidlab.io.codecs import EncodeSettings
from vidlab.io.reader import VideoReader
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import ProgressCallback, RunResult, run

DEFAULT_PREVIEW_SECONDS = Fraction(5)


def frame_at(path: Path, t: Fraction) -> np.ndarray:
    """The first decoded frame at or after ``t`` seconds."""
    for frame in VideoReader(path, start=t):
        return frame.image
    raise MediaError(f"no frame at {float(t):.3f}s", path)


def before_after(before: np.ndarray, after: np.ndarray, gap: int = 8) -> np.ndarray:
    """Side by side with a white gap; ``after`` is resized to ``before``'s height if needed."""
    if after.shape[0] != before.shape[0]:
        w = round(after.shape[1] * before.shape[0] / after.shape[0])
        after = cv2.resize(after, (w, before.shape[0]), interpolation=cv2.INTER_AREA)
    spacer = np.full((before.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([before, spacer, after], axis=1)


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Save an RGB image as PNG atomically (temporary file, then rename)."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise MediaError("cannot encode the PNG", path)
    try:
        write_atomic(path, png.tobytes())
    except OSError as exc:
        raise MediaError(f"cannot write the PNG ({exc.strerror or exc})", path) from None


@dataclass(frozen=True)
class Preview:
    clip: Path
    image: Path
    result: RunResult


def make_preview(
    input_path: Path,
    recipe: Recipe,
    clip: Path,
    image: Path,
    *,
    start: Fraction | None = None,
    duration: Fraction = DEFAULT_PREVIEW_SECONDS,
    settings: EncodeSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> Preview:
    """Run ``recipe`` over ``duration`` seconds from ``start`` into ``clip`` and save the middle
    frame before and after as ``image`` (a PNG)."""
    result = run(input_path, clip, recipe, settings, start=start, duration=duration, on_progress=on_progress)
    # The clip's middle frame and the input frame it was made from (same position from the start).
    k = max(0, result.frames // 2)
    after = _nth(VideoReader(clip), k, clip)
    before = _nth(VideoReader(input_path, start=start, duration=duration), k, input_path)
    write_png(image, before_after(before, after))
    return Preview(clip, image, result)


def _nth(reader: VideoReader, k: int, path: Path) -> np.ndarray:
    for i, frame in enumerate(reader):
        if i == k:
            return frame.image
    raise MediaError(f"has fewer than {k + 1} frames", path)
