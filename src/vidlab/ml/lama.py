"""A LaMa-layout ONNX inpainter for pixels a clean plate never saw: the common LaMa export
takes ``image`` (1x3xHxW RGB 0..1) and ``mask`` (1x1xHxW, 1 = hole) and returns the filled
image (1x3xHxW, in 0..1 or 0..255). A fixed-size export (usually 512x512) is fed a resized
picture and its answer resized back; a dynamic one is fed the picture padded to a multiple of
8. Only the holes take the model's pixels; the rest is returned untouched."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vidlab.core.errors import ModelError, UsageError
from vidlab.ml.session import Session, TensorSpec, cached_session

__all__ = ["OUTPUT_RANGES", "LamaInpainter"]

#: ``auto``: 0..255 when the output's maximum exceeds 1.5, else 0..1.
OUTPUT_RANGES = ("auto", "unit", "byte")


class LamaInpainter:
    """``LamaInpainter(path).fill(rgb, mask) -> rgb``: one cached session per process; the
    layout is checked when it opens (one :class:`ModelError` line naming the file)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        output_range: str = "auto",
        device: str = "auto",
        threads: int = 0,
    ) -> None:
        if output_range not in OUTPUT_RANGES:
            raise UsageError(
                f"output_range must be one of {', '.join(OUTPUT_RANGES)}, got {output_range!r}",
                param="output_range",
            )
        self.path = Path(path)
        self.output_range = output_range
        self.session: Session = cached_session(self.path, device, threads)
        self.image, self.mask = self._layout()

    def _layout(self) -> tuple[TensorSpec, TensorSpec]:
        sess = self.session
        if len(sess.inputs) != 2 or len(sess.outputs) < 1:
            raise ModelError(
                f"not the LaMa layout (image, mask -> image): it has {len(sess.inputs)} inputs and "
                f"{len(sess.outputs)} outputs",
                self.path,
            )
        for spec in (*sess.inputs, sess.outputs[0]):
            if len(spec.shape) != 4:
                raise ModelError(f"LaMa tensor {spec.name} has shape {list(spec.shape)}, not 4-D", self.path)
        by_name = {i.name: i for i in sess.inputs}
        if "image" in by_name and "mask" in by_name:
            image, mask = by_name["image"], by_name["mask"]
        else:  # other exports name them differently: tell them apart by their channels
            ch = {i.shape[1]: i for i in sess.inputs}
            if 3 not in ch or 1 not in ch:
                raise ModelError(
                    "not the LaMa layout: need a 3-channel image and a 1-channel mask input, got "
                    + ", ".join(f"{i.name} {list(i.shape)}" for i in sess.inputs),
                    self.path,
                )
            image, mask = ch[3], ch[1]
        if image.shape[1] not in (3, None) or mask.shape[1] not in (1, None):
            raise ModelError(
                f"LaMa inputs are image {list(image.shape)} and mask {list(mask.shape)}, "
                "not 1x3xHxW and 1x1xHxW",
                self.path,
            )
        out = sess.outputs[0].shape
        if out[1] not in (3, None):
            raise ModelError(f"LaMa output has shape {list(out)}, not 1x3xHxW", self.path)
        return image, mask

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """The (height, width) the model was exported at, or None when it is dynamic."""
        h, w = self.image.shape[2:]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def fill(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``rgb`` (H x W x 3 ``uint8``) with the pixels where ``mask`` is true (or > 0.5)
        replaced by the model's; the others are kept exactly."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise UsageError(f"rgb must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}", param="rgb")
        hole = np.asarray(mask)
        hole = hole > (0.5 if hole.dtype.kind == "f" else 0)
        h, w = rgb.shape[:2]
        if hole.shape != (h, w):
            raise UsageError(f"mask is {hole.shape[::-1]}, the image is {w}x{h}", param="mask")
        if not hole.any():
            return rgb.copy()
        x = rgb.astype(np.float32) * np.float32(1 / 255)
        m = hole.astype(np.float32)
        fixed = self.fixed_size
        if fixed is not None:
            fh, fw = fixed
            x = cv2.resize(x, (fw, fh), interpolation=cv2.INTER_AREA)
            m = (cv2.resize(m, (fw, fh), interpolation=cv2.INTER_LINEAR) > 0).astype(np.float32)
        else:
            ph, pw = -h % 8, -w % 8
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 8 else "edge")
            m = np.pad(m, ((0, ph), (0, pw)), mode="edge")
        feed = {
            self.image.name: np.ascontiguousarray(x.transpose(2, 0, 1)[None]),
            self.mask.name: np.ascontiguousarray(m[None, None]),
        }
        y = self.session.run_feed(feed)[0]
        if y.ndim != 4 or y.shape[:2] != (1, 3):
            raise ModelError(f"LaMa output has shape {list(y.shape)}, not 1x3xHxW", self.path)
        out = y[0].transpose(1, 2, 0)
        byte = self.output_range == "byte" or (self.output_range == "auto" and float(out.max()) > 1.5)
        out = out if byte else out * 255
        if fixed is None:
            out = out[:h, :w]
        if out.shape[:2] != (h, w):
            out = cv2.resize(np.ascontiguousarray(out), (w, h), interpolation=cv2.INTER_CUBIC)
        filled = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        result = rgb.copy()
        result[hole] = filled[hole]
        return result
