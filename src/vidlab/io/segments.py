"""Packet-level work for chunked runs, none of it re-encoding: index a video's frames and
keyframes, cut the packets of a span into a self-contained file (for workers without a shared
file system), and stitch encoded segments into one output with the source's audio."""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidlab.core.errors import MediaError, UsageError
from vidlab.io.alpha import stream_alpha_tagged
from vidlab.io.probe import VideoInfo, _first_video_stream, _reason, is_image_sequence, open_input, shown
from vidlab.io.writer import AudioCopier, OutputFile, write_error

log = logging.getLogger(__name__)

# How far ahead of the video (seconds) audio packets are muxed, as the writer does.
_AUDIO_LEAD = Fraction(1, 2)


@dataclass(frozen=True, slots=True)
class FrameIndex:
    """Every frame's presentation time (seconds, sorted) and which frames are keyframes."""

    pts: tuple[Fraction, ...]
    keyframes: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.pts)

    def keyframe_at_or_before(self, frame: int) -> int:
        """The last keyframe index <= ``frame`` (0 when none)."""
        best = 0
        for k in self.keyframes:
            if k > frame:
                break
            best = k
        return best


def index_frames(path: str | os.PathLike[str]) -> FrameIndex | None:
    """Demux (no decoding) the first video stream. None when packets carry no timestamps, so
    frames cannot be located exactly (raw elementary streams); callers then do not chunk."""
    path = Path(path)
    container = open_input(path)
    try:
        vs = _first_video_stream(container, path)
        tb = Fraction(vs.time_base)
        stamps: list[Fraction] = []
        keys: list[Fraction] = []
        try:
            for pkt in container.demux(vs):
                if pkt.size == 0 or not shown(pkt):
                    continue
                if pkt.pts is None:
                    return None
                t = Fraction(pkt.pts) * tb
                stamps.append(t)
                if pkt.is_keyframe:
                    keys.append(t)
        except av.error.FFmpegError as exc:
            raise MediaError(f"corrupt container ({_reason(exc)})", path) from None
    finally:
        container.close()
    if not stamps:
        raise MediaError("no video packets", path)
    stamps.sort()
    position = {t: i for i, t in enumerate(stamps)}
    keyframes = sorted({position[t] for t in keys} | {0})
    return FrameIndex(pts=tuple(stamps), keyframes=tuple(keyframes))


def extract_span(path: str | os.PathLike[str], begin: Fraction, end: Fraction | None) -> bytes:
    """The video packets needed to decode every frame with ``begin <= pts < end`` (absolute
    seconds), copied into an in-memory NUT file that keeps the timestamps exact (VP9 with alpha
    goes into Matroska instead, whose block side data holds the alpha that NUT would drop; its
    source is Matroska or WebM, so its timestamps are milliseconds already).

    The span starts at the keyframe at or before ``begin`` and stops at the first keyframe
    after all the frames it needs have been seen (open GOPs keep their leading frames)."""
    path = Path(path)
    src = open_input(path)
    buf = io.BytesIO()
    try:
        vs = _first_video_stream(src, path)
        tb = Fraction(vs.time_base)
        src.seek(int(begin / tb), stream=vs, backward=True, any_frame=False)
        alpha = stream_alpha_tagged(vs)
        fmt = "matroska" if alpha else "nut"
        out = av.open(buf, "w", format=fmt, container_options={"avoid_negative_ts": "disabled"})
        ovs = out.add_stream_from_template(vs)
        if alpha:
            ovs.codec_context.pix_fmt = "yuva420p"  # Matroska then flags the alpha (AlphaMode)
        started = False
        boundary: Fraction | None = None  # the first keyframe at or after ``end``
        try:
            for pkt in src.demux(vs):
                if pkt.size == 0 or pkt.pts is None:
                    continue
                t = Fraction(pkt.pts) * tb
                if not started:
                    if not pkt.is_keyframe:
                        continue
                    if t > begin:
                        raise MediaError(f"no keyframe at or before {float(begin):.3f}s", path)
                    started = True
                if end is not None:
                    if boundary is None and pkt.is_keyframe and t >= end:
                        boundary = t
                    elif boundary is not None and t > boundary:
                        break  # past the boundary keyframe and its leading (open-GOP) frames
                pkt.stream = ovs
                out.mux(pkt)
        except av.error.FFmpegError as exc:
            raise MediaError(f"corrupt video data ({_reason(exc)})", path) from None
        finally:
            out.close()
    finally:
        src.close()
    return buf.getvalue()


def stitch(
    segments: Sequence[tuple[Path, Fraction]],
    output: str | os.PathLike[str],
    info: VideoInfo,
    *,
    audio_from: str | os.PathLike[str] | None = None,
    audio_window: tuple[Fraction, Fraction | None] | None = None,
    time_offset: Fraction = Fraction(0),
    copy_audio: bool = True,
) -> int:
    """Concatenate encoded segments (each ``(path, shift)``: its timestamps plus ``shift``
    seconds are the output's) without re-encoding, copy the source's audio, subtitles and
    attachments alongside as the one-stream writer does (:class:`AudioCopier`; ``copy_audio=False``
    leaves the audio out), and return the number of video packets written. Segments must
    share codec parameters.

    Timestamps are kept as they are, negative ones included (the muxer options of
    :class:`OutputFile`), exactly as an unchunked run writes them; VP9's alpha (side data and
    the ``alpha_mode`` tag) is carried over."""
    out_path = Path(output)
    if is_image_sequence(out_path):
        raise UsageError("an image sequence is not made in chunks; run it as one stream", out_path)
    if not segments:
        raise MediaError("nothing to stitch", out_path)
    out = OutputFile(out_path)
    audio: AudioCopier | None = None
    written = 0
    try:
        first = open_input(segments[0][0])
        template = _first_video_stream(first, segments[0][0])
        extradata = template.codec_context.extradata
        ovs = out.container.add_stream_from_template(template)
        ovs.time_base = template.time_base
        if stream_alpha_tagged(template):
            # Matroska writes its AlphaMode flag for a yuva420p stream; the template says yuv420p
            # (FFmpeg's vp9 decoder, which probed it, ignores the alpha).
            ovs.codec_context.pix_fmt = "yuva420p"
        if info.rotation and not _has_rotation(template):
            ovs.set_display_rotation(info.rotation)
        first.close()
        if audio_from is not None:
            audio = AudioCopier(
                Path(audio_from), out.container, audio_window, time_offset, out_path, audio=copy_audio
            )
        last_dts: int | None = None
        for seg_path, shift in segments:
            seg = open_input(seg_path)
            try:
                vs = _first_video_stream(seg, seg_path)
                if vs.codec_context.extradata != extradata:
                    raise MediaError(
                        "segment's codec parameters differ from the first segment's; cannot stitch "
                        "without re-encoding",
                        seg_path,
                    )
                tb = Fraction(vs.time_base)
                ticks = shift / tb
                if ticks.denominator != 1:
                    raise MediaError(
                        f"segment shift {shift} is not a whole number of ticks of {tb}", seg_path
                    )
                for pkt in seg.demux(vs):
                    if pkt.size == 0:
                        continue
                    if pkt.pts is not None:
                        pkt.pts += int(ticks)
                    if pkt.dts is None and pkt.pts is not None and last_dts is not None:
                        # Matroska stores no dts: a segment's first packets come without one, and
                        # the muxer's guess may fall behind the previous segment's last dts.
                        guess = math.ceil(Fraction(last_dts + 1) * Fraction(ovs.time_base) / tb)
                        if guess <= pkt.pts:
                            pkt.dts = guess
                    if pkt.dts is not None:
                        pkt.dts += int(ticks)
                        dts_out = round(Fraction(pkt.dts) * tb / Fraction(ovs.time_base))
                        if last_dts is not None and dts_out <= last_dts:
                            raise MediaError(
                                "segment overlaps the previous one (non-increasing timestamps)", seg_path
                            )
                        last_dts = dts_out
                    pkt.stream = ovs
                    out.container.mux(pkt)
                    written += 1
                    if audio is not None and pkt.dts is not None:
                        audio.mux_until(Fraction(pkt.dts) * tb - time_offset + _AUDIO_LEAD)
            except av.error.FFmpegError as exc:
                raise MediaError(f"corrupt segment ({_reason(exc)})", seg_path) from None
            finally:
                seg.close()
        if audio is not None:
            audio.mux_until(None)
            audio.close()
    except av.error.FFmpegError as exc:
        if audio is not None:
            audio.close()
        out.abort()
        raise write_error(exc, out_path, "stitching") from None
    except BaseException:
        if audio is not None:
            audio.close()
        out.abort()
        raise
    out.commit()
    return written


def _has_rotation(stream: av.video.stream.VideoStream) -> bool:
    try:
        return bool(stream.display_rotation)  # type: ignore[attr-defined]
    except AttributeError:
        return False
