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
        raise UsageError(f"--frames must be >= 1, got {frames}")
    if width < 16 or height < 16 or width > 8192 or height > 8192:
        raise UsageError(f"--size must be between 16x16 and 8192x8192, got {width}x{height}")
    if fps <= 0 or fps > 1000:
        raise UsageError(f"--fps must be in (0, 1000], got {fps}")
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
