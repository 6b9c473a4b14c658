"""Chunks, the unit of work: planned on keyframes, each decoded with its recipe's pre-roll
(and look-ahead) so seams are invisible, processed by the same streaming runner, and encoded
as a segment that is later stitched without re-encoding.

:func:`run_chunk` is the one chunk function every executor runs (a local worker process or a
Ray task); it is a plain function of picklable arguments."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

from vidlab.core.errors import MediaError
from vidlab.core.events import CancelToken
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import VideoInfo
from vidlab.io.reader import VideoReader
from vidlab.io.segments import FrameIndex
from vidlab.io.writer import VideoWriter, is_mov_family, stream_time_base
from vidlab.ops.base import process_state
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import stream


@dataclass(frozen=True, slots=True)
class Chunk:
    """Output frames ``[first, last)`` (source frame indices) and the frames decoded for them:
    ``[decode_first, decode_last)`` adds the recipe's pre-roll before and look-ahead after."""

    index: int
    first: int
    last: int
    decode_first: int
    decode_last: int
    begin: Fraction  # pts of ``first`` (absolute seconds)
    end: Fraction | None  # pts of ``last``; None when the chunk runs to the end of the video
    decode_begin: Fraction  # pts of ``decode_first``
    decode_end: Fraction | None  # pts of ``decode_last``; None for the end of the video

    @property
    def frames(self) -> int:
        return self.last - self.first

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "first": self.first,
            "last": self.last,
            "decode_first": self.decode_first,
            "decode_last": self.decode_last,
            "begin": _frac_str(self.begin),
            "end": _frac_str(self.end),
            "decode_begin": _frac_str(self.decode_begin),
            "decode_end": _frac_str(self.decode_end),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(
            index=int(d["index"]),
            first=int(d["first"]),
            last=int(d["last"]),
            decode_first=int(d["decode_first"]),
            decode_last=int(d["decode_last"]),
            begin=Fraction(d["begin"]),
            end=None if d["end"] is None else Fraction(d["end"]),
            decode_begin=Fraction(d["decode_begin"]),
            decode_end=None if d["decode_end"] is None else Fraction(d["decode_end"]),
        )


def _frac_str(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def plan_chunks(
    index: FrameIndex,
    chunk_seconds: float,
    *,
    preroll: int = 0,
    postroll: int = 0,
    first: int = 0,
    last: int | None = None,
) -> list[Chunk]:
    """Cut frames ``[first, last)`` at keyframes about ``chunk_seconds`` apart.

    A chunk only starts on a keyframe, so a video with sparse keyframes gets longer chunks; a
    tail shorter than a quarter of a chunk joins the chunk before it. ``chunk_seconds <= 0``
    gives one chunk."""
    n = len(index)
    last = n if last is None else min(last, n)
    if not 0 <= first < last:
        raise ValueError(f"empty frame range [{first}, {last})")
    pts = index.pts
    cuts = [first]
    if chunk_seconds > 0:
        step = Fraction(chunk_seconds)
        for k in index.keyframes:
            if first < k < last and pts[k] - pts[cuts[-1]] >= step:
                cuts.append(k)
        tail_end = pts[last] if last < n else pts[-1] + (pts[-1] - pts[-2] if n > 1 else step)
        if len(cuts) > 1 and tail_end - pts[cuts[-1]] < step / 4:
            cuts.pop()
    bounds = [*cuts, last]
    chunks = []
    for i, (a, b) in enumerate(pairwise(bounds)):
        # The selected range behaves like a clip of its own: no pre-roll from before it.
        da, db = max(first, a - preroll), min(last, b + postroll)
        chunks.append(
            Chunk(
                index=i,
                first=a,
                last=b,
                decode_first=da,
                decode_last=db,
                begin=pts[a],
                end=pts[b] if b < n else None,
                decode_begin=pts[da],
                decode_end=pts[db] if db < n else None,
            )
        )
    return chunks


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """Everything a worker needs to make one segment; no shared state, picklable."""

    chunk: Chunk
    source: str  # the input video (a local path, or a span file made by extract_span)
    info: VideoInfo  # the whole input's probe
    recipe: dict[str, Any]  # Recipe.to_data()
    settings: EncodeSettings
    segment: str  # where the encoded segment goes
    run_offset: Fraction  # subtracted from every output timestamp (the run's --start)
    shift: Fraction = Fraction(0)  # see segment_shift
    threads: int = 1  # threads for this chunk's decoder, encoder and OpenCV


def segment_shift(
    segment: str | os.PathLike[str], begin: Fraction, target: VideoInfo, run_offset: Fraction
) -> Fraction:
    """Seconds to add to a segment's timestamps when stitching (a chunk starting at ``begin``).

    MP4/MOV segments start at zero (movenc rounds a non-zero start through its edit list);
    other containers keep absolute timestamps, so the stitch reproduces the rounding of an
    unchunked run exactly."""
    if not is_mov_family(Path(segment)):
        return Fraction(0)
    tb = stream_time_base(target)
    return round((begin - target.start_time - run_offset) / tb) * tb


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """A finished segment: its frames, the time it took, and where it ran: the worker's pid,
    its Ray node (when on Ray) and the heavy op states it opened for this chunk (none when the
    process had them open from an earlier chunk)."""

    index: int
    frames: int
    seconds: float
    pid: int = 0
    node: str = ""
    opened: tuple[str, ...] = ()


def run_chunk(
    task: ChunkTask,
    on_frame: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> ChunkResult:
    """Decode the chunk with its pre-roll, run the recipe, keep the outputs inside the chunk,
    and encode them to ``task.segment`` (written under a temporary name, then renamed). A
    cancelled chunk leaves no segment and raises :class:`Cancelled`."""
    t0 = time.perf_counter()
    before = len(process_state().opened)
    c, info = task.chunk, task.info
    if task.threads > 0:
        import cv2

        cv2.setNumThreads(task.threads)
    recipe = Recipe.from_data(task.recipe)
    reader = VideoReader(
        task.source,
        start=c.decode_begin - info.start_time,
        duration=None if c.decode_end is None else c.decode_end - c.decode_begin,
        info=info,
        threads=task.threads,
        first_index=c.decode_first,
        expect_frames=c.decode_last - c.decode_first,
    )
    writer = VideoWriter(
        task.segment,
        recipe.output_info(info),
        task.settings,
        time_offset=task.run_offset + task.shift,
        threads=task.threads,
    )
    frames = stream(reader, recipe, writer, window=(c.begin, c.end), on_frame=on_frame, cancel=cancel)
    if frames == 0:
        Path(task.segment).unlink(missing_ok=True)
        raise MediaError(f"chunk {c.index} produced no frames", task.source)
    return ChunkResult(
        index=c.index,
        frames=frames,
        seconds=time.perf_counter() - t0,
        pid=os.getpid(),
        opened=tuple(process_state().opened[before:]),
    )


def run_chunk_bytes(task: ChunkTask, source: bytes) -> tuple[ChunkResult, bytes]:
    """The chunk function over bytes, for executors without a shared file system: the chunk's
    input span arrives as bytes and its encoded segment goes back as bytes."""
    with tempfile.TemporaryDirectory(prefix="vidlab-chunk-") as tmp:
        src = Path(tmp) / "span.nut"
        src.write_bytes(source)
        seg = Path(tmp) / f"segment{Path(task.segment).suffix}"
        local = replace(task, source=str(src), segment=str(seg))
        result = run_chunk(local)
        return replace(result, node=_ray_node()), seg.read_bytes()


def _ray_node() -> str:
    """The Ray node this process runs on ("" outside Ray)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return ""
    return str(ray.get_runtime_context().get_node_id())


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(threads_per_chunk: int = 1) -> int:
    """Worker processes for a recipe whose ops keep ``threads_per_chunk`` threads busy (see
    :meth:`Recipe.resources`): the cores shared out, at least one."""
    return max(1, cores() // max(1, threads_per_chunk))
