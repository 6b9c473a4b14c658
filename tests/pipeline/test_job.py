"""Chunked, resumable jobs: invisible seams, resume after SIGKILL, corrupt state, bad input."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import frame_times, packets, psnr, run_cli
from vidlab.core.errors import UsageError, VidlabError
from vidlab.io.codecs import EncodeSettings
from vidlab.io.samples import generate
from vidlab.io.segments import index_frames
from vidlab.pipeline import execute
from vidlab.pipeline.job import JobOptions, JobSpec, job_status, run_job
from vidlab.pipeline.recipe import Recipe

RECIPE = "ema alpha=0.3 | sharpen amount=0.5"  # ema's pre-roll is 17 frames: it crosses every seam
LOSSLESS = EncodeSettings(codec="ffv1", pix_fmt="gbrp")


@pytest.fixture(scope="session")
def unchunked_mkv(chunky_mp4: Path, samples: Path) -> Path:
    out = samples / "unchunked.mkv"
    execute(chunky_mp4, out, RECIPE, LOSSLESS)
    return out


def decoded(path: Path) -> list[tuple[Fraction, np.ndarray]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(Fraction(f.pts) * Fraction(s.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(s)]


def assert_same_video(a: Path, b: Path) -> None:
    fa, fb = decoded(a), decoded(b)
    assert len(fa) == len(fb)
    assert [t for t, _ in fa] == [t for t, _ in fb]
    for i, ((_, x), (_, y)) in enumerate(zip(fa, fb, strict=True)):
        assert np.array_equal(x, y), f"frame {i} differs"
    assert packets(a, "audio") == packets(b, "audio")


def job(src: Path, out: Path, job_dir: Path | None = None, **kw) -> tuple[JobSpec, JobOptions]:
    spec = JobSpec(src, out, Recipe.parse(kw.pop("recipe", RECIPE)), kw.pop("settings", LOSSLESS))
    opts = JobOptions(job_dir=job_dir, chunk_seconds=kw.pop("chunk_seconds", 1.0), **kw)
    return spec, opts


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunked_run_is_bit_identical_to_unchunked(chunky_mp4, unchunked_mkv, tmp_path, workers):
    out = tmp_path / "chunked.mkv"
    result = run_job(*job(chunky_mp4, out, workers=workers))
    assert result.frames == 96
    assert_same_video(unchunked_mkv, out)
    assert not (tmp_path / ".chunked.mkv.vidlab-job").exists(), "the default job folder is removed on success"


def test_chunk_plan_cuts_on_keyframes_with_preroll(chunky_mp4, tmp_path):
    jd = tmp_path / "job"
    run_job(*job(chunky_mp4, tmp_path / "o.mkv", jd, keep_chunks=True, workers=2))
    manifest = json.loads((jd / "manifest.json").read_text())
    index = index_frames(chunky_mp4)
    chunks = [c["chunk"] for c in manifest["chunks"]]
    assert len(chunks) >= 3
    assert chunks[0]["first"] == 0 and chunks[-1]["last"] == 96
    for a, b in pairwise(chunks):
        assert a["last"] == b["first"]
        assert b["first"] in index.keyframes
        assert b["decode_first"] == b["first"] - 17
    assert all(c["state"] == "done" and len(c["sha256"]) == 64 for c in manifest["chunks"])
    assert sum(c["frames"] for c in manifest["chunks"]) == 96
    assert manifest["input"]["size"] == chunky_mp4.stat().st_size
    assert all((jd / c["segment"]).exists() for c in manifest["chunks"])
    st = job_status(jd)
    assert (st["state"], st["chunks_done"], st["frames_done"], st["frames_total"]) == (
        "done",
        len(chunks),
        96,
        96,
    )


def test_mp4_segments_keep_exact_timestamps(chunky_mp4, tmp_path):
    """MP4 segments start at zero and are shifted back when stitched: timestamps stay exact."""
    full, chunked = tmp_path / "full.mp4", tmp_path / "chunked.mp4"
    execute(chunky_mp4, full, RECIPE, LOSSLESS)
    run_job(*job(chunky_mp4, chunked, workers=2))
    assert frame_times(chunked) == frame_times(full) == frame_times(chunky_mp4)
    assert_same_video(full, chunked)


def test_lossy_chunked_output_keeps_timing_and_audio(chunky_mp4, tmp_path):
    out = tmp_path / "x264.mp4"
    run_job(*job(chunky_mp4, out, settings=EncodeSettings(codec="libx264", crf=18), workers=2))
    assert frame_times(out) == frame_times(chunky_mp4)
    assert packets(out, "audio") == packets(chunky_mp4, "audio")


def test_start_and_duration_in_chunks(chunky_mp4, tmp_path):
    spec_kw = {"start": Fraction(1), "duration": Fraction(2)}
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    execute(chunky_mp4, a, RECIPE, LOSSLESS, **spec_kw)
    spec, opts = job(chunky_mp4, b, chunk_seconds=0.5, workers=2)
    spec = JobSpec(spec.input, spec.output, spec.recipe, spec.settings, **spec_kw)
    run_job(spec, opts)
    assert_same_video(a, b)


def _segment_mtimes(jd: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (jd / "chunks").iterdir()}


def test_corrupt_segment_is_redone(chunky_mp4, unchunked_mkv, tmp_path, caplog):
    jd, out = tmp_path / "job", tmp_path / "o.mkv"
    spec, opts = job(chunky_mp4, out, jd, keep_chunks=True, workers=2)
    run_job(spec, opts)
    manifest = json.loads((jd / "manifest.json").read_text())
    victim = jd / manifest["chunks"][1]["segment"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, wrong hash
    victim.write_bytes(bytes(data))
    before = _segment_mtimes(jd)
    out.unlink()
    with caplog.at_level(logging.WARNING, logger="vidlab"):
        run_job(spec, opts)
    assert "chunk 1's segment is missing, truncated or fails its hash" in caplog.text
    after = _segment_mtimes(jd)
    assert after[victim.name] != before[victim.name]
    assert all(after[n] == before[n] for n in before if n != victim.name), "good segments are reused"
    assert_same_video(unchunked_mkv, out)


def test_truncated_segment_and_manifest_are_never_trusted(chunky_mp4, unchunked_mkv, tmp_path, caplog):
    jd, out = tmp_path / "job", tmp_path / "o.mkv"
    spec, opts = job(chunky_mp4, out, jd, keep_chunks=True, workers=2)
    run_job(spec, opts)
    seg = next((jd / "chunks").iterdir())
    seg.write_bytes(seg.read_bytes()[:100])
    manifest = jd / "manifest.json"
    manifest.write_text(manifest.read_text()[: len(manifest.read_text()) // 2])
    with caplog.at_level(logging.WARNING, logger="vidlab"):
        run_job(spec, opts)
    assert "manifest is truncated or corrupt" in caplog.text
    assert json.loads(manifest.read_text())["status"] == "done"
    assert_same_video(unchunked_mkv, out)


def test_changed_recipe_or_input_refuses_to_resume(chunky_mp4, sample_mp4, tmp_path):
    jd, out = tmp_path / "job", tmp_path / "o.mkv"
    run_job(*job(chunky_mp4, out, jd, keep_chunks=True, workers=1))
    manifest_before = (jd / "manifest.json").read_bytes()
    with pytest.raises(UsageError, match="recipe changed since this job started"):
        run_job(*job(chunky_mp4, out, jd, recipe="ema alpha=0.4", workers=1))
    with pytest.raises(UsageError, match="belongs to another input"):
        run_job(*job(sample_mp4, out, jd, workers=1))
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(chunky_mp4.read_bytes())
    run_job(*job(copy, tmp_path / "c.mkv", tmp_path / "job2", keep_chunks=True, workers=1))
    with open(copy, "r+b") as f:  # same size, different content (in the media data at the end)
        f.seek(-8, os.SEEK_END)
        f.write(b"\0\0\0\0")
    with pytest.raises(UsageError, match="the input changed since this job started"):
        run_job(*job(copy, tmp_path / "c.mkv", tmp_path / "job2", workers=1))
    assert (jd / "manifest.json").read_bytes() == manifest_before, "a refused run changes nothing"


def test_preflight_refuses_when_the_disk_is_short(chunky_mp4, tmp_path, monkeypatch):
    out = tmp_path / "o.mkv"
    monkeypatch.setenv("VIDLAB_FREE_BYTES", "1000")
    with pytest.raises(VidlabError, match="not enough free disk space"):
        run_job(*job(chunky_mp4, out, workers=1))
    assert not out.exists()
    assert not (tmp_path / ".o.mkv.vidlab-job").exists()  # a refused job leaves no folder (issue 13)


def test_cli_bad_job_input_gives_one_line(chunky_mp4, sample_mp4, tmp_path):
    jd = tmp_path / "job"
    ok = run_cli("run", chunky_mp4, "-o", tmp_path / "o.mkv", "-r", RECIPE, "--codec", "ffv1", "--job-dir",
                 jd, "--keep-chunks", "--chunk-seconds", "1", "--workers", "2", "-q")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    other = run_cli("run", sample_mp4, "-o", tmp_path / "o.mkv", "-r", RECIPE, "--codec", "ffv1",
                    "--job-dir", jd, "-q")  # fmt: skip
    assert other.returncode == 2
    assert other.stderr.count("\n") == 1 and "belongs to another input" in other.stderr
    changed = run_cli("run", chunky_mp4, "-o", tmp_path / "o.mkv", "-r", "ema alpha=0.9", "--codec", "ffv1",
                      "--job-dir", jd, "-q")  # fmt: skip
    assert changed.returncode == 2 and "recipe changed" in changed.stderr
    assert "Traceback" not in other.stderr + changed.stderr
    env = {**os.environ, "VIDLAB_FREE_BYTES": "1000"}
    full = subprocess.run(
        [sys.executable, "-m", "vidlab", "run", chunky_mp4, "-o", tmp_path / "p.mkv", "--workers", "2", "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert full.returncode == 1 and full.stderr.count("\n") == 1
    assert "not enough free disk space" in full.stderr and not (tmp_path / "p.mkv").exists()
    status = run_cli("jobs-status", jd)
    assert status.returncode == 0 and "frames: 96/96" in status.stdout
    assert run_cli("jobs-status", tmp_path).returncode == 2


@pytest.mark.slow
def test_sigkill_then_rerun_matches_an_uninterrupted_run(tmp_path):
    src = tmp_path / "long.mkv"
    generate(src, frames=240, size=(320, 180), fps=24, audio=True, gop=12)
    reference = tmp_path / "reference.mkv"
    execute(src, reference, "denoise strength=6 | ema alpha=0.5", LOSSLESS)
    jd, out = tmp_path / "job", tmp_path / "out.mkv"
    cmd = [sys.executable, "-m", "vidlab", "-v", "run", str(src), "-o", str(out), "-r",
           "denoise strength=6 | ema alpha=0.5", "--codec", "ffv1", "--pix-fmt", "gbrp",
           "--chunk-seconds", "1", "--workers", "2", "--job-dir", str(jd), "--keep-chunks", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    manifest = jd / "manifest.json"
    deadline = time.time() + 120
    done: list[str] = []
    while time.time() < deadline and proc.poll() is None:
        try:
            m = json.loads(manifest.read_text())
            done = [c["segment"] for c in m["chunks"] if c["state"] == "done"]
        except (OSError, ValueError):
            pass  # not written yet (it is replaced atomically, so never half-written)
        if len(done) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the job finished before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    m = json.loads(manifest.read_text())
    kept = {c["segment"]: (jd / c["segment"]).stat().st_mtime_ns for c in m["chunks"] if c["state"] == "done"}
    assert 2 <= len(kept) < len(m["chunks"])
    time.sleep(0.5)  # orphaned workers die with their parent (PR_SET_PDEATHSIG)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming, {len(kept)} of {len(m['chunks'])} chunks verified" in again.stderr
    assert all((jd / s).stat().st_mtime_ns == t for s, t in kept.items()), "finished chunks are not redone"
    assert_same_video(reference, out)
    assert len(decoded(out)) == 240


@pytest.mark.parametrize(
    ("recipe", "exact"),
    [
        ("cartoon palette_period=8 palette_fade=4", True),
        ("cartoon palette_period=8 palette_fade=4 | flow_stabilize", False),
        ("pencil | edge_stabilize", True),
        ("grain amount=0.1", True),
    ],
)
def test_stateful_styles_have_invisible_seams(chunky_mp4, tmp_path, recipe, exact):
    """Styles with memory (palette, recursive blend) declare pre-roll, so chunked output matches one
    stream: bit-exact for finite-memory ops, and within a hair for recursive ones."""
    whole = tmp_path / "whole.mkv"
    execute(chunky_mp4, whole, Recipe.parse(recipe), LOSSLESS)
    chunked = tmp_path / "chunked.mkv"
    run_job(*job(chunky_mp4, chunked, recipe=recipe, workers=2))
    fa, fb = decoded(whole), decoded(chunked)
    assert [t for t, _ in fa] == [t for t, _ in fb]
    if exact:
        assert_same_video(whole, chunked)
        return
    worst = min(psnr(x, y) for (_, x), (_, y) in zip(fa, fb, strict=True))
    assert worst >= 40.0, worst
