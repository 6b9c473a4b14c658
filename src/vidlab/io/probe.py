"""Probe a media file into a :class:`VideoInfo`: size, SAR, rotation, exact fps, frame count,
color tags, bit depth, alpha, VFR detection and audio streams.

Besides media files, an input may be a PNG sequence named by a printf-style frame-number
pattern (``frames/%05d.png``, as FFmpeg's image2 demuxer reads it; numbering starts where the
files do) or a single ``.png``. Images carry no frame rate: a sequence is read at ``fps``
(``probe(..., fps=...)``), by default FFmpeg's 25."""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import av

from vidlab.core.errors import MediaError, UsageError
from vidlab.io.alpha import decode_frames, format_has_alpha, stream_alpha_tagged
from vidlab.io.colors import ColorInfo, bit_depth

log = logging.getLogger(__name__)

#: The frame rate of an image sequence when none is given (FFmpeg's image2 default).
SEQUENCE_FPS = Fraction(25)
#: Image-sequence extensions vidlab reads and writes by pattern.
SEQUENCE_SUFFIXES = (".png",)
_PATTERN = re.compile(r"%0?(\d*)d")


@dataclass(frozen=True, slots=True)
class AudioStreamInfo:
    """One audio stream, described well enough to copy it unchanged."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    start_time: Fraction | None
    duration: Fraction | None
    bit_rate: int | None


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What vidlab knows about a video stream. Outputs inherit it unless an op changes it."""

    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration: Fraction
    start_time: Fraction
    pix_fmt: str
    bit_depth: int
    color: ColorInfo = field(default_factory=ColorInfo)
    sar: Fraction = Fraction(1)
    rotation: int = 0
    is_vfr: bool = False
    bit_rate: int | None = None
    audio: tuple[AudioStreamInfo, ...] = ()
    has_alpha: bool = False
    #: FFmpeg's ``AVFieldOrder`` tag: 0 unknown, 1 progressive, 2 tt, 3 bb, 4 tb, 5 bt.
    field_order: int = 0

    @classmethod
    def constant_rate(
        cls,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: Fraction,
        frames: int,
        *,
        codec: str = "",
        pix_fmt: str = "yuv420p",
        color: ColorInfo | None = None,
    ) -> VideoInfo:
        """A stream of ``frames`` frames at ``fps`` from time 0, in a ``1/fps`` time base: what
        a writer needs to make a video from rendered frames."""
        return cls(
            path=str(path),
            container="",
            codec=codec,
            width=width,
            height=height,
            fps=fps,
            time_base=1 / fps,
            frame_count=frames,
            duration=frames / fps,
            start_time=Fraction(0),
            pix_fmt=pix_fmt,
            bit_depth=bit_depth(pix_fmt),
            color=color or ColorInfo(),
        )

    def with_changes(self, **changes: Any) -> VideoInfo:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Fractions as "num/den" strings, color tags by FFmpeg name."""

        def conv(v: Any) -> Any:
            if isinstance(v, Fraction):
                return f"{v.numerator}/{v.denominator}" if v.denominator != 1 else str(v.numerator)
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [conv(x) for x in v]
            return v

        d = asdict(self)
        d["color"] = self.color.names()
        d["fps_float"] = float(self.fps)
        d["duration_seconds"] = float(self.duration)
        return conv(d)


def _frac_seconds(value: int | None, time_base: Fraction | None) -> Fraction | None:
    if value is None or time_base is None:
        return None
    return Fraction(value) * time_base


def is_image_sequence(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an image sequence: a ``.png`` name with one printf-style
    frame-number field (``%d``, ``%05d``), such as ``frames/shot_%04d.png``."""
    p = Path(path)
    return p.suffix.lower() in SEQUENCE_SUFFIXES and len(_PATTERN.findall(p.name)) == 1


def sequence_files(pattern: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The files that match an image-sequence pattern, as ``(number, path)`` sorted by number
    (a ``%05d`` field matches exactly five digits, ``%d`` any number of them)."""
    p = Path(pattern)
    m = _PATTERN.search(p.name)
    assert m is not None, pattern
    width = m.group(1)
    digits = rf"\d{{{int(width)}}}" if width else r"\d+"
    rx = re.compile(re.escape(p.name[: m.start()]) + f"({digits})" + re.escape(p.name[m.end() :]) + r"\Z")
    folder = p.parent if str(p.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [(int(mm.group(1)), folder / n) for n in names if (mm := rx.match(n))]
    return sorted(found)


def _open_sequence(p: Path, fps: Fraction | None) -> av.container.InputContainer:
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"folder does not exist: {folder}", p)
    files = sequence_files(p)
    if not files:
        raise UsageError("no files match this image-sequence pattern", p)
    rate = Fraction(fps) if fps else SEQUENCE_FPS
    options = {"framerate": f"{rate.numerator}/{rate.denominator}", "start_number": str(files[0][0])}
    try:
        return av.open(str(p), "r", format="image2", options=options)
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable image sequence ({_reason(exc)})", p) from None


def open_input(path: str | os.PathLike[str], *, fps: Fraction | None = None) -> av.container.InputContainer:
    """Open a media file (or an image-sequence pattern, read at ``fps``) for reading, turning
    every failure into one clear vidlab error."""
    p = Path(path)
    if is_image_sequence(p) and not p.exists():
        return _open_sequence(p, fps)
    if not p.exists():
        raise UsageError("no such file", p)
    if p.is_dir():
        raise UsageError(
            "is a directory, not a video file (a PNG sequence is named by a pattern such as "
            f"{p / '%05d.png'})",
            p,
        )
    if stat.S_ISFIFO(p.stat().st_mode):
        raise UsageError(
            "is a named pipe: it is read as a live input, once, by vidlab run and vidlab interpolate "
            "(which wait for a writer); other commands need a file",
            p,
        )
    if p.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)", p)
    try:
        container = av.open(str(p), "r")
        if container.format.name == "image2":
            container = _still_image(container, p)
        return container
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable media file ({_reason(exc)})", p) from None
    except OSError as exc:
        raise MediaError(f"cannot open ({exc.strerror or exc})", p) from None


def _still_image(container: av.container.InputContainer, p: Path) -> av.container.InputContainer:
    """A still image (JPEG, PNG, BMP, TIFF, WebP...) is a one-frame video, whatever its name.
    Named by its extension (``photo.jpg``), FFmpeg picks the ``image2`` demuxer, which cannot
    rewind a single file (probing then finds no frame to decode); the same bytes under another
    name get the demuxer their content picks (``jpeg_pipe``, ``png_pipe``), which can. So a
    still is always opened with that one: it probes, reads and encodes as one frame at 25 fps
    (FFmpeg's default rate for images), exactly as under any other name."""
    with open(p, "rb") as f:
        head = io.BytesIO(f.read(1 << 20))  # nameless: FFmpeg probes the bytes alone
    with av.open(head, "r") as by_content:
        name = by_content.format.name
    if name == "image2":
        return container
    container.close()
    return av.open(str(p), "r", format=name)


def _reason(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.split(":")[0].strip() if ":" in msg and "'" in msg else msg.strip()


def _first_video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kind = "audio only" if container.streams.audio else "no video stream"
        raise MediaError(f"has no video stream ({kind})", path)
    return container.streams.video[0]


def probe(
    path: str | os.PathLike[str], *, count_frames: bool = True, fps: Fraction | None = None
) -> VideoInfo:
    """Describe ``path``. With ``count_frames`` the packets are demuxed (not decoded) to count
    frames exactly, find the true duration and detect variable frame rate and truncation.
    ``fps`` is the rate of an image sequence (see the module); other inputs ignore it."""
    p = Path(path)
    with open_input(p, fps=fps) as container:
        vs = _first_video_stream(container, p)
        _check_stream(vs, p)
        pts_list: list[int] = []
        if count_frames:
            header_frames = vs.frames or 0
            present = 0  # every packet, those an edit list cuts away included
            try:
                for pkt in container.demux(vs):
                    if pkt.size == 0:
                        continue
                    present += 1
                    if not shown(pkt):
                        continue
                    if pkt.pts is not None:
                        pts_list.append(pkt.pts)
                    elif pkt.dts is not None:
                        pts_list.append(pkt.dts)
            except av.error.FFmpegError as exc:
                raise MediaError(f"corrupt data while reading packets ({_reason(exc)})", p) from None
            if header_frames and present < header_frames:
                raise MediaError(
                    f"truncated: the header lists {header_frames} frames but only {present} are present",
                    p,
                )
            if not pts_list:
                raise MediaError("video stream holds no frames", p)
            container.seek(0)
        # One decoded frame tells the truth about format, color tags and rotation.
        first = _decode_first(container, vs, p)
        return describe(container, vs, first, p, pts_list)


def shown(pkt: av.Packet) -> bool:
    """Whether a demuxed video packet is a frame a player shows. An MP4/MOV edit list that
    trims the start (a stream copy cut with ``-ss``) keeps the packets from the keyframe before
    the cut, which the decoder needs, flagged discard (``AV_PKT_FLAG_DISCARD``); the decoder
    drops their frames, so they are not frames of the video."""
    return not pkt.is_discard


def _check_stream(vs: Any, path: str | os.PathLike[str]) -> None:
    if not Fraction(vs.guessed_rate or vs.average_rate or 0) > 0:
        raise MediaError("cannot determine the frame rate", path)
    if not vs.codec_context.width or not vs.codec_context.height:
        raise MediaError("video stream has no frame size (corrupt header?)", path)


def describe(
    container: av.container.InputContainer,
    vs: Any,
    first: av.VideoFrame,
    path: str | os.PathLike[str],
    pts_list: list[int] | None = None,
) -> VideoInfo:
    """A :class:`VideoInfo` from an open container, its video stream and its first decoded
    frame; ``pts_list`` (every packet's timestamp) makes frame count, duration and VFR exact.
    Without it (a live source) they come from the header, or are 0 when it does not say."""
    cc = vs.codec_context
    tb = Fraction(vs.time_base) if vs.time_base else Fraction(1, 90000)
    fps = Fraction(vs.guessed_rate or vs.average_rate or 0)
    audio = tuple(
        AudioStreamInfo(
            index=a.index,
            codec=a.codec_context.name,
            sample_rate=a.codec_context.sample_rate,
            channels=a.codec_context.channels,
            layout=a.codec_context.layout.name if a.codec_context.layout else "",
            start_time=_frac_seconds(a.start_time, a.time_base),
            duration=_frac_seconds(a.duration, a.time_base),
            bit_rate=a.codec_context.bit_rate or None,
        )
        for a in container.streams.audio
    )
    header_frames = vs.frames or 0
    if vs.duration:
        header_duration = Fraction(vs.duration) * tb
    elif container.duration:
        header_duration = Fraction(container.duration, av.time_base)
    else:
        header_duration = Fraction(header_frames) / fps
    header_start = _frac_seconds(vs.start_time, tb)
    if header_start is None:
        header_start = Fraction(first.pts) * tb if first.pts is not None else Fraction(0)

    pix_fmt = first.format.name
    if stream_alpha_tagged(vs) and not format_has_alpha(pix_fmt):
        log.warning("%s: VP9 alpha cannot be decoded here (no libvpx-vp9); reading it opaque", path)
    color = ColorInfo(
        primaries=first.color_primaries if first.color_primaries is not None else cc.color_primaries,
        transfer=first.color_trc if first.color_trc is not None else cc.color_trc,
        matrix=first.colorspace if first.colorspace is not None else cc.colorspace,
        range=first.color_range if first.color_range is not None else cc.color_range,
    )
    sar = Fraction(vs.sample_aspect_ratio) if vs.sample_aspect_ratio else Fraction(1)

    is_vfr = False
    if pts_list:
        pts_list.sort()
        start = Fraction(pts_list[0]) * tb
        frame_count = len(pts_list)
        step = 1 / fps
        deltas = [Fraction(b - a) * tb for a, b in pairwise(pts_list)]
        # Each timestamp is rounded to the time base, so a delta may be off by one tick.
        tolerance = tb + Fraction(1, 10**6)
        is_vfr = any(abs(d - step) > tolerance for d in deltas)
        last_dur = deltas[-1] if deltas and is_vfr else step
        duration = Fraction(pts_list[-1]) * tb + last_dur - start
    else:
        start = header_start
        frame_count = header_frames
        duration = header_duration

    return VideoInfo(
        path=str(path),
        container=container.format.name,
        codec=cc.name,
        width=cc.width,
        height=cc.height,
        fps=fps,
        time_base=tb,
        frame_count=frame_count,
        duration=duration,
        start_time=start,
        pix_fmt=pix_fmt,
        bit_depth=bit_depth(pix_fmt),
        color=color,
        sar=sar,
        rotation=int(first.rotation or 0),
        is_vfr=is_vfr,
        bit_rate=container.bit_rate or None,
        audio=audio,
        has_alpha=format_has_alpha(pix_fmt),
        field_order=int(cc.field_order or 0),
    )


def _decode_first(container: av.container.InputContainer, vs: Any, path: Path) -> av.VideoFrame:
    try:
        for frame in decode_frames(container, vs):
            return frame
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot decode video ({_reason(exc)})", path) from None
    raise MediaError("no decodable video frame (truncated or corrupt)", path)
