"""Still images: atomic PNG writing and single decoded frames, for previews, reports and grids."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab.core.errors import MediaError
from vidlab.core.fsutil import write_atomic
from vidlab.io.reader import VideoReader


def frame_at(path: Path, t: Fraction) -> np.ndarray:
    """The first decoded frame at or after ``t`` seconds."""
    for frame in VideoReader(path, start=t):
        return frame.image
    raise MediaError(f"no frame at {float(t):.3f}s", path)


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Save an RGB (or RGBA) image as PNG atomically (temporary file, then rename)."""
    code = cv2.COLOR_RGBA2BGRA if image.ndim == 3 and image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, code))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise MediaError("cannot encode the PNG", path)
    try:
        write_atomic(path, png.tobytes())
    except OSError as exc:
        raise MediaError(f"cannot write the PNG ({exc.strerror or exc})", path) from None
