"""Shared by the job-queue tests (imported; tests/conftest.py stays the one conftest): a small
chunkable clip, a workspace holding it, and the decoded-frame hash of an uninterrupted render."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import decode_rgb
from vidlab.io.samples import generate
from vidlab.jobs.params import render_params
from vidlab.jobs.store import Store
from vidlab.jobs.worker import Worker

RECIPE = "cartoon colors=6"
CHUNK_SECONDS = 0.5


def frames_hash(path: Path) -> tuple[int, str]:
    """How many frames a video decodes to, and one hash of all their pixels."""
    h = hashlib.sha256()
    frames = decode_rgb(path)
    for f in frames:
        h.update(f.tobytes())
    return len(frames), h.hexdigest()


#: Lossless segments, as the pipeline's own resume tests use: with libx264 a chunk redone after a
#: pause was seen to decode differently (a pipeline matter, reported with this work).
SETTINGS = {"codec": "ffv1"}


def params(**extra: object) -> dict:
    return render_params(recipe=RECIPE, settings=SETTINGS, chunk_seconds=CHUNK_SECONDS, workers=1, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160x96, 150 frames at 30 fps, a keyframe every 6 frames: about 9 chunks of 0.5 s."""
    p = tmp_path_factory.mktemp("jobclip") / "clip.mp4"
    generate(p, frames=150, size=(160, 96), fps=30, gop=6)
    return p


@pytest.fixture
def ws(tmp_path: Path, clip: Path) -> Path:
    """A workspace folder holding ``clip.mp4``."""
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copy(clip, root / "clip.mp4")
    return root


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> tuple[int, str]:
    """Frame count and hash of the clip rendered by one uninterrupted job."""
    root = tmp_path_factory.mktemp("refws")
    shutil.copy(clip, root / "clip.mp4")
    with Store.open(root) as store:
        job_id = store.submit("render", params(), input="clip.mp4", output="ref.mkv")
        Worker(store).run(once=True)
        assert store.get(job_id).state == "done", store.get(job_id).error
    return frames_hash(root / "ref.mkv")
