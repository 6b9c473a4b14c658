"""Clips that look like camera footage, with exactly known content, for training and for any
measurement whose number depends on realism (enhancers, interpolation).

A scene is a photograph bundled with scikit-image, or a "dead leaves" collage of patches from
those photographs (overlapping shapes with a scale-invariant size distribution, whose statistics
are close to natural images'), seen by a moving camera. What makes it look like footage:

- **camera motion**: a pan, a slow zoom, a static tripod shot, or a handheld shot with shake;
- **small non-rigid subjects**: textured blobs whose outlines wobble, crossing the frame;
- **motion blur** consistent with the motion: each frame averages sub-frame renders over the
  shutter interval, in linear light;
- **lighting changes**: a slow exposure drift and a small frame-to-frame flicker;
- **sensor noise**: shot noise (grows with the signal) plus read noise (dominates in dark
  areas), added in linear light before the BT.709 transfer and 8-bit quantisation;
- a mild vignette.

The photographs are split: :data:`TRAIN_PHOTOS` for training data, :data:`TEST_PHOTOS` (the ones
the benchmark clips use) held out, so a model is measured on pictures it never saw. Every frame is
a pure function of (spec, frame index): the noise is seeded per frame.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab.core.errors import UsageError
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.samples import BT709
from vidlab.io.writer import VideoWriter

#: Photographs used to make training clips: none of them appears in a benchmark clip.
TRAIN_PHOTOS = (
    "camera",
    "coins",
    "moon",
    "page",
    "text",
    "cell",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "clock",
    "colorwheel",
    "grace_hopper",  # matplotlib's sample data: the one natural colour portrait outside skimage
)
#: Held out for measurement (benchmarks/interp_clips.py draws on these too).
TEST_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle", "brick", "grass", "gravel")
MOTIONS = ("pan", "zoom", "static", "handheld")
_TAU = 2 * math.pi


@dataclass(frozen=True, slots=True)
class FootageSpec:
    """One clip: the scene (``photo``, or ``"leaves"`` for a dead-leaves collage of ``palette``
    photos), the camera ``motion``, ``subjects`` non-rigid blobs, ``noise`` (read-noise sigma in
    8-bit code values at black; shot noise scales with it), ``shutter`` (fraction of the frame
    period the shutter is open: 0.5 is a 180-degree shutter), ``flicker`` (relative exposure
    jitter per frame), a ``seed`` for everything random, and the noise's ``grain`` (its
    correlation in pixels, see :func:`sensor_noise`; 0: independent per pixel)."""

    photo: str = "leaves"
    motion: str = "handheld"
    subjects: int = 2
    noise: float = 2.0
    shutter: float = 0.5
    flicker: float = 0.02
    speed: float = 1.0
    seed: int = 0
    palette: tuple[str, ...] = TRAIN_PHOTOS
    grain: float = 0.0

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise UsageError(
                f"motion must be one of {', '.join(MOTIONS)}, got {self.motion!r}", param="motion"
            )
        for name in (self.photo, *self.palette):
            if name != "leaves" and name not in TRAIN_PHOTOS + TEST_PHOTOS and not _is_photo_file(name):
                raise UsageError(f"unknown photo {name!r} (a bundled name or an image file)", param="photo")


#: Image files a photo folder may hold (see :func:`photo_folder`).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def _is_photo_file(name: str) -> bool:
    return Path(name).suffix.lower() in PHOTO_SUFFIXES and Path(name).is_file()


def photo_folder(folder: str | os.PathLike[str]) -> tuple[str, ...]:
    """The image files in ``folder`` (not recursive), sorted, as paths :func:`photo` and
    :class:`FootageSpec` take: a user's own photographs for training scenes."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError("not a folder of photographs", root, param="photos")
    files = tuple(str(p) for p in sorted(root.iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise UsageError(f"no images ({', '.join(PHOTO_SUFFIXES)}) in the folder", root, param="photos")
    return files


def srgb_to_linear(img: np.ndarray) -> np.ndarray:
    """uint8 video signal to float32 linear light (inverse BT.709 OETF)."""
    v = img.astype(np.float32) / 255.0
    return np.where(v < 0.081, v / 4.5, np.power((v + 0.099) / 1.099, 1 / 0.45, dtype=np.float32))


def linear_to_u8(lin: np.ndarray) -> np.ndarray:
    """float32 linear light to the uint8 video signal (BT.709 OETF, clipped and rounded)."""
    lin = np.clip(lin, 0.0, 1.0)
    v = np.where(lin < 0.018, 4.5 * lin, 1.099 * np.power(lin, 0.45, dtype=np.float32) - 0.099)
    return np.clip(v * 255.0 + 0.5, 0, 255).astype(np.uint8)


def sensor_noise(lin: np.ndarray, noise: float, rng: np.random.Generator, grain: float = 0.0) -> np.ndarray:
    """``lin`` (float32 linear light) plus a camera sensor's noise: read noise of sigma about
    ``noise`` 8-bit code values at black, and shot noise whose variance grows with the signal.
    ``grain`` > 0 correlates the noise over about that many pixels (a Gaussian of that sigma,
    same variance), as a camera's demosaicing and noise reduction leave it: blotchy grain that
    looks like texture to a motion estimator, where i.i.d. noise averages out."""
    read = (noise / 255.0) ** 2 * 0.05  # read-noise variance in linear light near black
    shot = (noise / 255.0) * 0.02  # shot noise: variance grows with the signal
    sigma = np.sqrt(read + shot * np.clip(lin, 0, 1))
    field = rng.standard_normal(lin.shape, dtype=np.float32)
    if grain > 0:
        field = cv2.GaussianBlur(field, (0, 0), grain)
        # a Gaussian of sigma s keeps 1 / (2 sqrt(pi) s) of white noise's variance (per axis)
        field *= np.float32(2 * math.sqrt(math.pi) * grain)
    return lin + sigma * field


_srgb_to_linear = srgb_to_linear  # the old private names, kept for existing callers
_linear_to_u8 = linear_to_u8


@functools.cache
def photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image (or matplotlib's ``grace_hopper``), or an image file
    given by its path, as RGB uint8 (read-only). Gray ones are tinted with a smooth random colour
    field, so they carry plausible chroma."""
    if _is_photo_file(name):
        from vidlab.io.images import read_image

        img = read_image(name)
    elif name == "grace_hopper":
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    else:
        from skimage import data

        img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo pairs: the left view
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 3 and img.shape[2] == 4:  # RGBA over mid gray
        a = img[..., 3:4].astype(np.float32) / 255
        img = (img[..., :3] * a + 128 * (1 - a)).astype(np.uint8)
    if img.ndim == 2:
        rng = np.random.default_rng(sum(map(ord, name)))  # stable per photo
        h, w = img.shape
        field = rng.uniform(0.55, 1.0, (3, 3, 3)).astype(np.float32)
        tint = cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img[..., None].astype(np.float32) * tint / tint.mean(axis=2, keepdims=True), 0, 255)
        img = img.astype(np.uint8)
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img


def dead_leaves(
    width: int, height: int, palette: tuple[str, ...], seed: int, shapes: int = 400
) -> np.ndarray:
    """A dead-leaves collage (RGB uint8): ``shapes`` overlapping discs, ellipses and polygons
    whose radius follows a 1/r^3 law (scale invariant, like natural images), each filled with
    a patch of a photograph from ``palette`` or a shaded flat colour, with soft edges."""
    rng = np.random.default_rng(seed)
    base = photo(palette[int(rng.integers(len(palette)))])
    canvas = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    if canvas.ndim == 2:
        canvas = canvas[..., None].repeat(3, 2)
    rmin, rmax = max(3.0, min(width, height) / 60), min(width, height) / 2.5
    for _ in range(shapes):
        u = rng.uniform()
        r = (rmin**-2 - u * (rmin**-2 - rmax**-2)) ** -0.5  # inverse CDF of p(r) ~ r^-3
        cx, cy = rng.uniform(-r, width + r), rng.uniform(-r, height + r)
        x0, y0 = int(max(0, cx - r - 2)), int(max(0, cy - r - 2))
        x1, y1 = int(min(width, cx + r + 3)), int(min(height, cy + r + 3))
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        kind = rng.integers(3)
        centre = (int((cx - x0) * 16), int((cy - y0) * 16))
        if kind == 0:
            cv2.circle(mask, centre, int(r * 16), 255, -1, cv2.LINE_AA, 4)
        elif kind == 1:
            axes = (int(r * 16), int(r * rng.uniform(0.3, 1.0) * 16))
            cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, 4)
        else:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, _TAU, n))
            pts = np.stack([cx - x0 + r * np.cos(ang), cy - y0 + r * np.sin(ang)], 1)
            cv2.fillPoly(mask, [(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        h, w = mask.shape
        if rng.uniform() < 0.75:
            src = photo(palette[int(rng.integers(len(palette)))])
            scale = rng.uniform(0.5, 2.0)
            sh, sw = max(1, int(h / scale)), max(1, int(w / scale))
            sy = int(rng.integers(0, max(1, src.shape[0] - sh)))
            sx = int(rng.integers(0, max(1, src.shape[1] - sw)))
            patch = src[sy : sy + sh, sx : sx + sw]
            fill = cv2.resize(patch, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            if fill.ndim == 2:
                fill = fill[..., None].repeat(3, 2)
            fill *= rng.uniform(0.6, 1.3, 3).astype(np.float32)
        else:
            base = rng.uniform(10, 245, 3).astype(np.float32)
            gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
            g = 1 + 0.4 * (
                (gx / max(1, w) - 0.5) * rng.uniform(-1, 1) + (gy / max(1, h) - 0.5) * rng.uniform(-1, 1)
            )
            fill = base * g[..., None]
        a = (mask.astype(np.float32) / 255)[..., None]
        region = canvas[y0:y1, x0:x1]
        region[:] = region * (1 - a) + fill[: region.shape[0], : region.shape[1]] * a
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


class Footage:
    """Renders a :class:`FootageSpec` at ``width x height`` and ``fps``: ``frame(i)`` is the
    i-th frame (uint8 RGB), ``clean(i)`` the same instant without blur, noise or flicker."""

    def __init__(self, spec: FootageSpec, width: int, height: int, fps: Fraction | int = 30) -> None:
        self.spec, self.width, self.height, self.fps = spec, width, height, Fraction(fps)
        rng = np.random.default_rng(spec.seed)
        side = 1.5  # the scene is 1.5x the frame, so the camera can travel
        sw, sh = int(width * side), int(height * side)
        if spec.photo == "leaves":
            scene = dead_leaves(sw, sh, spec.palette, spec.seed, shapes=int(250 * side * side))
        else:
            src = photo(spec.photo)
            s = max(sw / src.shape[1], sh / src.shape[0])
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
            scene = cv2.resize(
                src,
                (max(sw, round(src.shape[1] * s)), max(sh, round(src.shape[0] * s))),
                interpolation=interp,
            )
        self._scene = _srgb_to_linear(scene)
        self._phases = rng.uniform(0, _TAU, 16)
        self._dir = rng.uniform(0, _TAU)
        self._subjects = [self._make_subject(rng, k) for k in range(spec.subjects)]
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        d2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
        self._vignette = (1 - 0.18 * d2)[..., None].astype(np.float32)

    def _make_subject(self, rng: np.random.Generator, k: int) -> dict:
        size = int(self.height * rng.uniform(0.08, 0.18))
        palette = self.spec.palette
        src = photo(palette[int(rng.integers(len(palette)))])
        y = int(rng.integers(0, max(1, src.shape[0] - size)))
        x = int(rng.integers(0, max(1, src.shape[1] - size)))
        tex = cv2.resize(src[y : y + size * 2, x : x + size * 2], (size, size), interpolation=cv2.INTER_AREA)
        if tex.ndim == 2:
            tex = tex[..., None].repeat(3, 2)
        tex = tex.astype(np.float32) * rng.uniform(0.7, 1.3, 3).astype(np.float32)
        return {
            # linear light, stretched once to the blob's (size x 2 size) box, not per render
            "tex": cv2.resize(
                _srgb_to_linear(np.clip(tex, 0, 255).astype(np.uint8)),
                (size, size * 2),
                interpolation=cv2.INTER_LINEAR,
            ),
            "size": size,
            "y": rng.uniform(0.2, 0.8),
            "speed": rng.uniform(0.08, 0.3) * (1 if k % 2 == 0 else -1),  # frame widths per second
            "x0": rng.uniform(0, 1),
            "lobes": int(rng.integers(3, 7)),
            "phase": rng.uniform(0, _TAU),
        }

    def _camera(self, t: float) -> np.ndarray:
        """The scene-to-frame affine transform at ``t`` seconds."""
        sp, p = self.spec, self._phases
        sh, sw = self._scene.shape[:2]
        zoom, angle, tx, ty = 1.0, 0.0, 0.0, 0.0
        travel_x, travel_y = (sw - self.width) / 2, (sh - self.height) / 2
        if sp.motion == "pan":
            tx = travel_x * 0.9 * math.sin(0.25 * sp.speed * t + p[0])
            ty = travel_y * 0.2 * math.sin(0.2 * sp.speed * t + p[1])
        elif sp.motion == "zoom":
            zoom = 1.0 + 0.25 * (0.5 - 0.5 * math.cos(0.5 * sp.speed * t + p[2]))
        if sp.motion in ("handheld", "zoom"):
            shake = sum(math.sin(f * t + p[3 + i]) / (i + 1) for i, f in enumerate((1.3, 2.9, 5.7, 11.3)))
            shake_y = sum(math.sin(f * t + p[8 + i]) / (i + 1) for i, f in enumerate((1.1, 3.3, 6.1, 9.7)))
            s = self.height / 720 * sp.speed
            tx += 6 * s * shake + 40 * s * math.sin(0.3 * t + p[12])
            ty += 5 * s * shake_y
            angle = 0.6 * math.sin(0.7 * t + p[13])
        m = cv2.getRotationMatrix2D((sw / 2 + tx, sh / 2 + ty), angle, zoom)
        m[0, 2] += self.width / 2 - (sw / 2 + tx)
        m[1, 2] += self.height / 2 - (sh / 2 + ty)
        return m

    def _render(self, t: float) -> np.ndarray:
        """Linear-light float32 frame at ``t`` with no blur or noise."""
        img = cv2.warpAffine(
            self._scene,
            self._camera(t),
            (self.width, self.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        for sub in self._subjects:
            self._stamp(img, sub, t)
        return img

    def _stamp(self, img: np.ndarray, sub: dict, t: float) -> None:
        """Composite one subject: a textured blob whose outline wobbles (non-rigid) and which
        bobs as it travels."""
        size = sub["size"]
        span = self.width + 2 * size
        cx = (sub["x0"] * span + sub["speed"] * self.width * t * self.spec.speed) % span - size
        cy = sub["y"] * self.height + 0.1 * size * math.sin(_TAU * 1.5 * t + sub["phase"])
        n = 48
        ang = np.linspace(0, _TAU, n, endpoint=False)
        wob = 1 + 0.18 * np.sin(sub["lobes"] * ang + 4 * t + sub["phase"]) + 0.08 * np.sin(2 * ang - 3 * t)
        r = 0.45 * size * wob
        x0, y0 = math.floor(cx - size / 2), math.floor(cy - size / 2)
        pts = np.stack([cx - x0 + r * np.cos(ang), cy - y0 + r * np.sin(ang) * 1.3], 1)
        mask = np.zeros((size * 2, size), np.float32)
        cv2.fillPoly(mask, [(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        # the texture slides a little inside the outline: the body deforms, not just moves
        shift = np.float32([[1, 0, 0.05 * size * math.sin(3 * t)], [0, 1, 0]])
        tex = cv2.warpAffine(sub["tex"], shift, (size, size * 2), borderMode=cv2.BORDER_REFLECT)
        y0 -= size // 2
        ya, yb = max(0, y0), min(self.height, y0 + size * 2)
        xa, xb = max(0, x0), min(self.width, x0 + size)
        if ya >= yb or xa >= xb:
            return
        m = mask[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
        region = img[ya:yb, xa:xb]
        region[:] = region * (1 - m) + tex[ya - y0 : yb - y0, xa - x0 : xb - x0] * m

    def _exposure(self, index: int) -> float:
        t = index / float(self.fps)
        drift = 1 + 0.12 * math.sin(0.35 * t + self._phases[14])
        jitter = np.random.default_rng((self.spec.seed, index, 1)).normal(0, self.spec.flicker)
        return drift * (1 + float(jitter))

    def clean(self, index: int) -> np.ndarray:
        """Frame ``index`` with the camera and subjects only: no blur, noise or lighting change."""
        return _linear_to_u8(self._render(index / float(self.fps)))

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a camera would record it (uint8 RGB)."""
        sp = self.spec
        t = index / float(self.fps)
        samples = 1 if sp.shutter <= 0 else 4
        open_s = sp.shutter / float(self.fps)
        acc = np.zeros((self.height, self.width, 3), np.float32)
        for k in range(samples):
            dt = 0.0 if samples == 1 else open_s * ((k + 0.5) / samples - 0.5)
            acc += self._render(t + dt)
        lin = acc * (self._exposure(index) / samples) * self._vignette
        if sp.noise > 0:
            lin = sensor_noise(lin, sp.noise, np.random.default_rng((sp.seed, index, 2)), sp.grain)
        return _linear_to_u8(lin)


def write_footage(
    path: str | os.PathLike[str],
    spec: FootageSpec,
    *,
    frames: int = 60,
    size: tuple[int, int] = (1280, 720),
    fps: Fraction | int = 30,
    codec: str = "libx264",
    crf: float | None = 12,
    on_frame: Callable[[int], None] | None = None,
) -> VideoInfo:
    """Write ``frames`` frames of footage as a (near-lossless by default) video and probe it."""
    if frames < 1:
        raise UsageError(f"frames must be >= 1, got {frames}", param="frames")
    width, height = size
    out = Path(path)
    fps = Fraction(fps)
    footage = Footage(spec, width, height, fps)
    info = VideoInfo.constant_rate(
        out, width, height, fps, frames, codec=codec, pix_fmt="yuv420p", color=BT709
    )
    settings = EncodeSettings(codec=codec, crf=crf, pix_fmt="yuv420p")
    with VideoWriter(out, info, settings) as writer:
        for i in range(frames):
            writer.write(Frame(footage.frame(i), Fraction(i) / fps, i))
            if on_frame is not None:
                on_frame(i + 1)
    return probe(out)


def training_specs(
    count: int,
    seed: int = 0,
    noise: tuple[float, float] = (0.3, 2.0),
    grain: tuple[float, float] = (0.0, 0.0),
    photos: tuple[str, ...] = TRAIN_PHOTOS,
) -> list[FootageSpec]:
    """``count`` varied training scenes from ``photos`` (by default :data:`TRAIN_PHOTOS`; names or
    image files; half the scenes are dead-leaves collages of all of them), cycling through the
    camera motions, with noise (read-noise sigma in the ``noise`` range), grain (in the
    ``grain`` range), shutter and flicker drawn per clip."""
    rng = np.random.default_rng(seed)
    specs = []
    for k in range(count):
        scene = "leaves" if k % 2 == 0 else photos[(k // 2) % len(photos)]
        specs.append(
            FootageSpec(
                photo=scene,
                palette=tuple(photos),
                motion=MOTIONS[k % len(MOTIONS)],
                subjects=int(rng.integers(0, 4)),
                noise=float(rng.uniform(*noise)),
                shutter=float(rng.choice([0.0, 0.25, 0.5, 0.75])),
                flicker=float(rng.uniform(0, 0.03)),
                speed=float(rng.uniform(0.5, 2.0)),
                seed=seed * 1000 + k,
                # drawn only when asked, so the other fields' draws stay as they were
                grain=float(rng.uniform(*grain)) if grain[1] > 0 else 0.0,
            )
        )
    return specs


def held_out_specs() -> list[FootageSpec]:
    """Held-out scenes for measurement, drawn only from :data:`TEST_PHOTOS`: two dead-leaves
    collages of them (native-scale detail, as a 720p camera frame has), panned and handheld, and
    two photographs (a slow zoom, a tripod shot), each with subjects and a camera's noise."""
    test = TEST_PHOTOS
    return [
        FootageSpec(photo="leaves", motion="pan", subjects=3, noise=1.2, seed=9000, palette=test),
        FootageSpec(photo="leaves", motion="handheld", subjects=2, noise=1.0, seed=9001, palette=test),
        FootageSpec(photo="astronaut", motion="zoom", subjects=2, noise=1.0, seed=9002, palette=test),
        FootageSpec(photo="coffee", motion="static", subjects=2, noise=1.5, seed=9003, palette=test),
    ]


__all__ = [
    "MOTIONS",
    "TEST_PHOTOS",
    "TRAIN_PHOTOS",
    "Footage",
    "FootageSpec",
    "dead_leaves",
    "held_out_specs",
    "linear_to_u8",
    "photo",
    "photo_folder",
    "sensor_noise",
    "srgb_to_linear",
    "training_specs",
    "write_footage",
]
