"""--device and VIDLAB_DEVICE: what "auto" means for every neural op of a run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vidlab.core.errors import UsageError
from vidlab.ml.backends import CPU, DEVICE_ENV, available, select_backend


def test_the_environment_decides_what_auto_means(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert isinstance(select_backend("auto", threads=3), CPU)
    assert select_backend("auto", threads=3).threads == 3
    monkeypatch.setenv(DEVICE_ENV, "quantum")
    with pytest.raises(UsageError, match="unknown device"):
        select_backend("auto")
    monkeypatch.delenv(DEVICE_ENV)
    expected = "CUDA" if "CUDAExecutionProvider" in available() else "CPU"
    assert type(select_backend("auto")).__name__ == expected


def test_cli_device_is_checked_before_anything_runs(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "vidlab", "run", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4"),
         "--device", "gpu"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == "vidlab: error: unknown --device 'gpu' (choices: auto, cpu, cuda, cuda:N, tensorrt)"
    )
    assert not (tmp_path / "o.mp4").exists()
