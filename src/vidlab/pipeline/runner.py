"""The runner: decode -> RGB -> ops -> YUV -> encode, each stage on its own thread, joined by
bounded queues (back-pressure keeps memory flat), reporting progress as events.

NumPy, OpenCV and PyAV release the GIL in their heavy loops, so the stages overlap on all cores.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vidlab.core.errors import UsageError
from vidlab.core.frame import Frame
from vidlab.core.stages import Stages
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.reader import LiveReader, VideoReader, is_live
from vidlab.io.writer import VideoWriter, check_output_path
from vidlab.pipeline.recipe import Recipe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress event: frames written so far, the total when known, speed and ETA."""

    frames_done: int
    total_frames: int | None
    elapsed: float
    fps: float
    eta: float | None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class RunResult:
    input: Path
    output: Path
    recipe: Recipe
    frames: int
    seconds: float
    fps: float
    source: VideoInfo
    target: VideoInfo


def run(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    recipe: Recipe | str,
    settings: EncodeSettings | None = None,
    *,
    start: Fraction | float | None = None,
    duration: Fraction | float | None = None,
    copy_audio: bool = True,
    on_progress: ProgressCallback | None = None,
    queue_size: int = 6,
) -> RunResult:
    """Apply ``recipe`` to ``input_path`` and encode ``output_path``; see :class:`VideoWriter`
    for what is preserved. Raises :class:`vidlab.core.errors.VidlabError` subclasses on bad input."""
    src, dst = Path(input_path), Path(output_path)
    live = is_live(os.fspath(input_path))
    if not live and src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise UsageError("output would overwrite the input", dst)
    recipe = Recipe.parse(recipe) if isinstance(recipe, str) else recipe
    reader: VideoReader
    if live:
        if start:
            raise UsageError("--start cannot seek in a live input", os.fspath(input_path))
        check_output_path(dst)
        reader = LiveReader(os.fspath(input_path), duration=duration)
        info = reader.info
        if info.audio and copy_audio:
            log.warning("%s: audio from a live input is not kept", input_path)
    else:
        info = probe(src)
        reader = VideoReader(src, start=start, duration=duration, info=info)
    target = recipe.output_info(info)
    writer = VideoWriter(
        dst,
        target,
        settings,
        audio_from=src if copy_audio and info.audio and not live else None,
        audio_window=None if reader.whole_file else (reader.begin, reader.end),
        time_offset=reader.start,
    )
    total = None if live else _expected_frames(info, reader, target)
    t0 = time.perf_counter()
    last_report = 0.0

    def on_frame(done: int) -> None:
        nonlocal last_report
        now = time.perf_counter()
        if on_progress is not None and (now - last_report > 0.1 or done == total):
            last_report = now
            on_progress(_progress(done, total, now - t0))

    done = stream(reader, recipe, writer, on_frame=on_frame, queue_size=queue_size)
    elapsed = time.perf_counter() - t0
    if on_progress is not None:
        on_progress(_progress(done, done, elapsed))
    return RunResult(
        input=src,
        output=dst,
        recipe=recipe,
        frames=done,
        seconds=elapsed,
        fps=done / elapsed if elapsed > 0 else 0.0,
        source=info,
        target=target,
    )


def stream(
    reader: VideoReader,
    recipe: Recipe,
    writer: VideoWriter,
    *,
    window: tuple[Fraction, Fraction | None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    queue_size: int = 6,
) -> int:
    """Decode -> RGB -> recipe -> output format -> encode on threads joined by bounded queues,
    then close the writer. Frames the recipe outputs outside ``window`` (``[begin, end)``
    seconds; a chunk's pre-roll and look-ahead) are dropped. Returns the frames written; on any
    error the writer is aborted and the first error raised."""
    pipe = Stages(queue_size)
    recipe = recipe.bind(reader.info)

    def processed() -> Iterator[Frame]:
        frames = recipe.process(pipe.drain(rgb))
        if window is None:
            return frames
        lo, hi = window
        return (f for f in frames if f.pts >= lo and (hi is None or f.pts < hi))

    done = 0
    try:
        decoded = pipe.stage("decode", reader.decoded)
        # Convert on a stage of its own when the recipe reads pixels; otherwise not at all.
        rgb = pipe.map("to-rgb", decoded, reader.to_frame if recipe.reads_pixels else reader.lazy_frame)
        prepared = pipe.map("to-yuv", pipe.stage("ops", processed), writer.prepare)
        for vframe in pipe.drain(prepared):
            writer.encode_frame(vframe)
            done += 1
            if on_frame is not None:
                on_frame(done)
        if pipe.errors:
            raise pipe.errors[0]
        writer.close()
    except BaseException:
        pipe.stop()
        writer.abort()
        if pipe.errors and not isinstance(pipe.errors[0], KeyboardInterrupt):
            raise pipe.errors[0] from None
        raise
    finally:
        pipe.stop()
    return done


def _expected_frames(info: VideoInfo, reader: VideoReader, target: VideoInfo) -> int | None:
    """Output frames to expect: the source's count, or its span at the output rate when the
    recipe changes the rate (an interpolator)."""
    if reader.whole_file and target.fps == info.fps:
        return info.frame_count or None
    remaining = info.duration - reader.start
    span = remaining if reader.duration is None else min(remaining, reader.duration)
    return max(1, math.ceil(span * target.fps))


def _progress(done: int, total: int | None, elapsed: float) -> Progress:
    fps = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / fps if total and fps > 0 else None
    return Progress(frames_done=done, total_frames=total, elapsed=elapsed, fps=fps, eta=eta)
