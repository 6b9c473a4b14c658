"""Shared fixtures: small sample videos the tests generate themselves, and helpers that read
them back with PyAV directly (independently of vidlab's reader)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidlab.io.samples import generate


@pytest.fixture(autouse=True)
def _fail_on_logged_errors(caplog: pytest.LogCaptureFixture):
    """Like PySceneDetect: a test that makes vidlab log an error fails, even if it passes."""
    yield
    errors = [
        r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and r.name.startswith("vidlab")
    ]
    assert not errors, f"vidlab logged errors: {[r.getMessage() for r in errors]}"


@pytest.fixture
def two_torch_threads():
    """torch on 2 threads for the test (the machine's cores), then as it was. Modules that
    build and run networks use it: ``pytestmark = pytest.mark.usefixtures("two_torch_threads")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def sample_mp4(samples: Path) -> Path:
    """H.264 in MP4, 320x180, 24 frames at 30 fps, AAC audio, BT.709 tags."""
    p = samples / "sample.mp4"
    generate(p, frames=24, size=(320, 180), fps=30, audio=True)
    return p


@pytest.fixture(scope="session")
def ntsc_mp4(samples: Path) -> Path:
    """30000/1001 fps, SAR 4/3, rotation 90, untagged color, with audio."""
    from vidlab.io.colors import ColorInfo

    p = samples / "ntsc.mp4"
    generate(
        p,
        frames=20,
        size=(320, 240),
        fps=Fraction(30000, 1001),
        audio=True,
        sar=Fraction(4, 3),
        rotation=90,
        color=ColorInfo(),
    )
    return p


@pytest.fixture(scope="session")
def vfr_mkv(samples: Path) -> Path:
    p = samples / "vfr.mkv"
    generate(p, frames=24, size=(320, 180), fps=30, vfr=True, audio=True)
    return p


@pytest.fixture(scope="session")
def tenbit_mkv(samples: Path) -> Path:
    p = samples / "tenbit.mkv"
    generate(p, frames=12, size=(320, 180), fps=25, pix_fmt="yuv420p10le", crf=10)
    return p


@pytest.fixture(scope="session")
def chunky_mp4(samples: Path) -> Path:
    """96 frames at 30000/1001 with a keyframe every 12 frames and AAC audio."""
    p = samples / "chunky.mp4"
    generate(p, frames=96, size=(320, 180), fps=Fraction(30000, 1001), audio=True, gop=12)
    return p


def decode_rgb(path: Path) -> list[np.ndarray]:
    """Decode with PyAV alone (no vidlab) into RGB, for cross-checks."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def frame_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [Fraction(f.pts) * Fraction(s.time_base) for f in c.decode(s)]


def packets(path: Path, kind: str = "audio") -> list[tuple[Fraction, bytes]]:
    """(time, payload) of every packet of the first stream of ``kind``."""
    with av.open(str(path)) as c:
        s = getattr(c.streams, kind)[0]
        tb = Fraction(s.time_base)
        return [(Fraction(p.pts) * tb, bytes(p)) for p in c.demux(s) if p.size]


def first_time(path: Path, kind: str) -> Fraction:
    return min(t for t, _ in packets(path, kind))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``vidlab`` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "vidlab", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
