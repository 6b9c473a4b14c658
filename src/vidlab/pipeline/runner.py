"""The runner: decode -> RGB -> ops -> YUV -> encode, each stage on its own thread, joined by
bounded queues (back-pressure keeps memory flat), reporting progress as events and stopping at
the next frame when its cancel token is cancelled. :func:`stream` is the one frame loop: one
stream runs, chunks, and the lab's harnesses (with a timing hook) all go through it.

NumPy, OpenCV and PyAV release the GIL in their heavy loops, so the stages overlap on all cores.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, TypeVar

from vidlab.core.errors import UsageError, VidlabError
from vidlab.core.events import CancelToken, EventBus, Meter
from vidlab.core.frame import Frame
from vidlab.core.stages import Stages
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.reader import LiveReader, VideoReader, is_live
from vidlab.io.writer import VideoWriter, check_output_path
from vidlab.ops.base import process_state
from vidlab.pipeline.recipe import Recipe

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run made. ``mode`` is ``stream``, ``chunked`` or ``live``; ``states_opened`` lists
    the heavy op states (see :meth:`vidlab.ops.base.Op.state`) each process opened, as
    ``(pid, what)`` pairs: a worker that ran many chunks opens a model once."""

    input: Path
    output: Path
    recipe: Recipe
    frames: int
    seconds: float
    fps: float
    source: VideoInfo
    target: VideoInfo
    mode: str = "stream"
    states_opened: tuple[tuple[int, str], ...] = ()
    note: str = ""  # one line on how the run went when it is not the usual (a finished job kept)


class FrameSource:
    """Frames already in memory (or made by a generator) as a reader for :func:`stream`: what
    the interpolation lab feeds its kept frames through."""

    whole_file = True

    def __init__(self, frames: Iterable[Frame], info: VideoInfo) -> None:
        self._frames = frames
        self.info = info

    def decoded(self) -> Iterator[Frame]:
        yield from self._frames

    @staticmethod
    def to_frame(frame: Frame) -> Frame:
        return frame

    lazy_frame = to_frame


class Sink(Protocol):
    """Where :func:`stream` sends frames: a :class:`VideoWriter` (or anything shaped like it)."""

    def prepare(self, frame: Frame) -> Any: ...
    def encode_frame(self, prepared: Any) -> None: ...
    def close(self) -> Any: ...
    def abort(self) -> None: ...


def run_stream(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    recipe: Recipe,
    settings: EncodeSettings | None = None,
    *,
    start: Fraction | None = None,
    duration: Fraction | None = None,
    copy_audio: bool = True,
    events: EventBus | None = None,
    label: str = "",
    cancel: CancelToken | None = None,
    queue_size: int = 6,
) -> RunResult:
    """The one-stream (or live) run behind :func:`vidlab.pipeline.execute`: apply ``recipe`` to
    the input and encode ``output_path`` (see :class:`VideoWriter` for what is preserved).
    Raises :class:`vidlab.core.errors.VidlabError` subclasses on bad input."""
    src, dst = Path(input_path), Path(output_path)
    live = is_live(os.fspath(input_path))
    if not live and src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise UsageError("output would overwrite the input", dst)
    reader: VideoReader
    if live:
        if start:
            raise UsageError("start cannot seek in a live input", os.fspath(input_path))
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
        # Subtitles and attachments come along even without audio (or with copy_audio off).
        audio_from=None if live else src,
        copy_audio=copy_audio,
        audio_window=None if reader.whole_file else (reader.begin, reader.end),
        time_offset=reader.start,
    )
    total = None if live else _expected_frames(info, reader, target)
    meter = Meter(events or EventBus(None), label or src.name, total)
    before = len(process_state().opened)
    done = stream(reader, recipe, writer, on_frame=meter.progress, cancel=cancel, queue_size=queue_size)
    elapsed = time.perf_counter() - meter.t0
    pid = os.getpid()
    return RunResult(
        input=src,
        output=dst,
        recipe=recipe,
        frames=done,
        seconds=elapsed,
        fps=done / elapsed if elapsed > 0 else 0.0,
        source=info,
        target=target,
        mode="live" if live else "stream",
        states_opened=tuple((pid, k) for k in process_state().opened[before:]),
    )


StageTimes = dict[str, float]
"""Seconds each stage of :func:`stream` spent working (not waiting): decode, to-rgb, ops,
to-yuv, encode. The lab's harnesses read the codec's or the recipe's own time from it."""


def stream(
    reader: VideoReader | FrameSource,
    recipe: Recipe,
    writer: Sink | None,
    *,
    window: tuple[Fraction, Fraction | None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    on_output: Callable[[Frame], None] | None = None,
    cancel: CancelToken | None = None,
    timings: StageTimes | None = None,
    queue_size: int = 6,
) -> int:
    """Decode -> RGB -> recipe -> output format -> encode on threads joined by bounded queues,
    then close the writer. Frames the recipe outputs outside ``window`` (``[begin, end)``
    seconds; a chunk's pre-roll and look-ahead) are dropped. ``on_output`` sees each output
    frame before it is encoded; with no ``writer`` the frames go only there. ``cancel`` stops
    every stage at the next frame: the writer is aborted (no output, no temporary file) and
    :class:`Cancelled` raised. Returns the frames written; on any error the writer is aborted
    and the first error raised."""
    pipe = Stages(queue_size, cancel)
    recipe = recipe.bind(reader.info)
    clock: StageTimes = timings if timings is not None else {}
    for name in ("decode", "to-rgb", "ops", "to-yuv", "encode"):
        clock.setdefault(name, 0.0)

    def processed() -> Iterator[Frame]:
        source = _timed(pipe.drain(rgb), clock, "ops", upstream=True)
        frames = _timed(recipe.process(source), clock, "ops")
        if window is None:
            return frames
        lo, hi = window
        return (f for f in frames if f.pts >= lo and (hi is None or f.pts < hi))

    def outputs(frames: Iterator[Frame]) -> Iterator[Frame]:
        for f in frames:
            if on_output is not None:
                on_output(f)
            yield f

    done = 0
    try:
        decoded = pipe.stage("decode", lambda: _timed(reader.decoded(), clock, "decode"))
        # Convert on a stage of its own when the recipe reads pixels; otherwise not at all.
        convert = reader.to_frame if recipe.reads_pixels else reader.lazy_frame
        rgb = pipe.map("to-rgb", decoded, _timed_fn(convert, clock, "to-rgb"))
        ops = pipe.stage("ops", lambda: outputs(processed()))
        if writer is None:
            for _ in pipe.drain(ops):
                done += 1
                if on_frame is not None:
                    on_frame(done)
        else:
            prepared = pipe.map("to-yuv", ops, _timed_fn(writer.prepare, clock, "to-yuv"))
            encode = _timed_fn(writer.encode_frame, clock, "encode")
            for vframe in pipe.drain(prepared):
                encode(vframe)
                done += 1
                if on_frame is not None:
                    on_frame(done)
        if pipe.errors:
            raise pipe.errors[0]
        if cancel is not None:
            cancel.check()
        if writer is not None:
            t0 = time.perf_counter()
            writer.close()
            clock["encode"] += time.perf_counter() - t0
    except BaseException:
        pipe.stop()
        if writer is not None:
            writer.abort()
        if pipe.errors and not isinstance(pipe.errors[0], KeyboardInterrupt):
            first = pipe.errors[0]
            where = getattr(reader, "path", None)
            if isinstance(first, VidlabError) and first.path is None and where is not None:
                first.set_path(where)  # an op that failed on the input's frames: name the input
            raise first from None
        raise
    finally:
        pipe.stop()
    return done


def _timed(items: Iterator[T], clock: StageTimes, name: str, *, upstream: bool = False) -> Iterator[T]:
    """Pass ``items`` through, adding the time spent producing each to ``clock[name]``
    (``upstream``: subtracting it, for the input an op waits on)."""
    sign = -1.0 if upstream else 1.0
    while True:
        t0 = time.perf_counter()
        try:
            item = next(items)
        except StopIteration:
            clock[name] += sign * (time.perf_counter() - t0)
            return
        clock[name] += sign * (time.perf_counter() - t0)
        yield item


def _timed_fn(fn: Callable[[Any], T], clock: StageTimes, name: str) -> Callable[[Any], T]:
    def timed(x: Any) -> T:
        t0 = time.perf_counter()
        try:
            return fn(x)
        finally:
            clock[name] += time.perf_counter() - t0

    return timed


def _expected_frames(info: VideoInfo, reader: VideoReader, target: VideoInfo) -> int | None:
    """Output frames to expect: the source's count, or its span at the output rate when the
    recipe changes the rate (an interpolator)."""
    if reader.whole_file and target.fps == info.fps:
        return info.frame_count or None
    remaining = info.duration - reader.start
    span = remaining if reader.duration is None else min(remaining, reader.duration)
    return max(1, math.ceil(span * target.fps))
