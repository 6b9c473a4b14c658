"""Every page under Streamlit's AppTest, on a temporary workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from vidlab.ui import logic

PAGES = Path(logic.__file__).parent / "pages"

TIMEOUT = 60


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", ["dashboard.py", "queue.py", "style_lab.py", "trainer.py", "settings.py"])
def test_page_loads(page: str, queued: int) -> None:
    _run(page)


def test_dashboard_lists_the_clip(queued: int) -> None:
    at = _run("dashboard.py")
    assert "clip.mp4" in at.multiselect(key="inputs").options


def test_queue_shows_and_pauses_the_job(store, queued: int) -> None:
    at = _run("queue.py")
    assert any(f"#{queued}" in m.value for m in at.markdown)
    at.button(key=f"pause-{queued}").click().run()
    assert not at.exception
    assert store.get(queued).state == "paused"
    at.button(key=f"resume-{queued}").click().run()
    assert store.get(queued).state == "queued"
