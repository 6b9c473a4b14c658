"""The job store: one SQLite file (WAL journal) that is the queue's contract. The CLI, the
workers and the UI only read and write jobs, their events and logs, ratings, presets and
tuning runs through :class:`Store`.

Job lifecycle (``state``)::

    queued -> running -> done | failed | cancelled | paused
    paused -> queued (resume);  failed | cancelled -> queued (retry)

A running job is owned by one worker through a lease (``worker``, ``lease_until``) that the
worker renews with :meth:`Store.heartbeat`. A lease that runs out (the worker was killed)
makes the job claimable again, with ``attempts`` counting the claims. Pause and cancel of a
running job are *requests* (``request``) the owning worker polls and turns into its
:class:`~vidlab.core.events.CancelToken`; the worker then records the final state.

The schema is versioned with ``PRAGMA user_version``: :data:`MIGRATIONS` is the list of steps,
and opening a file of an older version applies the missing ones in one transaction."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vidlab.core.errors import UsageError
from vidlab.core.events import Event
from vidlab.jobs.workspace import Workspace

KINDS = ("render", "train", "tune")
STATES = ("queued", "running", "paused", "cancelled", "failed", "done")
#: States a job can be left in for good (``rm`` and ``retry`` accept these).
ENDED = ("cancelled", "failed", "done")
DEFAULT_LEASE_SECONDS = 30.0
#: A job claimed this many times without finishing (its workers died) is failed.
MAX_ATTEMPTS = 5


# -- schema ---------------------------------------------------------------------------------------


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run ``;``-separated statements inside the caller's transaction (``executescript`` would
    commit it first)."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1(db: sqlite3.Connection) -> None:
    """The first version: jobs, their events and logs."""
    _script(
        db,
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            params TEXT NOT NULL DEFAULT '{}',
            input TEXT,
            output TEXT,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            started REAL,
            finished REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            lease_until REAL,
            frames_done INTEGER NOT NULL DEFAULT 0,
            frames_total INTEGER,
            error TEXT
        );
        CREATE INDEX jobs_state ON jobs(state);
        CREATE TABLE job_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            time REAL NOT NULL,
            scope TEXT NOT NULL,
            state TEXT NOT NULL,
            chunk INTEGER,
            frames_done INTEGER NOT NULL DEFAULT 0,
            frames_total INTEGER,
            message TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX job_events_job ON job_events(job_id);
        CREATE TABLE logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
            time REAL NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX logs_job ON logs(job_id);
        """,
    )


def _v2(db: sqlite3.Connection) -> None:
    """Priorities, speed and ETA, control requests; ratings, presets and tuning runs."""
    _script(
        db,
        """
        ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN fps REAL NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN eta REAL;
        ALTER TABLE jobs ADD COLUMN request TEXT;
        CREATE INDEX jobs_queue ON jobs(state, priority, id);
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            target TEXT NOT NULL,
            stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
            note TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL
        );
        CREATE INDEX ratings_target ON ratings(target);
        CREATE TABLE presets (
            name TEXT PRIMARY KEY,
            op TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE TABLE tuning_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            op TEXT NOT NULL,
            objective TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'running',
            trials TEXT NOT NULL DEFAULT '[]',
            best_params TEXT,
            best_value REAL,
            job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        """,
    )


#: Schema steps in order; ``PRAGMA user_version`` is how many have been applied.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring ``db`` to schema version ``target`` (all of :data:`MIGRATIONS` by default) in one
    transaction; returns the version it had. A file newer than this vidlab is refused."""
    db.execute("BEGIN IMMEDIATE")
    try:
        have = db.execute("PRAGMA user_version").fetchone()[0]
        if have > SCHEMA_VERSION:
            raise UsageError(
                f"the job store has schema version {have}, newer than this vidlab knows ({SCHEMA_VERSION})"
            )
        for step in MIGRATIONS[have:target]:
            step(db)
        if target > have:
            db.execute(f"PRAGMA user_version = {int(target)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return have


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One row of the queue. ``progress`` is 0..1 when the total is known."""

    id: int
    kind: str
    state: str
    params: dict[str, Any]
    input: str | None
    output: str | None
    priority: int
    created: float
    updated: float
    started: float | None
    finished: float | None
    attempts: int
    worker: str | None
    lease_until: float | None
    frames_done: int
    frames_total: int | None
    fps: float
    eta: float | None
    error: str | None
    request: str | None

    @property
    def progress(self) -> float | None:
        if self.state == "done":
            return 1.0
        if not self.frames_total:
            return None
        return min(1.0, self.frames_done / self.frames_total)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "progress": self.progress}


_JOB_COLUMNS = tuple(Job.__dataclass_fields__)


def _job(row: sqlite3.Row) -> Job:
    data = {k: row[k] for k in _JOB_COLUMNS}
    data["params"] = json.loads(data["params"] or "{}")
    return Job(**data)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- the store ------------------------------------------------------------------------------------


class Store:
    """The job store in ``path`` (created and migrated on open). ``workspace`` (default: the
    folder above ``.vidlab`` when ``path`` lies in one, else the file's folder) confines the
    paths jobs name and holds the per-job folders.

    Safe to share between threads of one process, and between processes (each opens its own
    :class:`Store`): every write is one short transaction, and :meth:`claim` takes a write lock
    first (``BEGIN IMMEDIATE``) so that two workers never take the same job."""

    def __init__(self, path: str | os.PathLike[str], *, workspace: Workspace | None = None) -> None:
        self.path = Path(path)
        if workspace is None:
            parent = self.path.resolve().parent
            workspace = Workspace(parent.parent if parent.name == ".vidlab" else parent)
        self.workspace = workspace
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open the job store ({exc})", self.path) from None
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
            migrate(self._db)

    @classmethod
    def open(cls, workspace: str | os.PathLike[str] | Workspace | None = None) -> Store:
        """The store of ``workspace`` (default: the current folder): ``WORKSPACE/.vidlab/jobs.db``."""
        ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        return cls(ws.db_path, workspace=ws)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the database's write lock from its start."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _get(self, db: sqlite3.Connection, job_id: int) -> Job:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise UsageError(f"no job {job_id}", param="job_id")
        return _job(row)

    # -- submitting and reading -------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        input: str | os.PathLike[str] | None = None,
        output: str | os.PathLike[str] | None = None,
        priority: int = 0,
    ) -> int:
        """Queue a job and return its id. Paths are confined to the workspace; a render job's
        params are checked against its recipe's op schemas (and normalized, see
        :func:`vidlab.jobs.params.check_render`) before anything is queued, so a bad
        parameter is a one-line :class:`UsageError` and leaves the queue as it was."""
        from vidlab.jobs.params import check_params

        if kind not in KINDS:
            raise UsageError(f"job kind must be one of {', '.join(KINDS)}, got '{kind}'", param="kind")
        src = None if input is None else self.workspace.confine(input, param="input")
        dst = None if output is None else self.workspace.confine(output, param="output")
        params = check_params(kind, dict(params), src, dst)
        if kind == "tune":
            from vidlab.jobs.tune import check_tune_params

            if src is not None:
                params.setdefault("input", str(src))
            params = check_tune_params(params, self.workspace.confine)
            src = Path(params["input"])
        if kind == "train":  # every path a training run reads stays in the workspace
            options, config = params.get("options") or {}, params.get("config") or {}
            for where, key in ((options, "data"), (options, "photos"), (config, "init")):
                if where.get(key) is not None:
                    where[key] = str(self.workspace.confine(where[key], param=key))
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO jobs (kind, state, params, input, output, priority, created, updated) "
                "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                (kind, json.dumps(params), None if src is None else str(src),
                 None if dst is None else str(dst), int(priority), now, now),
            )  # fmt: skip
            job_id = int(cur.lastrowid or 0)
            self._event(db, job_id, "job", "queued", message=f"{kind} job queued")
        return job_id

    def get(self, job_id: int) -> Job:
        """The job ``job_id`` (a one-line :class:`UsageError` when there is none)."""
        with self._lock:
            return self._get(self._db, job_id)

    def list(self, state: str | tuple[str, ...] | None = None, *, kind: str | None = None) -> list[Job]:
        """Jobs, newest first, optionally only those in ``state`` (one or several) or of ``kind``."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if state is not None:
            states = (state,) if isinstance(state, str) else tuple(state)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [_job(r) for r in self._query(sql + " ORDER BY id DESC", tuple(args))]

    def events(
        self, job_id: int, *, scope: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """A job's stored events, oldest first (progress is kept on the job row, not here)."""
        sql, args = "SELECT * FROM job_events WHERE job_id = ?", [int(job_id)]
        if scope is not None:
            sql += " AND scope = ?"
            args.append(scope)
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        return [dict(r) for r in self._query(sql + " ORDER BY id", tuple(args))]

    def logs(self, job_id: int | None = None) -> list[dict[str, Any]]:
        """Log lines, oldest first: a job's, or all of them."""
        if job_id is None:
            return [dict(r) for r in self._query("SELECT * FROM logs ORDER BY id")]
        return [
            dict(r) for r in self._query("SELECT * FROM logs WHERE job_id = ? ORDER BY id", (int(job_id),))
        ]

    def log(self, job_id: int | None, message: str, level: str = "info") -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO logs (job_id, time, level, message) VALUES (?, ?, ?, ?)",
                (job_id, time.time(), level, message),
            )

    def job_dir(self, job_id: int) -> Path:
        """Where job ``job_id`` keeps its manifest and segments (so a rerun resumes it)."""
        return self.workspace.job_dir(job_id)

    # -- workers ----------------------------------------------------------------------------------

    def claim(self, worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Job | None:
        """Take the next job for ``worker_id`` (highest priority, then oldest), or None.

        Atomic across threads and processes. Running jobs whose lease ran out (their worker
        died) are first put back: queued again (paused or cancelled when that was requested),
        or failed after :data:`MAX_ATTEMPTS` claims."""
        now = time.time()
        with self._write() as db:
            self._reclaim(db, now)
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', worker = ?, lease_until = ?, attempts = attempts + 1, "
                "started = COALESCE(started, ?), updated = ?, error = NULL, request = NULL WHERE id = ?",
                (worker_id, now + lease_seconds, now, now, row["id"]),
            )
            job = self._get(db, row["id"])
            self._event(
                db, job.id, "job", "running", message=f"claimed by {worker_id} (attempt {job.attempts})"
            )
            return job

    def _reclaim(self, db: sqlite3.Connection, now: float) -> None:
        stale = db.execute(
            "SELECT * FROM jobs WHERE state = 'running' AND lease_until IS NOT NULL AND lease_until < ?",
            (now,),
        ).fetchall()
        for row in stale:
            job = _job(row)
            state = {"pause": "paused", "cancel": "cancelled"}.get(job.request or "", "queued")
            error = None
            if state == "queued" and job.attempts >= MAX_ATTEMPTS:
                state, error = "failed", f"abandoned: {job.attempts} workers stopped without finishing it"
            db.execute(
                "UPDATE jobs SET state = ?, worker = NULL, lease_until = NULL, request = NULL, fps = 0, "
                "eta = NULL, error = COALESCE(?, error), updated = ? WHERE id = ?",
                (state, error, now, job.id),
            )
            self._event(db, job.id, "job", state, message=f"lease of {job.worker} expired")

    def heartbeat(self, job_id: int, worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Renew ``worker_id``'s lease on a running job; False when it no longer owns it."""
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
                (now + lease_seconds, int(job_id), worker_id),
            )
            return cur.rowcount == 1

    def request(self, job_id: int) -> str | None:
        """The pending control request of a running job: ``pause``, ``cancel`` or None."""
        rows = self._query("SELECT request FROM jobs WHERE id = ?", (int(job_id),))
        return rows[0]["request"] if rows else "cancel"

    def record_event(self, job_id: int, event: Event) -> None:
        """Store what a run reports: job-scope progress goes to the job row (frames, fps, ETA);
        every event that is not progress (a chunk done, the final state) is kept in job_events."""
        with self._write() as db:
            if event.scope == "job":
                db.execute(
                    "UPDATE jobs SET frames_done = ?, frames_total = COALESCE(?, frames_total), "
                    "fps = ?, eta = ?, updated = ? WHERE id = ?",
                    (event.frames_done, event.frames_total, event.fps, event.eta, time.time(), int(job_id)),
                )
            if event.state != "running":
                self._event(db, job_id, event.scope, event.state, event.chunk, event.frames_done,
                            event.frames_total, event.message)  # fmt: skip

    def record_progress(
        self,
        job_id: int,
        frames_done: int,
        frames_total: int | None = None,
        fps: float = 0.0,
        eta: float | None = None,
    ) -> None:
        """Set a job's progress directly (for kinds that do not count frames, count steps)."""
        self.record_event(job_id, Event("job", "running", str(job_id), frames_done, frames_total, fps, eta))

    def _event(
        self,
        db: sqlite3.Connection,
        job_id: int,
        scope: str,
        state: str,
        chunk: int | None = None,
        frames_done: int = 0,
        frames_total: int | None = None,
        message: str = "",
    ) -> None:
        db.execute(
            "INSERT INTO job_events (job_id, time, scope, state, chunk, frames_done, frames_total, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (int(job_id), time.time(), scope, state, chunk, frames_done, frames_total, message),
        )

    def _end(self, job_id: int, worker_id: str, state: str, error: str | None, message: str) -> bool:
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET state = ?, error = ?, worker = NULL, lease_until = NULL, request = NULL, "
                "eta = CASE WHEN ? = 'done' THEN 0 ELSE NULL END, "
                "frames_done = CASE WHEN ? = 'done' THEN COALESCE(frames_total, frames_done) "
                "ELSE frames_done END, "
                "finished = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN ? ELSE finished END, "
                "updated = ? "
                "WHERE id = ? AND worker = ? AND state = 'running'",
                (state, error, state, state, state, now, now, int(job_id), worker_id),
            )
            if cur.rowcount != 1:
                return False
            db.execute(
                "INSERT INTO logs (job_id, time, level, message) VALUES (?, ?, ?, ?)",
                (int(job_id), now, "error" if state == "failed" else "info", message or state),
            )
            return True

    def finish(self, job_id: int, worker_id: str, message: str = "done") -> bool:
        """Mark ``worker_id``'s running job done; False when the worker no longer owns it."""
        return self._end(job_id, worker_id, "done", None, message)

    def fail(self, job_id: int, worker_id: str, error: str) -> bool:
        """Mark ``worker_id``'s running job failed with a one-line ``error``."""
        return self._end(job_id, worker_id, "failed", error, error)

    def stopped(self, job_id: int, worker_id: str, state: str) -> bool:
        """Record that a worker stopped its job on request: ``paused`` or ``cancelled``."""
        if state not in ("paused", "cancelled"):
            raise ValueError(state)
        ok = self._end(job_id, worker_id, state, None, state)
        if ok and state == "cancelled":
            self._clean(job_id)
        return ok

    # -- control ----------------------------------------------------------------------------------

    def pause(self, job_id: int) -> Job:
        """Pause a queued job at once, or ask the worker of a running one to (it stops within a
        frame; :meth:`resume` then continues it, bit-identically for a chunked render)."""
        return self._control(job_id, "pause")

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or paused job at once (its job folder is removed), or ask the worker
        of a running one to."""
        job = self._control(job_id, "cancel")
        if job.state == "cancelled":
            self._clean(job_id)
        return job

    def _control(self, job_id: int, what: str) -> Job:
        now = time.time()
        with self._write() as db:
            job = self._get(db, job_id)
            allowed = ("queued",) if what == "pause" else ("queued", "paused")
            if job.state == "running":
                db.execute("UPDATE jobs SET request = ?, updated = ? WHERE id = ?", (what, now, job.id))
                self._event(db, job.id, "job", "running", message=f"{what} requested")
            elif job.state in allowed:
                state = "paused" if what == "pause" else "cancelled"
                finished = now if state == "cancelled" else None
                db.execute(
                    "UPDATE jobs SET state = ?, updated = ?, finished = COALESCE(?, finished) WHERE id = ?",
                    (state, now, finished, job.id),
                )
                self._event(db, job.id, "job", state, message=f"{state} while {job.state}")
            else:
                raise UsageError(f"job {job.id} is {job.state}: it cannot be {what}ed", param="job_id")
            return self._get(db, job.id)

    def resume(self, job_id: int) -> Job:
        """Queue a paused job again (a running job with a pending pause keeps running)."""
        now = time.time()
        with self._write() as db:
            job = self._get(db, job_id)
            if job.state == "running" and job.request == "pause":
                db.execute("UPDATE jobs SET request = NULL, updated = ? WHERE id = ?", (now, job.id))
            elif job.state == "paused":
                db.execute("UPDATE jobs SET state = 'queued', updated = ? WHERE id = ?", (now, job.id))
                self._event(db, job.id, "job", "queued", message="resumed")
            else:
                raise UsageError(f"job {job.id} is {job.state}, not paused", param="job_id")
            return self._get(db, job.id)

    def retry(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again, from the start (progress and error cleared)."""
        now = time.time()
        with self._write() as db:
            job = self._get(db, job_id)
            if job.state not in ("failed", "cancelled"):
                raise UsageError(f"job {job.id} is {job.state}: only failed or cancelled jobs are retried",
                                 param="job_id")  # fmt: skip
            db.execute(
                "UPDATE jobs SET state = 'queued', error = NULL, finished = NULL, frames_done = 0, fps = 0, "
                "eta = NULL, attempts = 0, updated = ? WHERE id = ?",
                (now, job.id),
            )
            self._event(db, job.id, "job", "queued", message="retried")
            return self._get(db, job.id)

    def rm(self, job_id: int) -> None:
        """Delete a job that is not running, with its events, logs and job folder (never its
        output)."""
        with self._write() as db:
            job = self._get(db, job_id)
            if job.state == "running":
                raise UsageError(f"job {job.id} is running: cancel it first", param="job_id")
            db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
        self._clean(job_id)

    def _clean(self, job_id: int) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    # -- ratings, presets, tuning runs ------------------------------------------------------------

    def rate(self, target: str, stars: int, note: str = "", params: dict[str, Any] | None = None) -> int:
        """Store a 1-5 star rating of ``target`` (an output file, a job, a parameter set)."""
        if not isinstance(stars, int) or not 1 <= stars <= 5:
            raise UsageError(f"stars must be 1 to 5, got {stars}", param="stars")
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO ratings (target, stars, note, params, created) VALUES (?, ?, ?, ?, ?)",
                (str(target), stars, note, json.dumps(params or {}), time.time()),
            )
            return int(cur.lastrowid or 0)

    def ratings(self, target: str | None = None) -> list[dict[str, Any]]:
        """Ratings, oldest first (``params`` decoded), of one target or all."""
        sql, args = "SELECT * FROM ratings", ()
        if target is not None:
            sql, args = sql + " WHERE target = ?", (str(target),)
        return [
            {**dict(r), "params": json.loads(r["params"])} for r in self._query(sql + " ORDER BY id", args)
        ]

    def save_preset(self, name: str, op: str, params: dict[str, Any]) -> None:
        """Save (or replace) a named parameter set for an op or style."""
        if not name.strip():
            raise UsageError("a preset needs a name", param="name")
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO presets (name, op, params, created, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET op = excluded.op, params = excluded.params, "
                "updated = excluded.updated",
                (name, op, json.dumps(params), now, now),
            )

    def presets(self, op: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM presets", ()
        if op is not None:
            sql, args = sql + " WHERE op = ?", (op,)
        return [
            {**dict(r), "params": json.loads(r["params"])} for r in self._query(sql + " ORDER BY name", args)
        ]

    def get_preset(self, name: str) -> dict[str, Any]:
        rows = self._query("SELECT * FROM presets WHERE name = ?", (name,))
        if not rows:
            raise UsageError(f"no stored preset '{name}'", param="name")
        return {**dict(rows[0]), "params": json.loads(rows[0]["params"])}

    def delete_preset(self, name: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM presets WHERE name = ?", (name,))

    def create_tuning_run(self, op: str, objective: str, *, job_id: int | None = None) -> int:
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO tuning_runs (op, objective, job_id, created, updated) VALUES (?, ?, ?, ?, ?)",
                (op, objective, job_id, now, now),
            )
            return int(cur.lastrowid or 0)

    def update_tuning_run(
        self,
        run_id: int,
        *,
        trials: list[dict[str, Any]] | None = None,
        best_params: dict[str, Any] | None = None,
        best_value: float | None = None,
        state: str | None = None,
    ) -> None:
        """Replace what is given: the trials list, the best point so far, the state."""
        sets, args = ["updated = ?"], [time.time()]
        for column, value in (("trials", trials), ("best_params", best_params)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(json.dumps(value))
        for column, value in (("best_value", best_value), ("state", state)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self._write() as db:
            db.execute(f"UPDATE tuning_runs SET {', '.join(sets)} WHERE id = ?", (*args, int(run_id)))

    def tuning_runs(self, op: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM tuning_runs", ()
        if op is not None:
            sql, args = sql + " WHERE op = ?", (op,)
        rows = self._query(sql + " ORDER BY id", args)
        return [
            {**dict(r), "trials": json.loads(r["trials"]), "best_params": _loads(r["best_params"])}
            for r in rows
        ]

    def get_tuning_run(self, run_id: int) -> dict[str, Any]:
        for run in self.tuning_runs():
            if run["id"] == int(run_id):
                return run
        raise UsageError(f"no tuning run {run_id}", param="run_id")
