"""Sample videos with exactly known content: real photographs shipped in scikit-image, panned
and zoomed with known motion, plus moving patterns, optionally with an audio tone.

Every frame is a pure function of its timestamp (:func:`render`), so tests and later issues
(interpolation, flicker measures) have exact ground truth at any instant.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidlab.core.errors import UsageError
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.colors import ColorInfo
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.writer import VideoWriter

BT709 = ColorInfo(primaries=1, transfer=1, matrix=1, range=1)

# VFR pattern: frame durations in units of the nominal period (averages to 1).
_VFR_PATTERN = (1, 1, 2, 1, Fraction(1, 2), Fraction(1, 2))


@dataclass(frozen=True, slots=True)
class Motion:
    """The known motion of the sample: background pan speed (px/s of output) and zoom."""

    pan_px_per_s: float = 48.0
    zoom_amplitude: float = 0.08
    zoom_period_s: float = 6.0


@functools.cache
def _photos() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    return np.ascontiguousarray(data.coffee()), np.ascontiguousarray(data.astronaut())


@functools.cache
def _inset(side: int) -> np.ndarray:
    inset = cv2.resize(_photos()[1], (side, side), interpolation=cv2.INTER_AREA)
    inset.setflags(write=False)
    return inset


def render(t: float, width: int, height: int, motion: Motion = Motion()) -> np.ndarray:
    """The sample frame at time ``t`` seconds: RGB uint8, ``height x width x 3``."""
    coffee = _photos()[0]
    # Background photograph: covers the frame at 1.25x, pans right, breathes in and out.
    scale = 1.25 * max(width / coffee.shape[1], height / coffee.shape[0])
    zoom = 1.0 + motion.zoom_amplitude * math.sin(2 * math.pi * t / motion.zoom_period_s)
    s = scale * zoom
    cx, cy = coffee.shape[1] / 2, coffee.shape[0] / 2
    tx = width / 2 - s * cx - motion.pan_px_per_s * t
    ty = height / 2 - s * cy
    m = np.array([[s, 0, tx], [0, s, ty]], dtype=np.float64)
    frame = cv2.warpAffine(coffee, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    # Inset photograph moving on a smooth Lissajous path.
    iw = ih = max(8, width // 4)
    inset = _inset(iw)
    ax = (width - iw) * (0.5 + 0.4 * math.sin(2 * math.pi * t / 4.0))
    ay = (height - ih) * (0.5 + 0.4 * math.sin(2 * math.pi * t / 3.0))
    mi = np.array([[1, 0, ax], [0, 1, ay]], dtype=np.float64)
    warped = cv2.warpAffine(inset, mi, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full((ih, iw), 255, np.uint8), mi, (width, height), flags=cv2.INTER_LINEAR)
    a = (mask.astype(np.float32) / 255.0)[..., None]
    frame = (frame * (1 - a) + warped * a + 0.5).astype(np.uint8)

    # Moving patterns: a checkerboard tile drifting diagonally and a sliding color-bar strip.
    cs = max(8, height // 6)
    yy, xx = np.mgrid[0:cs, 0:cs]
    check = (((xx // max(1, cs // 6)) + (yy // max(1, cs // 6))) % 2 * 255).astype(np.uint8)
    check = np.repeat(check[..., None], 3, axis=2)
    px = int((40 * t) % max(1, width - cs))
    py = int((25 * t) % max(1, height - cs))
    frame[py : py + cs, px : px + cs] = check
    bar_h = max(4, height // 20)
    bars = np.array(
        [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]],
        np.uint8,
    )
    cols = (np.arange(width) + int(60 * t)) * len(bars) // max(1, width) % len(bars)
    frame[height - bar_h :, :] = bars[cols][None, :, :]
    return np.ascontiguousarray(frame)


def timestamps(frames: int, fps: Fraction, vfr: bool = False) -> list[Fraction]:
    """Presentation times: regular at ``fps``, or an irregular (VFR) pattern averaging ``fps``."""
    if not vfr:
        return [Fraction(i) / fps for i in range(frames)]
    out, t = [], Fraction(0)
    for i in range(frames):
        out.append(t)
        t += Fraction(_VFR_PATTERN[i % len(_VFR_PATTERN)]) / fps
    return out


def write_tone(path: Path, seconds: float, rate: int = 48000, freq: float = 440.0) -> None:
    """An AAC stereo sine tone, used as the sample's audio track."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=rate, layout="stereo")
        n = round(seconds * rate)
        t = np.arange(n) / rate
        wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        block = 1024
        for i in range(0, n, block):
            chunk = wave[i : i + block]
            frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate = rate
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def generate(
    path: str | os.PathLike[str],
    *,
    frames: int = 90,
    size: tuple[int, int] = (640, 360),
    fps: Fraction | int | str = 30,
    audio: bool = False,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    crf: float | None = 16,
    rotation: int = 0,
    sar: Fraction = Fraction(1),
    vfr: bool = False,
    color: ColorInfo = BT709,
    motion: Motion = Motion(),
    gop: int | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> VideoInfo:
    """Write a sample video and return its probe. ``fps`` may be a Fraction such as 30000/1001;
    ``gop`` caps the keyframe interval (frames), which sets where chunked runs can cut."""
    out = Path(path)
    fps = Fraction(fps)
    width, height = size
    if frames < 1:
        raise UsageError(f"frames must be >= 1, got {frames}", param="frames")
    if width < 16 or height < 16 or width > 8192 or height > 8192:
        raise UsageError(f"size must be between 16x16 and 8192x8192, got {width}x{height}", param="size")
    if fps <= 0 or fps > 1000:
        raise UsageError(f"fps must be in (0, 1000], got {fps}", param="fps")
    pts = timestamps(frames, fps, vfr)
    info = VideoInfo.constant_rate(out, width, height, fps, frames, codec=codec, pix_fmt=pix_fmt, color=color)
    info = info.with_changes(sar=sar, rotation=rotation)
    if vfr:
        last = pts[-1] - pts[-2] if frames > 1 else 1 / fps
        info = info.with_changes(time_base=Fraction(1, 90000), duration=pts[-1] + last, is_vfr=True)
    settings = EncodeSettings(
        codec=codec,
        crf=crf if codec != "ffv1" else None,
        pix_fmt=pix_fmt,
        preset=None,
        options={"g": str(gop)} if gop else {},
    )
    with tempfile.TemporaryDirectory(prefix="vidlab-sample-") as tmp:
        tone = None
        if audio:
            tone = Path(tmp) / "tone.mka"
            write_tone(tone, float(info.duration))
        with VideoWriter(out, info, settings, audio_from=tone) as writer:
            for i, t in enumerate(pts):
                writer.write(Frame(render(float(t), width, height, motion), t, i))
                if on_frame is not None:
                    on_frame(i + 1)
    return probe(out)


# -- green-screen clip --------------------------------------------------------------------------------

#: Screen paints in linear light (BT.709 primaries): a chroma-key green and a chroma-key blue.
SCREEN_COLORS = {"green": (0.02, 0.40, 0.06), "blue": (0.02, 0.07, 0.45)}
_GS_REF = 512  # the subject is drawn in the coordinates of skimage's 512 x 512 astronaut photo
_GS_CANVAS_H = 600  # ... on a canvas that runs on below the photo


def _oetf(lin: np.ndarray) -> np.ndarray:
    """BT.709 OETF (linear light to 0..1 video signal), on float32."""
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin < 0.018, 4.5 * lin, 1.099 * np.power(lin, 0.45, dtype=np.float32) - 0.099)


def _inverse_oetf(v: np.ndarray) -> np.ndarray:
    return np.where(v < 0.081, v / 4.5, np.power((v + 0.099) / 1.099, 1 / 0.45, dtype=np.float32))


@functools.cache
def _gs_subject(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The subject drawn once on a canvas ``side`` wide (the astronaut photo's frame, reflected
    below its bottom edge so the body runs out of the shot): linear RGB foreground colours
    (float32) with a fourth channel, the weight of screen spill, and the exact alpha (float32
    0..1): a feathered silhouette, hair-like strands and a half-transparent gauze scarf. The
    colour under the feathered edge is the subject's own, carried outwards from inside (a real
    edge shows the subject, not whatever stood behind it in the photograph). Read-only."""
    k = side / _GS_REF
    photo = cv2.resize(_photos()[1], (side, side), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    photo = cv2.copyMakeBorder(photo, 0, round(_GS_CANVAS_H * k) - side, 0, 0, cv2.BORDER_REFLECT)
    height = photo.shape[0]
    fg = _inverse_oetf(photo.astype(np.float32) / 255.0)
    shift = 4  # sub-pixel drawing with cv2's fixed-point coordinates

    def pts(points: list[tuple[float, float]]) -> np.ndarray:
        return np.round(np.array(points) * k * (1 << shift)).astype(np.int32)

    def ellipse(
        canvas: np.ndarray, centre: tuple[float, float], axes: tuple[float, float], angle: float
    ) -> None:
        (cx, cy), (ax, ay) = pts([centre, axes])
        cv2.ellipse(
            canvas, (int(cx), int(cy)), (int(ax), int(ay)), angle, 0, 360, 255, -1, cv2.LINE_AA, shift
        )

    body = np.zeros((height, side), np.uint8)
    ellipse(body, (227, 86), (72, 70), 0)  # head and hair
    ellipse(body, (208, 220), (95, 68), -5)  # helmet ring
    neck = [(190, 130), (264, 130), (270, 180), (186, 180)]
    torso = [(112, 236), (318, 240), (352, 290), (366, 600), (20, 600), (24, 330), (52, 262)]
    cv2.fillPoly(body, [pts(neck), pts(torso)], 255, cv2.LINE_AA, shift=shift)
    core = cv2.erode(body, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * round(6 * k) + 1,) * 2)) > 128
    # Feathered edge: a Gaussian a few output pixels wide at any size.
    body_a = cv2.GaussianBlur(body.astype(np.float32) / 255.0, (0, 0), 3.2 * k)

    # Carry the subject's colours outwards from its core (normalized convolution, coarse to fine).
    m = core.astype(np.float32)
    ext = fg.copy()
    for sigma in (48.0, 16.0, 6.0):
        w = cv2.GaussianBlur(m, (0, 0), sigma * k)
        avg = cv2.GaussianBlur(fg * m[..., None], (0, 0), sigma * k) / np.maximum(w, 1e-6)[..., None]
        ext = np.where((w > 1e-3)[..., None], avg, ext)
    fg = np.where(core[..., None], fg, ext).astype(np.float32)

    # Screen spill: its light wraps onto the subject's edge, fading over ~8 reference px.
    inside = cv2.distanceTransform((body_a > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    spill = np.exp(-inside / (8.0 * k)).astype(np.float32)

    # Hair-like strands: thin curved lines leaving the top of the head, hair-coloured.
    rng = np.random.default_rng(1234)
    hair = np.zeros((height, side), np.uint8)
    for angle in np.linspace(-2.7, -0.45, 14):
        r0 = 62 + rng.uniform(-4, 2)
        length = rng.uniform(18, 40)
        bend = rng.uniform(-0.15, 0.15)
        curve = []
        for s in np.linspace(0.0, 1.0, 12):
            a = angle + bend * s * s
            r = r0 + length * s
            curve.append((227 + r * 1.05 * math.cos(a), 86 + r * math.sin(a)))
        cv2.polylines(hair, [pts(curve)], False, 255, 1, cv2.LINE_AA, shift)
    hair_a = cv2.GaussianBlur(hair.astype(np.float32) / 255.0, (0, 0), 0.7) * 0.9  # ~half a px wide
    hair_rgb = _inverse_oetf(np.array([0.62, 0.47, 0.28], np.float32))

    # A half-transparent gauze scarf hanging off the right shoulder, over the screen.
    scarf = np.zeros((height, side), np.uint8)
    ellipse(scarf, (392, 350), (46, 120), 12)
    scarf_a = cv2.GaussianBlur(scarf.astype(np.float32) / 255.0, (0, 0), 2.0 * k)
    yy = np.arange(height, dtype=np.float32)[:, None] / k
    scarf_a = scarf_a * (0.45 + 0.08 * np.sin(yy / 3.1))  # faint stripes in the weave
    scarf_rgb = _inverse_oetf(np.array([0.93, 0.90, 0.86], np.float32))

    # Layers: the scarf behind the body, the strands over both (premultiplied "over").
    premul = fg * body_a[..., None] + scarf_rgb * (scarf_a * (1 - body_a))[..., None]
    alpha = body_a + scarf_a * (1 - body_a)
    premul = hair_rgb * hair_a[..., None] + premul * (1 - hair_a[..., None])
    alpha = hair_a + alpha * (1 - hair_a)
    colour = premul / np.maximum(alpha, 1e-6)[..., None]
    colour = np.where(alpha[..., None] > 1e-6, colour, fg)
    spill = np.maximum(spill * body_a, np.clip(hair_a * 2, 0, 1) * (1 - body_a))  # strands catch it too
    colour = np.concatenate([colour, spill[..., None]], axis=2).astype(np.float32)
    colour.setflags(write=False)
    alpha = alpha.astype(np.float32)
    alpha.setflags(write=False)
    return colour, alpha


@functools.cache
def _gs_backdrop(width: int, height: int, key: str, seed: int) -> np.ndarray:
    """The unevenly lit screen in linear light: a soft key light from the upper left, falloff
    to the right, vignette, fabric folds and a slight hue drift across the cloth."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    hot = np.exp(-(((u - 0.3) / 0.45) ** 2 + ((v - 0.25) / 0.6) ** 2))
    light = 0.62 + 0.45 * hot - 0.12 * u
    r2 = ((u - 0.5) / 0.5) ** 2 + ((v - 0.5) / 0.5) ** 2 * (height / width) ** 2
    light *= 1.0 - 0.28 * r2  # lens vignette
    folds = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 0.04 * width)
    folds /= max(1e-6, float(folds.std()))
    creases = np.sin(2 * np.pi * (u * 2.3 + v * 0.7) + 1.0) * np.exp(-(((u - 0.75) / 0.08) ** 2))
    light *= 1.0 + 0.05 * folds + 0.04 * creases
    base = np.array(SCREEN_COLORS[key], np.float32)
    drift = 1.0 + 0.15 * (u - 0.5)[..., None] * np.array([1.0, 0.0, -0.6], np.float32)
    screen = (light[..., None] * base * drift).astype(np.float32)
    screen.setflags(write=False)
    return screen


def _gs_layer(index: int, width: int, height: int, fps: Fraction, with_colour: bool):
    """The subject warped to frame ``index``: (colour + spill weight, alpha) or (None, alpha).
    Motion: a sway across the frame, a bob, a slight roll, and a smooth non-rigid wobble."""
    t = float(index / fps)
    side = 2 * math.ceil(height * _GS_REF / 540)  # the canvas at 2x the on-screen scale
    colour, alpha = _gs_subject(side)
    scale = height / 540  # on-screen px per reference px: head at the top, body out of the shot
    cx = width * (0.5 + 0.12 * math.sin(2 * math.pi * t / 3.2)) + 0.02 * width * t
    cy = height * (0.5 + 0.025 * math.sin(2 * math.pi * t / 1.7))
    roll = math.radians(3.0 * math.sin(2 * math.pi * t / 2.5))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = (x - cx) / scale, (y - cy) / scale
    c, s = math.cos(roll), math.sin(roll)
    px = c * dx + s * dy + 227.0
    py = -s * dx + c * dy + 290.0
    wob = 4.0
    px += wob * np.sin(py / 38.0 + 2.1 * t)
    py += 0.6 * wob * np.sin(px / 45.0 + 1.7 * t + 1.0)
    k = side / _GS_REF
    mx, my = px * k - 0.5 * (k - 1), py * k - 0.5 * (k - 1)
    a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = np.clip(a, 0.0, 1.0)
    if not with_colour:
        return None, a
    return cv2.remap(colour, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), a


def greenscreen_alpha(index: int, width: int, height: int, fps: Fraction | int = 30) -> np.ndarray:
    """The exact alpha (float32 0..1, ``height x width``) of frame ``index`` of :func:`greenscreen`."""
    return _gs_layer(index, width, height, Fraction(fps), False)[1]


def render_greenscreen(
    index: int, width: int, height: int, *, fps: Fraction | int = 30, key: str = "green", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` of the green-screen clip as the camera saw it (RGB uint8, before
    compression) and its exact alpha (float32 0..1). The subject and the screen mix in linear
    light; screen light spills onto the subject's edge; sensor noise is shot noise plus read
    noise (so dark areas are noisy too), new every frame; the signal is BT.709-encoded."""
    if key not in SCREEN_COLORS:
        raise UsageError(f"key must be one of {', '.join(SCREEN_COLORS)}, got {key!r}")
    col, a = _gs_layer(index, width, height, Fraction(fps), True)
    assert col is not None
    screen = _gs_backdrop(width, height, key, seed)
    spill = col[..., 3:4] * 0.2
    fg = col[..., :3] * (1.0 - spill) + spill * np.array(SCREEN_COLORS[key], np.float32)
    a3 = a[..., None]
    lin = fg * a3 + screen * (1.0 - a3)
    rng = np.random.default_rng((seed, index))
    sigma = np.sqrt(0.0005 * lin + 0.0025**2)
    lin = lin + sigma * rng.standard_normal(lin.shape, dtype=np.float32)
    rgb = (_oetf(lin) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb), a


def greenscreen(
    path: str | os.PathLike[str],
    *,
    frames: int = 48,
    size: tuple[int, int] = (480, 270),
    fps: Fraction | int | str = 30,
    key: str = "green",
    crf: float = 20,
    seed: int = 0,
    codec: str = "libx264",
) -> tuple[VideoInfo, Callable[[int], np.ndarray]]:
    """Write a green-screen (or ``key="blue"``) clip, H.264 yuv420p at ``crf``: the astronaut
    photograph cut out by a drawn, feathered alpha with hair-like strands and a half-transparent
    scarf, swaying with a non-rigid wobble over a noisy, unevenly lit screen. Returns the probe
    and ``truth(i)``, the exact alpha (float32 0..1) of frame ``i``."""
    out = Path(path)
    fps = Fraction(fps)
    width, height = size
    if frames < 1:
        raise UsageError(f"frames must be >= 1, got {frames}")
    if width < 64 or height < 64 or width > 8192 or height > 8192:
        raise UsageError(f"size must be between 64x64 and 8192x8192, got {width}x{height}")
    if key not in SCREEN_COLORS:
        raise UsageError(f"key must be one of {', '.join(SCREEN_COLORS)}, got {key!r}")
    info = VideoInfo.constant_rate(out, width, height, fps, frames, codec=codec, color=BT709)
    settings = EncodeSettings(codec=codec, crf=crf, pix_fmt="yuv420p", preset=None)
    with VideoWriter(out, info, settings) as writer:
        for i in range(frames):
            rgb, _ = render_greenscreen(i, width, height, fps=fps, key=key, seed=seed)
            writer.write(Frame(rgb, Fraction(i) / fps, i))

    def truth(i: int) -> np.ndarray:
        return greenscreen_alpha(i, width, height, fps)

    return probe(out), truth
