"""Executors run the one chunk function (:func:`vidlab.pipeline.chunks.run_chunk`) somewhere:
``local`` in worker processes on this machine, ``ray`` as Ray tasks on a cluster (inputs and
segments travel through Ray's object store as bytes, so no shared file system is needed)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

from vidlab.core.errors import UsageError, VidlabError
from vidlab.core.events import Cancelled, CancelToken
from vidlab.core.fsutil import write_atomic
from vidlab.ops.base import Resources
from vidlab.pipeline.chunks import ChunkResult, ChunkTask, run_chunk, run_chunk_bytes

log = logging.getLogger(__name__)

DoneCallback = Callable[[ChunkResult], None]
FramesCallback = Callable[[int, int], None]  # (chunk index, frames done in that chunk)

EXECUTORS = ("local", "ray")


class WorkerDied(VidlabError):
    """A worker process vanished (killed, out of memory) while it held a chunk."""


class Executor(Protocol):
    name: str

    def run(
        self,
        tasks: Sequence[ChunkTask],
        on_done: DoneCallback,
        on_frames: FramesCallback,
        cancel: CancelToken | None = None,
    ) -> None:
        """Run every task; call ``on_done`` (in the caller's thread) as each segment lands.
        A cancelled token stops every running chunk at its next frame (no segment is left)
        and raises :class:`Cancelled`; finished segments stay, so the job resumes."""


# -- local ----------------------------------------------------------------------------------------

_progress_queue: Any = None
_cancel: CancelToken | None = None


def _worker_init(progress: Any, cancel_flag: Any) -> None:
    """Runs in each worker: die with the parent, leave Ctrl-C to the parent, report progress,
    and watch the parent's cancel flag."""
    global _progress_queue, _cancel
    _progress_queue = progress
    _cancel = CancelToken(cancel_flag)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)


def _run_in_worker(task: ChunkTask) -> ChunkResult:
    last = 0.0

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last > 0.2 and _progress_queue is not None:
            last = now
            with contextlib.suppress(Exception):
                _progress_queue.put_nowait((task.chunk.index, done))

    return run_chunk(task, on_frame=report, cancel=_cancel)


class LocalExecutor:
    """Chunks in ``workers`` processes (spawned, so no thread state is inherited). A worker
    process runs many chunks, so what its ops open once (see ``Op.state``) is reused."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(
        self,
        tasks: Sequence[ChunkTask],
        on_done: DoneCallback,
        on_frames: FramesCallback,
        cancel: CancelToken | None = None,
    ) -> None:
        if not tasks:
            return
        ctx = mp.get_context("spawn")
        progress = ctx.Queue()
        flag = ctx.Event()
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                try:
                    index, done = progress.get(timeout=0.1)
                except queue.Empty:
                    continue
                except (EOFError, OSError):
                    return
                on_frames(index, done)

        reader = threading.Thread(target=pump, name="vidlab-progress", daemon=True)
        reader.start()
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(progress, flag),
        )
        pending: dict[Future[ChunkResult], ChunkTask] = {}
        try:
            for task in tasks:
                pending[pool.submit(_run_in_worker, task)] = task
            while pending:
                if cancel is not None and cancel.cancelled:
                    flag.set()  # running chunks stop at their next frame and remove their segment
                    for fut in pending:
                        fut.cancel()
                    wait(pending)
                    raise Cancelled(cancel.reason, reason=cancel.reason)
                finished, _ = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = pending.pop(fut)
                    try:
                        result = fut.result()
                    except Cancelled:
                        continue  # the token was cancelled; handled at the top of the loop
                    except BrokenProcessPool:
                        raise WorkerDied(
                            f"a worker process died while making chunk {task.chunk.index} (killed or out "
                            "of memory); finished chunks are kept, so run the same command again to resume"
                        ) from None
                    on_done(result)
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            stop.set()
            reader.join(timeout=2)
            progress.close()
            progress.join_thread()


# -- ray ------------------------------------------------------------------------------------------


class RayExecutor:
    """The same chunk function as Ray tasks. Without ``address`` a private local Ray instance is
    started on 127.0.0.1 for the run and shut down after it."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, resources: Resources | None = None) -> None:
        if importlib.util.find_spec("ray") is None:
            raise UsageError("the Ray executor needs Ray: pip install 'vidlab[ray]'")
        if address is None:
            # A private instance stays on the loopback; Ray reads this once, when imported.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        self.workers = max(1, workers)
        self.address = address
        self.resources = resources or Resources()

    def run(
        self,
        tasks: Sequence[ChunkTask],
        on_done: DoneCallback,
        on_frames: FramesCallback,
        cancel: CancelToken | None = None,
    ) -> None:
        import ray

        from vidlab.io.segments import extract_span

        if not tasks:
            return
        started_here = False
        if ray.is_initialized() and self.address:
            log.warning("Ray is already connected in this process; ray_address %s is not used", self.address)
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(
                    num_cpus=self.workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            started_here = True
        try:
            # Each task asks the cluster for what the recipe's ops declared they need, capped at
            # the largest node (a request no node can meet would queue forever).
            res = self.resources
            alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
            cpus = min(res.threads, max(int(r.get("CPU", 1)) for r in alive) if alive else 1)
            if res.gpu and not any(r.get("GPU") for r in alive):
                raise UsageError("the recipe needs a GPU, and no node of the Ray cluster has one")
            remote = ray.remote(run_chunk_bytes).options(
                num_cpus=max(1, cpus), num_gpus=1 if res.gpu else 0, max_retries=1
            )
            waiting = list(tasks)
            in_flight: dict[Any, ChunkTask] = {}
            limit = 2 * self.workers  # bounds the spans and segments held in the object store
            while waiting or in_flight:
                while waiting and len(in_flight) < limit:
                    task = waiting.pop(0)
                    c = task.chunk
                    span = extract_span(task.source, c.decode_begin, c.decode_end)
                    in_flight[remote.remote(task, span)] = task
                if cancel is not None and cancel.cancelled:
                    # Interrupts each running task wherever it runs; the task's writer aborts,
                    # so no segment comes back. Finished segments are already on disk.
                    for ref in in_flight:
                        ray.cancel(ref)
                    with contextlib.suppress(Exception):
                        ray.wait(list(in_flight), num_returns=len(in_flight), timeout=10)
                    raise Cancelled(cancel.reason, reason=cancel.reason)
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.1)
                for ref in ready:
                    task = in_flight.pop(ref)
                    try:
                        result, data = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.cause if isinstance(exc.cause, VidlabError) else None
                        if cause is not None:
                            raise cause from None
                        raise VidlabError(f"chunk {task.chunk.index} failed on Ray: {exc.cause!r}") from None
                    except ray.exceptions.RayError as exc:
                        raise WorkerDied(
                            f"Ray lost chunk {task.chunk.index} ({type(exc).__name__}); finished chunks are "
                            "kept, so run the same command again to resume"
                        ) from None
                    write_atomic(Path(task.segment), data)
                    on_done(result)
        finally:
            if started_here:
                ray.shutdown()


def make_executor(
    name: str, workers: int, ray_address: str | None = None, resources: Resources | None = None
) -> Executor:
    if name == "local":
        if ray_address:
            raise UsageError("ray_address needs executor 'ray'")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, ray_address, resources)
    raise UsageError(f"unknown executor '{name}' (choose from: {', '.join(EXECUTORS)})")
