"""The unit that flows through vidlab: an RGB image with an exact timestamp."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import av


class Frame:
    """``image`` is ``H x W x 3`` ``uint8`` RGB, C-contiguous. ``pts`` is the presentation time in
    seconds as an exact Fraction; ``index`` counts frames from the start of the source.

    ``source`` is the decoded input picture this frame came from (the same array as ``image``
    when the reader makes it). Ops keep it untouched, so an op late in a recipe can analyse the
    original: ``flow_stabilize`` measures motion on the input, not on a stylized image.

    ``native`` is the decoded frame itself (its own pixel format) while the pixels are still
    exactly the decoder's: the writer then encodes it as it is, with no RGB round trip. A frame
    made from ``native`` alone converts it to RGB (with ``to_rgb``) the first time ``image`` is
    read, so an op that only retimes frames, or a recipe of ``identity``, never converts.

    ``planes`` are extra pictures that travel with the frame by name, each ``H x W``: ``alpha``
    first (``uint8``, or ``float32`` in 0..1), later masks. An op that does not know a plane
    passes it through; an op that changes geometry changes its planes the same way.
    """

    __slots__ = ("_image", "_source", "_to_rgb", "index", "native", "planes", "pts")

    def __init__(
        self,
        image: np.ndarray | None = None,
        pts: Fraction = Fraction(0),
        index: int = 0,
        alpha: np.ndarray | None = None,
        source: np.ndarray | None = None,
        *,
        native: av.VideoFrame | None = None,
        to_rgb: Callable[[av.VideoFrame], np.ndarray] | None = None,
        planes: dict[str, np.ndarray] | None = None,
    ) -> None:
        if image is None and (native is None or to_rgb is None):
            raise ValueError("a Frame needs an image, or a native frame and its RGB conversion")
        self._image = image
        self.pts = pts
        self.index = index
        self.planes: dict[str, np.ndarray] = dict(planes) if planes else {}
        if alpha is not None:
            self.planes["alpha"] = alpha
        self._source = source
        self.native = native
        self._to_rgb = to_rgb

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            assert self._to_rgb is not None and self.native is not None
            self._image = self._to_rgb(self.native)
        return self._image

    @property
    def source(self) -> np.ndarray:
        return self.image if self._source is None else self._source

    @property
    def alpha(self) -> np.ndarray | None:
        """The alpha plane (``H x W``), or None for an opaque frame."""
        return self.planes.get("alpha")

    def alpha_u8(self) -> np.ndarray | None:
        """The alpha plane as ``uint8`` 0..255 (a float plane is scaled and rounded)."""
        a = self.alpha
        if a is None or a.dtype == np.uint8:
            return a
        return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def with_image(self, image: np.ndarray, planes: dict[str, np.ndarray] | None = None) -> Frame:
        """The same instant with new pixels. The planes ride along unless ``planes`` replaces
        them; a plane whose size no longer matches the picture is dropped (an op that changes
        geometry passes its resized planes)."""
        kept = self.planes if planes is None else planes
        h, w = image.shape[:2]
        kept = {k: v for k, v in kept.items() if v.shape[:2] == (h, w)}
        return Frame(image, self.pts, self.index, None, self.source, planes=kept)

    def replace(self, **changes: Any) -> Frame:
        """A copy with some of ``pts``, ``index``, ``planes`` and ``alpha`` changed; the pixels
        (and the native frame, converted or not) are shared."""
        out = Frame.__new__(Frame)
        for name in Frame.__slots__:
            setattr(out, name, getattr(self, name))
        for name, value in changes.items():
            if name == "alpha":
                out.planes = (
                    {**out.planes, "alpha": value}
                    if value is not None
                    else {k: v for k, v in out.planes.items() if k != "alpha"}
                )
            elif name == "planes":
                out.planes = dict(value)
            elif name in ("pts", "index"):
                setattr(out, name, value)
            else:
                raise TypeError(f"Frame.replace() cannot change {name!r}; use with_image()")
        return out

    @property
    def height(self) -> int:
        return int(self.native.height if self._image is None and self.native else self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.native.width if self._image is None and self.native else self.image.shape[1])

    def __repr__(self) -> str:
        size = "native" if self._image is None else f"{self._image.shape[1]}x{self._image.shape[0]}"
        return f"Frame(pts={self.pts}, index={self.index}, {size})"
