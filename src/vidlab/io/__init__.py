"""Faithful video I/O: probe, streaming RGB reader, encoder/muxer with audio copy (the reader and
writer load on first use, so a command that only probes or measures does not load NumPy or OpenCV)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.lazy import lazy_getattr

# Light modules load at once (``probe`` is also a submodule's name, so it must be bound here).
from vidlab.io.codecs import CODECS, EncodeSettings, canonical_codec
from vidlab.io.colors import ColorInfo
from vidlab.io.probe import AudioStreamInfo, VideoInfo, open_input, probe

if TYPE_CHECKING:
    from vidlab.io.reader import VideoReader, read_frames
    from vidlab.io.writer import VideoWriter

_LAZY = {
    "VideoReader": "vidlab.io.reader",
    "read_frames": "vidlab.io.reader",
    "VideoWriter": "vidlab.io.writer",
}
__all__ = [
    "CODECS",
    "AudioStreamInfo",
    "ColorInfo",
    "EncodeSettings",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "canonical_codec",
    "open_input",
    "probe",
    "read_frames",
]

__getattr__ = lazy_getattr(__name__, _LAZY)
