"""What the trainer trains: a network and its data (:class:`vidlab.ml.train.Task`).

:class:`EnhancerTask` trains the compression-artifact remover: inputs are real decodes of
H.264/H.265/VP9 encodes, targets the frames before encoding (:func:`datasets.build_pairs`).
The torch datasets here are views over the memory-mapped caches of :mod:`vidlab.ml.datasets`:
each item is a random crop whose position and flips are a pure function of (seed, index), so the
trainer's seeded sampler alone decides the whole data stream (exact resume).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import UsageError
from vidlab.ml import datasets as ds
from vidlab.ml.torchdep import require_torch

torch, nn = require_torch()
log = logging.getLogger(__name__)

#: Crop origins are multiples of this, so the codecs' 8x8 and 16x16 block grids keep their phase
#: in every crop (a network that sees blocking at a consistent grid learns it faster).
ALIGN = 16

#: The shipped enhancer's architecture (see data/models/neural_enhance.json).
ENHANCER_ARCH = {"channels": 32, "layers": 5, "factor": 2}


def _to_tensor(image: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def _crop_origin(rng: np.random.Generator, h: int, w: int, crop: int) -> tuple[int, int]:
    y = int(rng.integers(0, (h - crop) // ALIGN + 1)) * ALIGN
    x = int(rng.integers(0, (w - crop) // ALIGN + 1)) * ALIGN
    return y, x


class PairCrops(torch.utils.data.Dataset):
    """Aligned ``crop`` x ``crop`` crops of degraded/original pairs. ``pairs`` selects which
    degraded frames this split uses; ``length`` is the virtual size of an epoch (crops are drawn
    anew per index). ``augment`` adds flips (both keep the 8-px grid on a crop of a multiple of
    16)."""

    def __init__(
        self,
        cache: ds.PairCache,
        pairs: np.ndarray,
        crop: int,
        *,
        seed: int,
        length: int | None = None,
        augment: bool = True,
    ) -> None:
        h, w = cache.original.shape[1:3]
        if crop > min(h, w):
            raise UsageError(f"crop {crop} is larger than the frames ({w}x{h})", param="crop")
        if crop % ALIGN:
            raise UsageError(f"crop must be a multiple of {ALIGN}, got {crop}", param="crop")
        if len(pairs) == 0:
            raise UsageError("this split has no frames", param="data")
        self.cache, self.pairs, self.crop, self.seed, self.augment = cache, pairs, crop, seed, augment
        self.length = length or len(pairs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        rng = np.random.default_rng((self.seed, i))
        k = int(
            self.pairs[int(rng.integers(len(self.pairs)))]
            if self.length != len(self.pairs)
            else self.pairs[i]
        )
        h, w = self.cache.original.shape[1:3]
        y, x = _crop_origin(rng, h, w, self.crop)
        c = self.crop
        a = np.asarray(self.cache.degraded[k, y : y + c, x : x + c])
        b = np.asarray(self.cache.original[self.cache.index[k], y : y + c, x : x + c])
        if self.augment:
            if rng.integers(2):
                a, b = a[:, ::-1], b[:, ::-1]
            if rng.integers(2):
                a, b = a[::-1], b[::-1]
        return _to_tensor(a), _to_tensor(b)


class FrameTuples(torch.utils.data.Dataset):
    """Interpolation samples: ``length`` consecutive frames (3: a triplet, 5: a quintuplet) of one
    clip, cropped alike. The input stacks the outer frames (channels), the target is the middle
    one, so the network learns the frame at t = 0.5 of its neighbours."""

    def __init__(
        self, frames: np.ndarray, clip: np.ndarray, crop: int, *, length: int = 3, seed: int = 0
    ) -> None:
        if length not in (3, 5):
            raise UsageError(f"tuples are triplets or quintuplets, got {length}", param="length")
        self.frames, self.crop, self.seed, self.n = frames, crop, seed, length
        self.starts = ds.tuple_starts(clip, length)
        if len(self.starts) == 0:
            raise UsageError(f"no clip has {length} consecutive frames", param="data")

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        rng = np.random.default_rng((self.seed, i))
        h, w = self.frames.shape[1:3]
        y, x = _crop_origin(rng, h, w, self.crop)
        s, c, mid = int(self.starts[i]), self.crop, self.n // 2
        stack = [_to_tensor(np.asarray(self.frames[s + j, y : y + c, x : x + c])) for j in range(self.n)]
        inputs = torch.cat([t for j, t in enumerate(stack) if j != mid])
        return inputs, stack[mid]


class StyleFrames(torch.utils.data.Dataset):
    """Single frames for style training: a crop as both input and content target."""

    def __init__(self, frames: np.ndarray, crop: int, *, seed: int = 0) -> None:
        self.frames, self.crop, self.seed = frames, crop, seed

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        rng = np.random.default_rng((self.seed, i))
        h, w = self.frames.shape[1:3]
        y, x = _crop_origin(rng, h, w, self.crop)
        t = _to_tensor(np.asarray(self.frames[i, y : y + self.crop, x : x + self.crop]))
        return t, t


@dataclass
class EnhancerTask:
    """Train :class:`vidlab.ml.models.EnhancerNet` to undo real encodes. ``data`` is a folder of
    videos (a UCF-101-style layout is split per class; a flat folder by file), ``generate`` a
    number of camera-like clips rendered from the training photographs; one of the two. Validation
    uses clips the training split never sees."""

    data: Path | None = None
    generate: int | None = None
    cache_dir: Path = Path("runs/cache")
    codecs: tuple[str, ...] = ("libx264", "libx265", "libvpx-vp9")
    frames_per_clip: int = 24
    keep_every: int = 3
    size: tuple[int, int] = (960, 544)
    crops_per_frame: int = 64
    seed: int = 0
    arch_config: dict[str, Any] = field(default_factory=lambda: dict(ENHANCER_ARCH))
    name: str = "enhancer"
    arch: str = "enhancer"
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_options(
        cls,
        *,
        data: Path | None = None,
        generate: int | None = None,
        config: Any = None,
        cache_dir: Path | None = None,
        codecs: tuple[str, ...] | None = None,
        frames_per_clip: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> EnhancerTask:
        if (data is None) == (generate is None):
            raise UsageError(
                "give either data (a folder of videos) or generate (a number of clips)",
                param=("data", "generate"),
            )
        if generate is not None and generate < 2:
            raise UsageError(
                f"generate needs at least 2 clips (one is held out for validation), got {generate}",
                param="generate",
            )
        seed = getattr(config, "seed", 0)
        arch = {**ENHANCER_ARCH, **(getattr(config, "arch_config", None) or {})}
        out = getattr(config, "output", None)
        task = cls(data=data, generate=generate, seed=seed, arch_config=arch)
        task.cache_dir = cache_dir or (Path(out).parent / "cache" if out else Path("runs/cache"))
        if codecs:
            task.codecs = tuple(codecs)
        if frames_per_clip:
            task.frames_per_clip = frames_per_clip
        if size is not None:
            if min(size) < 64 or max(size) > 4096:
                raise UsageError(
                    f"clip size must be between 64 and 4096 px, got {size[0]}x{size[1]}", param="size"
                )
            task.size = (size[0] // 16 * 16, size[1] // 16 * 16)
        return task

    def _splits(self) -> tuple[list[ds.Source], list[ds.Source]]:
        if self.generate is not None:
            sources = ds.generated_sources(
                self.generate, size=self.size, frames=self.frames_per_clip, seed=self.seed
            )
            n_val = max(1, len(sources) // 8)
            return sources[n_val:], sources[:n_val]
        assert self.data is not None
        parts = ds.split_layout(self.data, seed=self.seed)
        train, val = parts["train"], parts["val"]
        if not val:  # a folder too small to split: hold out its last video, or share one
            train, val = (train[:-1], train[-1:]) if len(train) > 1 else (train, train)
            if train == val:
                log.warning("only one video: validation uses the same clip as training")
        mf = self.frames_per_clip
        return ds.file_sources(train, mf), ds.file_sources(val, mf)

    def caches(self, cancel: Any = None, on_progress: Any = None) -> tuple[ds.PairCache, ds.PairCache]:
        """Build (or reuse) the train and validation pair caches."""
        if "caches" not in self._built:
            train, val = self._splits()
            degs = ds.default_degradations(self.codecs)
            kw = {
                "degradations": degs,
                "frames_per_clip": self.frames_per_clip,
                "keep_every": self.keep_every,
            }
            tc = ds.build_pairs(train, self.cache_dir, cancel=cancel, on_progress=on_progress, **kw)
            vc = ds.build_pairs(val, self.cache_dir, cancel=cancel, on_progress=on_progress, **kw)
            self._built["caches"] = (tc, vc)
        return self._built["caches"]

    def datasets(self, config: Any) -> tuple[Any, Any]:
        crop = getattr(config, "crop", 96)
        tc, vc = self.caches()
        train = PairCrops(
            tc,
            np.arange(len(tc.degraded)),
            crop,
            seed=self.seed,
            length=len(tc.degraded) * self.crops_per_frame,
        )
        # validation: a fixed crop per degraded frame, no flips (same items every evaluation)
        val = PairCrops(vc, np.arange(len(vc.degraded)), crop, seed=self.seed + 7919, augment=False)
        return train, val

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": str(self.data) if self.data else f"generated:{self.generate}",
            "codecs": list(self.codecs),
            "degradations": [d.label for d in ds.default_degradations(self.codecs)],
            "frames_per_clip": self.frames_per_clip,
            "keep_every": self.keep_every,
            "crops_per_frame": self.crops_per_frame,
        }
        if self.generate is not None:
            from vidlab.io.footage import TRAIN_PHOTOS

            out["photos"] = list(TRAIN_PHOTOS)
            out["size"] = list(self.size)
        if "caches" in self._built:
            tc, vc = self._built["caches"]
            out["train_pairs"], out["val_pairs"] = len(tc.degraded), len(vc.degraded)
        return out
