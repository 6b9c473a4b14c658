"""The unit that flows through vidlab: an RGB image with an exact timestamp."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np


@dataclass(slots=True)
class Frame:
    """``image`` is ``H x W x 3`` ``uint8`` RGB, C-contiguous. ``pts`` is the presentation time in
    seconds as an exact Fraction; ``index`` counts frames from the start of the source.

    ``source`` is the decoded input picture this frame came from (the same array as ``image``
    when the reader makes it). Ops keep it untouched, so an op late in a recipe can analyse the
    original: ``flow_stabilize`` measures motion on the input, not on a stylized image."""

    image: np.ndarray
    pts: Fraction
    index: int
    alpha: np.ndarray | None = None
    source: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.source is None:
            self.source = self.image

    def with_image(self, image: np.ndarray) -> Frame:
        """The same instant with new pixels (the alpha plane is dropped if the size changed)."""
        alpha = self.alpha if self.alpha is not None and self.alpha.shape[:2] == image.shape[:2] else None
        return replace(self, image=image, alpha=alpha)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
