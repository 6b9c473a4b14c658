"""Color metadata names (FFmpeg's spelling) and the YUV<->RGB conversion choices vidlab makes.

Frames inside vidlab are full-range RGB. Converting from and to the stream's Y'CbCr uses the
stream's own matrix and range; an untagged stream is treated as BT.709 when HD (height >= 720)
and BT.601 otherwise, which is what players do. Tags are carried through unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import av
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

# AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace, AVColorRange -> FFmpeg names.
PRIMARIES = {
    1: "bt709",
    2: "unknown",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
TRANSFERS = {
    1: "bt709",
    2: "unknown",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
MATRICES = {
    0: "gbr",
    1: "bt709",
    2: "unknown",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    14: "ictcp",
}
RANGES = {0: "unknown", 1: "tv", 2: "pc"}

UNSPECIFIED = 2

# AVColorSpace -> the swscale coefficient set that implements it.
_SWS_MATRIX = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}


@dataclass(frozen=True, slots=True)
class ColorInfo:
    """The four color tags of a video stream, as FFmpeg's integer enums (2 = unspecified)."""

    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    matrix: int = UNSPECIFIED
    range: int = 0

    def names(self) -> dict[str, str]:
        return {
            "primaries": PRIMARIES.get(self.primaries, str(self.primaries)),
            "transfer": TRANSFERS.get(self.transfer, str(self.transfer)),
            "matrix": MATRICES.get(self.matrix, str(self.matrix)),
            "range": RANGES.get(self.range, str(self.range)),
        }


def is_rgb_format(pix_fmt: str) -> bool:
    """True for packed or planar RGB pixel formats, which need no Y'CbCr matrix."""
    return pix_fmt.startswith(("gbr", "rgb", "bgr", "argb", "abgr", "0rgb", "0bgr", "x2rgb", "x2bgr"))


def is_full_range(color: ColorInfo, pix_fmt: str) -> bool:
    """Full (pc/JPEG) range if tagged so or if the pixel format is one of the deprecated yuvj ones."""
    return color.range == 2 or pix_fmt.startswith("yuvj")


def sws_matrix(color: ColorInfo, height: int) -> Colorspace:
    """The conversion matrix: the stream's tag, else BT.709 for HD and BT.601 for SD."""
    if color.matrix in _SWS_MATRIX:
        return _SWS_MATRIX[color.matrix]
    return Colorspace.ITU709 if height >= 720 else Colorspace.ITU601


# Luma weights (Kr, Kb) of each conversion matrix.
_KR_KB = {
    Colorspace.ITU709: (0.2126, 0.0722),
    Colorspace.FCC: (0.30, 0.11),
    Colorspace.ITU601: (0.299, 0.114),
    Colorspace.SMPTE240M: (0.212, 0.087),
    Colorspace.BT2020: (0.2627, 0.0593),
}


def luma_weights(color: ColorInfo, height: int) -> tuple[float, float, float]:
    """(Kr, Kg, Kb) of the matrix :func:`sws_matrix` picks: Y' = Kr R + Kg G + Kb B."""
    kr, kb = _KR_KB[sws_matrix(color, height)]
    return kr, 1.0 - kr - kb, kb


def sws_range(color: ColorInfo, pix_fmt: str) -> ColorRange:
    return ColorRange.JPEG if is_full_range(color, pix_fmt) else ColorRange.MPEG


def bit_depth(pix_fmt: str) -> int:
    """Bits per sample of the deepest component (8 for yuv420p, 10 for yuv420p10le)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


class ThreadReformatters:
    """One swscale context per thread, reused frame after frame (creating one is costly, and a
    context must not be shared between the runner's threads)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> VideoReformatter:
        ref = getattr(self._local, "reformatter", None)
        if ref is None:
            ref = self._local.reformatter = VideoReformatter()
        return ref
