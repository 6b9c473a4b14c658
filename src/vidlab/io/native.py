"""The decoded frames as the codec made them: no RGB conversion, no NumPy or OpenCV, so a
command that only measures (``vidlab metrics``) starts fast."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import av

from vidlab.core.errors import MediaError
from vidlab.io.alpha import decode_frames
from vidlab.io.probe import _reason, open_input


def native_frames(
    path: str | os.PathLike[str], *, skip: int = 0, count: int | None = None, threads: int = 0
) -> Iterator[av.VideoFrame]:
    """The decoded frames as the codec made them (its own pixel format, no RGB conversion),
    counted by position: ``count`` frames after the first ``skip``. For measuring and re-encoding
    the source's own planes (quality metrics, codec tests). VP9 with alpha is decoded with
    ``libvpx-vp9``, so its frames are ``yuva420p`` as the reader sees them."""
    p = Path(path)
    container = open_input(p)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        n = 0
        try:
            for i, frame in enumerate(decode_frames(container, stream, threads)):
                if i < skip:
                    continue
                if count is not None and n >= count:
                    break
                n += 1
                yield frame
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot decode frame {n + skip} ({_reason(exc)})", p) from None
    finally:
        container.close()
