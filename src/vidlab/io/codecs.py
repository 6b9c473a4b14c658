"""Encoder choices: codec names and aliases, rate control (CRF or bitrate), presets and the
pixel format an output gets when the user does not name one, with or without alpha."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import av

from vidlab.core.errors import UsageError
from vidlab.io.alpha import alpha_formats, alpha_twins, check_alpha_output, format_has_alpha, opaque_twin
from vidlab.io.colors import bit_depth, is_rgb_format

log = logging.getLogger(__name__)

# SVT-AV1 prints a banner and its configuration on stderr at every encoder start unless told
# otherwise (1: errors only); a user's own SVT_LOG setting wins.
os.environ.setdefault("SVT_LOG", "1")


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """How vidlab drives one encoder: its CRF scale, default quality, preset option and quirks.

    ``quality`` says what ``crf`` sets: the encoder's ``crf`` option, or (``qscale``) a fixed
    quantiser through FFmpeg's ``-q:v``; a ``default_crf`` of None leaves the encoder's own rate
    control (ProRes: the profile's) in charge. ``alpha_extra`` are options for an alpha output."""

    name: str
    crf_range: tuple[float, float] | None
    default_crf: float | None
    preset_option: str | None
    default_preset: str | None
    extra: dict[str, str] = field(default_factory=dict)
    lossless: bool = False
    quality: str = "crf"
    alpha_extra: dict[str, str] = field(default_factory=dict)


CODECS: dict[str, CodecSpec] = {
    "libx264": CodecSpec("libx264", (0, 51), 20, "preset", "medium"),
    "libx265": CodecSpec("libx265", (0, 51), 24, "preset", "medium", {"x265-params": "log-level=error"}),
    "libvpx-vp9": CodecSpec(
        "libvpx-vp9",
        (0, 63),
        32,
        "cpu-used",
        "4",
        {"row-mt": "1", "deadline": "good"},
        alpha_extra={"auto-alt-ref": "0"},  # libvpx cannot code alt-ref frames with alpha
    ),
    "libvpx": CodecSpec("libvpx", (4, 63), 10, "cpu-used", "4", {"deadline": "good"}),
    "libsvtav1": CodecSpec("libsvtav1", (0, 63), 35, "preset", "8"),
    "ffv1": CodecSpec(
        "ffv1", None, None, None, None, {"level": "3", "slicecrc": "1", "g": "1"}, lossless=True
    ),
    "h264_nvenc": CodecSpec("h264_nvenc", (0, 51), 23, "preset", "p4"),
    # ProRes: the profile (proxy, lt, standard, hq, 4444, 4444xq; auto by pixel format) sets the
    # quality; crf, when given, is a fixed quantiser 1 (best) .. 64. Alpha is 4444 with 16 bits.
    "prores_ks": CodecSpec(
        "prores_ks",
        (1, 64),
        None,
        "profile",
        None,
        {"vendor": "apl0"},
        quality="qscale",
        alpha_extra={"profile": "4444", "alpha_bits": "16"},
    ),
    # PNG (image sequences): lossless, RGB or RGBA.
    "png": CodecSpec("png", None, None, None, None, lossless=True),
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
    "prores": "prores_ks",
}

# The ProRes profiles with an alpha channel.
_PRORES_ALPHA = ("4444", "4444xq", "4", "5")

# FFmpeg's FF_QP2LAMBDA: -q:v N sets global_quality N * 118.
_QP2LAMBDA = 118

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
    """The encoder, pixel format and options an output gets; ``alpha``: it stores alpha."""

    codec: str
    pix_fmt: str
    options: dict[str, str]
    bit_rate: int | None
    alpha: bool = False


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


def choose_pix_fmt(
    codec: str,
    requested: str | None,
    source_pix_fmt: str,
    alpha: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> str:
    """The requested format if the encoder takes it (8-bit RGB spelled either way), else the
    source's own format, else the closest one by bit depth and chroma subsampling. With
    ``alpha`` (and nothing requested) an alpha format: the source's own, else its twin with an
    alpha plane (yuv420p -> yuva420p, 8-bit RGB -> bgra), else the closest the encoder stores
    alpha in; without it, never an alpha format unless one is requested. A source format the
    encoder cannot take gets the nearest one it can (see :func:`_closest_pix_fmt`), with one
    warning (naming ``path``) when depth or chroma is lost, never a silent 8-bit."""
    supported = supported_pix_fmts(codec)
    if alpha and not requested:
        return _choose_alpha_pix_fmt(codec, source_pix_fmt, supported)
    if not requested:
        source_pix_fmt = opaque_twin(source_pix_fmt)  # an opaque output of an alpha source
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
                    log.info("%s stores 8-bit RGB as %s; using it for pix_fmt %s", codec, alt, requested)
                    return alt
        raise UsageError(
            f"{codec} cannot encode pixel format '{requested}' (it takes: {', '.join(supported)})"
        )
    if source_pix_fmt in supported:
        return source_pix_fmt
    chosen = _closest_pix_fmt(source_pix_fmt, supported)
    depth, got = bit_depth(source_pix_fmt), bit_depth(chosen)
    if got < depth or _chroma(chosen) != _chroma(source_pix_fmt):
        key = (codec, source_pix_fmt, chosen)
        if key not in _WARNED:  # once per process: a chunked run resolves once per chunk
            _WARNED.add(key)
            same_chroma = _chroma(chosen) == _chroma(source_pix_fmt)
            what = f"{depth}-bit video" if same_chroma else source_pix_fmt
            where = f"{path}: " if path else ""
            log.warning("%s%s cannot store %s; writing %s", where, codec, what, chosen)
    return chosen


# (codec, source format, chosen format) already warned about in this process.
_WARNED: set[tuple[str, str, str]] = set()


def _closest_pix_fmt(source_pix_fmt: str, supported: list[str]) -> str:
    """The encoder's Y'CbCr format nearest the source's: the same chroma subsampling at the
    shallowest depth that holds every bit (9-bit into libx264: yuv420p10le), else the deepest
    one there is (12-bit into libx264: yuv420p10le, never silently 8-bit); else 4:2:0 the same
    way; else yuv420p."""
    depth, chroma = bit_depth(source_pix_fmt), _chroma(source_pix_fmt)
    yuv = [f for f in supported if not is_rgb_format(f) and not f.startswith(("yuvj", "nv", "p0", "gray"))]
    yuv = [f for f in yuv if not format_has_alpha(f) and not f.endswith("be")]
    for wanted in (chroma, (1, 1)):
        fits = [f for f in yuv if _chroma(f) == wanted]
        deep_enough = [f for f in fits if bit_depth(f) >= depth]
        if deep_enough:
            return min(deep_enough, key=bit_depth)
        if fits:
            return max(fits, key=bit_depth)
    return "yuv420p" if "yuv420p" in supported else supported[0]


def _choose_alpha_pix_fmt(codec: str, source_pix_fmt: str, supported: list[str]) -> str:
    allowed = alpha_formats(codec, supported)
    if not allowed:
        check_alpha_output(codec)  # raises: this encoder cannot store alpha
    for f in alpha_twins(source_pix_fmt):
        if f in allowed:
            return f
    depth, rgb = bit_depth(source_pix_fmt), is_rgb_format(source_pix_fmt)
    for same_kind in (True, False):
        for f in allowed:
            if bit_depth(f) == depth and (is_rgb_format(f) == rgb or not same_kind):
                return f
    return allowed[0]


def check_dimensions(
    pix_fmt: str, width: int, height: int, path: str | os.PathLike[str] | None = None
) -> None:
    """4:2:0 and 4:2:2 cannot hold odd sizes; refuse with the ways out rather than crop silently
    (naming the output ``path`` when known)."""
    sub_w, sub_h = _chroma(pix_fmt)
    if width % (1 << sub_w) or height % (1 << sub_h):
        raise UsageError(
            f"frame size {width}x{height} is odd, and {pix_fmt} (chroma subsampled) cannot store it; "
            f"use pix_fmt {'yuva444p' if format_has_alpha(pix_fmt) else 'yuv444p'}, or add "
            "'resize width=... height=...' with even values to the recipe",
            path,
            param="pix_fmt",
        )


# Each encoder's known presets (what its preset option takes); anything else is refused in one
# line before the encoder sees it (x264 would otherwise print its own error and fail opening).
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                 "veryslow", "placebo")  # fmt: skip
PRESETS: dict[str, tuple[str, ...]] = {
    "libx264": _X26X_PRESETS,
    "libx265": _X26X_PRESETS,
    "libsvtav1": tuple(str(n) for n in range(14)),  # 0 (slowest) .. 13 (fastest)
    "libvpx-vp9": tuple(str(n) for n in range(-8, 9)),  # cpu-used
    "libvpx": tuple(str(n) for n in range(-8, 9)),
    "h264_nvenc": tuple(f"p{n}" for n in range(1, 8)),  # p1 (fastest) .. p7 (best)
    "prores_ks": ("auto", "proxy", "lt", "standard", "hq", "4444", "4444xq", "0", "1", "2", "3", "4", "5"),
}


def check_preset(codec: str, preset: str | None) -> str | None:
    """``preset`` normalized for ``codec`` (x264's names are case-insensitive, numbers lose a
    leading ``+``), or a one-line :class:`UsageError` naming the codec's known presets."""
    if preset is None:
        return None
    known = PRESETS.get(codec)
    if not known:
        return str(preset)
    text = str(preset).strip().lower().removeprefix("+")
    if text not in known:
        shown = f"{known[0]} .. {known[-1]}" if known[0].lstrip("-").isdigit() else ", ".join(known)
        raise UsageError(f"preset '{preset}' is not one of {codec}'s ({shown})", param="preset")
    return text


def resolve(
    settings: EncodeSettings,
    source_pix_fmt: str,
    width: int,
    height: int,
    *,
    alpha: bool | None = None,
    path: str | os.PathLike[str] | None = None,
) -> ResolvedEncode:
    """Turn user settings into an encoder name, pixel format and FFmpeg options, validating all.

    ``alpha`` says the output has alpha (by default: when ``source_pix_fmt`` has). It is kept
    unless ``settings.pix_fmt`` names a format without alpha (asking for one drops it); an
    encoder or a container (``path``'s extension) that cannot store it is refused here, before
    anything is decoded. A requested format with alpha makes an alpha output."""
    codec = canonical_codec(settings.codec)
    spec = CODECS[codec]
    want_alpha = format_has_alpha(source_pix_fmt) if alpha is None else alpha
    if settings.pix_fmt:
        requested_alpha = format_has_alpha(settings.pix_fmt)
        if want_alpha and not requested_alpha:
            log.info("pixel format %s has no alpha: the output is opaque", settings.pix_fmt)
        want_alpha = requested_alpha
    if want_alpha:
        check_alpha_output(codec, path)
    pix_fmt = choose_pix_fmt(codec, settings.pix_fmt, source_pix_fmt, alpha=want_alpha, path=path)
    check_dimensions(pix_fmt, width, height, path)
    opts: dict[str, str] = dict(spec.extra)
    if want_alpha:
        opts.update(spec.alpha_extra)
    bit_rate: int | None = None
    if settings.crf is not None and settings.bitrate_kbps is not None:
        raise UsageError("give either crf or bitrate, not both", param=("crf", "bitrate"))
    if spec.lossless:
        if settings.crf is not None or settings.bitrate_kbps is not None:
            log.warning("%s is lossless; crf and bitrate are ignored", codec)
    elif settings.bitrate_kbps is not None:
        if settings.bitrate_kbps <= 0:
            raise UsageError(f"bitrate must be > 0 kbps, got {settings.bitrate_kbps}", param="bitrate")
        bit_rate = int(settings.bitrate_kbps * 1000)
    else:
        crf = settings.crf if settings.crf is not None else spec.default_crf
        assert spec.crf_range is not None
        lo, hi = spec.crf_range
        if crf is not None and not lo <= crf <= hi:
            raise UsageError(f"crf {crf:g} is out of range for {codec} [{lo:g}, {hi:g}]", param="crf")
        if crf is None:
            pass  # the encoder's own rate control
        elif spec.quality == "qscale":
            opts["flags"] = "+qscale"
            opts["global_quality"] = str(round(crf * _QP2LAMBDA))
        else:
            opts["crf"] = f"{crf:g}"
        if codec == "libvpx-vp9":
            opts["b"] = "0"  # constant-quality mode
        elif codec == "libvpx":
            bit_rate = 20_000_000  # VP8's CRF is "constrained quality": it needs a ceiling
    if spec.preset_option:
        preset = check_preset(codec, settings.preset) or spec.default_preset
        if want_alpha and preset is not None and codec == "prores_ks" and str(preset) not in _PRORES_ALPHA:
            raise UsageError(
                f"ProRes profile '{preset}' cannot store alpha (use 4444 or 4444xq)", path, param="preset"
            )
        if preset is not None:
            opts[spec.preset_option] = str(preset)
    elif settings.preset:
        log.warning("%s has no presets; preset is ignored", codec)
    opts.update(settings.options)
    return ResolvedEncode(codec=codec, pix_fmt=pix_fmt, options=opts, bit_rate=bit_rate, alpha=want_alpha)
