"""Workers: a render job end to end, pause/resume and a SIGKILLed worker resuming bit-identically,
cancel cleaning up, and the kinds not run yet failing clearly."""

# ruff: noqa: F811  (pytest fixtures imported from jobkit are parameters here)
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jobkit import clip, frames_hash, params, reference, ws  # noqa: F401 (fixtures)

from vidlab.core.errors import UsageError
from vidlab.core.events import Event
from vidlab.jobs.store import Store
from vidlab.jobs.worker import Worker


class _ActOnFirstChunk(Store):
    """A store that pauses or cancels a job as soon as its first chunk is recorded done (so
    the request always arrives mid-job)."""

    action = "pause"

    def record_event(self, job_id: int, event: Event) -> None:
        super().record_event(job_id, event)
        if event.scope == "chunk" and event.state == "done" and not getattr(self, "acted", False):
            self.acted = True
            getattr(self, self.action)(job_id)


def _chunk_runs(store: Store, job_id: int, after: int = 0) -> list[int]:
    return [e["chunk"] for e in store.events(job_id, scope="chunk", state="done") if e["id"] > after]


def _manifest(store: Store, job_id: int) -> dict:
    return json.loads((store.job_dir(job_id) / "manifest.json").read_text())


def test_submit_run_once_and_progress_is_stored(ws: Path, reference: tuple[int, str]) -> None:
    with Store.open(ws) as store:
        job_id = store.submit("render", params(), input="clip.mp4", output="out/o.mkv")
        assert Worker(store).run(once=True) == 1
        job = store.get(job_id)
        assert job.state == "done", job.error
        assert job.frames_done == job.frames_total == 150 and job.progress == 1.0 and job.eta == 0
        assert job.attempts == 1 and job.worker is None and job.finished is not None
        assert frames_hash(ws / "out" / "o.mkv") == reference
        chunks = _chunk_runs(store, job_id)
        assert len(chunks) == len(_manifest(store, job_id)["chunks"]) > 2
        assert sorted(chunks) == list(range(len(chunks)))
        states = [e["state"] for e in store.events(job_id, scope="job")]
        assert states[0] == "queued" and states[-1] == "done"
        assert any("150 frames" in entry["message"] for entry in store.logs(job_id))
        assert not (store.job_dir(job_id) / "chunks").exists()  # segments removed once joined


def test_pause_mid_job_then_resume_is_bit_identical(ws: Path, reference: tuple[int, str]) -> None:
    with _ActOnFirstChunk(ws / ".vidlab" / "jobs.db") as store:
        job_id = store.submit("render", params(), input="clip.mp4", output="o.mkv")
        Worker(store).run(once=True)
        job = store.get(job_id)
        assert job.state == "paused", job.error
        assert not (ws / "o.mkv").exists()
        manifest = _manifest(store, job_id)
        done = [c["chunk"]["index"] for c in manifest["chunks"] if c["state"] == "done"]
        assert 1 <= len(done) < len(manifest["chunks"])
        first_run = _chunk_runs(store, job_id)
        last_event = store.events(job_id)[-1]["id"]

        store.resume(job_id)
        Worker(store).run(once=True)
        job = store.get(job_id)
        assert job.state == "done", job.error
        assert frames_hash(ws / "o.mkv") == reference
        second_run = _chunk_runs(store, job_id, after=last_event)
        assert not set(second_run) & set(done)  # finished chunks are not redone
        assert sorted(set(first_run) | set(second_run)) == list(range(len(manifest["chunks"])))


def test_cancel_mid_job_cleans_up(ws: Path) -> None:
    class Cancelling(_ActOnFirstChunk):
        action = "cancel"

    with Cancelling(ws / ".vidlab" / "jobs.db") as store:
        job_id = store.submit("render", params(), input="clip.mp4", output="o.mkv")
        Worker(store).run(once=True)
        assert store.get(job_id).state == "cancelled"
        assert not (ws / "o.mkv").exists()
        assert not store.job_dir(job_id).exists()


def test_a_sigkilled_worker_s_job_resumes_in_the_next_worker(ws: Path, reference: tuple[int, str]) -> None:
    with Store.open(ws) as store:
        job_id = store.submit("render", params(), input="clip.mp4", output="o.mkv")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidlab", "worker", "--once", "--lease-seconds", "1", "--workspace", str(ws)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with Store.open(ws) as store:
        try:
            while not _chunk_runs(store, job_id):  # wait until it is mid-job
                assert proc.poll() is None, "the worker ended before its first chunk"
                time.sleep(0.02)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        job = store.get(job_id)
        assert job.state == "running"  # as the dead worker left it
        manifest = _manifest(store, job_id)
        done = {c["chunk"]["index"] for c in manifest["chunks"] if c["state"] == "done"}
        assert 1 <= len(done) < len(manifest["chunks"])
        while store.get(job_id).lease_until > time.time():  # the lease runs out
            time.sleep(0.05)
        last_event = store.events(job_id)[-1]["id"]

        Worker(store).run(once=True)
        job = store.get(job_id)
        assert job.state == "done", job.error
        assert job.attempts == 2
        assert frames_hash(ws / "o.mkv") == reference  # right frame count, bit-identical
        second_run = _chunk_runs(store, job_id, after=last_event)
        assert sorted(second_run) == sorted(set(range(len(manifest["chunks"]))) - done)  # nothing redone


def test_concurrent_jobs(ws: Path) -> None:
    with Store.open(ws) as store:
        ids = [store.submit("render", params(), input="clip.mp4", output=f"o{i}.mkv") for i in range(3)]
        assert Worker(store, concurrency=2).run(once=True) == 3
        assert all(store.get(i).state == "done" for i in ids)


TRAIN = {
    "task": "enhancer",
    "config": {"steps": 6, "batch_size": 2, "warmup_steps": 1, "val_every": 2, "val_batches": 1,
               "checkpoint_every": 2, "log_every": 1, "threads": 1, "patience": 0, "crop": 32},
    "options": {"generate": 2, "frames_per_clip": 3, "size": [96, 64]},
}  # fmt: skip


def test_a_training_job_pauses_and_resumes_from_its_checkpoint(ws: Path) -> None:
    class PauseAtStep2(Store):
        def record_event(self, job_id: int, event: Event) -> None:
            super().record_event(job_id, event)
            if event.state == "running" and event.frames_done >= 2 and not getattr(self, "acted", False):
                self.acted = True
                self.pause(job_id)

    with PauseAtStep2(ws / ".vidlab" / "jobs.db") as store:
        job_id = store.submit("train", TRAIN)
        Worker(store).run(once=True)
        job = store.get(job_id)
        assert job.state == "paused", job.error
        assert 2 <= job.frames_done < 6 and (store.job_dir(job_id) / "run" / "last.pt").exists()
        store.resume(job_id)
        Worker(store).run(once=True)
        job = store.get(job_id)
        assert job.state == "done", job.error
        assert job.frames_done == job.frames_total == 6
        assert (store.job_dir(job_id) / "run" / "best.pt").exists()


def test_training_params_are_checked_at_submit(ws: Path) -> None:
    with Store.open(ws) as store:
        bad_params = [
            {**TRAIN, "task": "juggler"},
            {**TRAIN, "config": {"steps": 0}},
            {**TRAIN, "config": {"stepz": 1}},
            {**TRAIN, "options": {"data": "../elsewhere"}},
            {**TRAIN, "options": {**TRAIN["options"], "photos": "/etc"}},  # outside the workspace
            {**TRAIN, "config": {**TRAIN["config"], "init": "../other/best.pt"}},
        ]
        for bad in bad_params:
            with pytest.raises(UsageError):
                store.submit("train", bad)
        assert store.list() == []
