"""The job store: submit validation, path confinement, atomic claims, leases, control, the
schema migration, ratings, presets and tuning runs."""

# ruff: noqa: F811  (pytest fixtures imported from jobkit are parameters here)
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from jobkit import clip, params, ws  # noqa: F401 (fixtures)

from vidlab.core.errors import UsageError
from vidlab.jobs.store import SCHEMA_VERSION, Store, migrate
from vidlab.jobs.workspace import Workspace, confine


def test_submit_refuses_bad_params_and_queues_nothing(ws: Path) -> None:
    with Store.open(ws) as store:
        bad = [
            {"recipe": "cartoon colours=3"},  # unknown op parameter
            {"recipe": "cartoon colors=999"},  # out of range
            {"recipe": "no_such_op"},
            {"style": "no_such_style"},
            {"recipe": "identity", "settings": {"codek": "x"}},
            {"recipe": "identity", "chunk_seconds": -1},
            {"recipe": "identity", "frobnicate": 1},
        ]
        for p in bad:
            with pytest.raises(UsageError) as info:
                store.submit("render", p, input="clip.mp4", output="out.mp4")
            assert "\n" not in str(info.value)
        with pytest.raises(UsageError, match="no such file"):
            store.submit("render", {"recipe": "identity"}, input="missing.mp4", output="out.mp4")
        with pytest.raises(UsageError, match="kind"):
            store.submit("bake", {})
        assert store.list() == []


def test_submit_normalizes_a_style(ws: Path) -> None:
    with Store.open(ws) as store:
        job = store.get(store.submit("render", {"style": "cartoon"}, input="clip.mp4", output="o.mp4"))
        assert job.state == "queued" and job.params["level"] == "Balanced"
        assert job.params["recipe"]["ops"][0]["op"] == "cartoon"
        assert job.input == str(ws / "clip.mp4") and job.output == str(ws / "o.mp4")


def test_paths_are_confined_to_the_workspace(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (ws / "link").symlink_to(outside)
    (ws / "inner").mkdir()
    w = Workspace(ws)
    for bad in (
        "../outside/secret.mp4",
        str(outside / "secret.mp4"),
        "link/secret.mp4",
        "inner/../../x.mp4",
        "/etc/passwd",
    ):
        with pytest.raises(UsageError, match="outside the workspace") as info:
            w.confine(bad)
        assert "\n" not in str(info.value)
    assert w.confine("inner/../clip.mp4") == ws.resolve() / "clip.mp4"
    assert confine(ws, str(ws / "new" / "out.mp4")) == ws.resolve() / "new" / "out.mp4"
    with Store.open(ws) as store:
        with pytest.raises(UsageError, match="outside"):
            store.submit("render", params(), input="clip.mp4", output="../escape.mp4")
        with pytest.raises(UsageError, match="symlink"):
            store.submit("render", params(), input="link/secret.mp4", output="out.mp4")
        assert store.list() == []


def test_two_threads_never_claim_the_same_job(ws: Path) -> None:
    with Store.open(ws) as store:
        ids = {store.submit("render", params(), input="clip.mp4", output=f"o{i}.mp4") for i in range(40)}
    taken: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        with Store.open(ws) as s:  # each its own connection, as separate workers have
            mine = taken.setdefault(name, [])
            while (job := s.claim(name)) is not None:
                mine.append(job.id)
                assert s.finish(job.id, name)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids_ in taken.values() for i in ids_]
    assert sorted(every) == sorted(ids)  # each job exactly once


_CLAIMER = """
import sys, json
from vidlab.jobs.store import Store
s = Store.open(sys.argv[1])
got = []
while (job := s.claim(sys.argv[2])) is not None:
    got.append(job.id)
    s.finish(job.id, sys.argv[2])
print(json.dumps(got))
"""


def test_two_processes_never_claim_the_same_job(ws: Path) -> None:
    with Store.open(ws) as store:
        ids = [store.submit("render", params(), input="clip.mp4", output=f"o{i}.mp4") for i in range(60)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(ws), f"p{i}"], stdout=subprocess.PIPE, text=True
        )
        for i in range(3)
    ]
    got = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    every = [i for g in got for i in g]
    assert sorted(every) == sorted(ids)


def test_an_expired_lease_makes_the_job_claimable_again(ws: Path) -> None:
    with Store.open(ws) as store:
        job_id = store.submit("render", params(), input="clip.mp4", output="o.mp4")
        first = store.claim("dead", lease_seconds=0.01)
        assert first is not None and first.attempts == 1
        time.sleep(0.05)  # let the lease run out (not a threshold: any later moment works)
        again = store.claim("alive")
        assert again is not None and again.id == job_id and again.attempts == 2 and again.worker == "alive"
        assert not store.heartbeat(job_id, "dead")  # the dead worker lost it
        assert not store.finish(job_id, "dead")
        assert store.heartbeat(job_id, "alive")
        assert store.finish(job_id, "alive")
        assert store.get(job_id).state == "done"


def test_control_of_queued_and_running_jobs(ws: Path) -> None:
    with Store.open(ws) as store:
        a = store.submit("render", params(), input="clip.mp4", output="a.mp4")
        assert store.pause(a).state == "paused"
        assert store.claim("w") is None  # paused jobs are not taken
        assert store.resume(a).state == "queued"
        job = store.claim("w")
        assert job is not None and job.id == a
        assert store.pause(a).request == "pause" and store.request(a) == "pause"
        assert store.stopped(a, "w", "paused")
        assert store.get(a).state == "paused" and store.get(a).request is None
        with pytest.raises(UsageError, match="paused"):
            store.retry(a)
        store.job_dir(a).mkdir(parents=True)
        assert store.cancel(a).state == "cancelled"
        assert not store.job_dir(a).exists()  # a cancel cleans up
        assert store.retry(a).state == "queued"
        assert store.claim("w") is not None
        with pytest.raises(UsageError, match="running"):
            store.rm(a)
        assert store.fail(a, "w", "boom")
        assert store.get(a).error == "boom"
        store.rm(a)
        with pytest.raises(UsageError, match="no job"):
            store.get(a)
        assert store.events(a) == [] and store.logs(a) == []


def test_migration_from_the_first_version(tmp_path: Path) -> None:
    path = tmp_path / ".vidlab" / "jobs.db"
    path.parent.mkdir()
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, target=1)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.execute(
        "INSERT INTO jobs (kind, state, params, input, output, created, updated, frames_done, frames_total) "
        "VALUES ('render', 'queued', ?, 'a.mp4', 'b.mp4', 1, 1, 3, 10)",
        (json.dumps({"recipe": {"ops": ["identity"]}}),),
    )
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION > 1
        (job,) = store.list()
        assert job.priority == 0 and job.frames_done == 3 and job.progress == pytest.approx(0.3)
        assert job.params == {"recipe": {"ops": ["identity"]}}
        assert store.rate("b.mp4", 4, "nice") > 0  # tables added by the migration work
        assert store.workspace.root == tmp_path.resolve()
    with Store(path) as store:  # opening a current file changes nothing
        assert store.schema_version == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(UsageError, match="newer"):
        Store(path)


def test_wal_journal(ws: Path) -> None:
    with Store.open(ws) as store:
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"
        assert os.path.exists(ws / ".vidlab" / "jobs.db")


def test_ratings_presets_and_tuning_runs(ws: Path) -> None:
    with Store.open(ws) as store:
        store.rate("out.mp4", 5, "great", {"colors": 8})
        store.rate("out.mp4", 2)
        with pytest.raises(UsageError, match="stars"):
            store.rate("out.mp4", 6)
        assert [r["stars"] for r in store.ratings("out.mp4")] == [5, 2]
        assert store.ratings("out.mp4")[0]["params"] == {"colors": 8}
        store.save_preset("mine", "cartoon", {"colors": 4})
        store.save_preset("mine", "cartoon", {"colors": 5})
        assert store.get_preset("mine")["params"] == {"colors": 5}
        assert [p["name"] for p in store.presets("cartoon")] == ["mine"]
        store.delete_preset("mine")
        assert store.presets() == []
        run = store.create_tuning_run("cartoon", "ssim")
        store.update_tuning_run(
            run, trials=[{"colors": 6, "value": 0.9}], best_params={"colors": 6}, best_value=0.9
        )
        store.update_tuning_run(run, state="done")
        got = store.get_tuning_run(run)
        assert (
            got["trials"][0]["value"] == 0.9
            and got["best_params"] == {"colors": 6}
            and got["state"] == "done"
        )
