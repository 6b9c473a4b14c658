"""Matting clips with exact ground truth, and matte sequences on disk.

:func:`matte_clip` writes an H.264 clip of a foreground with a known soft alpha over a real
photograph seen by a static or slowly panning camera, and keeps what a matting measurement
needs: the true alpha of every frame (``uint8``, exactly the one the picture was composited
with) and the true background (what the camera would have seen without the subject: same
exposure, no noise). It looks like footage where a matting number depends on it: the subject
and the background mix in linear light, the subject deforms as it moves, exposure flickers a
little, sensor noise (shot plus read, :func:`vidlab.io.footage.sensor_noise`) is new every
frame, and the picture is 4:2:0 H.264 at ``crf``. Two subjects:

- ``kind="shape"``: a fur-textured blob with a feathered edge whose outline wobbles
  (non-rigid) and breathes as it crosses the frame;
- ``kind="photo"``: the astronaut of scikit-image cut out by a drawn soft alpha (feathered
  silhouette, hair-like strands, a half-transparent scarf: the green-screen sample's subject,
  :mod:`vidlab.io.samples`), swaying across the frame with a non-rigid wobble.

The subject crosses the whole frame over the clip, whatever its length, so each background
pixel is uncovered in most frames (a temporal-median background model and a clean plate need
that). For chroma keying, :func:`vidlab.io.samples.greenscreen` is the matching clip.

:class:`MatteSource` reads a matte sequence: a folder of PNG mattes (sorted by name) or a video
(its alpha plane, else its luma), one ``uint8`` matte at a time.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.footage import linear_to_u8, photo, sensor_noise, srgb_to_linear
from vidlab.io.images import write_png
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.samples import _GS_REF, BT709, _gs_subject
from vidlab.io.writer import VideoWriter

KINDS = ("shape", "photo")
CAMERAS = ("static", "pan")
_TAU = 2 * math.pi
_PAN_MARGIN = 0.25  # the scene is this much wider than the frame, so the camera can travel


@dataclass(frozen=True, eq=False)
class MatteClip:
    """A written clip and its ground truth: ``alphas`` (N x H x W ``uint8``, the exact alpha
    each frame was composited with) and ``backgrounds`` (N x H x W x 3 ``uint8`` RGB, the frame
    without the subject: same camera and exposure, no sensor noise, no compression)."""

    path: Path
    info: VideoInfo
    alphas: np.ndarray
    backgrounds: np.ndarray
    kind: str
    camera: str

    def save_alphas(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write the true alphas as gray PNGs ``00000.png``... in ``folder``."""
        return write_mattes(folder, self.alphas)


def write_mattes(folder: str | os.PathLike[str], mattes: np.ndarray | list[np.ndarray]) -> list[Path]:
    """Write mattes (``uint8``, or float 0..1) as 8-bit gray PNGs ``00000.png``... in ``folder``
    (created if missing), each atomically."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, m in enumerate(mattes):
        a = np.asarray(m)
        if a.dtype != np.uint8:
            a = np.clip(a.astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
        path = out / f"{i:05d}.png"
        write_png(path, a)
        paths.append(path)
    return paths


# -- the scene ---------------------------------------------------------------------------------------


@functools.cache
def _scene(name: str, width: int, height: int, pan: bool) -> np.ndarray:
    """The background photograph in linear light, covering the frame (wider when panning)."""
    src = photo(name)
    sw, sh = (math.ceil(width * (1 + _PAN_MARGIN)) if pan else width), height
    s = max(sw / src.shape[1], sh / src.shape[0])
    size = (max(sw, round(src.shape[1] * s)), max(sh, round(src.shape[0] * s)))
    img = cv2.resize(src, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    y0, x0 = (img.shape[0] - sh) // 2, (img.shape[1] - sw) // 2
    lin = srgb_to_linear(np.ascontiguousarray(img[y0 : y0 + sh, x0 : x0 + sw]))
    lin.setflags(write=False)
    return lin


def _background(scene: np.ndarray, width: int, height: int, t: float, pan: bool) -> np.ndarray:
    """The camera's view at ``t`` seconds (linear light): a slow horizontal pan that eases in
    and out over 6 s, with a small vertical drift, or the fixed crop of a tripod shot."""
    if not pan:
        return scene.copy()
    travel = scene.shape[1] - width
    tx = travel * (0.5 - 0.5 * math.cos(_TAU * t / 6.0))
    ty = 0.01 * height * math.sin(_TAU * t / 4.0)
    m = np.float32([[1, 0, -tx], [0, 1, -ty]])
    return cv2.warpAffine(scene, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


# -- the subjects --------------------------------------------------------------------------------------


@functools.cache
def _fur(side: int) -> np.ndarray:
    """The blob's texture: a patch of the cat's fur (``chelsea``), warmed up, linear light."""
    src = photo("chelsea")
    patch = src[40:260, 60:280]
    tex = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA if side < 220 else cv2.INTER_CUBIC)
    lin = srgb_to_linear(tex) * np.float32([1.15, 0.95, 0.8])
    lin.setflags(write=False)
    return lin


def _shape_layer(u: float, t: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The blob at clip position ``u`` (0..1) and time ``t``: linear RGB and float alpha. It
    crosses from left to right, bobs, breathes and its outline wobbles; the edge is feathered
    by a Gaussian of about 1.6 px at 360p (more where the blob moves fast, none of it motion
    blur)."""
    radius = 0.24 * height
    cx = width * (-0.05 + 1.1 * u)
    cy = height * (0.52 + 0.08 * math.sin(_TAU * t / 1.3))
    n = 96
    ang = np.linspace(0, _TAU, n, endpoint=False)
    wob = (
        1
        + 0.14 * np.sin(5 * ang + 3.1 * t)
        + 0.07 * np.sin(2 * ang - 2.3 * t + 1.0)
        + 0.03 * np.sin(11 * ang + 5.0 * t)
    )
    breathe = 1 + 0.08 * math.sin(_TAU * t / 1.7)
    rx, ry = radius * wob * breathe, 1.25 * radius * wob / breathe
    pts = np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], 1)
    shift = 4
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
    feather = 1.6 * height / 360
    alpha = cv2.GaussianBlur(mask.astype(np.float32) * np.float32(1 / 255), (0, 0), feather)
    side = math.ceil(2.6 * radius)
    tex = _fur(side)
    # the texture follows the blob and slides a little inside it: the body deforms
    m = np.float32([[1, 0, cx - side / 2 + 0.04 * side * math.sin(2.0 * t)], [0, 1, cy - side / 2]])
    colour = cv2.warpAffine(tex, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    yy = np.linspace(-1, 1, height, dtype=np.float32)[:, None, None]
    colour *= 1.0 - 0.25 * np.clip((yy - (cy / height * 2 - 1)) * 2, -1, 1)  # lit from above
    return colour, alpha


def _photo_layer(u: float, t: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut at clip position ``u`` and time ``t``: linear RGB and float alpha. The
    head's top is at 20% of the height and the body runs out of the bottom; it crosses the
    frame with a sway, a bob, a slight roll and a smooth non-rigid wobble."""
    scale = 0.8 * height / (600 - 16)  # on-screen px per px of the 512-px reference drawing
    side = 2 * math.ceil(_GS_REF * scale)  # the drawing at 2x the on-screen scale
    colour, alpha = _gs_subject(side)
    cx = width * (-0.1 + 1.2 * u) + 0.03 * width * math.sin(_TAU * t / 1.6)
    cy = height * (0.2 + 0.015 * math.sin(_TAU * t / 1.1))
    roll = math.radians(4.0 * math.sin(_TAU * t / 2.2))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = (x - cx) / scale, (y - cy) / scale
    c, s = math.cos(roll), math.sin(roll)
    px = c * dx + s * dy + 227.0
    py = -s * dx + c * dy + 16.0
    px += 4.0 * np.sin(py / 38.0 + 2.4 * t)
    py += 2.5 * np.sin(px / 45.0 + 1.9 * t + 1.0)
    k = side / _GS_REF
    mx, my = px * k - 0.5 * (k - 1), py * k - 0.5 * (k - 1)
    a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgb = cv2.remap(
        np.ascontiguousarray(colour[..., :3]), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return rgb, np.clip(a, 0.0, 1.0)


def render_matte_frame(
    index: int,
    *,
    width: int,
    height: int,
    frames: int,
    fps: Fraction | int = 30,
    kind: str = "shape",
    camera: str = "pan",
    background: str = "coffee",
    noise: float = 1.5,
    flicker: float = 0.01,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``index`` of a :func:`matte_clip` as the camera saw it (RGB ``uint8``, before
    compression), its true alpha (``uint8``) and its true background (RGB ``uint8``)."""
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", param="kind")
    if camera not in CAMERAS:
        raise UsageError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}", param="camera")
    t = float(Fraction(index) / Fraction(fps))
    u = index / max(1, frames - 1)
    pan = camera == "pan"
    bg = _background(_scene(background, width, height, pan), width, height, t, pan)
    layer = _shape_layer if kind == "shape" else _photo_layer
    fg, a = layer(u, t, width, height)
    alpha = np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)  # the truth: composite with exactly this
    a3 = (alpha.astype(np.float32) * np.float32(1 / 255))[..., None]
    rng = np.random.default_rng((seed, index))
    exposure = np.float32(1 + flicker * float(rng.standard_normal()))
    bg *= exposure
    lin = (fg * exposure) * a3 + bg * (1 - a3)
    if noise > 0:
        lin = sensor_noise(lin, noise, rng)
    return linear_to_u8(lin), alpha, linear_to_u8(bg)


def matte_clip(
    path: str | os.PathLike[str],
    *,
    width: int = 640,
    height: int = 360,
    frames: int = 48,
    fps: Fraction | int | str = 30,
    kind: str = "shape",
    camera: str = "pan",
    background: str = "coffee",
    noise: float = 1.5,
    flicker: float = 0.01,
    seed: int = 0,
    crf: float = 20,
    alpha_dir: str | os.PathLike[str] | None = None,
) -> MatteClip:
    """Write a matting clip (H.264 yuv420p at ``crf``, BT.709) and return it with its ground
    truth; ``alpha_dir`` also writes the true alphas there as PNGs. ``background`` names a
    photograph of :func:`vidlab.io.footage.photo`; ``noise`` is the sensor's read-noise sigma
    in 8-bit code values (0: none); ``flicker`` the relative exposure jitter per frame. Every
    frame is a pure function of the arguments (the noise is seeded by ``seed`` and the frame)."""
    out = Path(path)
    fps = Fraction(fps)
    if frames < 2:
        raise UsageError(f"frames must be >= 2, got {frames}", param="frames")
    if width < 64 or height < 64 or width > 8192 or height > 8192 or width % 2 or height % 2:
        raise UsageError(f"size must be even and between 64x64 and 8192x8192, got {width}x{height}")
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", param="kind")
    if camera not in CAMERAS:
        raise UsageError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}", param="camera")
    info = VideoInfo.constant_rate(out, width, height, fps, frames, codec="libx264", color=BT709)
    settings = EncodeSettings(codec="libx264", crf=crf, pix_fmt="yuv420p", preset=None)
    alphas = np.empty((frames, height, width), np.uint8)
    backgrounds = np.empty((frames, height, width, 3), np.uint8)
    with VideoWriter(out, info, settings) as writer:
        for i in range(frames):
            rgb, alphas[i], backgrounds[i] = render_matte_frame(
                i, width=width, height=height, frames=frames, fps=fps, kind=kind, camera=camera,
                background=background, noise=noise, flicker=flicker, seed=seed,
            )  # fmt: skip
            writer.write(Frame(rgb, Fraction(i) / fps, i))
    clip = MatteClip(out, probe(out), alphas, backgrounds, kind, camera)
    if alpha_dir is not None:
        clip.save_alphas(alpha_dir)
    return clip


# -- reading matte sequences ---------------------------------------------------------------------------


class MatteSource:
    """A matte sequence to read: a folder of PNG mattes (sorted by name; gray, or the alpha of
    RGBA, or the luma of RGB) or a video (its alpha plane where it has one, else its luma).
    ``len()`` is the frame count (a video's probed count); iteration yields ``(name, matte)``
    with ``matte`` ``uint8`` ``H x W`` and ``name`` the file (a PNG's path, or the video's path
    with the frame number), for error messages."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MediaError("no such file or folder", self.path)
        self.files: list[Path] | None = None
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() == ".png")
            if not self.files:
                raise MediaError("the folder holds no .png mattes", self.path)
            self._count = len(self.files)
        else:
            self.info = probe(self.path)
            self._count = int(self.info.frame_count or 0)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        if self.files is not None:
            for f in self.files:
                yield str(f), read_matte_png(f)
            return
        from vidlab.io.reader import VideoReader

        for i, frame in enumerate(VideoReader(self.path, info=self.info)):
            a = frame.alpha_u8
            if a is None:
                a = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
            yield f"{self.path} frame {i}", np.ascontiguousarray(a)


def read_matte_png(path: str | os.PathLike[str]) -> np.ndarray:
    """One PNG matte as ``uint8`` ``H x W``: gray as it is (16-bit scaled to 8), RGBA's alpha,
    RGB's luma."""
    data = np.fromfile(path, np.uint8) if os.path.isfile(path) else np.empty(0, np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise MediaError("not a readable PNG", path)
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., 3]
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(img)


__all__ = [
    "CAMERAS",
    "KINDS",
    "MatteClip",
    "MatteSource",
    "matte_clip",
    "read_matte_png",
    "render_matte_frame",
    "write_mattes",
]
