"""What the hostile corpus's first run found (docs/reliability.md): a FIFO is refused in one
line by commands that need a file, stylize leaves no empty folder after a media error, and an
op's error while processing frames names the input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import run_cli
from vidlab.io.ffmpeg import ffmpeg_exe


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def test_a_fifo_is_refused_in_one_line_by_commands_that_need_a_file(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    for args in (["probe", pipe], ["metrics", pipe, pipe]):
        res = run_cli(*args)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert "pipe.mp4: is a named pipe" in res.stderr


def test_stylize_leaves_no_empty_folder_after_a_media_error(tmp_path: Path) -> None:
    full = tmp_path / "full.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:r=25", "-frames:v", "50", "-c:v", "libx264",
            "-movflags", "+faststart", str(full))  # fmt: skip
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    res = run_cli("stylize", cut, "-o", tmp_path / "styled", "--style", "pencil", "-q")
    assert res.returncode == 1 and "cut.mp4" in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "styled").exists()
    kept = tmp_path / "mine"
    kept.mkdir()
    assert run_cli("stylize", cut, "-o", kept, "--style", "pencil", "-q").returncode == 1
    assert kept.is_dir()  # a folder the user made stays


def test_an_op_failing_on_the_frames_names_the_input(tmp_path: Path) -> None:
    gray = tmp_path / "gray.mkv"
    _ffmpeg("-f", "lavfi", "-i", "color=gray:s=64x48:r=10", "-frames:v", "5", "-c:v", "ffv1", str(gray))
    res = run_cli("key", gray, "-o", tmp_path / "layer.mkv", "-q")
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "gray.mkv: op 'chromakey'" in res.stderr and "no saturated screen colour" in res.stderr
    assert not (tmp_path / "layer.mkv").exists()
