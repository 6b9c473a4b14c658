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
from typing import Any, ClassVar, Self

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
    """Single frames for style training: a crop as both input and content target, in 0..255
    (the style networks' range). ``length`` is the virtual size of an epoch (a random frame
    per index); ``augment`` adds horizontal flips."""

    def __init__(
        self,
        frames: np.ndarray,
        crop: int,
        *,
        seed: int = 0,
        length: int | None = None,
        augment: bool = False,
    ) -> None:
        h, w = frames.shape[1:3]
        if crop > min(h, w):
            raise UsageError(f"crop {crop} is larger than the frames ({w}x{h})", param="crop")
        if len(frames) == 0:
            raise UsageError("this split has no frames", param="data")
        self.frames, self.crop, self.seed, self.augment = frames, crop, seed, augment
        self.length = length or len(frames)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        rng = np.random.default_rng((self.seed, i))
        k = int(rng.integers(len(self.frames))) if self.length != len(self.frames) else i
        h, w = self.frames.shape[1:3]
        y, x = _crop_origin(rng, h, w, self.crop)
        im = np.asarray(self.frames[k, y : y + self.crop, x : x + self.crop])
        if self.augment and rng.integers(2):
            im = im[:, ::-1]
        t = torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float()
        return t, t


@dataclass
class VideoTask:
    """What the trainable tasks share: where the clips come from. ``data`` is a folder of videos
    (a UCF-101-style layout is split per class; a flat folder by file), ``generate`` a number of
    camera-like clips rendered from the training photographs; one of the two. Validation uses
    clips the training split never sees."""

    data: Path | None = None
    generate: int | None = None
    #: A folder of the user's photographs that generated clips draw on, besides the bundled ones.
    photos: Path | None = None
    cache_dir: Path = Path("runs/cache")
    frames_per_clip: int = 24
    size: tuple[int, int] = (960, 544)
    seed: int = 0
    arch_config: dict[str, Any] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    #: The architecture's defaults (``arch_config`` overrides them).
    DEFAULT_ARCH: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_options(
        cls,
        *,
        data: Path | None = None,
        generate: int | None = None,
        config: Any = None,
        cache_dir: Path | None = None,
        frames_per_clip: int | None = None,
        size: tuple[int, int] | None = None,
        **extra: Any,
    ) -> Self:
        """A task from the CLI's or a config's options (``extra``: the task's own fields; None
        keeps the default)."""
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
        arch = {**cls.DEFAULT_ARCH, **(getattr(config, "arch_config", None) or {})}
        out = getattr(config, "output", None)
        task = cls(data=data, generate=generate, seed=seed, arch_config=arch)
        task.cache_dir = cache_dir or (Path(out).parent / "cache" if out else Path("runs/cache"))
        if frames_per_clip:
            task.frames_per_clip = frames_per_clip
        if size is not None:
            if min(size) < 64 or max(size) > 4096:
                raise UsageError(
                    f"clip size must be between 64 and 4096 px, got {size[0]}x{size[1]}", param="size"
                )
            task.size = (size[0] // 16 * 16, size[1] // 16 * 16)
        for key, value in extra.items():
            if value:
                setattr(task, key, value)
        if task.photos is not None and generate is None:
            raise UsageError(
                "photos are for generated clips: give generate too", param=("photos", "generate")
            )
        return task

    def _photo_files(self) -> tuple[str, ...]:
        from vidlab.io.footage import photo_folder

        return photo_folder(self.photos) if self.photos is not None else ()

    #: Ranges of the generated clips' camera options (see :func:`footage.training_specs`).
    FOOTAGE: ClassVar[dict[str, tuple[float, float]]] = {}

    def _splits(self) -> tuple[list[ds.Source], list[ds.Source]]:
        if self.generate is not None:
            sources = ds.generated_sources(
                self.generate,
                size=self.size,
                frames=self.frames_per_clip,
                seed=self.seed,
                photos=self._photo_files(),
                **self.FOOTAGE,
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

    def _describe_sources(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": str(self.data) if self.data else f"generated:{self.generate}",
            "frames_per_clip": self.frames_per_clip,
        }
        if self.generate is not None:
            from vidlab.io.footage import TRAIN_PHOTOS

            out["photos"] = list(TRAIN_PHOTOS) + [Path(p).name for p in self._photo_files()]
            if self.photos is not None:
                out["photo_folder"] = str(self.photos)
            out["size"] = list(self.size)
            out |= {k: list(v) for k, v in self.FOOTAGE.items()}
        return out


@dataclass
class EnhancerTask(VideoTask):
    """Train :class:`vidlab.ml.models.EnhancerNet` to undo real encodes of the clips
    (:func:`datasets.build_pairs`)."""

    codecs: tuple[str, ...] = ("libx264", "libx265", "libvpx-vp9")
    x264_preset: str = "veryfast"
    keep_every: int = 3
    crops_per_frame: int = 64
    name: str = "enhancer"
    arch: str = "enhancer"
    DEFAULT_ARCH: ClassVar[dict[str, Any]] = ENHANCER_ARCH

    def __post_init__(self) -> None:
        self.arch_config = {**ENHANCER_ARCH, **self.arch_config}

    def caches(self, cancel: Any = None, on_progress: Any = None) -> tuple[ds.PairCache, ds.PairCache]:
        """Build (or reuse) the train and validation pair caches."""
        if "caches" not in self._built:
            from vidlab.io.codecs import PRESETS

            if self.x264_preset not in PRESETS["libx264"]:
                raise UsageError(
                    f"x264_preset {self.x264_preset!r} is not one of {', '.join(PRESETS['libx264'])}",
                    param="x264_preset",
                )
            train, val = self._splits()
            degs = ds.default_degradations(self.codecs, self.x264_preset)
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
        out = self._describe_sources() | {
            "codecs": list(self.codecs),
            "degradations": [d.label for d in ds.default_degradations(self.codecs)],
            "x264_preset": self.x264_preset,
            "keep_every": self.keep_every,
            "crops_per_frame": self.crops_per_frame,
        }
        if "caches" in self._built:
            tc, vc = self._built["caches"]
            out["train_pairs"], out["val_pairs"] = len(tc.degraded), len(vc.degraded)
        return out


#: The shipped learned interpolator's architecture (see data/models/interpolate_learned.json).
INTERP_ARCH = {"channels": 24, "depth": 2}


class InterpCrops(torch.utils.data.Dataset):
    """Crops of interpolation samples (:class:`datasets.InterpCache`): the input stacks both
    warped frames, frame 0's weight and ``t`` (8 channels), the target is the true frame.
    ``augment`` adds flips and time reversal (the frames swap, the weight becomes ``1 - w0`` and
    ``t`` becomes ``1 - t``), all a pure function of (seed, index)."""

    def __init__(
        self,
        cache: ds.InterpCache,
        samples: np.ndarray,
        crop: int,
        *,
        seed: int,
        length: int | None = None,
        augment: bool = True,
    ) -> None:
        h, w = cache.truth.shape[1:3]
        if crop > min(h, w):
            raise UsageError(f"crop {crop} is larger than the frames ({w}x{h})", param="crop")
        if crop % 4:
            raise UsageError(f"crop must be a multiple of 4, got {crop}", param="crop")
        if len(samples) == 0:
            raise UsageError("this split has no samples", param="data")
        self.cache, self.samples, self.crop, self.seed, self.augment = cache, samples, crop, seed, augment
        self.length = length or len(samples)

    #: With augmentation, half the crops are the one of this many random candidates where the two
    #: warped frames disagree most (moving edges, occlusions), the other half uniform: the hard
    #: parts of a frame are a few percent of its area, and the noise-only rest teaches denoising.
    HARD_TRIES = 4

    def __len__(self) -> int:
        return self.length

    def _disagreement(self, k: int, y: int, x: int) -> float:
        c = self.crop
        a = np.asarray(self.cache.warped[k, 0, y : y + c : 4, x : x + c : 4], np.int16)
        b = np.asarray(self.cache.warped[k, 1, y : y + c : 4, x : x + c : 4], np.int16)
        return float(np.abs(a - b).mean())

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        rng = np.random.default_rng((self.seed, i))
        pick = int(rng.integers(len(self.samples))) if self.length != len(self.samples) else i
        k = int(self.samples[pick])
        h, w = self.cache.truth.shape[1:3]
        c = self.crop
        tries = self.HARD_TRIES if self.augment and rng.integers(2) else 1
        origins = [
            (int(rng.integers(0, (h - c) // 4 + 1)) * 4, int(rng.integers(0, (w - c) // 4 + 1)) * 4)
            for _ in range(tries)
        ]
        y, x = max(origins, key=lambda o: self._disagreement(k, *o)) if tries > 1 else origins[0]
        wa, wb = (np.asarray(self.cache.warped[k, j, y : y + c, x : x + c]) for j in (0, 1))
        w0 = np.asarray(self.cache.weight[k, y : y + c, x : x + c])
        truth = np.asarray(self.cache.truth[k, y : y + c, x : x + c])
        t = float(self.cache.t[k])
        if self.augment:
            if rng.integers(2):
                wa, wb, w0, t = wb, wa, 255 - w0, 1.0 - t
            if rng.integers(2):
                wa, wb, w0, truth = wa[:, ::-1], wb[:, ::-1], w0[:, ::-1], truth[:, ::-1]
            if rng.integers(2):
                wa, wb, w0, truth = wa[::-1], wb[::-1], w0[::-1], truth[::-1]
        planes = torch.from_numpy(np.ascontiguousarray(w0)).float().div_(255.0)[None]
        inputs = torch.cat([_to_tensor(wa), _to_tensor(wb), planes, torch.full_like(planes, t)])
        return inputs, _to_tensor(truth)


@dataclass
class InterpolatorTask(VideoTask):
    """Train :class:`vidlab.ml.models.InterpRefineNet` to refine the flow method: samples are
    the flow method's warped frames at every dropped frame's time (2x and 4x), the targets the
    dropped frames (:func:`datasets.build_interp_samples`)."""

    factors: tuple[int, ...] = (2, 4)
    frames_per_clip: int = 17
    size: tuple[int, int] = (1280, 720)
    crops_per_sample: int = 32
    name: str = "interpolator"
    arch: str = "interp_refine"
    DEFAULT_ARCH: ClassVar[dict[str, Any]] = INTERP_ARCH
    # Interpolation is judged against noisy frames, so the clips span a camera's noise, from
    # clean daylight to dim interiors, independent or grainy (demosaiced) as cameras leave it.
    FOOTAGE: ClassVar[dict[str, tuple[float, float]]] = {"noise": (0.5, 6.0), "grain": (0.0, 1.5)}

    def __post_init__(self) -> None:
        self.arch_config = {**INTERP_ARCH, **self.arch_config}

    def caches(self, cancel: Any = None, on_progress: Any = None) -> tuple[ds.InterpCache, ds.InterpCache]:
        """Build (or reuse) the train and validation sample caches."""
        if "caches" not in self._built:
            train, val = self._splits()
            kw = {"factors": self.factors, "frames_per_clip": self.frames_per_clip}
            tc = ds.build_interp_samples(train, self.cache_dir, cancel=cancel, on_progress=on_progress, **kw)
            vc = ds.build_interp_samples(val, self.cache_dir, cancel=cancel, on_progress=on_progress, **kw)
            self._built["caches"] = (tc, vc)
        return self._built["caches"]

    def datasets(self, config: Any) -> tuple[Any, Any]:
        crop = getattr(config, "crop", 96)
        tc, vc = self.caches()
        n = len(tc.t)
        train = InterpCrops(tc, np.arange(n), crop, seed=self.seed, length=n * self.crops_per_sample)
        val = InterpCrops(vc, np.arange(len(vc.t)), crop, seed=self.seed + 7919, augment=False)
        return train, val

    def describe(self) -> dict[str, Any]:
        out = self._describe_sources() | {
            "factors": list(self.factors),
            "crops_per_sample": self.crops_per_sample,
            "source_crfs": list(ds.SOURCE_CRFS),
        }
        if "caches" in self._built:
            tc, vc = self._built["caches"]
            out["train_samples"], out["val_samples"] = len(tc.t), len(vc.t)
        return out


#: The shipped fast style networks' architectures (see data/models/style_*.json).
STYLE_ARCHS = {"style_mobile": {"channels": 16, "blocks": 5, "expand": 4}, "style_johnson": {"channels": 32}}


@dataclass
class StyleTask(VideoTask):
    """Train a fast style network (``style_mobile``, the real-time one, or ``style_johnson``)
    for one style image with the perceptual loss of :mod:`vidlab.ml.style` (content, Gram
    style and total variation on the style predictor's features). Content frames are the
    clips' frames (:func:`datasets.build_frames`); the networks take and give 0..255."""

    style_image: Path | None = None
    arch: str = "style_mobile"
    content_weight: float = 1.0
    style_weight: float = 2.0
    tv_weight: float = 0.5
    style_size: int = 384
    frames_per_clip: int = 24
    keep_every: int = 3
    size: tuple[int, int] = (640, 368)
    crops_per_frame: int = 16
    name: str = "style"

    def __post_init__(self) -> None:
        self._check_arch()
        self.arch_config = {**STYLE_ARCHS[self.arch], **self.arch_config}

    def _check_arch(self) -> None:
        if self.arch not in STYLE_ARCHS:
            raise UsageError(
                f"style arch must be one of {', '.join(STYLE_ARCHS)}, got {self.arch!r}", param="arch"
            )

    @classmethod
    def from_options(cls, *, arch: str | None = None, config: Any = None, **options: Any) -> Self:
        task = super().from_options(config=config, **options)
        if arch:
            task.arch = arch
            task._check_arch()
            task.arch_config = {**STYLE_ARCHS[arch], **(getattr(config, "arch_config", None) or {})}
        return task

    def style_rgb(self) -> np.ndarray:
        from vidlab.io.images import read_image

        if self.style_image is None:
            raise UsageError("style training needs a style image", param="style_image")
        return read_image(self.style_image, "style image", UsageError, param="style_image")

    def loss(self, config: Any) -> Any:
        """The perceptual loss for this style (the trainer uses it instead of ``config.loss``)."""
        from vidlab.ml.style import PerceptualStyleLoss, StyleLossConfig

        cfg = StyleLossConfig(
            content_weight=self.content_weight,
            style_weight=self.style_weight,
            tv_weight=self.tv_weight,
            style_size=self.style_size,
        )
        return PerceptualStyleLoss(self.style_rgb(), cfg)

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """(train, val) frames, built once (or reused from the cache)."""
        if "frames" not in self._built:
            self.style_rgb()  # a bad style image is refused before the frames are decoded
            train, val = self._splits()
            kw = {"frames_per_clip": self.frames_per_clip, "keep_every": self.keep_every}
            tf, _ = ds.build_frames(train, self.cache_dir, **kw)
            vf, _ = ds.build_frames(val, self.cache_dir, **kw)
            self._built["frames"] = (tf, vf)
        return self._built["frames"]

    def datasets(self, config: Any) -> tuple[Any, Any]:
        crop = getattr(config, "crop", 256)
        tf, vf = self.frames()
        train = StyleFrames(tf, crop, seed=self.seed, length=len(tf) * self.crops_per_frame, augment=True)
        val = StyleFrames(vf, crop, seed=self.seed + 7919)
        return train, val

    def describe(self) -> dict[str, Any]:
        from vidlab.ml.session import sha256_file

        out = self._describe_sources() | {
            "style_image": str(self.style_image),
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
            "style_size": self.style_size,
            "feature_network": "style_predict (Magenta's MobileNetV2 style predictor, as float PyTorch)",
        }
        if self.style_image is not None and Path(self.style_image).is_file():
            out["style_sha256"] = sha256_file(self.style_image)
        if "frames" in self._built:
            tf, vf = self._built["frames"]
            out["train_frames"], out["val_frames"] = len(tf), len(vf)
        return out
