"""`vidlab.pipeline.execute`, the one entry point: events, cancellation and pause (one stream and a
2-worker chunked job, each resumed bit-identically), heavy op state opened once per worker
process, and worker counts sized from what the recipe's ops declare."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import run_cli
from vidlab.core.errors import MediaError, UsageError
from vidlab.core.events import Cancelled, CancelToken, Event
from vidlab.io.codecs import EncodeSettings
from vidlab.pipeline import JobOptions, Recipe, execute
from vidlab.pipeline.job import read_manifest

LOSSLESS = EncodeSettings(codec="ffv1")
# nlmeans is slow enough (tens of ms per frame at 320x180) that a cancel lands mid-run.
SLOW = "denoise strength=6 | ema alpha=0.6"


def decoded(path: Path) -> list[tuple[int, bytes]]:
    """Every frame's pts and planes, decoded with PyAV alone."""
    with av.open(str(path)) as c:
        return [(f.pts, b"".join(bytes(p) for p in f.planes)) for f in c.decode(video=0)]


def leftovers(folder: Path) -> list[str]:
    """Temporary files vidlab may leave behind."""
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name)


def cancel_after(token: CancelToken, seconds: float, pause: bool = False) -> threading.Timer:
    timer = threading.Timer(seconds, token.pause if pause else token.cancel)
    timer.start()
    return timer


@pytest.fixture(scope="module")
def reference(chunky_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, bytes]]:
    out = tmp_path_factory.mktemp("ref") / "ref.mkv"
    execute(chunky_mp4, out, SLOW, LOSSLESS, options=JobOptions(chunk_seconds=0))
    return decoded(out)


# -- events ------------------------------------------------------------------------------------


def test_one_stream_events_are_ordered_on_one_thread(sample_mp4, tmp_path):
    events: list[Event] = []
    threads: set[int] = set()

    def on_event(e: Event) -> None:
        threads.add(threading.get_ident())
        events.append(e)

    res = execute(sample_mp4, tmp_path / "o.mp4", "sharpen", on_event=on_event)
    assert res.mode == "stream" and res.frames == 24
    assert len(threads) == 1 and threading.get_ident() not in threads
    done = [e.frames_done for e in events]
    assert done == sorted(done) and events[-1].state == "done" and events[-1].final
    assert all(e.frames_total == 24 for e in events if e.scope == "job")
    assert [e.state for e in events].count("done") == 1


def test_chunked_events_cover_every_chunk(chunky_mp4, tmp_path):
    events: list[Event] = []
    opts = JobOptions(chunk_seconds=0.5, workers=2)
    res = execute(chunky_mp4, tmp_path / "o.mkv", "sharpen", LOSSLESS, options=opts, on_event=events.append)
    assert res.mode == "chunked" and res.frames == 96
    job = [e for e in events if e.scope == "job"]
    assert [e.frames_done for e in job] == sorted(e.frames_done for e in job)
    assert all(e.frames_total == 96 for e in job)
    chunks = [e for e in events if e.scope == "chunk"]
    assert sorted(e.chunk for e in chunks) == list(range(len(chunks))) and len(chunks) >= 4
    assert sum(e.frames_done for e in chunks) == 96
    assert events[-1].scope == "job" and events[-1].state == "done"


def test_an_error_ends_in_failed_with_its_message(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    events: list[Event] = []
    with pytest.raises(MediaError):
        execute(bad, tmp_path / "o.mp4", on_event=events.append)
    assert events[-1].state == "failed" and "bad.mp4" in events[-1].message
    res = run_cli("run", bad, "-o", tmp_path / "o.mp4")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_options_are_checked_and_named_as_flags_by_the_cli(sample_mp4, tmp_path):
    with pytest.raises(UsageError, match="workers must be >= 1") as info:
        execute(sample_mp4, tmp_path / "o.mp4", options=JobOptions(workers=0))
    assert info.value.params == ("workers",)
    with pytest.raises(UsageError, match="chunk_seconds=0 runs in one stream"):
        execute(sample_mp4, tmp_path / "o.mp4", options=JobOptions(chunk_seconds=0, executor="ray"))
    res = run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "--start", "9")
    assert res.returncode == 2 and "--start 9.000s is past the end" in res.stderr, res.stderr


# -- cancellation and pause --------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_cancel_one_stream_leaves_nothing_and_a_rerun_is_identical(chunky_mp4, tmp_path, reference, seed):
    out = tmp_path / "o.mkv"
    token = CancelToken()
    events: list[Event] = []
    timer = cancel_after(token, random.Random(seed).uniform(0.3, 1.0))
    with pytest.raises(Cancelled):
        execute(chunky_mp4, out, SLOW, LOSSLESS, options=JobOptions(chunk_seconds=0), cancel=token,
                on_event=events.append)  # fmt: skip
    timer.join()
    assert not out.exists() and leftovers(tmp_path) == []
    assert events[-1].state == "cancelled" and events[-1].frames_done < 96
    execute(chunky_mp4, out, SLOW, LOSSLESS, options=JobOptions(chunk_seconds=0))
    assert decoded(out) == reference


@pytest.mark.parametrize("seed", [3, 4])
def test_pause_a_chunked_job_and_resume_bit_identically(chunky_mp4, tmp_path, reference, seed):
    out, jd = tmp_path / "o.mkv", tmp_path / "job"
    opts = JobOptions(chunk_seconds=0.4, workers=2, job_dir=jd)
    token = CancelToken()
    first: list[Event] = []
    timer = cancel_after(token, random.Random(seed).uniform(1.5, 3.0), pause=True)
    with pytest.raises(Cancelled) as info:
        execute(chunky_mp4, out, SLOW, LOSSLESS, options=opts, cancel=token, on_event=first.append)
    timer.join()
    assert info.value.reason == "paused" and first[-1].state == "paused"
    assert not out.exists() and leftovers(tmp_path) == []
    manifest = read_manifest(jd)
    assert manifest is not None and manifest["status"] == "paused"
    kept = sum(c["state"] == "done" for c in manifest["chunks"])
    second: list[Event] = []
    res = execute(chunky_mp4, out, SLOW, LOSSLESS, options=opts, on_event=second.append)
    redone = [e for e in second if e.scope == "chunk" and e.state == "done"]
    assert len(redone) == len(manifest["chunks"]) - kept
    assert res.frames == 96 and decoded(out) == reference


def test_cli_ctrl_c_cancels_through_the_token(chunky_mp4, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "o.mkv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidlab", "run", chunky_mp4, "-o", out, "-r", SLOW, "--codec", "ffv1",
         "--chunk-seconds", "0.4", "--workers", "2", "-q"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2.5)
    os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr and stderr.count("\n") == 1
    assert not out.exists() and leftovers(tmp_path) == []
    again = run_cli("run", chunky_mp4, "-o", out, "-r", SLOW, "--codec", "ffv1", "--chunk-seconds", "0.4",
                    "--workers", "2", "-q")  # fmt: skip
    assert again.returncode == 0, again.stderr


# -- heavy state once per process, resources ---------------------------------------------------


def test_a_lut_table_is_baked_once_per_worker_process(chunky_mp4, tmp_path):
    jd = tmp_path / "job"
    opts = JobOptions(chunk_seconds=0.3, workers=2, job_dir=jd, keep_chunks=True)
    res = execute(chunky_mp4, tmp_path / "o.mkv", "lut file=teal_orange", LOSSLESS, options=opts)
    chunks = len(read_manifest(jd)["chunks"])
    per_pid = Counter(pid for pid, what in res.states_opened if what.startswith("lut[table"))
    assert 1 <= len(per_pid) <= 2 and set(per_pid.values()) == {1}
    assert chunks > len(per_pid)  # workers ran several chunks each and opened the table once


def test_recipes_declare_resources_and_workers_follow():
    from vidlab.pipeline.chunks import default_workers

    assert Recipe.parse("sharpen").resources().threads == 1
    interp = Recipe.parse("sharpen | interpolate factor=2")
    assert interp.resources().threads == 2 and not interp.resources().gpu
    assert Recipe.parse("interpolate factor=2 method=blend").resources().threads == 1
    assert default_workers(2) == max(1, default_workers() // 2)


def test_frames_carry_planes_through_ops(sample_mp4):
    from vidlab.io.reader import read_frames

    frames = read_frames(sample_mp4)[:4]
    alpha = np.linspace(0, 255, frames[0].width, dtype=np.uint8)[None, :].repeat(frames[0].height, 0)
    with_alpha = [f.replace(alpha=alpha) for f in frames]
    out = list(Recipe.parse("sharpen | resize width=160").process(iter(with_alpha)))
    assert all(f.alpha is not None and f.alpha.shape == (90, 160) for f in out)
    assert abs(int(out[0].alpha[45, 80]) - 128) <= 2


def test_a_resumed_job_keeps_its_first_thread_count(chunky_mp4, tmp_path):
    """x264 and x265 encode differently with one thread than with several, so a job resumed
    with other options (here 2 threads per chunk asked) keeps its first run's count (1) for the
    chunks it still has to make; the output is then the same as an uninterrupted run's."""

    def options(threads: int) -> JobOptions:
        return JobOptions(chunk_seconds=0.4, workers=1, threads_per_worker=threads, job_dir=tmp_path / "job")

    out, token = tmp_path / "o.mkv", CancelToken()

    def pause_after_the_first_chunk(event: Event) -> None:
        if event.scope == "chunk" and event.state == "done":
            token.pause()

    with pytest.raises(Cancelled):
        execute(chunky_mp4, out, "sharpen", LOSSLESS, options=options(1), cancel=token,
                on_event=pause_after_the_first_chunk)  # fmt: skip
    manifest = read_manifest(tmp_path / "job")
    assert manifest is not None and manifest["threads_per_chunk"] == 1
    assert 0 < sum(c["state"] == "done" for c in manifest["chunks"]) < len(manifest["chunks"])
    execute(chunky_mp4, out, "sharpen", LOSSLESS, options=options(2))
    assert read_manifest(tmp_path / "job")["threads_per_chunk"] == 1
    ref = tmp_path / "ref.mkv"
    execute(chunky_mp4, ref, "sharpen", LOSSLESS, options=JobOptions(chunk_seconds=0.4, workers=1,
            threads_per_worker=1, job_dir=tmp_path / "refjob"))  # fmt: skip
    assert decoded(out) == decoded(ref)
