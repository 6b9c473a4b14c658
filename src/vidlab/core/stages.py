"""Threads joined by bounded queues: the runner's decode/process/encode stages, and the two
decoders the quality metrics run side by side. Back-pressure keeps memory flat; the first error
in any stage cancels them all and is re-raised by the caller."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidlab.core.events import CancelToken

_END = object()


class Stages:
    """Threads joined by bounded queues. The first error anywhere cancels every stage (the
    runner decodes, processes and encodes with it; the metrics decode two inputs side by side)."""

    def __init__(self, queue_size: int, token: CancelToken | None = None) -> None:
        self.queue_size = queue_size
        self.cancel = threading.Event()
        self.token = token  # a cancelled run stops every stage at its next frame
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def stopped(self) -> bool:
        if self.token is not None and self.token.cancelled:
            self.cancel.set()
        return self.cancel.is_set()

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self.stopped():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def drain(self, q: queue.Queue[Any]) -> Iterator[Any]:
        while True:
            try:
                item = q.get(timeout=0.05)
            except queue.Empty:
                if self.stopped():
                    return
                continue
            if item is _END or self.stopped():
                return
            yield item

    def stage(self, name: str, produce: Callable[[], Iterable[Any]]) -> queue.Queue[Any]:
        """Run ``produce()`` on a thread, feeding its items into a new bounded queue."""
        out: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)

        def work() -> None:
            try:
                for item in produce():
                    if not self._put(out, item):
                        return
            except BaseException as exc:
                self.errors.append(exc)
                self.cancel.set()
            finally:
                if not self.cancel.is_set():
                    self._put(out, _END)

        t = threading.Thread(target=work, name=f"vidlab-{name}", daemon=True)
        self.threads.append(t)
        t.start()
        return out

    def map(self, name: str, source: queue.Queue[Any], fn: Callable[[Any], Any]) -> queue.Queue[Any]:
        return self.stage(name, lambda: (fn(x) for x in self.drain(source)))

    def stop(self) -> None:
        self.cancel.set()
        for t in self.threads:
            t.join(timeout=5)
