"""Still images: atomic PNG writing and single decoded frames, for previews, reports and grids."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab.core.errors import MediaError, VidlabError
from vidlab.core.fsutil import write_atomic
from vidlab.io.reader import VideoReader


def frame_at(path: Path, t: Fraction) -> np.ndarray:
    """The first decoded frame at or after ``t`` seconds."""
    for frame in VideoReader(path, start=t):
        return frame.image
    raise MediaError(f"no frame at {float(t):.3f}s", path)


def write_png(path: str | os.PathLike[str], image: np.ndarray, *, compression: int | None = None) -> None:
    """Save a gray, RGB or RGBA ``uint8`` image as PNG atomically (temporary file, then
    rename); ``compression`` is zlib's level 0-9 (OpenCV's default when None; 1 is fast)."""
    if image.ndim == 2:
        bgr = image
    else:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    params = [] if compression is None else [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]
    ok, png = cv2.imencode(".png", bgr, params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise MediaError("cannot encode the PNG", path)
    try:
        write_atomic(path, png.tobytes())
    except OSError as exc:
        raise MediaError(f"cannot write the PNG ({exc.strerror or exc})", path) from None


def read_image(
    path: str | os.PathLike[str],
    what: str = "image",
    error: type[VidlabError] = MediaError,
    param: str | None = None,
) -> np.ndarray:
    """A still image as RGB ``uint8`` (Pillow: PNG, JPEG, WebP, TIFF, ...). A missing,
    unreadable or non-image file is one ``error`` line naming it and ``what`` it was for."""
    p = Path(path).expanduser()
    if not p.exists():
        raise error(f"{what} not found", p, param=param)
    if not p.is_file():
        raise error(f"{what} is not a file", p, param=param)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            rgb = np.asarray(im.convert("RGB"))
    except PermissionError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", p, param=param) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # Pillow's "truncated", "broken"
        raise error(f"not an image, or a corrupt one (the {what})", p, param=param) from None
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 1:
        raise error(f"not an image, or a corrupt one (the {what})", p, param=param)
    return np.ascontiguousarray(rgb)
