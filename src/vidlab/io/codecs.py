"""Encoder choices: codec names and aliases, rate control (CRF or bitrate), presets and the
pixel format an output gets when the user does not name one."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import av

from vidlab.core.errors import UsageError
from vidlab.io.colors import bit_depth, is_rgb_format

log = logging.getLogger(__name__)

# SVT-AV1 prints a banner and its configuration on stderr at every encoder start unless told
# otherwise (1: errors only); a user's own SVT_LOG setting wins.
os.environ.setdefault("SVT_LOG", "1")


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """How vidlab drives one encoder: its CRF scale, default quality, preset option and quirks."""

    name: str
    crf_range: tuple[float, float] | None
    default_crf: float | None
    preset_option: str | None
    default_preset: str | None
    extra: dict[str, str] = field(default_factory=dict)
    lossless: bool = False


CODECS: dict[str, CodecSpec] = {
    "libx264": CodecSpec("libx264", (0, 51), 20, "preset", "medium"),
    "libx265": CodecSpec("libx265", (0, 51), 24, "preset", "medium", {"x265-params": "log-level=error"}),
    "libvpx-vp9": CodecSpec("libvpx-vp9", (0, 63), 32, "cpu-used", "4", {"row-mt": "1", "deadline": "good"}),
    "libvpx": CodecSpec("libvpx", (4, 63), 10, "cpu-used", "4", {"deadline": "good"}),
    "libsvtav1": CodecSpec("libsvtav1", (0, 63), 35, "preset", "8"),
    "ffv1": CodecSpec(
        "ffv1", None, None, None, None, {"level": "3", "slicecrc": "1", "g": "1"}, lossless=True
    ),
    "h264_nvenc": CodecSpec("h264_nvenc", (0, 51), 23, "preset", "p4"),
}

ALIASES = {
    "h264": "libx264",
    "x264": "libx264",
    "avc": "libx264",
    "h265": "libx265",
    "hevc": "libx265",
    "x265": "libx265",
    "vp9": "libvpx-vp9",
    "vp8": "libvpx",
    "av1": "libsvtav1",
    "svtav1": "libsvtav1",
    "nvenc": "h264_nvenc",
}

# 8-bit RGB has more than one name: some encoders take it planar (gbrp), others packed (bgr0).
_RGB8_EQUIVALENTS = ("gbrp", "bgr0", "rgb24", "bgr24", "rgb0", "0rgb", "0bgr", "bgra", "rgba")


@dataclass(frozen=True, slots=True)
class EncodeSettings:
    """What the user asked of the encoder. ``None`` means "inherit from the source or default"."""

    codec: str = "libx264"
    crf: float | None = None
    bitrate_kbps: float | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResolvedEncode:
    codec: str
    pix_fmt: str
    options: dict[str, str]
    bit_rate: int | None


def canonical_codec(name: str) -> str:
    codec = ALIASES.get(name.lower(), name)
    if codec not in CODECS:
        known = ", ".join(sorted({*CODECS, *ALIASES}))
        raise UsageError(f"unknown codec '{name}' (known: {known})")
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        raise UsageError(f"encoder '{codec}' is not available in this FFmpeg build") from None
    return codec


def supported_pix_fmts(codec: str) -> list[str]:
    fmts = av.codec.Codec(codec, "w").video_formats or []
    return [f.name for f in fmts]


def _chroma(pix_fmt: str) -> tuple[int, int]:
    """Chroma subsampling as (log2 horizontal, log2 vertical): (1, 1) for 4:2:0, (0, 0) for 4:4:4."""
    fmt = av.VideoFormat(pix_fmt)
    if is_rgb_format(pix_fmt) or len(fmt.components) < 3:
        return (0, 0)
    return ((64 // fmt.chroma_width(64)).bit_length() - 1, (64 // fmt.chroma_height(64)).bit_length() - 1)


def choose_pix_fmt(codec: str, requested: str | None, source_pix_fmt: str) -> str:
    """The requested format if the encoder takes it (8-bit RGB spelled either way), else the
    source's own format, else the closest one by bit depth and chroma subsampling."""
    supported = supported_pix_fmts(codec)
    if requested:
        try:
            av.VideoFormat(requested)
        except Exception:
            raise UsageError(f"unknown pixel format '{requested}'") from None
        if requested in supported:
            return requested
        if requested in _RGB8_EQUIVALENTS:
            for alt in _RGB8_EQUIVALENTS:
                if alt in supported:
                    log.info("%s stores 8-bit RGB as %s; using it for --pix-fmt %s", codec, alt, requested)
                    return alt
        raise UsageError(
            f"{codec} cannot encode pixel format '{requested}' (it takes: {', '.join(supported)})"
        )
    if source_pix_fmt in supported:
        return source_pix_fmt
    depth, chroma = bit_depth(source_pix_fmt), _chroma(source_pix_fmt)
    yuv = [f for f in supported if not is_rgb_format(f) and not f.startswith(("yuvj", "nv", "p0", "gray"))]
    for f in yuv:
        if bit_depth(f) == depth and _chroma(f) == chroma:
            return f
    for f in yuv:
        if bit_depth(f) == depth and f.startswith("yuv420"):
            return f
    return "yuv420p" if "yuv420p" in supported else supported[0]


def check_dimensions(pix_fmt: str, width: int, height: int) -> None:
    """4:2:0 and 4:2:2 cannot hold odd sizes; refuse with the ways out rather than crop silently."""
    sub_w, sub_h = _chroma(pix_fmt)
    if width % (1 << sub_w) or height % (1 << sub_h):
        raise UsageError(
            f"frame size {width}x{height} is odd, and {pix_fmt} (chroma subsampled) cannot store it; "
            f"use --pix-fmt yuv444p, or add 'resize width=... height=...' with even values to the recipe"
        )


def resolve(settings: EncodeSettings, source_pix_fmt: str, width: int, height: int) -> ResolvedEncode:
    """Turn user settings into an encoder name, pixel format and FFmpeg options, validating all."""
    codec = canonical_codec(settings.codec)
    spec = CODECS[codec]
    pix_fmt = choose_pix_fmt(codec, settings.pix_fmt, source_pix_fmt)
    check_dimensions(pix_fmt, width, height)
    opts: dict[str, str] = dict(spec.extra)
    bit_rate: int | None = None
    if settings.crf is not None and settings.bitrate_kbps is not None:
        raise UsageError("give either --crf or --bitrate, not both")
    if spec.lossless:
        if settings.crf is not None or settings.bitrate_kbps is not None:
            log.warning("%s is lossless; --crf/--bitrate are ignored", codec)
    elif settings.bitrate_kbps is not None:
        if settings.bitrate_kbps <= 0:
            raise UsageError(f"--bitrate must be > 0 kbps, got {settings.bitrate_kbps}")
        bit_rate = int(settings.bitrate_kbps * 1000)
    else:
        crf = settings.crf if settings.crf is not None else spec.default_crf
        assert spec.crf_range is not None and crf is not None
        lo, hi = spec.crf_range
        if not lo <= crf <= hi:
            raise UsageError(f"--crf {crf:g} is out of range for {codec} [{lo:g}, {hi:g}]")
        opts["crf"] = f"{crf:g}"
        if codec == "libvpx-vp9":
            opts["b"] = "0"  # constant-quality mode
        elif codec == "libvpx":
            bit_rate = 20_000_000  # VP8's CRF is "constrained quality": it needs a ceiling
    if spec.preset_option:
        preset = settings.preset or spec.default_preset
        if preset is not None:
            opts[spec.preset_option] = str(preset)
    elif settings.preset:
        log.warning("%s has no presets; --preset is ignored", codec)
    opts.update(settings.options)
    return ResolvedEncode(codec=codec, pix_fmt=pix_fmt, options=opts, bit_rate=bit_rate)
