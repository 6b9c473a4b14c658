"""Workers: take queued jobs from a :class:`~vidlab.jobs.store.Store` and run them.

A render job runs through :func:`vidlab.pipeline.execute` as a chunked job whose folder is the
job's own (``.vidlab/jobs/<id>``), so a paused, cancelled-then-retried or crashed job resumes
from its manifest with nothing lost or redone. While a job runs, one thread renews the lease
and polls the store for pause and cancel requests, which it turns into the run's
:class:`~vidlab.core.events.CancelToken` (the run stops at its next frame)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from vidlab.core.errors import VidlabError
from vidlab.core.events import Cancelled, CancelToken, Event
from vidlab.jobs.store import DEFAULT_LEASE_SECONDS, Job, Store

log = logging.getLogger(__name__)


class Worker:
    """Runs up to ``concurrency`` jobs at a time from ``store``. ``lease_seconds`` is how long a
    claim lasts without a heartbeat (heartbeats come every third of it); ``poll_seconds`` how
    often the store is asked for new jobs and for pause/cancel requests."""

    def __init__(
        self,
        store: Store,
        concurrency: int = 1,
        *,
        worker_id: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = 0.2,
    ) -> None:
        if concurrency < 1:
            from vidlab.core.errors import UsageError

            raise UsageError(f"concurrency must be >= 1, got {concurrency}", param="concurrency")
        self.store = store
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return once its running jobs end (they are not interrupted)."""
        self._stop.set()

    def run(self, once: bool = False) -> int:
        """Claim and run jobs until :meth:`stop` (or, with ``once``, until nothing is queued and
        this worker's jobs have ended). Returns how many jobs this worker ran."""
        ran = 0
        running: set[Future[None]] = set()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="vidlab-job") as pool:
            while True:
                while len(running) < self.concurrency and not self._stop.is_set():
                    job = self.store.claim(self.worker_id, self.lease_seconds)
                    if job is None:
                        break
                    running.add(pool.submit(self.run_job, job))
                    ran += 1
                if not running and (once or self._stop.is_set()):
                    return ran
                if running:
                    done, _ = wait(running, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()  # run_job records every error; anything here is a bug
                    running -= done
                else:
                    self._stop.wait(self.poll_seconds)

    def run_job(self, job: Job) -> None:
        """Run one claimed job to its end (done, failed, paused or cancelled) and record it."""
        token = CancelToken()
        finished = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(job, token, finished), name=f"vidlab-lease-{job.id}", daemon=True
        )
        watcher.start()
        self.store.log(job.id, f"{self.worker_id} runs {job.kind} job {job.id} (attempt {job.attempts})")
        try:
            if job.kind == "render":
                message = self._render(job, token)
            elif job.kind == "train":
                message = self._train(job, token)
            elif job.kind == "tune":
                message = self._tune(job, token)
            else:
                raise VidlabError(f"{job.kind} jobs are not implemented yet in the worker")
        except Cancelled as exc:
            state = "paused" if exc.reason == "paused" else "cancelled"
            if token.reason == "lost":
                log.warning("job %s: lease lost to another worker; stopped", job.id)
            else:
                self.store.stopped(job.id, self.worker_id, state)
        except VidlabError as exc:
            self.store.fail(job.id, self.worker_id, _line(str(exc)))
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self.store.fail(job.id, self.worker_id, _line(f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self.store.finish(job.id, self.worker_id, message)
        finally:
            finished.set()
            watcher.join()

    def _watch(self, job: Job, token: CancelToken, finished: threading.Event) -> None:
        """Renew the lease and turn pause/cancel requests into the token, until the job ends."""
        beat = max(self.lease_seconds / 3, self.poll_seconds)
        last_beat = time.monotonic()
        while not finished.wait(self.poll_seconds):
            try:
                self._obey(job, token)
                if time.monotonic() - last_beat >= beat:
                    last_beat = time.monotonic()
                    if not self.store.heartbeat(job.id, self.worker_id, self.lease_seconds):
                        token.cancel("lost")
            except Exception:  # a busy or briefly unreadable store must not kill the watcher
                log.exception("job %s: heartbeat failed", job.id)

    def _obey(self, job: Job, token: CancelToken) -> None:
        """Turn the job's pending pause or cancel request into its token."""
        request = self.store.request(job.id)
        if request == "pause":
            token.pause()
        elif request == "cancel":
            token.cancel("cancelled")

    def _train(self, job: Job, token: CancelToken) -> str:
        """A training run in the job's folder (``run/``); a paused or killed run continues from
        its ``last.pt``."""
        from vidlab.jobs.params import train_task
        from vidlab.ml.train import train

        run_dir = self.store.job_dir(job.id) / "run"
        task, config = train_task(job.params, run_dir)
        resume = (run_dir / "last.pt").exists()

        def on_event(event: Event) -> None:
            self.store.record_event(job.id, event)
            if not token.cancelled and not event.final:
                self._obey(job, token)

        result = train(task, config, resume=resume, on_event=on_event, cancel=token)
        return (
            f"trained {job.params['task']}: {result.steps} steps, best validation loss {result.best_val:.4g}"
        )

    def _tune(self, job: Job, token: CancelToken) -> str:
        """An Optuna search (:func:`vidlab.jobs.tune.tune`) recorded as the job's tuning run:
        each trial updates the run's trials and the job's progress (trial i of N); a paused or
        retried job continues the same run, replaying its finished trials."""
        from vidlab.core.events import Cancelled
        from vidlab.jobs.tune import best_so_far, parse_objective, tune

        p = job.params
        op, objective = p["op"], p["objective"]
        trials = int(p.get("trials") or 20)
        runs = [r for r in self.store.tuning_runs(op) if r["job_id"] == job.id]
        if runs:
            run_id, history = runs[-1]["id"], list(runs[-1]["trials"])
            self.store.update_tuning_run(run_id, state="running")
        else:
            run_id, history = self.store.create_tuning_run(op, objective, job_id=job.id), []
        ratings = (
            self.store.ratings(target=op)
            if any(o.name == "rating" for _, o in parse_objective(objective))
            else None
        )
        seen = list(history[:trials])
        self.store.record_progress(job.id, len(seen), trials)

        def on_trial(trial: dict) -> None:
            seen.append(trial)
            best_params, best_value = best_so_far(seen)
            self.store.update_tuning_run(run_id, trials=seen, best_params=best_params, best_value=best_value)
            self.store.record_progress(job.id, len(seen), trials)
            value = "failed" if trial["value"] is None else f"{trial['value']:.4f}"
            self.store.log(job.id, f"tune trial {trial['number'] + 1}/{trials}: {value}")
            if not token.cancelled:
                self._obey(job, token)

        try:
            result = tune(
                Path(p["input"]), op, objective, trials=trials,
                reference=Path(p["reference"]) if p.get("reference") else None,
                fixed=p.get("fixed") or None, space=p.get("space") or None,
                frames=int(p.get("frames") or 24), seed=int(p.get("seed") or 0),
                ratings=ratings, on_trial=on_trial, cancel=token, history=history,
            )  # fmt: skip
        except Cancelled as exc:
            self.store.update_tuning_run(run_id, state="paused" if exc.reason == "paused" else "cancelled")
            raise
        except BaseException:
            self.store.update_tuning_run(run_id, state="failed")
            raise
        self.store.update_tuning_run(
            run_id, trials=result.trials, best_params=result.best_params, best_value=result.best_value,
            state="done",
        )  # fmt: skip
        message = f"tuned {op} ({objective}) over {len(result.trials)} trials: best {result.best_value:.4f}"
        if p.get("preset"):
            self.store.save_preset(p["preset"], op, result.best_params)
            message += f", saved as preset '{p['preset']}'"
        return message

    def _render(self, job: Job, token: CancelToken) -> str:
        from vidlab.jobs.params import encode_settings
        from vidlab.pipeline.entry import execute
        from vidlab.pipeline.job import JobOptions
        from vidlab.pipeline.recipe import Recipe

        p = job.params
        assert job.input is not None and job.output is not None
        options = JobOptions(
            job_dir=self.store.job_dir(job.id),
            chunk_seconds=p.get("chunk_seconds"),
            workers=p.get("workers"),
        )
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)

        def on_event(event: Event) -> None:
            self.store.record_event(job.id, event)
            if not token.cancelled and not event.final:
                self._obey(job, token)  # between polls too: a finished chunk is a natural stop

        result = execute(
            job.input,
            job.output,
            Recipe.from_data(p["recipe"]),
            encode_settings(p),
            copy_audio=bool(p.get("copy_audio", True)),
            options=options,
            on_event=on_event,
            cancel=token,
            label=f"job {job.id}",
        )
        return f"{result.frames} frames -> {result.output}"


def _line(text: str) -> str:
    """An error as the one line the store keeps (some exceptions carry paragraphs)."""
    return " ".join(text.split())
