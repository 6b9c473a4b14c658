"""Learned ops: networks the project trains (or the user adds), run with ONNX Runtime.

``neural_enhance`` removes H.264/H.265/VP9 compression artifacts (blocking, ringing, mosquito
noise) with the shipped ``neural_enhance`` model (a compact CNN, see its card with
``vidlab models info neural_enhance``). It is an enhancer like ``deblock`` or ``bilateral``, so
``vidlab codec-test --enhancer neural_enhance`` and ``codec-sweep --enhancers neural_enhance``
measure it. Frames run tiled (bounded memory at 4K), with tile origins on the 16-px block grid
so the codec's blocks keep their phase in every tile. The ONNX session is opened once per
process and reused by every chunk (``Op.state``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vidlab.core.errors import RecipeError, VidlabError
from vidlab.ops.base import Resources, SpatialOp, param
from vidlab.ops.registry import register_op

DEVICES = ("auto", "cpu", "cuda", "tensorrt")


@register_op
@dataclass(frozen=True)
class NeuralEnhance(SpatialOp):
    """Learned compression-artifact removal (the project's model through ONNX Runtime, tiled).

    ``strength`` blends the network's output with the input (0: untouched, 1: the model,
    above 1: a stronger correction). ``model`` is a registry name (``vidlab models list``) or a
    path to an ``.onnx`` file that takes and gives N x 3 x H x W RGB in 0..1."""

    name: ClassVar[str] = "neural_enhance"
    strength: float = param(
        1.0, min=0.0, max=2.0, help="blend with the input: 0 untouched, 1 the model's output"
    )
    model: str = param("neural_enhance", help="model name in the registry, or a path to an .onnx file")
    tile: int = param(1024, min=64, max=8192, help="tile size in pixels (memory is bounded by the tile)")
    overlap: int = param(
        64, min=0, max=512, help="tile overlap in pixels (>= twice the model's reach: 64 gives tiled = whole)"
    )
    device: str = param(
        "auto", choices=DEVICES, help="ONNX Runtime backend: auto (CUDA when present), cpu, ..."
    )
    threads: int = param(0, min=0, max=256, help="ONNX Runtime threads (0: all of this worker's cores)")

    def validate(self) -> None:
        if self.overlap * 2 >= self.tile:
            raise RecipeError(
                f"op 'neural_enhance': overlap {self.overlap} must be under half the tile ({self.tile})",
                param="overlap",
            )

    def resources(self) -> Resources:
        # ORT's intra-op pool keeps a whole machine busy on one frame: one worker with every core
        # beats one worker per core each with one thread (less memory, same speed).
        threads = self.threads or os.cpu_count() or 1
        return Resources(threads=threads, gpu=self.device in ("cuda", "tensorrt"))

    def session(self) -> Any:
        """This process's session for the model (opened once, hash-checked against its card)."""
        return self.state("session", self._open)

    def _open(self) -> tuple[Any, int]:
        from vidlab.ml.registry import resolve
        from vidlab.ml.session import cached_session

        card, path = resolve(self.model)
        multiple = int(card.inputs.get("multiple", 16)) if card.inputs else 16
        sess = cached_session(path, self.device, self.threads, sha256=card.sha256)
        sess.check_input(channels=3, layout="NCHW")
        return sess, max(16, multiple)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return image
        from vidlab.ml.tiling import infer_tiled

        try:
            sess, multiple = self.session()
        except VidlabError as exc:
            raise RecipeError(f"op 'neural_enhance': {exc}", param="model") from None
        x = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        x *= 1 / 255.0
        y = infer_tiled(sess.run, x, tile=self.tile, overlap=self.overlap, multiple=multiple)
        if self.strength != 1:
            y -= x
            y *= self.strength
            y += x
        y *= 255.0
        y += 0.5
        np.clip(y, 0, 255, out=y)
        return np.ascontiguousarray(y.astype(np.uint8).transpose(1, 2, 0))
