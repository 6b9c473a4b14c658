"""The ffmpeg command-line binary, from imageio-ffmpeg (never assumed installed on the system)."""

from __future__ import annotations

import functools

from vidlab.core.errors import VidlabError


@functools.cache
def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise VidlabError("imageio-ffmpeg is not installed; pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()
