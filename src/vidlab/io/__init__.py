"""Faithful video I/O: probe, streaming RGB reader, encoder/muxer with audio copy."""

from vidlab.io.codecs import CODECS, EncodeSettings, canonical_codec
from vidlab.io.colors import ColorInfo
from vidlab.io.probe import AudioStreamInfo, VideoInfo, open_input, probe
from vidlab.io.reader import VideoReader, read_frames
from vidlab.io.writer import VideoWriter

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
