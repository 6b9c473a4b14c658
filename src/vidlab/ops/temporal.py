"""Temporal ops over the frame stream."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vidlab.core.frame import Frame
from vidlab.ops.base import TemporalOp, param
from vidlab.ops.registry import register_op

# Weights below this share of the total are dropped, so the window is finite.
_EMA_TAIL = 1.0 / 512
_EMA_SCALE = 1 << 16


@register_op
@dataclass(frozen=True)
class Ema(TemporalOp):
    """Exponential moving average over time (temporal smoothing): out = a*x + (1-a)*previous.

    It is computed as a finite window of exactly-weighted past frames in integer arithmetic, so
    an output depends only on the last ``preroll()+1`` inputs: chunked runs are bit-identical.
    """

    name: ClassVar[str] = "ema"
    alpha: float = param(0.5, min=0.05, max=1.0, help="weight of the current frame (1 = no smoothing)")

    def window(self) -> int:
        if self.alpha >= 1.0:
            return 1
        return max(1, math.ceil(math.log(_EMA_TAIL) / math.log(1.0 - self.alpha)))

    def preroll(self) -> int:
        return self.window() - 1

    def _weights(self, n: int) -> np.ndarray:
        """Integer weights for the newest ``n`` frames (newest first), summing to ~2**16."""
        w = self.alpha * (1.0 - self.alpha) ** np.arange(n, dtype=np.float64)
        return np.maximum(1, np.round(w / w.sum() * _EMA_SCALE)).astype(np.uint32)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        size = self.window()
        history: deque[np.ndarray] = deque(maxlen=size)
        weights = {n: self._weights(n) for n in range(1, size + 1)}
        acc: np.ndarray | None = None
        tmp: np.ndarray | None = None
        for frame in frames:
            history.appendleft(frame.image)
            if size == 1:
                yield frame
                continue
            w = weights[len(history)]
            if acc is None or acc.shape != frame.image.shape:
                acc = np.empty(frame.image.shape, np.uint32)
                tmp = np.empty(frame.image.shape, np.uint32)
            assert tmp is not None
            np.multiply(history[0], w[0], out=acc, dtype=np.uint32)
            for img, wk in zip(list(history)[1:], w[1:], strict=False):
                np.multiply(img, wk, out=tmp, dtype=np.uint32)
                acc += tmp
            total = int(w.sum())
            acc += total // 2
            acc //= total
            yield frame.with_image(acc.astype(np.uint8))
