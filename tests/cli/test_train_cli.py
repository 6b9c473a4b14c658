"""End to end from the command line: train an enhancer for a few steps on generated clips,
export it to ONNX, register it, and run it as an op over a real video."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidlab.io.footage import FootageSpec, write_footage
from vidlab.io.probe import probe

pytest.importorskip("torch")

VIDLAB = [sys.executable, "-m", "vidlab"]


def _run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*VIDLAB, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_train_export_add_and_enhance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import os

    env = {**os.environ, "VIDLAB_HOME": str(tmp_path / "home")}
    run = tmp_path / "run"
    train = _run(
        "train", "enhancer", "--generate", "2", "--clip-size", "128x96", "--frames-per-clip", "4",
        "--codecs", "h264", "--steps", "4", "--crop", "32", "--batch-size", "2", "--val-every", "2",
        "--warmup-steps", "1", "--threads", "1", "-o", str(run),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert (run / "best.pt").is_file() and (run / "log.csv").is_file() and (run / "loss.png").is_file()
    assert "export-onnx" in train.stdout  # the summary says what to do next
    cache = list((tmp_path / "cache").glob("pairs-*"))
    assert len(cache) == 2  # train and validation clips, cached apart

    model = tmp_path / "tiny.onnx"
    export = _run("export-onnx", str(run / "best.pt"), "-o", str(model), cwd=tmp_path, env=env)
    assert export.returncode == 0, export.stderr
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["task"] == "enhancer" and card["training"]["arch"] == "enhancer"

    added = _run("models", "add", str(model), "--name", "tiny", cwd=tmp_path, env=env)
    assert added.returncode == 0, added.stderr
    listed = _run("models", "list", "--json", cwd=tmp_path, env=env)
    assert "tiny" in {m["name"] for m in json.loads(listed.stdout)}

    src = write_footage(tmp_path / "in.mp4", FootageSpec(seed=3), frames=5, size=(160, 96)).path
    out = tmp_path / "out.mp4"
    enhanced = _run(
        "run",
        str(src),
        "-o",
        str(out),
        "-r",
        "neural_enhance model=tiny tile=64 overlap=8",
        cwd=tmp_path,
        env=env,
    )
    assert enhanced.returncode == 0, enhanced.stderr
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (160, 96, 5)

    # a resumed run that is already complete stays complete; asking for more steps continues it
    more = _run(
        "train", "enhancer", "--generate", "2", "--clip-size", "128x96", "--frames-per-clip", "4",
        "--codecs", "h264", "--steps", "6", "--resume", "-o", str(run),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert more.returncode == 0, more.stderr
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[-1].split(",")[0] == "6"


def test_train_refuses_bad_options_in_one_line(tmp_path: Path):
    both = _run("train", "enhancer", "--generate", "2", "--data", str(tmp_path), cwd=tmp_path)
    assert both.returncode == 2 and len(both.stderr.strip().splitlines()) == 1
    size = _run("train", "enhancer", "--generate", "2", "--clip-size", "big", cwd=tmp_path)
    assert size.returncode == 2 and "WxH" in size.stderr and "Traceback" not in size.stderr
    empty = _run("train", "enhancer", "--data", str(tmp_path), "-o", str(tmp_path / "r"), cwd=tmp_path)
    assert empty.returncode == 2 and "no videos" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
