"""Real-looking test clips with real motion, for benchmarking frame interpolation: drop every
other frame, interpolate it back, and compare with the dropped ground truth.

Two sets. The classic set (:data:`CLIPS`) is clean: every frame is a pure, deterministic function
of its time ``t``, built only from photographs bundled with scikit-image (no network), NumPy and
OpenCV, with no motion blur and near-lossless compression. All drawing is anti-aliased and
positioned to sub-pixel accuracy, so motion is smooth rather than stepping by whole pixels.
Sizes and speeds are given for 1280x720 and scale with the frame height.

- ``pan``: camera pan over a stitched panorama of photographs, easing in and out (peak
  12 px/frame at 30 fps), with a slight vertical bob, behind a wooden fence that moves 1.6x
  faster (parallax), so background keeps disappearing behind posts and rails.
- ``walkers``: four articulated, photo-textured figures (swinging arms and legs, bobbing
  hips, soft ground shadows) walking or running across a slowly drifting photograph at
  different speeds and directions, occluding each other and entering or leaving at the edges.
- ``animation``: cartoon look, flat colors with dark outlines: parallax-scrolling hills, trees
  and clouds, a sun with turning rays, a bouncing squashing blob, a spinning box on a circle,
  a star on a figure-eight and a spinning beach ball crossing at ~23 px/frame.
- ``zoom``: handheld shot of a gallery wall (brick, framed photographs): slow zoom 1.0 -> 1.3,
  a couple of degrees of wobble, low-frequency shake, vignette and mild film grain (sigma ~2
  code values, seeded by the frame time, so it is new every frame yet reproducible).

These overstate what a flow method gains on camera footage (issue 6: +1.30 dB here, +0.74 dB on
real clips, and a noisy static street shot lost 0.5 dB to minterpolate). The camera set
(:data:`REAL_CLIPS`) is recorded through a camera model: each frame averages 5-6 sub-frame
renders over the shutter interval in linear light (motion blur that matches the motion), gets a
slow exposure drift and a per-frame flicker, a vignette, and io.footage's sensor noise (shot +
read noise in linear light, seeded per frame, correlated over ~1 px as demosaicing and in-camera
noise reduction leave it: blotchy grain that a motion estimator can mistake for texture), and the
clip is H.264 CRF 21 with a keyframe a second (a phone's or camera's quality, not near-lossless;
bitrates in docs/benchmarks.md). Frames are pure functions
of (clip, frame index); the dropped frames are decoded from the same compressed file, so the
ground truth is what the camera recorded. They draw only on io.footage's ``TEST_PHOTOS``.

- ``street``: a FIXED camera over a brick shop front (windows, a dark doorway, a building's
  shadow over the left third) and a gravel pavement in perspective; five small figures
  (11-20% of the frame height, the ``walkers`` rig) walk or run across at different depths and
  speeds (2-9 px/frame), darkening as they enter the shadow; read noise ~4 code values in the
  dark, 180-degree shutter. The case where flow lost to minterpolate on real footage.
- ``pan_real``: ``pan`` through the camera (180-degree shutter, 6 samples: the fence blurs
  ~10 px at full speed), noise ~1.8 code values.
- ``handheld``: io.footage's handheld shot (shake below 2 Hz, roll, flicker 2%) of a
  dead-leaves collage of the test photos, three non-rigid wobbling blobs crossing it, its own
  4-sample 180-degree shutter and (uncorrelated) noise model.
- ``zoom_real``: ``zoom``'s handheld gallery zoom (shake, roll, 1.0 -> 1.3) without its grain,
  through the camera: indoor exposure (0.8), 3% flicker, noise ~2.2 code values.
- ``night``: the street by night, underexposed (lit windows, one street lamp), heavy noise
  (~4 code values at black), a 360-degree shutter (1/30 s, 6 samples), 3% flicker, the camera
  panning slowly (1 px/frame), three walkers.

    python benchmarks/interp_clips.py [OUTDIR] [--set classic|real|all] [--size 1280x720]
        [--fps 30] [--seconds 3] [--names pan,street] [--force] [--jobs N]

Clips are written as ``<name>.mp4`` (H.264 yuv420p; CRF 14 for the classic set, CRF 21 for the
camera set), all into the same folder; an existing file with the right size, frame rate and frame
count is kept (``--force`` rewrites it). Rendering a camera clip takes 15-35 s on one core.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.footage import TEST_PHOTOS, Footage, FootageSpec, linear_to_u8, sensor_noise, srgb_to_linear
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.samples import BT709, timestamps
from vidlab.io.writer import VideoWriter

Render = Callable[[float, int, int], np.ndarray]

CRF = 14
DEFAULT_OUT = Path("bench-out/interp-clips")
_TAU = 2 * math.pi
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


# -- shared helpers ------------------------------------------------------------------------------


@functools.cache
def _photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image, as RGB uint8 (gray ones replicated)."""
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
    if img.ndim == 2:
        img = np.dstack([img] * 3)
    img = np.ascontiguousarray(img[..., :3])
    img.setflags(write=False)
    return img


def _gray(name: str) -> np.ndarray:
    return _photo(name)[..., 0].astype(np.float32) / 255.0


def _fit(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with the interpolation that suits the direction (area down, cubic up)."""
    down = width < img.shape[1] and height < img.shape[0]
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if down else cv2.INTER_CUBIC)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))


def _fix(pts: np.ndarray) -> np.ndarray:
    """Float pixel coordinates as OpenCV fixed point (``shift=_SHIFT``)."""
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * _ONE), round(y * _ONE)


def _waves(t: float, terms: Iterable[tuple[float, float, float]]) -> float:
    """Sum of sinusoids ``amplitude * sin(2 pi f t + phase)``: smooth, random-looking motion."""
    return sum(a * math.sin(_TAU * f * t + p) for a, f, p in terms)


def _box_coverage(n: int, lo: float, hi: float) -> np.ndarray:
    """Exact fraction of each pixel [i, i+1) covered by the interval [lo, hi)."""
    i = np.arange(n, dtype=np.float32)
    return np.clip(np.minimum(i + 1, hi) - np.maximum(i, lo), 0, 1)


# -- pan -------------------------------------------------------------------------------------------

_PAN_PHOTOS = ("stereo_motorcycle", "astronaut", "coffee", "rocket", "chelsea")
_PAN_VMAX = 360.0  # px/s at 720p: 12 px/frame at 30 fps
_PAN_PERIOD = 3.0  # one ease-in/ease-out cycle
_PAN_MARGIN = 40.0  # extra rows above and below for the bob
_PAN_PARALLAX = 1.6  # the fence is closer: it moves this much faster
_PAN_BOB = ((7.0, 1.05, 0.3), (3.0, 2.2, 1.1), (1.0, 4.1, 2.0))


def _pan_x(t: float) -> float:
    """Camera x (px at 720p): speed 0.1 -> 1 -> 0.1 x peak, smooth, over each period."""
    w = _TAU / _PAN_PERIOD
    return _PAN_VMAX * (0.55 * t - 0.45 / w * math.sin(w * t)) + 180.0


@functools.cache
def _pan_panorama(height: int) -> np.ndarray:
    """The photographs side by side at the panorama height, cross-faded at the seams and
    wrapping around (last into first), lightly sharpened after the upscale."""
    k = height / 720
    ph = math.ceil(height + 2 * _PAN_MARGIN * k)
    seam = max(8, round(110 * k))
    tiles = []
    for name in _PAN_PHOTOS:
        img = _photo(name)
        tiles.append(_fit(img, round(img.shape[1] * ph / img.shape[0]), ph).astype(np.float32))
    ramp = np.linspace(0, 1, seam, dtype=np.float32)[None, :, None]
    pano = tiles[0]
    for tile in tiles[1:]:
        mix = pano[:, -seam:] * (1 - ramp) + tile[:, :seam] * ramp
        pano = np.concatenate([pano[:, :-seam], mix, tile[:, seam:]], axis=1)
    pano[:, :seam] = pano[:, -seam:] * (1 - ramp) + pano[:, :seam] * ramp
    pano = pano[:, :-seam]
    blur = cv2.GaussianBlur(pano, (0, 0), 1.2 * k)
    pano = _to_u8(pano + 0.6 * (pano - blur))
    pano.setflags(write=False)
    return pano


@functools.cache
def _wood(height: int, width: int, vertical: bool, seed: int) -> np.ndarray:
    """Wood-grain texture (float32 RGB 0..255): a natural texture stretched along the grain."""
    g = _gray("grass")
    g = cv2.resize(g, (512, 512 * 5) if vertical else (512 * 5, 512), interpolation=cv2.INTER_CUBIC)
    g = cv2.GaussianBlur(g, (0, 0), 0.8)
    reps = (math.ceil(height / g.shape[0]) + 1, math.ceil(width / g.shape[1]) + 1)
    rng = np.random.default_rng(seed)
    y0, x0 = int(rng.integers(0, g.shape[0])), int(rng.integers(0, g.shape[1]))
    g = np.tile(g, reps)[y0 : y0 + height, x0 : x0 + width]
    base = np.array([150, 100, 62], np.float32)
    return (1 + 0.8 * (g - g.mean()))[..., None] * base


@functools.cache
def _pan_fence(width: int, height: int) -> tuple[np.ndarray, int]:
    """The foreground fence strip as premultiplied float32 RGBA, and its wrap period (px)."""
    k = height / 720
    fh = math.ceil(height + 2 * _PAN_MARGIN * k * _PAN_PARALLAX)
    rng = np.random.default_rng(20240607)
    # Posts start 120 px into the strip, so the wrap-around seam falls in the last gap.
    posts, x, lead = [], 0.0, 120 * k
    while x < 3.2 * width:
        pw, gap = rng.uniform(44, 86) * k, rng.uniform(230, 470) * k
        top = rng.uniform(-0.1, 0.35) * fh
        posts.append((lead + x, lead + x + pw, top))
        x += pw + gap
    fw = math.ceil(x)
    ys = np.arange(fh, dtype=np.float32)
    rgb = np.zeros((fh, fw, 3), np.float32)
    alpha = np.zeros((fh, fw), np.float32)
    # Rails between some posts (horizontal grain), behind the posts.
    rail_y = [(0.62 * fh, 0.62 * fh + 34 * k), (0.84 * fh, 0.84 * fh + 30 * k)]
    for i, ((_, x1, _), (x2, _, _)) in enumerate(itertools.pairwise(posts)):
        for j, (y0, y1) in enumerate(rail_y):
            if (i * 7 + j * 3) % 5 == 4:
                continue  # a missing rail here and there
            lo, hi = math.floor(x1) - 2, min(fw, math.ceil(x2) + 2)
            cov = _box_coverage(fh, y0, y1)[:, None] * _box_coverage(
                hi - lo, x1 - 6 * k - lo, x2 + 6 * k - lo
            )
            tex = _wood(fh, hi - lo, False, 31 * i + j)
            shade = 0.75 + 0.25 * np.sin(np.pi * np.clip((ys - y0) / (y1 - y0), 0, 1))[:, None, None]
            sl = np.s_[:, lo:hi]
            rgb[sl] += (tex * shade - rgb[sl]) * cov[..., None]
            alpha[sl] = np.maximum(alpha[sl], cov)
    # Posts: rounded-looking (shaded across), with flat tops at different heights.
    for i, (x0, x1, top) in enumerate(posts):
        lo, hi = max(0, math.floor(x0) - 1), min(fw, math.ceil(x1) + 1)
        xs = np.arange(lo, hi, dtype=np.float32) + 0.5
        cov = _box_coverage(fh, top, fh + 10)[:, None] * _box_coverage(hi - lo, x0 - lo, x1 - lo)[None, :]
        u = np.clip((xs - x0) / (x1 - x0), 0, 1)
        shade = (0.45 + 0.55 * np.clip(np.sin(np.pi * u), 0, 1) ** 0.6) * (0.85 + 0.3 * (1 - u))
        tex = _wood(fh, hi - lo, True, 7 * i + 1) * shade[None, :, None]
        sl = np.s_[:, lo:hi]
        rgb[sl] += (tex - rgb[sl]) * cov[..., None]
        alpha[sl] = np.maximum(alpha[sl], cov)
    # Slightly out of focus (it is much closer than the focused background).
    rgba = np.dstack([rgb * alpha[..., None], alpha])
    rgba = cv2.GaussianBlur(rgba, (0, 0), 1.0 * k)
    rgba.setflags(write=False)
    return rgba, fw


def render_pan(t: float, width: int, height: int) -> np.ndarray:
    """Pan over a panorama (ease in/out, bob) behind a parallax fence."""
    k = height / 720
    pano = _pan_panorama(height)
    fence, fence_w = _pan_fence(width, height)
    cam_x = _pan_x(t) * k
    bob = _waves(t, _PAN_BOB) * k
    bx = cam_x % pano.shape[1]
    m = np.float32([[1, 0, -bx], [0, 1, -(_PAN_MARGIN * k + bob)]])
    bg = cv2.warpAffine(pano, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
    fx = (_PAN_PARALLAX * cam_x) % fence_w
    fy = _PAN_MARGIN * k * _PAN_PARALLAX + _PAN_PARALLAX * bob
    m = np.float32([[1, 0, -fx], [0, 1, -fy]])
    fg = cv2.warpAffine(fence, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    a = fg[..., 3:4]
    return _to_u8(bg.astype(np.float32) * (1 - a) + fg[..., :3])


# -- walkers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Walker:
    size: float  # standing height, px at 720p
    ground: float  # feet line, fraction of the frame height
    x0: float  # hip x at t = 0, px of a 1280-wide frame
    speed: float  # px/s at 720p; the sign is the direction
    cadence: float  # gait cycles (two steps) per second
    shirt: str
    pants: str
    phase: float = 0.0
    run: bool = False


_WALKERS = (
    _Walker(350, 0.74, -200, 420, 1.45, "shirt_red", "jeans", 0.7, run=True),
    _Walker(420, 0.80, 1000, -220, 0.92, "shirt_cells", "trousers", 2.1),
    _Walker(500, 0.87, 250, 260, 0.95, "shirt_orange", "jeans", 0.0),
    _Walker(640, 1.04, 1500, -330, 1.0, "shirt_fur", "trousers_dark", 4.0),
)

# name: (length, width, shape, texture) as fractions of the standing height.
_PARTS = {
    "thigh": (0.245, 0.088, "capsule", "pants"),
    "shin": (0.245, 0.07, "capsule", "pants"),
    "foot": (0.115, 0.048, "capsule", "shoes"),
    "torso": (0.28, 0.17, "torso", "shirt"),
    "upper_arm": (0.165, 0.062, "capsule", "shirt"),
    "forearm": (0.15, 0.05, "capsule", "shirt"),
    "head": (0.14, 0.112, "ellipse", "face"),
}


@functools.cache
def _textures() -> dict[str, np.ndarray]:
    """Clothing and skin textures (float32 RGB 0..255, 512x512) cut from the photographs."""

    def crop(name: str, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return cv2.resize(_photo(name)[y0:y1, x0:x1], (512, 512), interpolation=cv2.INTER_CUBIC).astype(
            np.float32
        )

    def tint(name: str, rgb: tuple[float, float, float], contrast: float = 1.0) -> np.ndarray:
        g = _gray(name)
        g = 0.5 + contrast * (g - g.mean())
        return np.clip(g, 0, 1.2)[..., None] * np.float32(rgb)

    return {
        "shirt_orange": crop("astronaut", 300, 512, 0, 160),
        "shirt_cells": crop("immunohistochemistry", 0, 256, 0, 256),
        "shirt_red": crop("coffee", 150, 330, 60, 240) * np.float32([1.1, 0.9, 0.9]),
        "shirt_fur": crop("chelsea", 0, 150, 0, 180) * np.float32([0.8, 0.85, 1.0]),
        "jeans": tint("gravel", (70, 95, 150), 0.8),
        "trousers": tint("grass", (120, 105, 85), 0.7),
        "trousers_dark": tint("brick", (60, 60, 68), 0.6),
        "shoes": tint("gravel", (40, 34, 30), 0.6),
        "face": crop("astronaut", 25, 215, 160, 285),
    }


def _shape_mask(length: float, width: float, shape: str, pad: int = 2) -> tuple[np.ndarray, float, float]:
    """Anti-aliased mask (float32 0..1) of a capsule, a torso (capsule tapering from 75% of
    ``width`` at the origin to ``width`` at the far end) or an ellipse, whose axis starts at the
    returned origin (ox, oy) and runs ``length`` px along +x (drawn 4x and area-reduced)."""
    cw, ch = math.ceil(length + width) + 2 * pad, math.ceil(width) + 2 * pad
    ox, oy = pad + width / 2, (ch - 1) / 2
    s = 4
    big = np.zeros((ch * s, cw * s), np.uint8)

    def f(v: float) -> float:
        return (v + 0.5) * s - 0.5

    r = width / 2 * s
    if shape in ("capsule", "torso"):
        r0 = 0.75 * r if shape == "torso" else r
        for cx, rr in ((ox, r0), (ox + length, r)):
            cv2.circle(big, _pt(f(cx), f(oy)), round(rr * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)
        quad = [
            (f(ox), f(oy) - r0),
            (f(ox + length), f(oy) - r),
            (f(ox + length), f(oy) + r),
            (f(ox), f(oy) + r0),
        ]
        cv2.fillPoly(big, [_fix(quad)], 255, cv2.LINE_AA, _SHIFT)
    else:
        ox = pad + 0.5
        axes = (round(length / 2 * s * _ONE), round(r * _ONE))
        cv2.ellipse(big, _pt(f(ox + length / 2), f(oy)), axes, 0, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
    mask = cv2.resize(big, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return mask, ox, oy


@dataclass(frozen=True, slots=True)
class _Part:
    tex: np.ndarray
    mask: np.ndarray
    ox: float
    oy: float


@functools.cache
def _rig(index: int, height: int) -> dict[str, _Part]:
    """Each body part of walker ``index`` at this frame height: texture, mask, origin."""
    return _walker_rig(_WALKERS[index], 1000 + index, height)


@functools.cache
def _walker_rig(w: _Walker, seed: int, height: int) -> dict[str, _Part]:
    """Each body part of figure ``w`` at this frame height (``seed`` picks the texture crops)."""
    size = w.size * height / 720
    texs = _textures()
    rng = np.random.default_rng(seed)
    out = {}
    for name, (length, width, shape, kind) in _PARTS.items():
        mask, ox, oy = _shape_mask(length * size, width * size, shape)
        ch, cw = mask.shape
        if kind == "face":
            face = cv2.resize(texs["face"], (ch, cw), interpolation=cv2.INTER_AREA)
            tex = np.ascontiguousarray(np.rot90(face, -1))  # face "up" along the part axis
        else:
            src = texs[{"pants": w.pants, "shirt": w.shirt, "shoes": "shoes"}[kind]]
            scale = max(1.0, cw / 500, ch / 500)
            src = cv2.resize(src, (round(512 * scale), round(512 * scale))) if scale > 1 else src
            y0 = int(rng.integers(0, src.shape[0] - ch + 1))
            x0 = int(rng.integers(0, src.shape[1] - cw + 1))
            tex = src[y0 : y0 + ch, x0 : x0 + cw].copy()
        # Rounded look: darker towards the silhouette edges across the part.
        v = np.clip(np.abs(np.arange(ch, dtype=np.float32) - oy) / max(1.0, width * size / 2), 0, 1)
        tex *= (0.62 + 0.38 * np.sqrt(1 - v**2))[:, None, None]
        out[name] = _Part(np.ascontiguousarray(tex, np.float32), mask, ox, oy)
    return out


def _stamp(frame: np.ndarray, part: _Part, p0: np.ndarray, d: np.ndarray, gain: float = 1.0) -> None:
    """Composite ``part`` into the float32 frame, its origin at ``p0`` and axis along unit
    vector ``d``, warping only the bounding box."""
    dx, dy = float(d[0]), float(d[1])
    nx, ny = -dy, dx
    m = np.array(
        [
            [dx, nx, p0[0] - part.ox * dx - part.oy * nx],
            [dy, ny, p0[1] - part.ox * dy - part.oy * ny],
        ]
    )
    h, w = part.mask.shape
    corners = m @ np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], np.float64)
    fh, fw = frame.shape[:2]
    x0, x1 = max(0, math.floor(corners[0].min()) - 1), min(fw, math.ceil(corners[0].max()) + 2)
    y0, y1 = max(0, math.floor(corners[1].min()) - 1), min(fh, math.ceil(corners[1].max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    m[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    a = cv2.warpAffine(part.mask, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    c = cv2.warpAffine(part.tex, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    roi = frame[y0:y1, x0:x1]
    roi += a[..., None] * (c * gain - roi)


def _walker_pose(w: _Walker, t: float, width: int, height: int) -> tuple[float, dict[str, np.ndarray]]:
    """Figure height (px) and joint positions at time ``t``."""
    k = height / 720
    size = w.size * k
    s = 1.0 if w.speed >= 0 else -1.0
    x = w.x0 * width / 1280 + w.speed * k * t
    phi = _TAU * w.cadence * t + w.phase
    stride = abs(w.speed) * k / w.cadence
    swing = math.asin(min(0.7, stride / (4 * 0.49 * size)))
    ground = w.ground * height
    hip = np.array([x, ground - (0.47 - (0.03 if w.run else 0)) * size - 0.015 * size * math.cos(2 * phi)])

    def along(angle: float) -> np.ndarray:  # unit vector, angle from straight down, + forward
        return np.array([s * math.sin(angle), math.cos(angle)])

    joints: dict[str, np.ndarray] = {"hip": hip}
    for side, leg_phase in (("near", phi), ("far", phi + math.pi)):
        thigh = swing * math.sin(leg_phase)
        lift = max(0.0, math.cos(leg_phase - 0.3)) ** 2  # knee bends most early in the swing
        flex = math.radians(15 + 85 * lift if w.run else 4 + 48 * lift)
        shin = thigh - flex
        knee = hip + 0.245 * size * along(thigh)
        ankle = knee + 0.245 * size * along(shin)
        joints[f"{side}_thigh"] = along(thigh)
        joints[f"{side}_knee"], joints[f"{side}_shin"] = knee, along(shin)
        joints[f"{side}_ankle"], joints[f"{side}_foot"] = ankle, along(shin + math.pi / 2)
        arm_phase = leg_phase + math.pi
        upper = (1.0 if w.run else 0.8) * swing * math.sin(arm_phase)
        elbow = math.radians(
            75 + 10 * math.sin(arm_phase) if w.run else 12 + 22 * max(0.0, math.sin(arm_phase))
        )
        joints[f"{side}_upper_arm"] = along(upper)
        joints[f"{side}_forearm"] = along(upper + elbow)
    lean = math.radians(12 if w.run else 3)
    up = np.array([s * math.sin(lean), -math.cos(lean)])
    joints["up"] = up
    joints["shoulder"] = hip + 0.28 * size * up
    joints["neck"] = hip + 0.31 * size * up
    for side in ("near", "far"):
        joints[f"{side}_elbow"] = joints["shoulder"] + 0.165 * size * joints[f"{side}_upper_arm"]
    return size, joints


@functools.cache
def _walkers_bg(width: int, height: int) -> tuple[np.ndarray, float]:
    img = _photo("stereo_motorcycle")
    scale = 1.08 * max(width / img.shape[1], height / img.shape[0])
    return img, scale


def render_walkers(t: float, width: int, height: int) -> np.ndarray:
    """Articulated textured figures walking across a slowly drifting photograph."""
    k = height / 720
    img, scale = _walkers_bg(width, height)
    s = scale * (1 + 0.01 * t)
    cx = img.shape[1] / 2 + (8 * t - 20) * k / scale
    cy = img.shape[0] / 2 + 3 * math.sin(0.7 * t) * k / scale
    m = np.float32([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]])
    frame = cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    frame = frame.astype(np.float32)
    _draw_walkers(frame, _WALKERS, [_rig(i, height) for i in range(len(_WALKERS))], t, width, height)
    return _to_u8(frame)


def _draw_walkers(
    frame: np.ndarray,
    walkers: Sequence[_Walker],
    rigs: Sequence[dict[str, _Part]],
    t: float,
    width: int,
    height: int,
) -> None:
    """Draw the figures into the float32 frame at time ``t``, far ones first, each over a soft
    contact shadow."""
    order = sorted(range(len(walkers)), key=lambda i: walkers[i].ground)
    poses = {i: _walker_pose(walkers[i], t, width, height) for i in order}
    # Soft contact shadows on the floor.
    for i in order:
        size, j = poses[i]
        cx, gy = float(j["hip"][0]), walkers[i].ground * height
        rx, ry = 0.2 * size, 0.03 * size
        x0, x1 = max(0, math.floor(cx - 2 * rx)), min(width, math.ceil(cx + 2 * rx))
        y0, y1 = max(0, math.floor(gy - 4 * ry)), min(height, math.ceil(gy + 4 * ry))
        if x1 <= x0 or y1 <= y0:
            continue
        sh = np.zeros((y1 - y0, x1 - x0), np.float32)
        axes = (round(rx * _ONE), round(ry * _ONE))
        cv2.ellipse(sh, _pt(cx - x0, gy - y0), axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
        sh = cv2.GaussianBlur(sh, (0, 0), max(0.5, 0.4 * ry * 2))
        frame[y0:y1, x0:x1] *= (1 - 0.45 * sh)[..., None]
    for i in order:
        size, j = poses[i]
        rig = rigs[i]
        for side, gain in (("far", 0.72), ("near", 1.0)):
            if side == "near":
                _stamp(frame, rig["torso"], j["hip"], j["up"])
            for leg in ("thigh", "shin", "foot"):
                start = {"thigh": j["hip"], "shin": j[f"{side}_knee"], "foot": j[f"{side}_ankle"]}[leg]
                _stamp(frame, rig[leg], start, j[f"{side}_{leg}"], gain)
            if side == "near":
                _stamp(frame, rig["head"], j["neck"] - 0.01 * size * j["up"], j["up"])
            _stamp(frame, rig["upper_arm"], j["shoulder"], j[f"{side}_upper_arm"], gain)
            _stamp(frame, rig["forearm"], j[f"{side}_elbow"], j[f"{side}_forearm"], gain)


# -- animation -------------------------------------------------------------------------------------

_INK = (28, 24, 36)


def _ink(k: float) -> int:
    return max(1, round(3.5 * k))


def _poly(img: np.ndarray, pts: np.ndarray, fill: tuple[int, int, int], k: float) -> None:
    p = _fix(pts)
    cv2.fillPoly(img, [p], fill, cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, [p], True, _INK, _ink(k), cv2.LINE_AA, _SHIFT)


def _disc(img: np.ndarray, c: tuple[float, float], r: float, fill: tuple[int, int, int], k: float) -> None:
    cv2.circle(img, _pt(*c), round(r * _ONE), fill, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(img, _pt(*c), round(r * _ONE), _INK, _ink(k), cv2.LINE_AA, _SHIFT)


def _hash01(i: int, salt: float) -> float:
    v = math.sin(i * 12.9898 + salt * 78.233) * 43758.5453
    return v - math.floor(v)


@functools.cache
def _sky(width: int, height: int) -> np.ndarray:
    v = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    top, bottom = np.float32([70, 140, 225]), np.float32([195, 228, 250])
    sky = _to_u8(np.broadcast_to(top + (bottom - top) * v, (height, width, 3)))
    sky.setflags(write=False)
    return sky


def _hill(xw: np.ndarray, base: float, amp: float, seed: float) -> np.ndarray:
    """Hill profile (y) at world x, px."""
    return base - amp * (
        0.5 * np.sin(xw / 310 + seed) + 0.3 * np.sin(xw / 137 + 2 * seed) + 0.2 * np.sin(xw / 71 + 3 * seed)
    )


def render_animation(t: float, width: int, height: int) -> np.ndarray:
    """Cartoon: flat colors, dark outlines, parallax landscape, fast spinning characters."""
    k = height / 720
    img = _sky(width, height).copy()

    # Sun with slowly turning rays.
    sun, sr = (0.84 * width, 0.17 * height), 52 * k
    for i in range(10):
        a = 0.35 * t + i * _TAU / 10
        ray = [
            (sun[0] + 1.3 * sr * math.cos(a - 0.13), sun[1] + 1.3 * sr * math.sin(a - 0.13)),
            (sun[0] + 1.95 * sr * math.cos(a), sun[1] + 1.95 * sr * math.sin(a)),
            (sun[0] + 1.3 * sr * math.cos(a + 0.13), sun[1] + 1.3 * sr * math.sin(a + 0.13)),
        ]
        _poly(img, np.array(ray), (255, 200, 60), k)
    _disc(img, sun, sr, (255, 225, 70), k)

    # Clouds drifting at different speeds (outline via a larger dark union drawn first).
    span = width + 500 * k
    for x0, y, v, sc in ((100, 0.14, 22, 1.0), (700, 0.26, 35, 0.8), (1150, 0.09, 15, 0.65)):
        cx = (x0 * k + v * k * t) % span - 250 * k
        blobs = [(-60, 10, 38), (-20, -12, 48), (30, -5, 44), (70, 12, 32), (0, 18, 36)]
        for grow, color in ((_ink(k), _INK), (0, (250, 252, 255))):
            for bx, by, br in blobs:
                c = _pt(cx + bx * sc * k, y * height + by * sc * k)
                cv2.circle(img, c, round((br * sc * k + grow) * _ONE), color, -1, cv2.LINE_AA, _SHIFT)

    # Far and near hills scrolling with parallax; trees on the near ones.
    step = max(2.0, 6 * k)
    xs = np.arange(-2 * step, width + 3 * step, step)
    for speed, base, amp, seed, color in (
        (25, 0.62, 70, 0.3, (130, 195, 120)),
        (80, 0.8, 55, 1.7, (70, 160, 70)),
    ):
        off = speed * k * t
        ys = _hill((xs + off) / k, base * height / k, amp, seed) * k
        if speed > 50:
            spacing = 230 * k
            first = math.floor((off - 100 * k) / spacing)
            for i in range(first, first + math.ceil(width / spacing) + 3):
                wx = i * spacing + 120 * k * _hash01(i, 1.0)
                sx = wx - off
                gy = float(_hill(np.array([wx / k]), base * height / k, amp, seed)[0]) * k
                th = (60 + 40 * _hash01(i, 2.0)) * k
                trunk = np.array(
                    [
                        (sx - 6 * k, gy + 8 * k),
                        (sx + 6 * k, gy + 8 * k),
                        (sx + 6 * k, gy - th),
                        (sx - 6 * k, gy - th),
                    ]
                )
                _poly(img, trunk, (120, 80, 45), k)
                if _hash01(i, 3.0) < 0.5:
                    crown = np.array(
                        [
                            (sx - 38 * k, gy - th + 10 * k),
                            (sx + 38 * k, gy - th + 10 * k),
                            (sx, gy - th - 85 * k),
                        ]
                    )
                    _poly(img, crown, (40, 125, 60), k)
                else:
                    _disc(img, (sx, gy - th - 20 * k), 36 * k, (60, 150, 55), k)
        poly = np.concatenate(
            [np.stack([xs, ys], 1), [(width + 3 * step, height + 10), (-2 * step, height + 10)]]
        )
        cv2.fillPoly(img, [_fix(poly)], color, cv2.LINE_AA, _SHIFT)
        cv2.polylines(img, [_fix(np.stack([xs, ys], 1))], False, _INK, _ink(k), cv2.LINE_AA, _SHIFT)

    # Bouncing blob character: squashes on landing, stretches in flight.
    span = width + 300 * k
    bx = (160 * k * t + 200 * k) % span - 150 * k
    ph = (1.4 * t) % 1.0
    hop = 4 * ph * (1 - ph)
    ground = 0.86 * height
    squash = 1 + 0.35 * math.exp(-((hop / 0.12) ** 2)) - 0.12 * hop
    rx, ry = 52 * k * squash, 52 * k / squash
    by = ground - 230 * k * hop - ry
    cv2.ellipse(
        img,
        _pt(bx, by),
        (round(rx * _ONE), round(ry * _ONE)),
        0,
        0,
        360,
        (240, 110, 170),
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    cv2.ellipse(
        img, _pt(bx, by), (round(rx * _ONE), round(ry * _ONE)), 0, 0, 360, _INK, _ink(k), cv2.LINE_AA, _SHIFT
    )
    for ex in (-0.35, 0.3):
        _disc(img, (bx + ex * rx, by - 0.25 * ry), 12 * k, (255, 255, 255), k)
        cv2.circle(
            img, _pt(bx + ex * rx + 4 * k, by - 0.25 * ry), round(5 * k * _ONE), _INK, -1, cv2.LINE_AA, _SHIFT
        )
    cv2.ellipse(
        img,
        _pt(bx, by + 0.2 * ry),
        (round(0.3 * rx * _ONE), round(0.25 * ry * _ONE)),
        0,
        20,
        160,
        _INK,
        _ink(k),
        cv2.LINE_AA,
        _SHIFT,
    )

    # Spinning box on a circle, breathing in size.
    a = 1.3 * t
    cx, cy = 0.3 * width + 150 * k * math.cos(a), 0.42 * height + 90 * k * math.sin(a)
    half = 45 * k * (1 + 0.3 * math.sin(2.1 * t))
    rot = 2.2 * t
    corners = [
        (cx + half * math.cos(rot + q), cy + half * math.sin(rot + q))
        for q in np.arange(4) * math.pi / 2 + math.pi / 4
    ]
    corners = [(cx + (x - cx) * math.sqrt(2), cy + (y - cy) * math.sqrt(2)) for x, y in corners]
    _poly(img, np.array(corners), (225, 60, 55), k)
    stripe = [(cx + 0.6 * (x - cx), cy + 0.6 * (y - cy)) for x, y in corners]
    _poly(img, np.array(stripe), (250, 160, 60), k)

    # Star on a figure-eight (up to ~20 px/frame), spinning.
    w8 = 1.25
    sx, sy = width / 2 + 0.38 * width * math.sin(w8 * t), 0.36 * height + 0.16 * height * math.sin(2 * w8 * t)
    sc = 1 + 0.15 * math.sin(3 * t)
    star = []
    for i in range(10):
        r = (58 if i % 2 == 0 else 24) * k * sc
        q = -3.0 * t + i * math.pi / 5
        star.append((sx + r * math.cos(q), sy + r * math.sin(q)))
    _poly(img, np.array(star), (255, 215, 40), k)
    cv2.circle(
        img, _pt(sx - 10 * k, sy - 10 * k), round(7 * k * _ONE), (255, 250, 210), -1, cv2.LINE_AA, _SHIFT
    )

    # Beach ball crossing fast (~23 px/frame), rolling.
    span = width + 300 * k
    x = (700 * k * t) % span - 150 * k
    y = 0.55 * height - 60 * k * math.sin(math.pi * ((700 * k * t) % span) / span)
    r = 40 * k
    spin = math.degrees(700 * k * t / r)
    colors = ((230, 50, 50), (250, 250, 245), (50, 110, 230), (250, 210, 40), (250, 250, 245), (60, 180, 90))
    for i, col in enumerate(colors):
        cv2.ellipse(
            img, _pt(x, y), (round(r * _ONE),) * 2, spin, i * 60, i * 60 + 60, col, -1, cv2.LINE_AA, _SHIFT
        )
    cv2.circle(img, _pt(x, y), round(r * _ONE), _INK, _ink(k), cv2.LINE_AA, _SHIFT)
    return img


# -- zoom ------------------------------------------------------------------------------------------

_GALLERY = (  # photo, center (px at 720p from the scene center), width, with a mat
    ("stereo_motorcycle", (0, 0), 520, False),
    ("astronaut", (-440, -130), 230, True),
    ("coffee", (-430, 170), 250, False),
    ("chelsea", (425, -140), 250, True),
    ("rocket", (430, 168), 265, False),
)


@functools.cache
def _gallery(width: int, height: int) -> np.ndarray:
    """A brick wall with framed photographs, lit from above, larger than the frame."""
    k = height / 720
    sw, sh = round(width * 1.16), round(height * 1.26)
    brick = np.ascontiguousarray(np.rot90(_gray("brick")))  # courses horizontal
    side = round(512 * 0.9 * k)
    brick = cv2.resize(brick, (side, side), interpolation=cv2.INTER_AREA)
    brick = np.block([[brick, brick[:, ::-1]], [brick[::-1], brick[::-1, ::-1]]])  # mirrored: no seams
    reps = (math.ceil(sh / brick.shape[0]), math.ceil(sw / brick.shape[1]))
    g = np.tile(brick, reps)[:sh, :sw]
    wall = (0.45 + 1.1 * (g - g.mean()) + 0.3)[..., None] * np.float32([205, 135, 110])
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    light = 0.7 + 0.45 * np.exp(-(((xx - sw / 2) / (0.6 * sw)) ** 2) - ((yy + 0.1 * sh) / (0.9 * sh)) ** 2)
    wall *= light[..., None]
    cx, cy = sw / 2, sh / 2
    for index, (name, (dx, dy), pw, mat) in enumerate(_GALLERY):
        img = _photo(name)
        pw_px = round(pw * k)
        ph_px = round(img.shape[0] * pw_px / img.shape[1])
        photo = _fit(img, pw_px, ph_px).astype(np.float32)
        m = round(18 * k) if mat else 0
        fr = round(13 * k)
        x0, y0 = round(cx + dx * k - pw_px / 2), round(cy + dy * k - ph_px / 2)
        # Drop shadow.
        shadow = np.zeros((sh, sw), np.float32)
        sx0, sy0 = x0 - m - fr + round(7 * k), y0 - m - fr + round(11 * k)
        shadow[sy0 : sy0 + ph_px + 2 * (m + fr), sx0 : sx0 + pw_px + 2 * (m + fr)] = 1
        shadow = cv2.GaussianBlur(shadow, (0, 0), 7 * k)
        wall *= (1 - 0.55 * shadow)[..., None]
        # Frame (dark wood), mat, photograph.
        fy, fx = y0 - m - fr, x0 - m - fr
        fwid, fhei = pw_px + 2 * (m + fr), ph_px + 2 * (m + fr)
        wood = _wood(fhei, fwid, False, 500 + index) * np.float32(0.45)
        wall[fy : fy + fhei, fx : fx + fwid] = wood
        bevel = max(1, round(3 * k))
        wall[fy : fy + bevel, fx : fx + fwid] *= 1.5
        wall[fy + fhei - bevel : fy + fhei, fx : fx + fwid] *= 0.6
        if m:
            wall[y0 - m : y0 + ph_px + m, x0 - m : x0 + pw_px + m] = np.float32([236, 232, 222])
        wall[y0 : y0 + ph_px, x0 : x0 + pw_px] = photo
    scene = _to_u8(wall)
    scene.setflags(write=False)
    return scene


@functools.cache
def _vignette(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (width / 2)) ** 2
    v = (1 - 0.22 * r2)[..., None]
    v.setflags(write=False)
    return v


_SHAKE_X = ((7.0, 0.9, 0.1), (4.0, 1.9, 1.3), (1.5, 4.3, 2.2), (0.6, 7.9, 0.7))
_SHAKE_Y = ((6.0, 0.7, 1.9), (3.5, 2.3, 0.4), (1.2, 5.1, 1.1), (0.5, 8.7, 2.9))
_ROLL_DEG = ((1.2, 0.21, 0.5), (0.6, 0.53, 2.0), (0.15, 1.7, 0.3))
GRAIN_SIGMA = 2.0


def render_zoom(t: float, width: int, height: int) -> np.ndarray:
    """Handheld zoom into a gallery wall: zoom 1.0 -> 1.3 over 3 s, roll, shake, grain."""
    frame = _zoom_view(t, width, height)
    # Film grain: fine-grained (slightly blurred noise), new each frame but fixed by t.
    rng = np.random.default_rng([0x6A1E, round(t * 1_000_000)])
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.6)
    noise *= GRAIN_SIGMA / max(1e-6, float(noise.std()))
    out = frame.astype(np.float32) * _vignette(width, height) + noise[..., None]
    return _to_u8(out)


def _zoom_view(t: float, width: int, height: int) -> np.ndarray:
    """The gallery wall as the handheld zooming camera sees it at ``t`` (uint8, no grain)."""
    k = height / 720
    scene = _gallery(width, height)
    ease = 0.5 - 0.5 * math.cos(math.pi * t / 3)
    z = 1.0 + 0.3 * ease
    roll = math.radians(_waves(t, _ROLL_DEG))
    lx = scene.shape[1] / 2 + (40 * ease + _waves(t, _SHAKE_X)) * k
    ly = scene.shape[0] / 2 + (18 * ease + _waves(t, _SHAKE_Y)) * k
    c, s = z * math.cos(roll), z * math.sin(roll)
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = (width / 2 - (c * lx - s * ly), height / 2 - (s * lx + c * ly))
    return cv2.warpAffine(scene, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


CLIPS: dict[str, Render] = {
    "pan": render_pan,
    "walkers": render_walkers,
    "animation": render_animation,
    "zoom": render_zoom,
}


# -- camera footage (REAL_CLIPS) -------------------------------------------------------------------

RealRender = Callable[[int, Fraction, int, int], np.ndarray]  # (index, fps, width, height) -> RGB
REAL_CRF = 21  # a phone's or camera's rate at 720p30 (about 4-9 Mbit/s here), not near-lossless
REAL_GOP = 30  # one keyframe a second, as cameras do
_LIN = srgb_to_linear(np.arange(256, dtype=np.uint8))  # uint8 video signal -> linear light


@dataclass(frozen=True, slots=True)
class _Camera:
    """How the camera records a scene: ``shutter`` (fraction of the frame period the shutter is
    open; 0.5 is 180 degrees) sampled ``samples`` times, ``exposure`` (gain in linear light),
    a slow exposure ``drift`` and a per-frame ``flicker`` (relative), sensor ``noise`` (read-noise
    sigma in code values at black, io.footage's model) and the ``seed`` of its randomness."""

    noise: float
    seed: int
    shutter: float = 0.5
    samples: int = 5
    exposure: float = 1.0
    drift: float = 0.05
    flicker: float = 0.015
    grain: float = 1.0  # noise correlation (px): demosaicing and in-camera noise reduction


def _record(
    scene: Callable[[float], np.ndarray], cam: _Camera, index: int, fps: Fraction, width: int, height: int
) -> np.ndarray:
    """Frame ``index`` as ``cam`` records ``scene`` (linear-light float32 RGB at a time): the
    shutter interval's sub-frame renders averaged in linear light, exposure drift and flicker,
    vignette, sensor noise seeded by (seed, index), then the BT.709 transfer to uint8."""
    t = index / float(fps)
    open_s = cam.shutter / float(fps)
    acc = np.zeros((height, width, 3), np.float32)
    for k in range(cam.samples):
        acc += scene(t + open_s * ((k + 0.5) / cam.samples - 0.5))
    jitter = float(np.random.default_rng((cam.seed, index, 1)).normal(0, cam.flicker))
    gain = cam.exposure * (1 + cam.drift * math.sin(0.9 * t + cam.seed % 7)) * (1 + jitter)
    lin = acc * np.float32(gain / cam.samples) * _vignette(width, height)
    lin = sensor_noise(lin, cam.noise, np.random.default_rng((cam.seed, index, 2)), cam.grain)
    return linear_to_u8(lin)


# street and night: a fixed (or slowly panning) camera over a shop front, small walking figures

_STREET_WALKERS = (  # 11-20% of the frame height, farther ones higher up and smaller
    _Walker(80, 0.665, 180, 70, 0.9, "shirt_orange", "jeans", 0.4),
    _Walker(95, 0.72, 1120, -95, 0.95, "shirt_red", "trousers_dark", 1.9),
    _Walker(108, 0.78, 520, 55, 0.8, "shirt_fur", "trousers", 3.1),
    _Walker(122, 0.85, -120, 270, 1.45, "shirt_orange", "trousers_dark", 0.9, run=True),
    _Walker(140, 0.93, 1300, -125, 1.0, "shirt_red", "jeans", 5.0),
)
_NIGHT_WALKERS = (
    _Walker(92, 0.72, 300, 75, 0.9, "shirt_fur", "jeans", 1.2),
    _Walker(115, 0.80, 1250, -110, 0.95, "shirt_orange", "trousers", 2.6),
    _Walker(135, 0.90, 600, 60, 0.85, "shirt_red", "trousers_dark", 4.4),
)
_STREET_SPAN = 1.25  # scene width / frame width (the night camera pans across it)
_WINDOWS = (  # photo, x0, x1 (fractions of the scene width), y0, y1 (of the height)
    ("coffee", 0.05, 0.22, 0.16, 0.44),
    ("chelsea", 0.50, 0.64, 0.14, 0.42),
    ("astronaut", 0.80, 0.95, 0.15, 0.43),
)
_DOOR = (0.30, 0.40, 0.18, 0.625)
_CURB = 0.625  # the pavement starts here (fraction of the height)


def _tile_mirrored(g: np.ndarray, height: int, width: int) -> np.ndarray:
    g = np.block([[g, g[:, ::-1]], [g[::-1], g[::-1, ::-1]]])  # mirrored: no seams
    return np.tile(g, (math.ceil(height / g.shape[0]), math.ceil(width / g.shape[1])))[:height, :width]


@functools.cache
def _street(width: int, height: int, night: bool) -> tuple[np.ndarray, np.ndarray]:
    """The street scene (``_STREET_SPAN`` x the frame wide): its albedo in linear light x 255
    (float32 RGB, figures are drawn into it) and the light falling on it (float32 RGB): a brick
    shop front with windows and a dark doorway over a gravel pavement in perspective; by day the
    left part lies in a building's shadow, by night the windows glow and a street lamp lights
    a pool of pavement."""
    k = height / 720
    sw, sh = math.ceil(width * _STREET_SPAN), height
    curb = round(_CURB * sh)
    img = np.zeros((sh, sw, 3), np.float32)  # video signal, 0..255
    brick = cv2.resize(
        np.ascontiguousarray(np.rot90(_gray("brick"))), (round(300 * k),) * 2, interpolation=cv2.INTER_AREA
    )
    g = _tile_mirrored(brick, curb, sw)
    img[:curb] = np.clip(0.55 + 1.1 * (g - g.mean()), 0.05, 1.2)[..., None] * np.float32([190, 118, 92])
    # Pavement: gravel seen in perspective (horizon behind the wall), finer with distance.
    gravel = _tile_mirrored(cv2.GaussianBlur(_gray("gravel"), (0, 0), 0.7), 1024, 1024)
    horizon = 0.40 * sh
    ys, xs = np.mgrid[curb:sh, 0:sw].astype(np.float32)
    z = (sh - horizon) / (ys + 0.5 - horizon)  # 1 at the bottom, growing with distance
    mx = np.mod((xs - sw / 2) * z * 0.9 / k + 512, 1024).astype(np.float32)
    my = np.mod(600 * z, 1024).astype(np.float32)
    ground = cv2.remap(gravel, mx, my, cv2.INTER_LINEAR)
    img[curb:] = (0.5 + 0.9 * (ground - ground.mean()))[..., None] * np.float32([150, 146, 140])
    cb = max(2, round(12 * k))
    img[curb : curb + cb] = np.float32([185, 182, 176])  # the curb stone
    img[curb + cb : curb + cb + max(1, round(3 * k))] *= 0.35  # its shadow
    # Door: a dark wooden frame and darker inside.
    x0, x1, y0, y1 = (round(v * n) for v, n in zip(_DOOR, (sw, sw, sh, sh), strict=True))
    fr = max(2, round(10 * k))
    img[y0 - fr : y1, x0 - fr : x1 + fr] = _wood(y1 - y0 + fr, x1 - x0 + 2 * fr, True, 77) * 0.5
    img[y0:y1, x0:x1] = _wood(y1 - y0, x1 - x0, True, 78) * 0.16
    # Windows: a frame, the shop inside (a photograph) and, by day, a sky reflection.
    glow = np.zeros((sh, sw), np.float32)
    for i, (name, wx0, wx1, wy0, wy1) in enumerate(_WINDOWS):
        x0, x1, y0, y1 = round(wx0 * sw), round(wx1 * sw), round(wy0 * sh), round(wy1 * sh)
        img[y0 - fr : y1 + fr, x0 - fr : x1 + fr] = (
            _wood(y1 - y0 + 2 * fr, x1 - x0 + 2 * fr, False, 80 + i) * 0.6
        )
        inside = _fit(_photo(name), x1 - x0, y1 - y0).astype(np.float32)
        if night:
            img[y0:y1, x0:x1] = inside * np.float32([1.0, 0.92, 0.75])
            glow[y0:y1, x0:x1] = 1
        else:
            v = np.linspace(1, 0, y1 - y0, dtype=np.float32)[:, None, None]
            img[y0:y1, x0:x1] = 0.35 * inside + 60 * v * np.float32([0.8, 0.9, 1.0])
        bar = max(1, round(4 * k))  # a glazing bar
        xm = (x0 + x1) // 2
        img[y0:y1, xm - bar : xm + bar] = _wood(y1 - y0, 2 * bar, True, 90 + i) * 0.6
    albedo = srgb_to_linear(np.clip(img, 0, 255)) * 255
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    if night:
        light = np.full((sh, sw), 0.22, np.float32)  # moonlight and the city's glow
        lamp = np.exp(-(((xx - 0.62 * sw) / (0.16 * sw)) ** 2) - ((yy - 0.72 * sh) / (0.35 * sh)) ** 2)
        light += 1.6 * lamp + 9.0 * cv2.GaussianBlur(glow, (0, 0), 2 * k)
        tint = np.float32([1.0, 0.85, 0.6])  # sodium-ish
        light3 = light[..., None] * tint
    else:
        edge = 0.36 * sw + 0.25 * (yy - sh)  # a building's shadow, slanting
        shade = 1 / (1 + np.exp(np.clip((edge - xx) / (6 * k), -60, 60)))
        light = 0.12 + 0.88 * shade
        light3 = light[..., None] * np.float32([1.0, 0.98, 0.95])
    albedo.setflags(write=False)
    light3 = np.ascontiguousarray(light3, np.float32)
    light3.setflags(write=False)
    return albedo, light3


@functools.cache
def _linear_rig(w: _Walker, seed: int, height: int) -> dict[str, _Part]:
    """A figure's parts with their textures in linear light x 255 (drawn into ``_street``)."""
    return {
        name: _Part(srgb_to_linear(np.clip(p.tex, 0, 255)) * 255, p.mask, p.ox, p.oy)
        for name, p in _walker_rig(w, seed, height).items()
    }


def _street_scene(
    t: float, width: int, height: int, night: bool, walkers: Sequence[_Walker], pan: float
) -> np.ndarray:
    """The street at ``t`` in linear light: the camera ``pan`` px/s (at 720p) to the right from
    the scene's left edge (0: a fixed camera), figures walking, the light on top."""
    albedo, light = _street(width, height, night)
    x = pan * height / 720 * t
    if pan == 0:
        frame, lit = albedo[:, :width].copy(), light[:, :width]
    else:
        m = np.float32([[1, 0, -x], [0, 1, 0]])
        frame = cv2.warpAffine(
            albedo, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        lit = cv2.warpAffine(light, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = [dataclasses.replace(w, x0=w.x0 - x * 1280 / width) for w in walkers]
    rigs = [_linear_rig(w, 2000 + i, height) for i, w in enumerate(walkers)]
    _draw_walkers(frame, moved, rigs, t, width, height)
    frame *= lit / 255
    return frame


_STREET_CAM = _Camera(noise=4.0, seed=7101, drift=0.04, flicker=0.01)
_NIGHT_CAM = _Camera(noise=4.0, seed=7105, shutter=1.0, samples=6, exposure=0.35, drift=0.03, flicker=0.03)


def real_street(index: int, fps: Fraction, width: int, height: int) -> np.ndarray:
    """A fixed camera over a shop front with a dark shadow and doorway; five small figures."""
    return _record(
        lambda t: _street_scene(t, width, height, False, _STREET_WALKERS, 0.0),
        _STREET_CAM,
        index,
        fps,
        width,
        height,
    )


def real_night(index: int, fps: Fraction, width: int, height: int) -> np.ndarray:
    """The street by night: underexposed, heavy noise, a 360-degree shutter, slow pan."""
    return _record(
        lambda t: _street_scene(t, width, height, True, _NIGHT_WALKERS, 30.0),
        _NIGHT_CAM,
        index,
        fps,
        width,
        height,
    )


_PAN_CAM = _Camera(noise=1.8, seed=7102, samples=6)
_ZOOM_CAM = _Camera(noise=2.2, seed=7104, exposure=0.8, flicker=0.03)


def real_pan(index: int, fps: Fraction, width: int, height: int) -> np.ndarray:
    """``pan`` through the camera: motion blur, exposure drift, flicker, noise."""
    return _record(lambda t: _LIN[render_pan(t, width, height)], _PAN_CAM, index, fps, width, height)


def real_zoom(index: int, fps: Fraction, width: int, height: int) -> np.ndarray:
    """``zoom``'s handheld gallery shot through the camera, indoor light flickering."""
    return _record(lambda t: _LIN[_zoom_view(t, width, height)], _ZOOM_CAM, index, fps, width, height)


_HANDHELD = FootageSpec(
    photo="leaves", motion="handheld", subjects=3, noise=2.0, flicker=0.02, seed=7103, palette=TEST_PHOTOS
)


@functools.cache
def _handheld(width: int, height: int, fps: Fraction) -> Footage:
    return Footage(_HANDHELD, width, height, fps)


def real_handheld(index: int, fps: Fraction, width: int, height: int) -> np.ndarray:
    """io.footage's handheld shot of a dead-leaves collage of test photos, three wobbling blobs."""
    return _handheld(width, height, fps).frame(index)


#: Clips that look like camera footage (see the module's description); H.264 CRF 21.
REAL_CLIPS: dict[str, RealRender] = {
    "street": real_street,
    "pan_real": real_pan,
    "handheld": real_handheld,
    "zoom_real": real_zoom,
    "night": real_night,
}


# -- writing ---------------------------------------------------------------------------------------


def _is_current(path: Path, width: int, height: int, fps: Fraction, frames: int) -> bool:
    if not path.is_file():
        return False
    try:
        info = probe(path)
    except Exception:
        return False
    return (info.width, info.height, info.fps, info.frame_count) == (width, height, fps, frames)


def write_clip(path: Path, render: Render, width: int, height: int, fps: Fraction, frames: int) -> Path:
    """Encode ``frames`` frames of ``render`` at ``fps`` into ``path`` (H.264, CRF 14, 4:2:0)."""
    info = VideoInfo.constant_rate(path, width, height, fps, frames, codec="libx264", color=BT709)
    settings = EncodeSettings(codec="libx264", crf=CRF, pix_fmt="yuv420p")
    with VideoWriter(path, info, settings) as writer:
        for i, pts in enumerate(timestamps(frames, fps)):
            writer.write(Frame(render(float(pts), width, height), pts, i))
    return path


def write_real_clip(
    path: Path, render: RealRender, width: int, height: int, fps: Fraction, frames: int
) -> Path:
    """Encode ``frames`` camera frames of ``render`` into ``path`` as a camera would: H.264 at
    CRF 21, a keyframe a second, 4:2:0."""
    info = VideoInfo.constant_rate(path, width, height, fps, frames, codec="libx264", color=BT709)
    settings = EncodeSettings(codec="libx264", crf=REAL_CRF, pix_fmt="yuv420p", options={"g": str(REAL_GOP)})
    with VideoWriter(path, info, settings) as writer:
        for i, pts in enumerate(timestamps(frames, fps)):
            writer.write(Frame(render(i, fps, width, height), pts, i))
    return path


#: The clip sets ``make_clips`` and the CLI know: ``classic`` (:data:`CLIPS`, the default),
#: ``real`` (:data:`REAL_CLIPS`) and ``all``.
SETS: dict[str, tuple[str, ...]] = {
    "classic": tuple(CLIPS),
    "real": tuple(REAL_CLIPS),
    "all": (*CLIPS, *REAL_CLIPS),
}


def _write_named(name: str, path: Path, width: int, height: int, fps: Fraction, frames: int) -> Path:
    if name in REAL_CLIPS:
        return write_real_clip(path, REAL_CLIPS[name], width, height, fps, frames)
    return write_clip(path, CLIPS[name], width, height, fps, frames)


def make_clips(
    outdir: str | os.PathLike[str],
    width: int = 1280,
    height: int = 720,
    fps: Fraction | int | str = 30,
    seconds: float = 3.0,
    names: Iterable[str] | None = None,
    *,
    force: bool = False,
    jobs: int = 1,
    clip_set: str = "classic",
) -> list[Path]:
    """Write ``<name>.mp4`` for each clip (``names`` from :data:`CLIPS` or :data:`REAL_CLIPS`;
    by default those of ``clip_set``, see :data:`SETS`) into ``outdir`` and return the paths in
    order. A file already there with the same size, frame rate and frame count is kept unless
    ``force``; ``jobs`` > 1 writes clips in parallel processes."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    fps = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    frames = max(1, round(seconds * fps))
    if clip_set not in SETS:
        raise ValueError(f"unknown clip set {clip_set!r} (known: {', '.join(SETS)})")
    names = list(SETS[clip_set]) if names is None else list(names)
    unknown = [n for n in names if n not in CLIPS and n not in REAL_CLIPS]
    if unknown:
        raise ValueError(f"unknown clip(s) {', '.join(unknown)} (known: {', '.join(SETS['all'])})")
    paths = [out / f"{name}.mp4" for name in names]
    todo = [
        (name, path)
        for name, path in zip(names, paths, strict=True)
        if force or not _is_current(path, width, height, fps, frames)
    ]
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(jobs, len(todo))) as pool:
            futures = [pool.submit(_write_named, n, p, width, height, fps, frames) for n, p in todo]
            for f in futures:
                f.result()
    else:
        for name, path in todo:
            _write_named(name, path, width, height, fps, frames)
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    ap.add_argument("--fps", default="30")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--set", dest="clip_set", choices=list(SETS), default="classic", help="clip set")
    ap.add_argument("--names", default=None, help=f"comma-separated clips of {','.join(SETS['all'])}")
    ap.add_argument("--force", action="store_true", help="rewrite clips that already exist")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    names = args.names.split(",") if args.names else None
    start = time.perf_counter()
    try:
        paths = make_clips(
            args.outdir,
            width,
            height,
            args.fps,
            args.seconds,
            names,
            force=args.force,
            jobs=args.jobs,
            clip_set=args.clip_set,
        )
    except ValueError as exc:
        ap.error(str(exc))
    for p in paths:
        print(p)
    print(f"{len(paths)} clips in {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
