"""The CLI as a user meets it: help everywhere, one clear line per error, exit codes, and
nothing half-written left behind."""

import json
import os
import subprocess

import pytest

from conftest import run_cli
from vidlab.io import probe
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.samples import generate

COMMANDS = ["probe", "run", "ops", "generate-test-video", "demo"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command):
    args = ["--help"] if command is None else [command, "--help"]
    res = run_cli(*args)
    assert res.returncode == 0
    assert "Usage" in res.stdout
    if command:
        assert command in res.stdout


def test_probe_json(sample_mp4):
    res = run_cli("probe", sample_mp4, "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["fps"] == "30" and data["frame_count"] == 24 and data["audio"][0]["codec"] == "aac"


def test_ops_lists_params():
    res = run_cli("ops")
    assert res.returncode == 0
    assert "sharpen" in res.stdout and "amount: float = 0.6 [0, 10]" in res.stdout
    data = json.loads(run_cli("ops", "ema", "--json").stdout)
    assert data[0]["params"][0]["name"] == "alpha"


def test_run_and_generate(tmp_path):
    src = tmp_path / "in.mp4"
    res = run_cli(
        "generate-test-video",
        "-o",
        src,
        "--frames",
        "15",
        "--size",
        "160x96",
        "--fps",
        "30000/1001",
        "--audio",
    )
    assert res.returncode == 0, res.stderr
    info = probe(src)
    assert info.frame_count == 15 and str(info.fps) == "30000/1001" and info.audio
    out = tmp_path / "out.mkv"
    res = run_cli(
        "run",
        src,
        "-o",
        out,
        "--recipe",
        "sharpen amount=0.5 | ema alpha=0.6",
        "--codec",
        "h264",
        "--crf",
        "20",
        "--preset",
        "veryfast",
        "--start",
        "0.1",
        "--duration",
        "0:00.3",
    )
    assert res.returncode == 0, res.stderr
    assert probe(out).frame_count == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mkv"]


def _assert_one_line_error(res, code, *needles):
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("vidlab: error: ")
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def bad_inputs(tmp_path, sample_mp4):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    data = sample_mp4.read_bytes()
    cut = tmp_path / "truncated.mp4"  # moov at the front (faststart): the media data is cut
    cut.write_bytes(data[: len(data) // 2])
    tail = tmp_path / "moov_at_end.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(sample_mp4), "-c", "copy", str(tmp_path / "full.mp4")],
        check=True,
    )
    full = (tmp_path / "full.mp4").read_bytes()
    tail.write_bytes(full[: len(full) * 2 // 3])
    audio_only = tmp_path / "tone.m4a"
    from vidlab.io.samples import write_tone

    write_tone(audio_only, 0.5)
    return {"empty": empty, "text": text, "truncated": cut, "moov_at_end": tail, "audio_only": audio_only}


@pytest.mark.parametrize(
    ("case", "code", "needle"),
    [
        ("missing", 2, "no such file"),
        ("empty", 1, "empty file"),
        ("text", 1, "not a readable media file"),
        ("truncated", 1, "truncated"),
        ("moov_at_end", 1, "not a readable media file"),
        ("audio_only", 1, "no video stream"),
    ],
)
def test_bad_input_files(case, code, needle, bad_inputs, tmp_path):
    src = bad_inputs.get(case, tmp_path / "nope.mp4")
    outdir = tmp_path / "out"
    outdir.mkdir()
    res = run_cli("run", src, "-o", outdir / "o.mp4")
    _assert_one_line_error(res, code, needle, src.name)
    assert list(outdir.iterdir()) == []
    res = run_cli("probe", src)
    _assert_one_line_error(res, code, needle)


@pytest.mark.parametrize(
    ("recipe", "needle"),
    [
        ("blur", "unknown op 'blur'"),
        ("sharpen radius=0.01", "out of range"),
        ("sharpen sigma=2", "unknown parameter 'sigma'"),
        ("resize width=161 height=91", "odd"),
    ],
)
def test_bad_recipes(recipe, needle, sample_mp4, tmp_path):
    res = run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "--recipe", recipe)
    _assert_one_line_error(res, 2, needle)
    assert list(tmp_path.iterdir()) == []


def test_odd_source_size(tmp_path):
    odd = tmp_path / "odd.mkv"
    generate(odd, frames=4, size=(161, 91), codec="ffv1", pix_fmt="yuv444p")
    res = run_cli("run", odd, "-o", tmp_path / "o.mp4", "--pix-fmt", "yuv420p")
    _assert_one_line_error(res, 2, "161x91", "yuv444p")
    assert not (tmp_path / "o.mp4").exists()
    ok = run_cli("run", odd, "-o", tmp_path / "o.mp4")  # inherits yuv444p, which holds odd sizes
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("where", ["missing_dir", "file_as_dir", "proc"])
def test_unwritable_output(where, sample_mp4, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = {
        "missing_dir": tmp_path / "no" / "such" / "o.mp4",
        "file_as_dir": blocker / "o.mp4",
        "proc": "/proc/vidlab-test-out.mp4",
    }[where]
    res = run_cli("run", sample_mp4, "-o", out)
    _assert_one_line_error(res, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder(sample_mp4, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    res = run_cli("run", sample_mp4, "-o", ro / "o.mp4")
    _assert_one_line_error(res, 2, "not writable")


def test_bad_options(sample_mp4, tmp_path):
    _assert_one_line_error(
        run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "--codec", "mpeg9"), 2, "unknown codec"
    )
    _assert_one_line_error(
        run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "--crf", "99"), 2, "out of range"
    )
    _assert_one_line_error(
        run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "--start", "abc"), 2, "not a time"
    )
    _assert_one_line_error(
        run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "--start", "60"), 2, "past the end"
    )
    _assert_one_line_error(run_cli("run", sample_mp4, "-o", tmp_path / "o.xyz"), 2, "container")
    assert list(tmp_path.iterdir()) == []
