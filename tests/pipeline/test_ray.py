"""The Ray executor against a local Ray instance the test starts on 127.0.0.1."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from test_job import assert_same_video, job

from conftest import frame_times, packets
from vidlab.io.codecs import EncodeSettings
from vidlab.pipeline.job import run_job

# Before Ray is imported: it reads this once, and 0 keeps the whole instance on the loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    try:
        nodes = ray.nodes()
        assert nodes and all(n["NodeManagerAddress"] == "127.0.0.1" for n in nodes), nodes
        yield
    finally:
        ray.shutdown()


def test_ray_output_is_identical_to_local(local_ray, chunky_mp4: Path, tmp_path: Path):
    local, remote = tmp_path / "local.mkv", tmp_path / "ray.mkv"
    run_job(*job(chunky_mp4, local, workers=2))
    run_job(*job(chunky_mp4, remote, workers=2, executor="ray"))
    assert_same_video(local, remote)


def test_ray_lossy_output_keeps_timing_and_audio(local_ray, chunky_mp4: Path, tmp_path: Path):
    out = tmp_path / "ray.mp4"
    result = run_job(*job(chunky_mp4, out, workers=2, executor="ray", settings=EncodeSettings(crf=20)))
    assert result.frames == 96
    assert frame_times(out) == frame_times(chunky_mp4)
    assert packets(out, "audio") == packets(chunky_mp4, "audio")
