"""Before/after pictures and short preview clips: the quick look before a long batch."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidlab.core.errors import MediaError
from vidlab.core.events import CancelToken, EventCallback
from vidlab.io.codecs import EncodeSettings
from vidlab.io.images import write_png
from vidlab.io.reader import VideoReader
from vidlab.pipeline.entry import execute
from vidlab.pipeline.job import JobOptions
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import RunResult
from vidlab.vision.draw import before_after

DEFAULT_PREVIEW_SECONDS = Fraction(5)


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
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> Preview:
    """Run ``recipe`` over ``duration`` seconds from ``start`` into ``clip`` and save the middle
    frame before and after as ``image`` (a PNG)."""
    result = execute(
        input_path, clip, recipe, settings, start=start, duration=duration,
        options=JobOptions(chunk_seconds=0), on_event=on_event, cancel=cancel,
    )  # fmt: skip
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
