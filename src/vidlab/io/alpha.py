"""Alpha in the I/O layer: which pixel formats and streams carry it, the decoder that returns
VP9's alpha, reading the alpha plane off a decoded frame as ``uint8``, and which encoders and
containers can store it.

Conventions:

* A stream has alpha when its decoded pixel format has an alpha component (yuva*, gbrap*,
  bgra, rgba, argb, abgr, ya8, ya16, rgba64...) or when it is VP9 tagged ``alpha_mode=1``
  (WebM/Matroska keep VP9's alpha as a second picture in the block's side data). FFmpeg's own
  ``vp9`` decoder ignores that side data, so such streams are decoded with ``libvpx-vp9``,
  which returns ``yuva420p``. Palette formats (pal8) count as opaque.
* The alpha plane a frame carries is ``uint8``: deeper alpha (10, 12, 16 bits) is scaled with
  rounding, ``a8 = round(v * 255 / (2**bits - 1))`` (half up), so 8-bit alpha stored in any
  depth comes back exactly.

This module imports NumPy only when a plane is read, so probing stays light.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from vidlab.core.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

#: The decoder that returns VP9's alpha (FFmpeg's native ``vp9`` drops it).
VP9_ALPHA_DECODER = "libvpx-vp9"

#: Encoders that store alpha, the containers (by extension) each may use for it, and the
#: pixel formats vidlab encodes alpha in (``None``: every alpha format the encoder takes).
ALPHA_ENCODERS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "ffv1": ((".mkv", ".nut"), None),
    "prores_ks": ((".mov", ".mkv"), ("yuva444p10le",)),
    "libvpx-vp9": ((".webm", ".mkv"), ("yuva420p",)),
    "png": ((".png",), ("rgba",)),
}


def alpha_encoder_for(path: str | os.PathLike[str]) -> str | None:
    """The encoder an alpha output at ``path`` gets by default: the first of
    :data:`ALPHA_ENCODERS` whose containers include its extension (None: no container here
    holds alpha)."""
    suffix = Path(path).suffix.lower()
    return next((codec for codec, (containers, _) in ALPHA_ENCODERS.items() if suffix in containers), None)


# Where each encoder's alpha can go, as refusals name it.
_WAYS = {"ffv1": "ffv1 (.mkv)", "prores_ks": "prores (.mov)", "libvpx-vp9": "vp9 (.webm)"}


def alpha_hint(exclude: str = "") -> str:
    """The ways to keep alpha, as one clause for a refusal (leaving out ``exclude``)."""
    ways = [w for c, w in _WAYS.items() if c != exclude]
    return f"use codec {', '.join(ways)} or a .png sequence"


# Packed formats: (index of the alpha sample within a pixel, samples per pixel).
_PACKED_ALPHA = {
    "bgra": (3, 4),
    "rgba": (3, 4),
    "argb": (0, 4),
    "abgr": (0, 4),
    "ya8": (1, 2),
    "ya16le": (1, 2),
    "ya16be": (1, 2),
    "rgba64le": (3, 4),
    "rgba64be": (3, 4),
    "bgra64le": (3, 4),
    "bgra64be": (3, 4),
}


@functools.cache
def format_has_alpha(pix_fmt: str) -> bool:
    """True when ``pix_fmt`` has an alpha component (pal8 counts as opaque)."""
    try:
        return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except Exception:  # an unknown name
        return False


def stream_alpha_tagged(stream: Any) -> bool:
    """A VP9 stream whose container says it carries alpha in side data (``alpha_mode=1``)."""
    try:
        codec = stream.codec_context.name
    except AttributeError:
        return False
    if codec not in ("vp9", VP9_ALPHA_DECODER):
        return False
    tags = {str(k).lower(): str(v) for k, v in stream.metadata.items()}
    return tags.get("alpha_mode", "0").strip() == "1"


def decoder_for(stream: Any) -> av.codec.context.CodecContext | None:
    """A separate decoder for ``stream`` when its default one would drop the alpha (VP9 with
    alpha: ``libvpx-vp9``); None when the stream's own decoder is right (or libvpx is absent)."""
    if not stream_alpha_tagged(stream):
        return None
    try:
        ctx = av.codec.CodecContext.create(VP9_ALPHA_DECODER, "r")
    except Exception:  # pragma: no cover - every PyAV wheel has libvpx
        return None
    extradata = stream.codec_context.extradata
    if extradata:
        ctx.extradata = extradata
    return ctx


def decode_frames(
    container: av.container.InputContainer, stream: Any, threads: int = 0
) -> Iterator[av.VideoFrame]:
    """Decode ``stream`` (already positioned) with the decoder that keeps its alpha: the
    stream's own, or ``libvpx-vp9`` fed the demuxed packets for VP9 with alpha."""
    ctx = decoder_for(stream)
    if ctx is None:
        yield from container.decode(stream)
        return
    ctx.thread_count = threads
    for packet in container.demux(stream):
        yield from ctx.decode(packet)  # the empty packet at the end flushes it


def _alpha_samples(frame: av.VideoFrame) -> tuple[np.ndarray, int] | None:
    """A writable view of the frame's alpha samples (``H x W``) and their bit depth, or None
    when the format has no alpha or packs it in a layout this module does not know."""
    import numpy as np

    name = frame.format.name
    comp = next((c for c in frame.format.components if c.is_alpha), None)
    if comp is None:
        return None
    bits = comp.bits
    dtype = np.dtype(">u2" if name.endswith("be") else "<u2") if bits > 8 else np.dtype(np.uint8)
    w, h = frame.width, frame.height
    others = {c.plane for c in frame.format.components if not c.is_alpha}
    if comp.plane not in others:  # a plane of its own (yuva*, gbrap*)
        plane = frame.planes[comp.plane]
        rows = np.frombuffer(plane, dtype).reshape(h, plane.line_size // dtype.itemsize)
        return rows[:, :w], bits
    if name in _PACKED_ALPHA:
        index, step = _PACKED_ALPHA[name]
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype).reshape(h, plane.line_size // dtype.itemsize)
        return rows[:, index : w * step : step], bits
    return None


def alpha_u8(frame: av.VideoFrame) -> np.ndarray | None:
    """The alpha plane of a decoded frame as a new C-contiguous ``H x W`` ``uint8`` array, or
    None when its format has no alpha. Deeper alpha is scaled with rounding (see the module)."""
    if not format_has_alpha(frame.format.name):
        return None
    import numpy as np

    found = _alpha_samples(frame)
    if found is None:  # another packed layout: let swscale move the samples into a known one
        wide = max(c.bits for c in frame.format.components) > 8
        return alpha_u8(frame.reformat(format="rgba64le" if wide else "rgba"))
    values, bits = found
    if bits == 8:
        return np.ascontiguousarray(values)
    top = (1 << bits) - 1
    v = values.astype(np.uint32)
    return ((v * 255 + top // 2) // top).astype(np.uint8)


def set_alpha(frame: av.VideoFrame, alpha: np.ndarray) -> bool:
    """Write an ``H x W`` ``uint8`` alpha plane into ``frame`` (deeper alpha scaled with
    rounding, ``v = round(a8 * (2**bits - 1) / 255)``, which :func:`alpha_u8` inverts exactly).
    swscale's own RGBA -> Y'CbCrA path is off by one in half the alpha values, so vidlab
    writes alpha itself. False when the format has no alpha or an unknown packed layout."""
    import numpy as np

    found = _alpha_samples(frame)
    if found is None:
        return False
    values, bits = found
    if bits == 8:
        values[...] = alpha
    else:
        top = (1 << bits) - 1
        values[...] = ((alpha.astype(np.uint32) * top + 127) // 255).astype(values.dtype)
    return True


def alpha_formats(codec: str, supported: list[str]) -> list[str]:
    """The pixel formats ``codec`` encodes alpha in (empty when it cannot store alpha)."""
    if codec not in ALPHA_ENCODERS:
        return []
    allowed = ALPHA_ENCODERS[codec][1]
    return [f for f in supported if format_has_alpha(f) and (allowed is None or f in allowed)]


def alpha_twins(pix_fmt: str) -> list[str]:
    """The formats that are ``pix_fmt`` plus an alpha plane, best first (yuv420p -> yuva420p,
    8-bit RGB -> gbrap/bgra/rgba, gbrp10le -> gbrap10le, gray -> ya8)."""
    if format_has_alpha(pix_fmt):
        return [pix_fmt]
    if pix_fmt in ("gbrp", "bgr0", "rgb24", "bgr24", "rgb0", "0rgb", "0bgr"):
        return ["gbrap", "bgra", "rgba"]
    if pix_fmt.startswith("gbrp"):
        return ["gbrap" + pix_fmt[4:]]
    if pix_fmt.startswith("yuvj"):
        return ["yuva" + pix_fmt[4:]]
    if pix_fmt.startswith("yuv"):
        return ["yuva" + pix_fmt[3:]]
    if pix_fmt == "gray":
        return ["ya8"]
    if pix_fmt.startswith("gray16"):
        return ["ya16" + pix_fmt[6:]]
    return []


def opaque_twin(pix_fmt: str) -> str:
    """``pix_fmt`` without its alpha plane (yuva420p -> yuv420p, bgra -> bgr0, gbrap -> gbrp,
    ya8 -> gray); an opaque format is returned as it is."""
    if not format_has_alpha(pix_fmt):
        return pix_fmt
    if pix_fmt.startswith("yuva"):
        return "yuv" + pix_fmt[4:]
    if pix_fmt.startswith("gbrap"):
        return "gbrp" + pix_fmt[5:]
    named = {"ya8": "gray", "ya16le": "gray16le", "ya16be": "gray16be", "bgra": "bgr0", "rgba": "rgb0"}
    named |= {"argb": "0rgb", "abgr": "0bgr", "rgba64le": "rgb48le", "rgba64be": "rgb48be"}
    return named.get(pix_fmt, "rgb24")


def check_alpha_output(codec: str, path: str | os.PathLike[str] | None = None) -> None:
    """Refuse, in one line naming the output, an encoder or a container that cannot store
    alpha (checked before anything is decoded or created)."""
    if codec not in ALPHA_ENCODERS:
        raise UsageError(
            f"{codec} cannot store alpha; {alpha_hint()} (or pix_fmt yuv420p to drop the alpha)",
            path,
            param=("codec", "pix_fmt"),
        )
    if path is None:
        return
    suffix = Path(path).suffix.lower()
    containers = ALPHA_ENCODERS[codec][0]
    if suffix not in containers:
        kind = f"a {suffix} file" if suffix else "a file without extension"
        raise UsageError(
            f"{kind} cannot store {codec} alpha (write it to {' or '.join(containers)}), "
            f"or {alpha_hint(codec)}",
            path,
            param="codec",
        )
