"""Events on one thread, throttled progress, and the cancel token."""

from __future__ import annotations

import pickle
import threading

import pytest

from vidlab.core.events import Cancelled, CancelToken, Event, EventBus, Meter


def test_bus_delivers_in_order_on_its_own_thread_and_throttles_progress():
    got: list[tuple[Event, int]] = []
    bus = EventBus(lambda e: got.append((e, threading.get_ident())), interval=60)
    meter = Meter(bus, "job", 100)
    for n in range(1, 101):
        meter.progress(n)  # throttled: only the first running event of the scope passes
    bus.emit(Event("chunk", "done", "job", chunk=3, frames_done=10))
    meter.finish("done")
    bus.close()
    events = [e for e, _ in got]
    assert [e.state for e in events] == ["running", "done", "done"]
    assert events[-1].frames_done == 100 and events[-1].eta == 0.0
    assert len({t for _, t in got}) == 1 and threading.get_ident() not in {t for _, t in got}


def test_a_failing_callback_is_logged_not_fatal(caplog):
    def boom(e: Event) -> None:
        raise RuntimeError("drawing failed")

    with EventBus(boom) as bus:
        bus.emit(Event("job", "done", "j"))
    assert any("event callback failed" in r.getMessage() for r in caplog.records)
    caplog.clear()  # the autouse fixture fails tests that log errors; this one is expected


def test_cancel_token_reasons_callbacks_and_pickling():
    token = CancelToken()
    seen: list[str] = []
    token.on_cancel(lambda: seen.append(token.reason))
    token.check()
    token.pause()
    token.cancel("cancelled")  # the first reason wins
    assert token.cancelled and token.reason == "paused" and seen == ["paused"]
    with pytest.raises(Cancelled) as info:
        token.check()
    again = pickle.loads(pickle.dumps(info.value))
    assert isinstance(again, Cancelled) and again.reason == "paused" and again.exit_code == 130
