"""Encoder and muxer: keeps the source's color tags, SAR, rotation, exact fps and timestamps,
copies audio packets unchanged and interleaved, and writes to a temporary name that is
renamed into place only when everything succeeded.

Timestamps are kept as the source has them, negative ones included (AAC's priming packet
sits before 0 in MP4 through its edit list): Matroska, WebM and NUT are written with
``avoid_negative_ts=disabled``, so FFmpeg does not shift every stream to make that packet
start at 0; MP4 and MOV keep the negative start in an edit list, as FFmpeg does by default.

Alpha: an output whose ``info.has_alpha`` is true is encoded with its alpha (FFV1 in .mkv or
.nut, ProRes 4444 in .mov or .mkv, VP9 in .webm or .mkv, PNG sequences), a frame without an
alpha plane getting opaque alpha; any other encoder or container is refused before anything
is decoded. An output named by a frame-number pattern (``frames/%05d.png``) is a PNG
sequence, numbered from 1 as FFmpeg numbers it, written into a hidden folder beside it and
moved into place when complete (see :class:`SequenceOutput`)."""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import ColorRange

from vidlab.core.errors import MediaError, UsageError, VidlabError
from vidlab.core.frame import Frame
from vidlab.core.fsutil import hold, open_held, release, remove_stale_temps, temp_path
from vidlab.io.alpha import alpha_u8, set_alpha
from vidlab.io.codecs import EncodeSettings, ResolvedEncode, canonical_codec, resolve
from vidlab.io.colors import ColorInfo, ThreadReformatters, is_rgb_format, sws_matrix, sws_range
from vidlab.io.probe import (
    SEQUENCE_SUFFIXES,
    VideoInfo,
    _reason,
    is_image_sequence,
    open_input,
    sequence_files,
)

log = logging.getLogger(__name__)

# How far ahead of the video (seconds) audio packets are muxed, so interleaving stays tight.
_AUDIO_LEAD = Fraction(1, 2)

# Containers that store negative timestamps as they are: FFmpeg's default (avoid_negative_ts
# "auto") would shift every stream so the earliest packet (AAC priming) starts at 0.
_NEGATIVE_TS_OK = (".mkv", ".mka", ".mk3d", ".webm", ".nut")


def check_output_path(path: Path) -> None:
    """Fail early, before any decoding, when the video output cannot be created."""
    check_writable_file(path)
    if not path.suffix:
        raise UsageError("output needs a file extension (.mp4, .mkv, .mov, .webm) to pick a container", path)
    if path.suffix.lower() in SEQUENCE_SUFFIXES and not is_image_sequence(path):
        raise UsageError(
            f"a {path.suffix} output is an image sequence: name it with one frame-number pattern "
            f"such as {path.with_name(path.stem + '_%05d' + path.suffix).name}",
            path,
        )


def check_writable_file(path: Path) -> None:
    """Fail early when a file (a video, a still image, a report) cannot be created at ``path``."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError("output is a directory; give a file name such as out.mp4", path)
    if not parent.exists():
        raise UsageError(f"output folder does not exist: {parent}", path)
    if not parent.is_dir():
        raise UsageError(f"output folder is not a directory: {parent}", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"output folder is not writable: {parent}", path)


def muxer_options(path: Path) -> dict[str, str]:
    """Container options for an output: MP4/MOV get faststart; Matroska, WebM and NUT keep
    negative timestamps unshifted (see the module)."""
    suffix = path.suffix.lower()
    if is_mov_family(path):
        return {"movflags": "+faststart"}
    if suffix in _NEGATIVE_TS_OK:
        return {"avoid_negative_ts": "disabled"}
    return {}


def write_error(exc: BaseException, path: Path, doing: str = "encoding") -> VidlabError:
    """Map an FFmpeg or OS error while writing ``path`` to one clear line (disk full named as such)."""
    if getattr(exc, "errno", None) == errno.ENOSPC:
        return MediaError("disk full while writing (No space left on device)", path)
    return MediaError(f"{doing} failed ({_reason(exc)})", path)


class _TemporaryOutput:
    """What :class:`OutputFile` and :class:`SequenceOutput` share: a muxer writing under a
    locked temporary name, and :meth:`abort`, which closes it and removes what it wrote."""

    container: av.container.OutputContainer
    closed: bool
    _lock: int | None

    def abort(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self.container.close()
            self.closed = True
        self.discard()

    def discard(self) -> None:
        self._remove_temporary()
        release(self._lock)
        self._lock = None

    def _remove_temporary(self) -> None:
        raise NotImplementedError


class OutputFile(_TemporaryOutput):
    """An output container written under a temporary name in the same folder and renamed into
    place by :meth:`commit`; :meth:`abort` removes it. The final path is never half-written.

    The temporary name carries the writer's pid and the file stays locked while it is written
    (see :mod:`vidlab.core.fsutil`), so a new output for the same path first removes what a
    killed run left (``.NAME.<pid>.<hex>.partial.EXT``) and leaves a live run's alone."""

    def __init__(self, path: Path) -> None:
        check_output_path(path)
        self.path = path
        folder = path.parent
        remove_stale_temps(folder, f".{path.stem}", path.suffix)
        self.tmp = temp_path(folder, f".{path.stem}", path.suffix)
        self.closed = False
        self._lock: int | None = None
        try:
            # Create the file now so an unwritable place fails before any decoding starts.
            self._lock = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot create output ({exc.strerror or exc})", path) from None
        hold(self._lock)
        try:
            self.container: av.container.OutputContainer = av.open(
                str(self.tmp), "w", container_options=muxer_options(path)
            )
        except ValueError:
            self.discard()
            raise UsageError(f"unknown output container for extension '{path.suffix}'", path) from None
        except (av.error.FFmpegError, OSError) as exc:
            self.discard()
            raise UsageError(f"cannot create output ({_reason(exc)})", path) from None

    def commit(self) -> Path:
        """Close the container and move the file into place (an error removes it)."""
        try:
            self.container.close()
            self.closed = True
            os.replace(self.tmp, self.path)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise write_error(exc, self.path, "writing") from None
        release(self._lock)
        self._lock = None
        return self.path

    def _remove_temporary(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


class SequenceOutput(_TemporaryOutput):
    """An image sequence (``path`` is its frame-number pattern) written into a hidden folder
    beside it; :meth:`commit` moves the frames into place, first removing the older files that
    match the same pattern, so the folder then holds exactly the new sequence and never a half
    one. :meth:`abort` removes the hidden folder and leaves the folder as it was. Like
    :class:`OutputFile`, the hidden folder names its writer's pid and stays locked while it is
    written, so a killed run's folder is removed by the next run and a live one's is kept."""

    def __init__(self, path: Path) -> None:
        check_output_path(path)
        self.path = path
        self.folder = path.parent if str(path.parent) else Path(".")
        stem = path.stem.replace("%", "")
        remove_stale_temps(self.folder, f".{stem}")
        self.tmp = temp_path(self.folder, f".{stem}")
        self.closed = False
        self._lock: int | None = None
        try:
            self.tmp.mkdir()
        except OSError as exc:
            raise UsageError(f"cannot create output ({exc.strerror or exc})", path) from None
        self._lock = open_held(self.tmp)
        try:
            self.container: av.container.OutputContainer = av.open(
                str(self.tmp / path.name), "w", format="image2"
            )
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.discard()
            raise UsageError(f"cannot create output ({_reason(exc)})", path) from None

    def commit(self) -> Path:
        """Close the muxer and move the complete sequence into place (an error removes it)."""
        try:
            self.container.close()
            self.closed = True
            made = sequence_files(self.tmp / self.path.name)
            if not made:
                raise MediaError("no frames were written", self.path)
            for _, old in sequence_files(self.path):
                old.unlink()
            for _, f in made:
                os.replace(f, self.folder / f.name)
            self.discard()
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise write_error(exc, self.path, "writing") from None
        except BaseException:
            self.abort()
            raise
        return self.path

    def _remove_temporary(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def open_output(path: Path) -> OutputFile | SequenceOutput:
    """The output for ``path``: a container file, or an image sequence for a pattern."""
    return SequenceOutput(path) if is_image_sequence(path) else OutputFile(path)


#: FFmpeg's names for the interlaced ``AVFieldOrder`` values.
FIELD_ORDERS = {2: "tt", 3: "bb", 4: "tb", 5: "bt"}


def holds_field_order(path: Path) -> bool:
    """Whether the container for ``path`` keeps a stream's field-order tag: Matroska's
    FieldOrder does; MP4 and MOV take it from the (progressively re-encoded) bitstream, and
    NUT, WebM and AVI have no place for it, as with ``ffmpeg -c:v libx264``."""
    return path.suffix.lower() in (".mkv", ".mk3d")


def is_mov_family(path: Path) -> bool:
    """MP4/MOV-style outputs (movenc): faststart, and edit lists that round a non-zero start."""
    return path.suffix.lower() in (".mp4", ".mov", ".m4v")


class AudioCopier:
    """Streams the source's audio and subtitle packets into the output, shifted and trimmed
    the same way, byte-exact, and copies its attachments (Matroska fonts).

    Audio the output container cannot hold is refused; subtitles in a codec it cannot hold
    (mov_text into Matroska, SRT/ASS into MP4: converting is not vidlab's job) and attachments
    anywhere but Matroska are left out with one warning naming the output and what is dropped.
    ``audio=False`` copies only the subtitles and attachments."""

    def __init__(
        self,
        source: Path,
        output: av.container.OutputContainer,
        window: tuple[Fraction, Fraction | None] | None,
        offset: Fraction,
        out_path: Path,
        *,
        audio: bool = True,
    ) -> None:
        self.src = open_input(source)
        self.streams = {}
        supported = output.supported_codecs
        fmt = output.format.name
        for a in self.src.streams.audio if audio else ():
            name = a.codec_context.name
            if supported and name not in supported:
                self.src.close()
                raise UsageError(f"the {fmt} container cannot hold {name} audio; use .mkv or .mov", out_path)
            self.streams[a.index] = output.add_stream_from_template(a)
        dropped: list[str] = []
        for sub in self.src.streams.subtitles:
            name = sub.codec_context.name
            if supported and name not in supported:
                dropped.append(f"{name} subtitles (stream {sub.index})")
                continue
            self.streams[sub.index] = output.add_stream_from_template(sub)
        attachments = self.src.streams.attachments
        if attachments and fmt == "matroska":
            for att in attachments:
                output.add_attachment(att.name, att.mimetype or "application/octet-stream", att.data)
        elif attachments:
            names = ", ".join(str(att.name) for att in attachments)
            dropped.append(f"{len(attachments)} attachment{'s' if len(attachments) > 1 else ''} ({names})")
        if dropped:
            log.warning("%s: the %s container cannot hold %s; dropped", out_path, fmt, "; ".join(dropped))
        self.output = output
        self.window = window
        self.offset = offset
        copied = [s for s in self.src.streams if s.index in self.streams]
        self._packets: Iterator[av.Packet] | None = self.src.demux(copied) if copied else None
        self._pending: av.Packet | None = None

    def mux_until(self, t: Fraction | None) -> None:
        """Mux every audio packet that starts before output time ``t`` (all of them when None)."""
        if self._packets is None:
            return
        while True:
            pkt = self._pending
            self._pending = None
            if pkt is None:
                try:
                    pkt = next(self._packets)
                except StopIteration:
                    self._packets = None
                    return
                except av.error.FFmpegError as exc:
                    raise MediaError(f"corrupt audio data ({_reason(exc)})", self.src.name) from None
            if pkt.size == 0 or (pkt.dts is None and pkt.pts is None):
                continue
            if pkt.dts is None:
                pkt.dts = pkt.pts  # a subtitle packet may carry only its pts
            tb = Fraction(pkt.time_base)
            start = Fraction(pkt.pts if pkt.pts is not None else pkt.dts) * tb
            if t is not None and start - self.offset > t:
                self._pending = pkt
                return
            if self.window is not None:
                lo, hi = self.window
                end = start + Fraction(pkt.duration or 0) * tb
                if end <= lo or (hi is not None and start >= hi):
                    continue
            shift = round(self.offset / tb)
            if shift:
                if pkt.pts is not None:
                    pkt.pts -= shift
                pkt.dts -= shift
            pkt.stream = self.streams[pkt.stream.index]
            self.output.mux(pkt)

    def close(self) -> None:
        self.src.close()


class VideoWriter:
    """Encode :class:`Frame` objects into ``path``.

    ``info`` is the output stream's description (usually the source's, changed by the recipe):
    size, fps, time base, SAR, rotation, color tags and the source pixel format, which is kept
    unless ``settings.pix_fmt`` says otherwise. ``time_offset`` is subtracted from every
    timestamp (for ``--start``). Audio, subtitles and attachments from ``audio_from`` within
    ``audio_window`` are copied (see :class:`AudioCopier`; ``copy_audio=False`` leaves the audio
    out; an image sequence holds none). With ``info.has_alpha`` the frames' alpha planes are
    encoded too (see the module); an encoder or container that cannot store alpha is refused
    here, before any output is created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        info: VideoInfo,
        settings: EncodeSettings | None = None,
        *,
        audio_from: str | os.PathLike[str] | None = None,
        audio_window: tuple[Fraction, Fraction | None] | None = None,
        time_offset: Fraction = Fraction(0),
        convert_threads: int = 1,
        threads: int = 0,
        copy_audio: bool = True,
    ) -> None:
        self.path = Path(path)
        check_output_path(self.path)
        self.info = info
        self.sequence = is_image_sequence(self.path)
        settings = settings or EncodeSettings()
        self.settings = _sequence_settings(settings, self.path) if self.sequence else settings
        self.encode: ResolvedEncode = resolve(
            self.settings, info.pix_fmt, info.width, info.height, alpha=info.has_alpha, path=self.path
        )
        self.time_offset = Fraction(time_offset)
        self.convert_threads = convert_threads
        self.threads = threads
        self.frames_written = 0
        self._last_pts: int | None = None
        self._origins: collections.deque[bool] = collections.deque()
        self.audio: AudioCopier | None = None
        self._reformatters = ThreadReformatters()
        self._opaque: np.ndarray | None = None
        if audio_from is not None and self.sequence:
            log.info("%s: an image sequence holds no audio; the audio is not copied", self.path)
            audio_from = None
        self._out = open_output(self.path)
        self.container = self._out.container
        try:
            self._setup_video()
            self.audio = (
                AudioCopier(
                    Path(audio_from),
                    self.container,
                    audio_window,
                    self.time_offset,
                    self.path,
                    audio=copy_audio,
                )
                if audio_from is not None
                else None
            )
        except BaseException:
            self._out.abort()
            raise

    # -- setup ---------------------------------------------------------------------------------

    def _setup_video(self) -> None:
        enc, info = self.encode, self.info
        supported = self.container.supported_codecs
        if supported and enc.codec not in supported:
            raise UsageError(
                f"the {self.container.format.name} container cannot hold {enc.codec} video (try .mkv)",
                self.path,
            )
        stream = self.container.add_stream(enc.codec, rate=info.fps)
        cc = stream.codec_context
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = enc.pix_fmt
        self.time_base = stream_time_base(info)
        stream.time_base = self.time_base
        cc.time_base = self.time_base
        cc.framerate = info.fps
        if info.sar and info.sar != 1:
            cc.sample_aspect_ratio = info.sar
        self._rgb_out = is_rgb_format(enc.pix_fmt)
        self._matrix = sws_matrix(info.color, info.height)
        self._range = ColorRange.JPEG if self._rgb_out else sws_range(info.color, info.pix_fmt)
        tags = _output_tags(info.color, self._rgb_out, info.height)
        cc.color_primaries, cc.color_trc, cc.colorspace = tags.primaries, tags.transfer, tags.matrix
        cc.color_range = int(self._range)
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        if info.field_order:
            cc.field_order = info.field_order  # the interlacing tag, as ffmpeg carries it over
            if info.field_order > 1 and not holds_field_order(self.path):
                log.warning(
                    "%s: the %s container cannot hold the field-order tag (interlaced %s); dropped",
                    self.path,
                    self.container.format.name,
                    FIELD_ORDERS.get(info.field_order, info.field_order),
                )
        if enc.bit_rate:
            cc.bit_rate = enc.bit_rate
        cc.thread_count = self.threads
        cc.options = dict(enc.options)
        self.stream = stream

    # -- writing -------------------------------------------------------------------------------

    def prepare(self, frame: Frame) -> av.VideoFrame:
        """Convert RGB to the output pixel format (thread-safe, so it can run beside ``encode``).
        A frame still holding its decoded picture in the output's own format is copied as it is:
        no conversion, no loss."""
        native = frame.native
        if native is not None and self._takes_native(native, frame):
            out = _copy_frame(native)
        else:
            out = self._from_rgb(frame)
        out.pts = round((frame.pts - self.time_offset) / self.time_base)
        out.time_base = self.time_base
        # Whether this frame's time is the one the reader gave it (not an op's), for the error
        # a non-increasing timestamp gets; frames are encoded in the order they are prepared.
        self._origins.append(native is not None and native.opaque == frame.pts)
        return out

    def _takes_native(self, vf: av.VideoFrame, frame: Frame) -> bool:
        size = (self.info.width, self.info.height)
        if vf.format.name != self.encode.pix_fmt or (vf.width, vf.height) != size:
            return False
        # The stream is tagged with the source's matrix and range; the frame must be in them.
        src = self.info.color
        if not (
            not self._rgb_out
            and (vf.color_range or src.range) == src.range
            and (vf.colorspace or src.matrix) == src.matrix
        ):
            return False
        if not self.encode.alpha:
            return True
        # The decoded alpha goes out as it is (all its bits) only while the frame's alpha plane
        # is still the one decoded: an op may have replaced or removed it.
        mine, decoded = frame.alpha_u8(), alpha_u8(vf)
        return mine is not None and decoded is not None and np.array_equal(mine, decoded)

    def _from_rgb(self, frame: Frame) -> av.VideoFrame:
        img = frame.image
        if img.shape[0] != self.info.height or img.shape[1] != self.info.width:
            raise VidlabError(
                f"frame {frame.index} is {img.shape[1]}x{img.shape[0]} but the output is "
                f"{self.info.width}x{self.info.height}"
            )
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        reformatter = self._reformatters.get()
        if self._rgb_out:
            out = reformatter.reformat(vf, format=self.encode.pix_fmt, threads=self.convert_threads)
        else:
            out = reformatter.reformat(
                vf,
                format=self.encode.pix_fmt,
                dst_colorspace=self._matrix,
                src_color_range=ColorRange.JPEG,
                dst_color_range=self._range,
                threads=self.convert_threads,
            )
        if self.encode.alpha:
            self._put_alpha(frame, out)
        return out

    def _put_alpha(self, frame: Frame, out: av.VideoFrame) -> None:
        """Write the frame's alpha plane (opaque when it has none) into the converted frame."""
        h, w = out.height, out.width
        alpha = frame.alpha_u8()
        if alpha is None:
            if self._opaque is None or self._opaque.shape != (h, w):
                self._opaque = np.full((h, w), 255, np.uint8)
            alpha = self._opaque
        elif alpha.shape[:2] != (h, w):
            raise VidlabError(
                f"frame {frame.index}'s alpha plane is {alpha.shape[1]}x{alpha.shape[0]} but its "
                f"picture is {w}x{h}"
            )
        if not set_alpha(out, alpha):  # pragma: no cover - every alpha format vidlab picks is known
            raise VidlabError(f"cannot write alpha into {out.format.name}")

    def encode_frame(self, vframe: av.VideoFrame) -> None:
        from_decoder = self._origins.popleft() if self._origins else True
        if self._last_pts is not None and vframe.pts <= self._last_pts:
            what = (
                "the decoded frames' timestamps go backwards (broken timestamps in the source)"
                if from_decoder
                else "an op produced out-of-order frames"
            )
            error = MediaError if from_decoder else VidlabError
            raise error(
                f"non-increasing timestamp {vframe.pts} after {self._last_pts} "
                f"(time base {self.time_base}) at frame {self.frames_written}; {what}",
                self.path,
            )
        self._last_pts = vframe.pts
        try:
            self._mux(self.stream.encode(vframe))
        except av.error.FFmpegError as exc:
            raise write_error(exc, self.path) from None
        self.frames_written += 1

    def write(self, frame: Frame) -> None:
        self.encode_frame(self.prepare(frame))

    def _mux(self, packets: list[av.Packet]) -> None:
        for pkt in packets:
            self.container.mux(pkt)
            if self.audio is not None and pkt.dts is not None:
                self.audio.mux_until(Fraction(pkt.dts) * self.time_base + _AUDIO_LEAD)

    # -- finishing -----------------------------------------------------------------------------

    def close(self) -> Path:
        """Flush the encoder, finish the audio, and move the file into place."""
        if self._out.closed:
            return self.path
        try:
            if self.frames_written == 0:
                raise MediaError("no frames were written", self.path)
            self._mux(self.stream.encode(None))
            if self.audio is not None:
                self.audio.mux_until(None)
                self.audio.close()
        except av.error.FFmpegError as exc:
            self.abort()
            raise write_error(exc, self.path) from None
        except BaseException:
            self.abort()
            raise
        return self._out.commit()

    def abort(self) -> None:
        """Stop and remove everything written so far; the final path is never touched."""
        # Best effort: after an error the containers may be half-open.
        if self.audio is not None:
            with contextlib.suppress(Exception):
                self.audio.close()
        self._out.abort()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _copy_frame(vf: av.VideoFrame) -> av.VideoFrame:
    """A new frame with the same pixels (the encoder gets its own timestamps on it, while the
    decoded frame may be shared: an interpolator holds one original for several output times)."""
    out = av.VideoFrame(vf.width, vf.height, vf.format.name)
    for dst, src in zip(out.planes, vf.planes, strict=True):
        if dst.buffer_size == src.buffer_size:
            np.copyto(np.frombuffer(dst, np.uint8), np.frombuffer(src, np.uint8))
        else:  # different line padding: copy row by row
            rows = src.height
            a = np.frombuffer(dst, np.uint8).reshape(rows, dst.line_size)
            b = np.frombuffer(src, np.uint8).reshape(rows, src.line_size)
            n = min(dst.line_size, src.line_size)
            a[:, :n] = b[:, :n]
    out.color_range = vf.color_range
    out.colorspace = vf.colorspace
    return out


def _sequence_settings(settings: EncodeSettings, path: Path) -> EncodeSettings:
    """An image sequence is PNG whatever the (default) codec says."""
    if canonical_codec(settings.codec) not in ("png", canonical_codec(EncodeSettings().codec)):
        log.warning("%s: an image sequence is written as PNG; codec %s is not used", path, settings.codec)
    return replace(settings, codec="png")


def stream_time_base(info: VideoInfo) -> Fraction:
    """The source's time base keeps every timestamp exact; a coarse one gets 1/fps resolution."""
    tb = info.time_base
    if tb and tb <= 1 / info.fps:
        return tb
    return 1 / info.fps


def _output_tags(color: ColorInfo, rgb_out: bool, height: int) -> ColorInfo:
    """Carry tags through. An RGB output has no matrix; a YUV one made from an RGB source is
    tagged with the matrix actually used, so players decode it as it was encoded."""
    if rgb_out:
        return ColorInfo(color.primaries, color.transfer, 0, 2)
    matrix = color.matrix
    if matrix == 0:
        matrix = 1 if height >= 720 else 6
    return ColorInfo(color.primaries, color.transfer, matrix, color.range)
