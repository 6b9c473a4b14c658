"""Hardening of files and jobs: a killed run's temporary files are cleaned up by the next run
(and a live run's are not), a refused job leaves no folder, a finished job is not redone, and
bad output paths of stylize and metrics are one-line usage errors."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import frame_times, packets, run_cli
from vidlab.core.errors import VidlabError
from vidlab.core.fsutil import write_atomic
from vidlab.io.samples import generate
from vidlab.io.writer import OutputFile, SequenceOutput
from vidlab.pipeline.job import JobOptions, JobSpec, run_job
from vidlab.pipeline.recipe import Recipe

SLOW = "denoise strength=6"


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that a one-stream denoise takes a few seconds, so it can be killed mid-run."""
    p = tmp_path_factory.mktemp("hardening") / "clip.mp4"
    generate(p, frames=60, size=(640, 360), fps=30)
    return p


def partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if ".partial" in p.name)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", ""])
    p.wait()
    return p.pid


class Holder:
    """A second, live process that opens an output (or just locks a file) and waits."""

    def __init__(self, code: str) -> None:
        script = textwrap.dedent(code) + "\nprint('ready', flush=True)\nsys.stdin.readline()\n"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys\n" + script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = []
        while (line := self.proc.stdout.readline()) and line.strip() != "ready":
            lines.append(line.strip())
        assert line.strip() == "ready", "the holder process failed to start"
        self.lines = lines

    def stop(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=30)


# -- 1. temporary files of killed runs ------------------------------------------------------------


def test_sigkill_leaves_a_partial_that_the_rerun_removes(slow_clip, tmp_path):
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "vidlab", "run", str(slow_clip), "-o", str(out), "-r", SLOW,
           "--chunk-seconds", "0", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not partials(tmp_path):
        time.sleep(0.02)
    time.sleep(0.3)  # some frames into the temporary file
    assert proc.poll() is None, f"the run finished before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = partials(tmp_path)
    assert [p.name for p in left] and not out.exists()
    assert f".out.{proc.pid}." in left[0].name, "the temporary name carries its writer's pid"

    # The rerun (a quick recipe: what matters is the same output) removes the dead run's file.
    again = run_cli("-v", "run", slow_clip, "-o", out, "-r", "identity", "--chunk-seconds", "0")
    assert again.returncode == 0, again.stderr
    assert partials(tmp_path) == [] and out.exists()
    assert "removed 1 temporary file left by a killed run" in again.stderr
    assert again.stderr.count("removed") == 1


def test_a_live_writers_temporary_file_is_kept(sample_mp4, tmp_path):
    out = tmp_path / "o.mp4"
    live = Holder(f"""
        from pathlib import Path
        from vidlab.io.writer import OutputFile
        f = OutputFile(Path({str(out)!r}))
        print(f.tmp, flush=True)
    """)
    try:
        live_tmp = Path(live.lines[-1])
        assert live_tmp.exists()
        # A dead writer's file beside it, named the same way, is stale; one named by a live pid
        # (the holder's, not locked: a writer between creating and locking its file) is not.
        stale = tmp_path / f".o.{dead_pid()}.0123abcd.partial.mp4"
        stale.write_bytes(b"x")
        unlocked_live = tmp_path / f".o.{live.proc.pid}.4567cdef.partial.mp4"
        unlocked_live.write_bytes(b"x")
        other_output = tmp_path / f".o.{dead_pid()}.89abcdef.partial.mkv"  # another output's
        other_output.write_bytes(b"x")
        mine = OutputFile(out)
        try:
            assert live_tmp.exists(), "a live run's temporary file was removed"
            assert unlocked_live.exists() and other_output.exists()
            assert not stale.exists()
        finally:
            mine.abort()
        assert not mine.tmp.exists()
    finally:
        live.stop()


def test_a_locked_temporary_file_is_kept_even_when_its_pid_looks_dead(tmp_path):
    """The lock guards writers whose pid this process cannot see (another pid namespace or host)."""
    target = tmp_path / "m.json"
    held = tmp_path / f".m.json.{dead_pid()}.00aa11bb.partial"
    held.write_bytes(b"{}")
    locker = Holder(f"""
        import fcntl, os
        fd = os.open({str(held)!r}, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    """)
    try:
        stale = tmp_path / f".m.json.{dead_pid()}.22cc33dd.partial"
        stale.write_bytes(b"{}")
        write_atomic(target, b'{"a": 1}')
        assert json.loads(target.read_text()) == {"a": 1}
        assert held.exists(), "a locked temporary file was removed"
        assert not stale.exists()
    finally:
        locker.stop()


def test_stale_sequence_folders_and_job_stitch_leftovers_are_removed(chunky_mp4, tmp_path, caplog):
    # An image sequence's hidden folder, left by a killed run.
    old = tmp_path / f".frames_05d.{dead_pid()}.0badf00d.partial"
    old.mkdir()
    (old / "frames_00001.png").write_bytes(b"x")
    seq = SequenceOutput(tmp_path / "frames_%05d.png")
    try:
        assert not old.exists() and seq.tmp.is_dir()
    finally:
        seq.abort()
    # A job killed during its final stitch: the rerun's stitch removes the dead stitcher's file.
    out = tmp_path / "out.mp4"
    left = tmp_path / f".out.{dead_pid()}.feedbeef.partial.mp4"
    left.write_bytes(b"half a file")
    spec = JobSpec(chunky_mp4, out, Recipe.parse("identity"))
    with caplog.at_level(logging.INFO, logger="vidlab"):
        run_job(spec, JobOptions(job_dir=tmp_path / "job", chunk_seconds=1.0, workers=1))
    assert out.exists() and partials(tmp_path) == []
    assert sum("left by a killed run" in r.getMessage() for r in caplog.records) == 1


# -- 2. a refused job leaves its folder -----------------------------------------------------------


def test_a_refused_job_removes_only_what_it_created(chunky_mp4, tmp_path, monkeypatch):
    spec = JobSpec(chunky_mp4, tmp_path / "o.mp4", Recipe.parse("identity"))
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("the user's")
    monkeypatch.setenv("VIDLAB_FREE_BYTES", "1000")
    for job_dir in (None, tmp_path / "new" / "job", existing):
        with pytest.raises(VidlabError, match="not enough free disk space"):
            run_job(spec, JobOptions(job_dir=job_dir, chunk_seconds=1.0, workers=1))
    assert not (tmp_path / ".o.mp4.vidlab-job").exists()
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"], "a user's folder stays as it was"
    assert not (tmp_path / "o.mp4").exists()

    # A job folder holding finished segments is never removed by a refusal.
    monkeypatch.delenv("VIDLAB_FREE_BYTES")
    jd = tmp_path / "kept"
    run_job(spec, JobOptions(job_dir=jd, chunk_seconds=1.0, workers=1, keep_chunks=True))
    (tmp_path / "o.mp4").unlink()
    segments = sorted((jd / "chunks").iterdir())
    monkeypatch.setenv("VIDLAB_FREE_BYTES", "1000")
    with pytest.raises(VidlabError, match="not enough free disk space"):
        run_job(spec, JobOptions(job_dir=jd, chunk_seconds=1.0, workers=1, keep_chunks=True))
    assert sorted((jd / "chunks").iterdir()) == segments and (jd / "manifest.json").exists()


def test_cli_refused_job_leaves_no_job_folder(chunky_mp4, tmp_path):
    env = {**os.environ, "VIDLAB_FREE_BYTES": "1000"}
    r = subprocess.run(
        [sys.executable, "-m", "vidlab", "run", chunky_mp4, "-o", tmp_path / "p.mkv", "--workers", "1", "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 1 and "not enough free disk space" in r.stderr
    assert list(tmp_path.iterdir()) == []


# -- 3. rerunning a finished job ------------------------------------------------------------------


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("vidlab")
    ]


def test_a_finished_job_is_recognised_and_redone_only_when_its_output_changed(chunky_mp4, tmp_path, caplog):
    out, jd = tmp_path / "o.mp4", tmp_path / "job"
    spec = JobSpec(chunky_mp4, out, Recipe.parse("identity"))
    opts = JobOptions(job_dir=jd, chunk_seconds=1.0, workers=1)
    first = run_job(spec, opts)
    manifest = json.loads((jd / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["output_file"]["bytes"] == out.stat().st_size
    made = frame_times(out)  # (x264 with threads may pick other bits on a redo)
    stamp = out.stat().st_mtime_ns

    with caplog.at_level(logging.INFO, logger="vidlab"):
        again = run_job(spec, opts)
    assert _warnings(caplog) == []
    assert any("already finished" in r.getMessage() for r in caplog.records)
    assert out.stat().st_mtime_ns == stamp and again.frames == first.frames == 96

    for change, why in (
        (lambda: out.unlink(), "was deleted"),
        (lambda: out.write_bytes(b"x"), "size differs"),
    ):
        change()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="vidlab"):
            run_job(spec, opts)
        warned = _warnings(caplog)
        assert len(warned) == 1 and why in warned[0] and "redoing the job" in warned[0], warned
        assert frame_times(out) == made

    # Same size, other bytes: the hash tells.
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vidlab"):
        run_job(spec, opts)
    warned = _warnings(caplog)
    assert len(warned) == 1 and "content differs" in warned[0]
    assert frame_times(out) == made


def test_a_kept_job_rebuilds_its_deleted_output_from_the_segments(chunky_mp4, tmp_path, caplog):
    out, jd = tmp_path / "o.mp4", tmp_path / "job"
    spec = JobSpec(chunky_mp4, out, Recipe.parse("identity"))
    opts = JobOptions(job_dir=jd, chunk_seconds=1.0, workers=1, keep_chunks=True)
    run_job(spec, opts)
    made = packets(out, "video")
    before = {p.name: p.stat().st_mtime_ns for p in (jd / "chunks").iterdir()}
    out.unlink()
    with caplog.at_level(logging.INFO, logger="vidlab"):
        run_job(spec, opts)
    warned = _warnings(caplog)
    assert len(warned) == 1 and "rebuilding it from the kept segments" in warned[0], warned
    assert {p.name: p.stat().st_mtime_ns for p in (jd / "chunks").iterdir()} == before
    assert packets(out, "video") == made


def test_cli_rerun_of_a_finished_job_says_so_without_warnings(chunky_mp4, tmp_path):
    args = ("run", chunky_mp4, "-o", tmp_path / "o.mp4", "-r", "identity", "--chunk-seconds", "1",
            "--workers", "1", "--job-dir", tmp_path / "job")  # fmt: skip
    assert run_cli(*args).returncode == 0
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert again.stderr == "" and again.stdout.strip().count("\n") == 0  # one line, no warnings
    assert "is up to date: this job already finished" in again.stdout and "wrote" not in again.stdout


# -- 4. stylize -o FILE ---------------------------------------------------------------------------


def test_stylize_into_an_existing_file_is_a_usage_error(sample_mp4, tmp_path):
    target = tmp_path / "taken.mp4"
    target.write_bytes(b"not a folder")
    r = run_cli("stylize", sample_mp4, "-o", target, "-q")
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and str(target) in r.stderr and "--output must be a folder" in r.stderr
    assert "FileExistsError" not in r.stderr and target.read_bytes() == b"not a folder"


# -- 5. metrics --csv into a bad place ------------------------------------------------------------


def test_metrics_csv_into_a_missing_folder_fails_before_measuring(sample_mp4, tmp_path):
    csv = tmp_path / "nope" / "q.csv"
    r = run_cli("metrics", sample_mp4, sample_mp4, "--csv", csv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and str(csv) in r.stderr and "does not exist" in r.stderr
    assert ".partial" not in r.stderr and r.stdout == "", "nothing was measured"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_metrics_csv_into_a_read_only_folder_is_a_usage_error(sample_mp4, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        r = run_cli("metrics", sample_mp4, sample_mp4, "--csv", folder / "q.csv")
    finally:
        folder.chmod(0o755)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not writable" in r.stderr
    assert ".partial" not in r.stderr


def test_write_atomic_failures_name_the_target(tmp_path):
    target = tmp_path / "missing" / "q.csv"
    with pytest.raises(FileNotFoundError) as info:
        write_atomic(target, b"a,b\n")
    assert info.value.filename == str(target) and ".partial" not in str(info.value)
