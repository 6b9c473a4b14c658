"""Events and cancellation: the one progress path and the one way to stop a run.

Every run (one stream, a chunked job, later a layers stage or a queued job) reports through
:class:`Event` objects, delivered to one callback on one thread, in order. A :class:`CancelToken`
passed down to the stages and the executors stops a run at the next frame; pausing is
cancelling with the reason ``paused`` (a chunked job then resumes where it stopped).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from vidlab.core.errors import VidlabError

log = logging.getLogger(__name__)

#: What an event describes: the whole run, one chunk of it, or one stage of a staged pipeline.
SCOPES = ("job", "chunk", "stage")
#: Where the thing described stands. ``done``, ``failed``, ``cancelled`` and ``paused`` end it.
STATES = ("queued", "running", "done", "failed", "cancelled", "paused")
FINAL_STATES = ("done", "failed", "cancelled", "paused")


@dataclass(frozen=True, slots=True)
class Event:
    """One progress report. ``frames_done``/``frames_total`` count output frames of the scope
    (``frames_total`` is None when unknown, as for a live input); ``fps`` is this run's speed
    and ``eta`` the seconds left at that speed (None when unknown)."""

    scope: str
    state: str
    job: str
    frames_done: int = 0
    frames_total: int | None = None
    fps: float = 0.0
    eta: float | None = None
    elapsed: float = 0.0
    chunk: int | None = None
    stage: str | None = None
    message: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


EventCallback = Callable[[Event], None]


class Cancelled(VidlabError):
    """The run was cancelled (or paused) through its :class:`CancelToken`: exit code 130."""

    exit_code = 130

    def __init__(self, message: str = "cancelled", path: Any = None, *, reason: str = "cancelled") -> None:
        super().__init__(message, path)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the reason across process boundaries
        return (_cancelled, (self.message, self.path, self.reason))


def _cancelled(message: str, path: Any, reason: str) -> Cancelled:
    return Cancelled(message, path, reason=reason)


class _Flag(Protocol):
    def is_set(self) -> bool: ...
    def set(self) -> None: ...


class CancelToken:
    """Ask a run to stop at its next frame. ``flag`` may be any object with ``is_set``/``set``
    (a ``multiprocessing`` event carries the request into worker processes)."""

    def __init__(self, flag: _Flag | None = None) -> None:
        self._flag: _Flag = flag if flag is not None else threading.Event()
        self._reason = "cancelled"
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def cancel(self, reason: str = "cancelled") -> None:
        """Request a stop; ``reason`` is ``cancelled``, ``paused`` or ``interrupted``."""
        with self._lock:
            if self._flag.is_set():
                return
            self._reason = reason
            self._flag.set()
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb()
            except Exception:  # a callback must not keep the others from running
                log.exception("cancel callback failed")

    def pause(self) -> None:
        """Stop at the next frame so that the run can be resumed (see :func:`execute`)."""
        self.cancel("paused")

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the cancelling thread) when the token is cancelled."""
        with self._lock:
            if not self._flag.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._flag.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def check(self) -> None:
        """Raise :class:`Cancelled` if a stop was requested."""
        if self._flag.is_set():
            raise Cancelled(self._reason, reason=self._reason)


class EventBus:
    """Delivers events to ``callback`` on one thread of its own, in the order they were
    emitted, from any number of emitting threads. Progress (``running``) events of a scope
    are throttled to one per ``interval`` seconds; every other event is always delivered.
    :meth:`close` delivers what is queued and stops the thread. A callback that raises is
    logged and does not stop the run."""

    def __init__(self, callback: EventCallback | None, interval: float = 0.1) -> None:
        self.callback = callback
        self.interval = interval
        self._last: dict[tuple[str, int | None, str | None], float] = {}
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last: Event | None = None  # the latest job-scope event emitted (throttled or not)
        if callback is not None:
            self._thread = threading.Thread(target=self._deliver, name="vidlab-events", daemon=True)
            self._thread.start()

    def emit(self, event: Event, *, force: bool = False) -> None:
        if event.scope == "job":
            self.last = event
        if self._thread is None:
            return
        if event.state == "running" and not force:
            key = (event.scope, event.chunk, event.stage)
            now = time.monotonic()
            with self._lock:
                if now - self._last.get(key, -1e9) < self.interval:
                    return
                self._last[key] = now
        self._queue.put(event)

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self.callback(event)  # type: ignore[misc]
            except Exception:
                log.exception("event callback failed on %s", event)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> EventBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Meter:
    """Frames done against a total, timed from creation: makes the events of one scope."""

    def __init__(
        self,
        bus: EventBus,
        job: str,
        total: int | None,
        *,
        scope: str = "job",
        chunk: int | None = None,
        stage: str | None = None,
        done_before: int = 0,
    ) -> None:
        self.bus, self.job, self.total = bus, job, total
        self.scope, self.chunk, self.stage = scope, chunk, stage
        self.done_before = done_before
        self.done = done_before
        self.t0 = time.perf_counter()

    def event(self, state: str, message: str = "") -> Event:
        elapsed = time.perf_counter() - self.t0
        made = self.done - self.done_before
        fps = made / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / fps if self.total is not None and fps > 0 else None
        if state == "done":
            eta = 0.0
        return Event(
            scope=self.scope,
            state=state,
            job=self.job,
            frames_done=self.done,
            frames_total=self.total,
            fps=fps,
            eta=eta,
            elapsed=elapsed,
            chunk=self.chunk,
            stage=self.stage,
            message=message,
        )

    def progress(self, done: int) -> None:
        self.done = done
        self.bus.emit(self.event("running"))

    def finish(self, state: str, message: str = "") -> None:
        self.bus.emit(self.event(state, message))
