"""Streaming decoder: RGB ``uint8`` frames with exact Fraction timestamps, threaded decoding,
conversion with the stream's own matrix and range, seeking to a start time and a duration.

A stream with alpha (see :mod:`vidlab.io.alpha`) gives every frame ``planes["alpha"]``
(``uint8``, deeper alpha scaled with rounding), on the eager and the lazy path alike; the RGB
image is converted exactly as for an opaque stream."""

from __future__ import annotations

import heapq
import logging
import os
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Interpolation

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.frame import Frame
from vidlab.io.alpha import alpha_u8, decode_frames
from vidlab.io.colors import ThreadReformatters, is_rgb_format, sws_matrix, sws_range
from vidlab.io.probe import VideoInfo, _reason, describe, is_image_sequence, open_input, probe

_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND

log = logging.getLogger(__name__)


def _plane(plane: av.video.plane.VideoPlane, width: int, height: int) -> np.ndarray:
    """A view of one 8-bit plane without its line padding."""
    return np.frombuffer(plane, np.uint8).reshape(height, plane.line_size)[:, :width]


#: How many decoded frames the reader holds to put their timestamps in order (see :func:`stamped`).
REORDER_WINDOW = 4


def stamped(
    frames: Iterator[av.VideoFrame],
    tb: Fraction,
    step: Fraction,
    origin: Fraction,
    path: str | os.PathLike[str],
) -> Iterator[tuple[av.VideoFrame, Fraction]]:
    """The decoded frames with timestamps that always increase. Like FFmpeg's best-effort
    timestamp, a frame's time starts from its own ``pts`` (its ``dts`` when it has none).

    The decoder gives frames in display order, but a file with broken timestamps (an AVI with
    DivX/XviD packed B-frames) hands some of them a neighbour's ``pts``. A display time is a
    packet's timestamp, so the times of a few frames in a row are those frames' timestamps in
    sorted order: the probe and :func:`vidlab.io.segments.index_frames` sort them the same way,
    so counts, durations and chunk boundaries agree. A time that still does not increase (a
    duplicate) or is missing is put one frame after the previous one, with one warning.
    Each frame carries its time in ``opaque``, so the writer can tell the decoder's times from
    an op's."""
    pending: list[av.VideoFrame] = []
    times: list[int] = []
    last: Fraction | None = None
    warned = False

    def release() -> tuple[av.VideoFrame, Fraction]:
        nonlocal last, warned
        frame = pending.pop(0)
        pts = Fraction(heapq.heappop(times)) * tb if times else None
        if pts is None or (last is not None and pts <= last):
            repaired = origin if last is None else last + step
            if pts is not None and not warned:
                log.warning(
                    "%s: timestamp %s repeats or goes back; frames are re-timed on the %s fps grid",
                    path,
                    pts,
                    1 / step,
                )
                warned = True
            pts = repaired
        last = pts
        frame.opaque = pts
        return frame, pts

    for frame in frames:
        ts = frame.pts if frame.pts is not None else frame.dts
        if ts is not None:
            heapq.heappush(times, ts)
        pending.append(frame)
        if len(pending) >= REORDER_WINDOW:
            yield release()
    while pending:
        yield release()


class VideoReader:
    """Iterate a video's frames as :class:`Frame` objects.

    ``start`` and ``duration`` are seconds (relative to the first video frame). Iteration is
    lazy and memory stays constant. ``first_index`` numbers the first frame yielded (a chunk's
    place in the whole video); fewer than ``expect_frames`` frames (by default the probed count
    when reading a whole file) is reported as truncation. ``decoded()`` and ``to_frame()``
    split decoding from the RGB conversion so a runner can put them on different threads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start: Fraction | float | None = None,
        duration: Fraction | float | None = None,
        info: VideoInfo | None = None,
        threads: int = 0,
        convert_threads: int = 1,
        first_index: int = 0,
        expect_frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.info = info or probe(self.path)
        self.start = Fraction(start or 0)
        self.duration = Fraction(duration) if duration is not None else None
        if self.start < 0:
            raise UsageError(f"start must be >= 0, got {float(self.start)}", param="start")
        if self.duration is not None and self.duration <= 0:
            raise UsageError(f"duration must be > 0, got {float(self.duration)}", param="duration")
        if self.start >= self.info.duration:
            raise UsageError(
                f"start {float(self.start):.3f}s is past the end of the video "
                f"({float(self.info.duration):.3f}s)",
                self.path,
                param="start",
            )
        self.threads = threads
        self.convert_threads = convert_threads
        self.first_index = first_index
        if expect_frames is None and self.whole_file:
            expect_frames = self.info.frame_count or None
        self.expect_frames = expect_frames
        self._setup_conversion()

    def _setup_conversion(self) -> None:
        self._matrix = sws_matrix(self.info.color, self.info.height)
        self._range = sws_range(self.info.color, self.info.pix_fmt)
        self._rgb = is_rgb_format(self.info.pix_fmt)
        self._alpha = self.info.has_alpha
        self._reformatters = ThreadReformatters()

    @property
    def begin(self) -> Fraction:
        """Absolute timestamp (seconds) of the first frame this reader yields."""
        return self.info.start_time + self.start

    @property
    def end(self) -> Fraction | None:
        return None if self.duration is None else self.begin + self.duration

    @property
    def whole_file(self) -> bool:
        return self.start == 0 and self.duration is None

    def decoded(self) -> Iterator[tuple[av.VideoFrame, Fraction, int]]:
        """Yield ``(av_frame, pts_seconds, index)`` for the selected range, decoding with threads."""
        container = open_input(self.path, fps=self.info.fps if is_image_sequence(self.path) else None)
        try:
            vs = container.streams.video[0]
            vs.thread_type = "AUTO"
            vs.codec_context.thread_count = self.threads
            tb = Fraction(vs.time_base)
            begin, end = self.begin, self.end
            if self.start > 0:
                container.seek(int(begin / tb), stream=vs, backward=True, any_frame=False)
            step = 1 / self.info.fps
            index = self.first_index
            produced = 0
            try:
                frames = decode_frames(container, vs, self.threads)
                for frame, pts in stamped(frames, tb, step, begin, self.path):
                    if pts < begin:
                        continue
                    if end is not None and pts >= end:
                        break
                    yield frame, pts, index
                    index += 1
                    produced += 1
            except av.error.FFmpegError as exc:
                raise MediaError(
                    f"corrupt video data after frame {produced} ({_reason(exc)})", self.path
                ) from None
            if produced == 0:
                raise MediaError("no frames decoded in the requested range", self.path)
            if self.expect_frames is not None and produced < self.expect_frames:
                raise MediaError(
                    f"truncated or corrupt: decoded {produced} of {self.expect_frames} frames", self.path
                )
        finally:
            container.close()

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """Convert one decoded frame to full-range RGB24 with the stream's matrix and range.

        swscale's fast packed-RGB path is only accurate to about +-2 code values; its planar
        (gbrp) path with ACCURATE_RND is exact to rounding and nearly as fast, so Y'CbCr goes
        to gbrp and the planes are interleaved by OpenCV.
        """
        if self._rgb:
            rgb = self._reformatters.get().reformat(frame, format="rgb24", threads=self.convert_threads)
            return rgb.to_ndarray()
        planar = self._reformatters.get().reformat(
            frame,
            format="gbrp",
            src_colorspace=self._matrix,
            src_color_range=self._range,
            dst_color_range=ColorRange.JPEG,
            interpolation=_ACCURATE,
            threads=self.convert_threads,
        )
        g, b, r = (_plane(p, planar.width, planar.height) for p in planar.planes)
        return cv2.merge((r, g, b))

    def planes(self, frame: av.VideoFrame) -> dict[str, np.ndarray] | None:
        """The extra planes of a decoded frame: its alpha (``uint8``) when the stream has one."""
        if not self._alpha:
            return None
        alpha = alpha_u8(frame)
        return None if alpha is None else {"alpha": alpha}

    def to_frame(self, item: tuple[av.VideoFrame, Fraction, int]) -> Frame:
        """The decoded frame converted to RGB now (the native frame rides along)."""
        frame, pts, index = item
        return Frame(self.to_rgb(frame), pts, index, native=frame, planes=self.planes(frame))

    def lazy_frame(self, item: tuple[av.VideoFrame, Fraction, int]) -> Frame:
        """The decoded frame, converted to RGB only if an op reads its pixels (its alpha plane,
        which is cheap, is read now)."""
        frame, pts, index = item
        return Frame(None, pts, index, native=frame, to_rgb=self.to_rgb, planes=self.planes(frame))

    def __iter__(self) -> Iterator[Frame]:
        for item in self.decoded():
            yield self.to_frame(item)


def is_live(source: str) -> bool:
    """Whether ``source`` is a live input read once, front to back: ``-`` (stdin), a URL, a
    capture device or a named pipe."""
    if source == "-" or "://" in source or source.startswith("/dev/video"):
        return True
    try:
        return stat.S_ISFIFO(os.stat(source).st_mode)
    except OSError:
        return False


class LiveReader(VideoReader):
    """A :class:`VideoReader` over a live source that can be read only once: stdin (``-``), a
    named pipe, a network URL or a v4l2 device. The stream is opened and described from its
    header and first frame (frame count and duration are unknown, so 0), then decoded as it
    arrives, each frame handed on at once. ``duration`` stops reading after that many seconds.
    """

    def __init__(
        self,
        source: str,
        *,
        duration: Fraction | float | None = None,
        threads: int = 0,
        input_format: str | None = None,
    ) -> None:
        self.path = Path(source)
        self.source = source
        target = "pipe:0" if source == "-" else source
        if input_format is None and source.startswith("/dev/video"):
            input_format = "v4l2"
        try:
            self._container = av.open(target, "r", format=input_format)
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"cannot open live input ({_reason(exc)})", source) from None
        try:
            vs = self._container.streams.video[0] if self._container.streams.video else None
            if vs is None:
                raise MediaError("has no video stream", source)
            vs.thread_type = "AUTO"
            vs.codec_context.thread_count = threads
            self._stream = vs
            self._frames = decode_frames(self._container, vs, threads)
            try:
                self._first = next(self._frames)
            except StopIteration:
                raise MediaError("no decodable video frame", source) from None
            except av.error.FFmpegError as exc:
                raise MediaError(f"cannot decode video ({_reason(exc)})", source) from None
            self.info = describe(self._container, vs, self._first, source)
        except BaseException:
            self._container.close()
            raise
        self.start = Fraction(0)
        self.duration = Fraction(duration) if duration is not None else None
        if self.duration is not None and self.duration <= 0:
            raise UsageError(f"duration must be > 0, got {float(self.duration)}", param="duration")
        self.threads = threads
        self.convert_threads = 1
        self.first_index = 0
        self.expect_frames = None
        self._setup_conversion()

    @property
    def whole_file(self) -> bool:
        return self.duration is None

    def decoded(self) -> Iterator[tuple[av.VideoFrame, Fraction, int]]:
        tb = Fraction(self._stream.time_base)
        step = 1 / self.info.fps
        end = self.end
        last_pts: Fraction | None = None
        index = 0
        frame: av.VideoFrame | None = self._first
        try:
            while frame is not None:
                if frame.pts is not None:
                    pts = Fraction(frame.pts) * tb
                else:
                    pts = last_pts + step if last_pts is not None else self.begin
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + step  # a live stream's clock may stall; keep time moving
                if end is not None and pts >= end:
                    break
                last_pts = pts
                yield frame, pts, index
                index += 1
                try:
                    frame = next(self._frames)
                except StopIteration:
                    frame = None
                except av.error.FFmpegError as exc:
                    raise MediaError(
                        f"corrupt video data after frame {index} ({_reason(exc)})", self.source
                    ) from None
        finally:
            self._container.close()


def read_frames(path: str | os.PathLike[str], **kwargs: object) -> list[Frame]:
    """Decode a whole (short) video into memory. Convenient for tests and previews."""
    return list(VideoReader(path, **kwargs))  # type: ignore[arg-type]
