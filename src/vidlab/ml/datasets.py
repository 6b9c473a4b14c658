"""Training data made from video.

- :func:`build_pairs`: degraded -> original pairs for enhancers, where the degradation is a real
  encode (H.264, H.265, VP9 at a range of bitrates and CRFs) through the same encoder path the
  codec lab uses (:class:`vidlab.io.writer.VideoWriter` with :class:`EncodeSettings`), decoded
  back with PyAV;
- :func:`build_tuples`: frame triplets and quintuplets for interpolation;
- :func:`build_frames`: single frames for style.

Sources are :func:`generated_sources` (camera-like clips from :mod:`vidlab.io.footage`, on the
training photographs only), any folder of user videos (:func:`find_videos`), or a UCF-101-style
layout with one subfolder per class, split train/val/test per class (:func:`split_layout`).

Decoded frames are cached on disk as uint8 ``.npy`` arrays that are memory-mapped at training
time, so a dataset of thousands of frames costs no RAM and a second run skips the encoding. The
cache key hashes the sources (path, size, mtime) and the options, so changing either rebuilds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.events import CancelToken
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import VideoInfo

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
#: Bits per pixel of the bitrate-controlled encodes: at 1280x720 and 30 fps, 0.007 bpp is about
#: 200 kbps and 0.0145 about 400 kbps, the regime the benchmark measures.
BITS_PER_PIXEL = (0.006, 0.01, 0.0145, 0.025)


@dataclass(frozen=True, slots=True)
class Degradation:
    """One real encode: ``codec`` at a ``crf`` or at ``bpp`` bits per pixel (a bitrate that
    scales with the clip's size and rate)."""

    codec: str
    crf: float | None = None
    bpp: float | None = None
    preset: str | None = None

    @property
    def label(self) -> str:
        q = f"crf{self.crf:g}" if self.crf is not None else f"{self.bpp:g}bpp"
        return f"{self.codec}-{q}"

    def settings(self, width: int, height: int, fps: Fraction) -> EncodeSettings:
        kbps = None if self.bpp is None else max(20.0, self.bpp * width * height * float(fps) / 1000)
        return EncodeSettings(codec=self.codec, crf=self.crf, bitrate_kbps=kbps, preset=self.preset)


def default_degradations(
    codecs: Sequence[str] = ("libx264", "libx265", "libvpx-vp9"), x264_preset: str = "veryfast"
) -> list[Degradation]:
    """The enhancer's training encodes. H.264, the codec most decoded video still comes in, gets
    the four :data:`BITS_PER_PIXEL` bitrates and two CRFs; H.265 and VP9 two bitrates and one
    CRF each. Every codec keeps its own in-loop filters on, as real files have them. x264 runs at
    ``x264_preset``: veryfast made the shipped model's data; medium, x264's default and what
    most H.264 files are made with, has other artifacts (more reference frames, trellis,
    psychovisual tuning)."""
    crfs = {"libx264": (30, 37), "libx265": (37,), "libvpx-vp9": (50,)}
    out = []
    for codec in codecs:
        preset = {"libx264": x264_preset, "libx265": "fast", "libvpx-vp9": "5"}.get(codec)
        rates = BITS_PER_PIXEL if codec == "libx264" else BITS_PER_PIXEL[::2]
        out += [Degradation(codec, bpp=b, preset=preset) for b in rates]
        out += [Degradation(codec, crf=c, preset=preset) for c in crfs.get(codec, (32,))]
    return out


# -- sources -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """A clip to draw frames from: a file, or a generated clip (``render(i)`` gives frame i)."""

    name: str
    fps: Fraction
    frames: int
    width: int
    height: int
    path: Path | None = None
    render: Callable[[int], np.ndarray] | None = None
    key: str = ""

    def decoded(self, count: int | None = None) -> Iterator[np.ndarray]:
        """The clip's frames as RGB uint8, at most ``count``."""
        n = self.frames if count is None else min(count, self.frames)
        if self.render is not None:
            for i in range(n):
                yield self.render(i)
            return
        assert self.path is not None
        yield from _rgb_frames(self.path, n)


def find_videos(root: str | os.PathLike[str]) -> list[Path]:
    """Every video file under ``root`` (recursively, sorted), by extension."""
    base = Path(root)
    if not base.is_dir():
        raise UsageError("not a folder", base, param="data")
    found = sorted(p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not found:
        raise UsageError(
            f"no videos ({', '.join(VIDEO_SUFFIXES[:5])}, ...) in this folder", base, param="data"
        )
    return found


def file_sources(paths: Iterable[Path], max_frames: int | None = None) -> list[Source]:
    """Sources for video files; an unreadable one is skipped with a warning (a folder of user
    videos often holds one broken file), and none readable is an error."""
    from vidlab.io.probe import probe

    out = []
    for p in paths:
        try:
            info = probe(p)
        except MediaError as exc:
            log.warning("skipping %s", exc)
            continue
        frames = info.frame_count or int(info.duration * info.fps)
        if max_frames:
            frames = min(frames, max_frames)
        st = p.stat()
        out.append(
            Source(
                p.stem,
                info.fps,
                frames,
                info.width,
                info.height,
                path=p,
                key=f"{p}:{st.st_size}:{st.st_mtime_ns}",
            )
        )
    if not out:
        raise UsageError("none of the videos could be read", param="data")
    return out


def split_layout(
    root: str | os.PathLike[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[Path]]:
    """A UCF-101-style layout (one subfolder per class, videos inside) split into ``train``,
    ``val`` and ``test``, stratified: each class is shuffled (seeded) and cut by ``fractions``,
    and every class with at least 3 videos lands in all three splits. Deterministic for a seed.
    A flat folder is treated as one class."""
    base = Path(root)
    videos = find_videos(base)
    classes: dict[str, list[Path]] = {}
    for v in videos:
        rel = v.relative_to(base)
        classes.setdefault(rel.parts[0] if len(rel.parts) > 1 else "", []).append(v)
    if abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise UsageError(f"split fractions must be >= 0 and sum to 1, got {fractions}", param="split")
    out: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    for name in sorted(classes):
        items = classes[name]
        order = np.random.default_rng([seed, *name.encode()]).permutation(len(items))
        items = [items[i] for i in order]
        n = len(items)
        n_val = max(1, round(fractions[1] * n)) if n >= 3 and fractions[1] > 0 else 0
        n_test = max(1, round(fractions[2] * n)) if n >= 3 and fractions[2] > 0 else 0
        out["val"] += items[:n_val]
        out["test"] += items[n_val : n_val + n_test]
        out["train"] += items[n_val + n_test :]
    return {k: sorted(v) for k, v in out.items()}


def generated_sources(
    count: int,
    *,
    size: tuple[int, int] = (960, 544),
    frames: int = 40,
    fps: int = 30,
    seed: int = 0,
    photos: Sequence[str] = (),
    **spec_ranges: tuple[float, float],
) -> list[Source]:
    """``count`` camera-like clips rendered from the training photographs (never the benchmark's)
    plus ``photos`` (image files, such as :func:`footage.photo_folder` lists), with varied camera
    motion, subjects, blur, noise and flicker (:func:`footage.training_specs`, which
    ``spec_ranges`` such as ``noise=(1, 6)`` go to)."""
    from vidlab.io.footage import TRAIN_PHOTOS, Footage, training_specs
    from vidlab.ml.session import sha256_file

    names = (*TRAIN_PHOTOS, *photos)
    # a photo file's content, not its path, is what a cached clip depends on
    files = {p: sha256_file(Path(p)) for p in photos}
    out = []
    for spec in training_specs(count, seed, photos=names, **spec_ranges):
        footage = Footage(spec, size[0], size[1], fps)
        parts = asdict(spec) | {"files": files} if files else asdict(spec)
        key = json.dumps(parts, sort_keys=True) + f"{size}{frames}{fps}"
        name = f"gen{spec.seed}-{spec.photo}-{spec.motion}"
        out.append(Source(name, Fraction(fps), frames, size[0], size[1], render=footage.frame, key=key))
    return out


# -- the on-disk cache ---------------------------------------------------------------------------------


def _cache_dir(root: Path, kind: str, parts: object) -> Path:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return root / f"{kind}-{digest}"


@contextlib.contextmanager
def _building(entry: Path) -> Iterator[Path]:
    """A fresh folder beside the cache ``entry`` to build it in, renamed into place when the
    block completes (or dropped when a concurrent build got there first) and removed on any
    error, so a killed build leaves no half-written entry that a later run would trust."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=entry.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if entry.exists():
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, entry)


class _ArrayWriter:
    """Appends equally-sized uint8 frames into one ``.npy`` file (header rewritten at the end)."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path, self.shape, self.count = path, shape, 0
        self._raw = open(path.with_suffix(".raw"), "wb")  # noqa: SIM115 (closed in finish)

    def add(self, image: np.ndarray) -> None:
        if image.shape != self.shape:
            raise MediaError(f"frame of size {image.shape} in a stream of {self.shape}", self.path)
        self._raw.write(np.ascontiguousarray(image, np.uint8).tobytes())
        self.count += 1

    def finish(self) -> None:
        self._raw.close()
        raw = self.path.with_suffix(".raw")
        out = np.lib.format.open_memmap(self.path, "w+", np.uint8, (self.count, *self.shape))
        src = np.memmap(raw, np.uint8, "r", shape=(self.count, *self.shape)) if self.count else None
        if src is not None:
            out[:] = src
        out.flush()
        del out, src
        raw.unlink()


def _crop_even(image: np.ndarray, multiple: int = 16) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: h - h % multiple, : w - w % multiple]


def _rgb_frames(path: Path, count: int | None = None) -> Iterator[np.ndarray]:
    """A video's first ``count`` (default: all) frames as RGB uint8."""
    from vidlab.io.reader import VideoReader

    for i, frame in enumerate(VideoReader(path, expect_frames=None)):
        if count is not None and i >= count:
            break
        yield frame.image


def _encode(frames: list[np.ndarray], path: Path, fps: Fraction, deg: Degradation) -> None:
    from vidlab.io.samples import BT709
    from vidlab.io.writer import VideoWriter

    h, w = frames[0].shape[:2]
    info = VideoInfo.constant_rate(
        path, w, h, fps, len(frames), codec=deg.codec, pix_fmt="yuv420p", color=BT709
    )
    with VideoWriter(path, info, deg.settings(w, h, fps)) as writer:
        for i, image in enumerate(frames):
            writer.write(Frame(image, Fraction(i) / fps, i))


@dataclass
class PairCache:
    """Degraded/original frames on disk: ``degraded[i]`` decodes ``original[index[i]]``."""

    root: Path
    original: np.ndarray
    degraded: np.ndarray
    index: np.ndarray
    meta: dict

    @classmethod
    def open(cls, root: Path) -> PairCache:
        meta = json.loads((root / "meta.json").read_text())
        return cls(
            root,
            np.load(root / "original.npy", mmap_mode="r"),
            np.load(root / "degraded.npy", mmap_mode="r"),
            np.load(root / "index.npy"),
            meta,
        )


def build_pairs(
    sources: Sequence[Source],
    cache_root: str | os.PathLike[str],
    *,
    degradations: Sequence[Degradation] | None = None,
    frames_per_clip: int = 40,
    keep_every: int = 4,
    max_side: int = 960,
    cancel: CancelToken | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PairCache:
    """Encode every source with every degradation, decode it, and cache every ``keep_every``-th
    frame pair (all frame types: the GOP's I, P and B frames each get their share). Sources
    larger than ``max_side`` are cut to a centred window (not scaled: scaling would change the
    artifacts' scale). ``on_progress(done, total)`` counts encodes."""
    degs = list(degradations or default_degradations())
    if not sources:
        raise UsageError("no sources to build pairs from", param="data")
    parts = {
        "sources": [s.key for s in sources],
        "degs": [d.label + str(d.preset) for d in degs],
        "n": frames_per_clip,
        "every": keep_every,
        "max_side": max_side,
    }
    root = _cache_dir(Path(cache_root), "pairs", parts)
    if (root / "meta.json").exists():
        return PairCache.open(root)
    total, done = len(sources) * len(degs), 0
    with _building(root) as tmp_root:
        orig_w: _ArrayWriter | None = None
        deg_w: _ArrayWriter | None = None
        index: list[int] = []
        labels: list[str] = []
        clips = []
        for src in sources:
            frames = [_window(im, max_side) for im in src.decoded(frames_per_clip)]
            if len(frames) < 2:
                log.warning("skipping %s: fewer than 2 frames", src.name)
                continue
            shape = frames[0].shape
            if orig_w is None:
                orig_w = _ArrayWriter(tmp_root / "original.npy", shape)
                deg_w = _ArrayWriter(tmp_root / "degraded.npy", shape)
            elif shape != orig_w.shape:
                frames = [_fit(im, orig_w.shape) for im in frames]
            first = orig_w.count
            kept = list(range(0, len(frames), keep_every))
            for i in kept:
                orig_w.add(frames[i])
            clips.append({"name": src.name, "frames": len(frames), "kept": len(kept)})
            for deg in degs:
                if cancel is not None:
                    cancel.check()
                encoded = (
                    tmp_root / f"enc{deg.codec.replace('lib', '')}.{'webm' if 'vpx' in deg.codec else 'mp4'}"
                )
                _encode(frames, encoded, src.fps, deg)
                assert deg_w is not None
                n = 0
                for n, image in enumerate(_rgb_frames(encoded), 1):
                    i = n - 1
                    if i % keep_every == 0 and i < len(frames):  # kept frames only, as they decode
                        deg_w.add(image)
                        index.append(first + i // keep_every)
                        labels.append(deg.label)
                encoded.unlink()
                if n != len(frames):
                    raise MediaError(f"{deg.label} gave {n} frames from {len(frames)}", src.path or src.name)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
        if orig_w is None or deg_w is None:
            raise UsageError("no usable frames in the sources", param="data")
        orig_w.finish()
        deg_w.finish()
        np.save(tmp_root / "index.npy", np.asarray(index, np.int32))
        meta = {"clips": clips, "degradations": [d.label for d in degs], "labels": labels, "parts": parts}
        (tmp_root / "meta.json").write_text(json.dumps(meta, indent=1))
    return PairCache.open(root)


def _window(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        nh, nw = min(h, max_side), min(w, max_side)
        y, x = (h - nh) // 2 // 16 * 16, (w - nw) // 2 // 16 * 16
        image = image[y : y + nh, x : x + nw]
    return _crop_even(image)


def _fit(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pad or cut ``image`` to ``shape`` (reflecting), so clips of different sizes share one
    array; crops are later taken inside the valid region only where it matters little."""
    h, w = shape[:2]
    ih, iw = image.shape[:2]
    image = image[:h, :w]
    if ih < h or iw < w:
        image = np.pad(image, ((0, max(0, h - ih)), (0, max(0, w - iw)), (0, 0)), mode="reflect")
    return image


# -- frame tuples and single frames -------------------------------------------------------------------


def build_frames(
    sources: Sequence[Source],
    cache_root: str | os.PathLike[str],
    *,
    frames_per_clip: int = 60,
    keep_every: int = 1,
    max_side: int = 960,
) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive frames of every source, cached: (frames N x H x W x 3, clip id per frame).
    Interpolation tuples and style samples are both drawn from this."""
    parts = {
        "sources": [s.key for s in sources],
        "n": frames_per_clip,
        "every": keep_every,
        "max_side": max_side,
    }
    root = _cache_dir(Path(cache_root), "frames", parts)
    if not (root / "clip.npy").exists():
        with _building(root) as tmp:
            writer: _ArrayWriter | None = None
            clip: list[int] = []
            for c, src in enumerate(sources):
                for k, im in enumerate(src.decoded(frames_per_clip)):
                    if k % keep_every:
                        continue
                    im = _window(im, max_side)
                    if writer is None:
                        writer = _ArrayWriter(tmp / "frames.npy", im.shape)
                    writer.add(_fit(im, writer.shape))
                    clip.append(c)
            if writer is None:
                raise UsageError("no usable frames in the sources", param="data")
            writer.finish()
            np.save(tmp / "clip.npy", np.asarray(clip, np.int32))
    return np.load(root / "frames.npy", mmap_mode="r"), np.load(root / "clip.npy")


def tuple_starts(clip: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Indices where ``length`` frames ``stride`` apart stay inside one clip (triplets: 3,
    quintuplets: 5)."""
    span = (length - 1) * stride
    starts = [i for i in range(len(clip) - span) if clip[i] == clip[i + span]]
    return np.asarray(starts, np.int64)


# -- interpolation samples: the learned interpolator's inputs, made by the flow method ------------------

#: H.264 CRFs the generated interpolation clips are compressed at before use (a camera's or a
#: phone's range), so frames and ground truth carry real compression, as the benchmark's do.
SOURCE_CRFS = (18, 22, 26)


@dataclass
class InterpCache:
    """Samples for the learned interpolator: for sample ``i``, ``warped[i, 0]`` and
    ``warped[i, 1]`` are frames 0 and 1 warped to time ``t[i]`` by the flow method,
    ``weight[i]`` frame 0's blend weight there (uint8, 255 = 1), and ``truth[i]`` the real frame
    at that time."""

    root: Path
    warped: np.ndarray
    weight: np.ndarray
    truth: np.ndarray
    t: np.ndarray
    clip: np.ndarray
    meta: dict

    @classmethod
    def open(cls, root: Path) -> InterpCache:
        def arr(name: str) -> np.ndarray:
            return np.load(root / f"{name}.npy", mmap_mode="r")

        meta = json.loads((root / "meta.json").read_text())
        return cls(root, arr("warped"), arr("weight"), arr("truth"), arr("t"), arr("clip"), meta)


def build_interp_samples(
    sources: Sequence[Source],
    cache_root: str | os.PathLike[str],
    *,
    factors: Sequence[int] = (2, 4),
    frames_per_clip: int = 17,
    flow: dict | None = None,
    compress: bool = True,
    max_side: int = 1280,
    cancel: CancelToken | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> InterpCache:
    """For every source and every factor ``k``: keep every ``k``-th frame, run the flow
    interpolator over the kept frames in order (as ``interpolate`` does, so quadratic paths see
    the previous pair), and for each dropped frame store the flow method's warped frames and
    weight at its time with the frame itself as the target. Generated sources are first
    compressed with H.264 at one of :data:`SOURCE_CRFS` (``compress``); files are used as
    decoded. ``flow`` holds :class:`~vidlab.vision.interp.FlowPair` options."""
    from vidlab.vision.interp import FlowPair

    if not sources:
        raise UsageError("no sources to build interpolation samples from", param="data")
    flow = dict(flow or {})
    parts = {
        "sources": [s.key for s in sources],
        "factors": list(factors),
        "n": frames_per_clip,
        "flow": flow,
        "compress": compress,
        "max_side": max_side,
        "crfs": list(SOURCE_CRFS),
    }
    root = _cache_dir(Path(cache_root), "interp", parts)
    if (root / "meta.json").exists():
        return InterpCache.open(root)
    with _building(root) as tmp:
        writers: dict[str, _ArrayWriter] = {}
        times: list[float] = []
        clips: list[int] = []
        info = []
        for c, src in enumerate(sources):
            if cancel is not None:
                cancel.check()
            frames = [_window(im, max_side) for im in src.decoded(frames_per_clip)]
            if src.render is not None and compress and frames:
                deg = Degradation("libx264", crf=SOURCE_CRFS[c % len(SOURCE_CRFS)], preset="veryfast")
                encoded = tmp / "source.mp4"
                _encode(frames, encoded, src.fps, deg)
                frames = list(_rgb_frames(encoded))
                encoded.unlink()
            if not writers and frames:
                shape = frames[0].shape
                writers = {
                    "warped": _ArrayWriter(tmp / "warped.npy", (2, *shape)),
                    "weight": _ArrayWriter(tmp / "weight.npy", shape[:2]),
                    "truth": _ArrayWriter(tmp / "truth.npy", shape),
                }
            frames = [_fit(im, writers["truth"].shape) for im in frames] if writers else []
            made = 0
            for k in factors:
                engine = FlowPair(**flow)
                try:
                    for i in range(0, len(frames) - k, k):
                        engine.pair(frames[i], frames[i + k])
                        for j in range(1, k):
                            wa, wb, w0 = engine.warped(j / k)
                            writers["warped"].add(np.stack([wa, wb]))
                            writers["weight"].add(np.clip(w0 * 255 + 0.5, 0, 255).astype(np.uint8))
                            writers["truth"].add(frames[i + j])
                            times.append(j / k)
                            clips.append(c)
                            made += 1
                finally:
                    engine.close()
            info.append({"name": src.name, "frames": len(frames), "samples": made})
            if on_progress is not None:
                on_progress(c + 1, len(sources))
        if not times:
            raise UsageError(
                f"no clip has enough frames to drop and rebuild one (factors {list(factors)})", param="data"
            )
        for w in writers.values():
            w.finish()
        np.save(tmp / "t.npy", np.asarray(times, np.float32))
        np.save(tmp / "clip.npy", np.asarray(clips, np.int32))
        (tmp / "meta.json").write_text(json.dumps({"clips": info, "parts": parts}, indent=1))
    return InterpCache.open(root)
