"""The real thing, end to end: `vidlab ui` and `vidlab worker` on 127.0.0.1, driven by Playwright
in Debian's headless `chromium` (never a downloaded browser). A stylize job is submitted from the
Dashboard, watched to 100% on the Queue page, its output probed, and rated in the Style Lab; every
page is screenshotted into test-artifacts/ (and into docs/img/ with VIDLAB_UPDATE_DOCS=1).
Skipped, with the reason, where chromium or playwright is missing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vidlab.jobs.store import Store

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
FRAMES = 24
PAGES = {  # screenshot name -> (page title in the sidebar, url path)
    "dashboard": ("Dashboard", ""),
    "queue": ("Queue", "queue"),
    "style_lab": ("Style Lab", "style_lab"),
    "trainer": ("Trainer", "trainer"),
    "settings": ("Settings", "settings"),
}
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 800}
JOB_TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"vidlab ui exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("vidlab ui did not start")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _vidlab(*args: str, log: Path) -> subprocess.Popen:
    with log.open("wb") as f:
        return subprocess.Popen([sys.executable, "-m", "vidlab", *args], stdout=f, stderr=subprocess.STDOUT)


@pytest.fixture
def clip_ws(tmp_path: Path) -> Path:
    from vidlab.io.samples import generate

    ws = tmp_path / "ws"
    ws.mkdir()
    generate(ws / "clip.mp4", frames=FRAMES, size=(160, 96), fps=12)
    return ws


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium; `make test` does)")
def test_submit_watch_rate_in_chromium(clip_ws: Path, tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from vidlab.io.probe import probe

    expect = sync_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    update_docs = os.environ.get("VIDLAB_UPDATE_DOCS") == "1"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    ws = str(clip_ws)
    ui = worker = None
    try:
        ui = _vidlab(
            "ui", "--host", "127.0.0.1", "--port", str(port), "--workspace", ws, log=tmp_path / "ui.log"
        )
        worker = _vidlab("worker", "--workspace", ws, log=tmp_path / "worker.log")
        _wait_healthy(url, ui)
        listening = [
            c
            for p in [psutil.Process(ui.pid), *psutil.Process(ui.pid).children(recursive=True)]
            for c in p.net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert {c.laddr.port for c in listening} == {port}
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}

        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(TIMEOUT_MS)

                def settle() -> None:
                    """Wait for Streamlit to finish the current run (the status widget goes away)."""
                    page.wait_for_load_state("networkidle")
                    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)

                def shoot(name: str) -> None:
                    assert page.get_by_text("Traceback").count() == 0, f"{name}: a traceback is shown"
                    out = ARTIFACTS / f"ui_{name}.png"
                    # Streamlit scrolls inside its main section, so full_page alone gives the
                    # viewport: grow the viewport to the content's height (capped), then restore.
                    height = page.get_by_test_id("stMain").evaluate("e => e.scrollHeight")
                    page.set_viewport_size(
                        {"width": VIEWPORT["width"], "height": min(max(height, 800), 3200)}
                    )
                    settle()
                    page.screenshot(path=str(out), full_page=True)
                    page.set_viewport_size(VIEWPORT)
                    if update_docs:
                        DOCS_IMG.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(out, DOCS_IMG / out.name)

                def goto(name: str) -> None:
                    title, path = PAGES[name]
                    page.goto(f"{url}/{path}")
                    expect(page.get_by_role("heading", name=_heading(title))).to_be_visible()
                    settle()

                # Dashboard: the clip, the cartoon style, the Speed preset; submit.
                goto("dashboard")
                expect(page.get_by_text("Hardware:")).to_be_visible()
                chosen = page.get_by_role("group", name="Selected values")
                inputs = page.get_by_test_id("stMultiSelect").filter(
                    has=page.get_by_role("combobox", name="files in the workspace")
                )
                expect(inputs.get_by_role("button", name="Remove clip.mp4")).to_be_visible()
                styles_box = page.get_by_role("combobox", name="styles (one job per style and input)")
                styles = page.get_by_test_id("stMultiSelect").filter(has=styles_box)
                removes = styles.get_by_role("button", name=re.compile(r"^Remove "))
                for label in removes.all():  # leave exactly one style chosen: cartoon
                    if label.get_attribute("aria-label") != "Remove cartoon":
                        label.click()
                        settle()
                if styles.get_by_role("button", name="Remove cartoon").count() == 0:
                    styles_box.click()
                    page.get_by_role("option", name="cartoon", exact=True).click()
                    page.keyboard.press("Escape")
                    settle()
                expect(styles.locator(chosen).get_by_role("button")).to_have_count(1)
                expect(styles.get_by_role("button", name="Remove cartoon")).to_have_count(1)
                preset = page.get_by_role("radiogroup", name="preset")
                preset.get_by_text("Speed", exact=True).click()
                settle()
                expect(preset.get_by_role("radio", name="Speed")).to_be_checked()
                page.get_by_role("button", name="Submit jobs").click()
                expect(page.get_by_text(re.compile(r"queued job\(s\) \d+"))).to_be_visible()
                shoot("dashboard")

                # Queue: the job reaches 100% (the page refreshes itself every 2 s).
                goto("queue")
                expect(page.get_by_text(f"done · {FRAMES}/{FRAMES}")).to_be_visible(timeout=JOB_TIMEOUT_MS)
                bar = page.get_by_role("progressbar").first
                expect(bar).to_have_attribute("aria-valuenow", "100")
                shoot("queue")

                with Store.open(clip_ws) as store:
                    jobs = store.list()
                    assert len(jobs) == 1 and jobs[0].state == "done", [j.state for j in jobs]
                    assert (jobs[0].params["style"], jobs[0].params["level"]) == ("cartoon", "Speed")
                    output = Path(jobs[0].output)
                assert output.is_file()
                assert probe(output).frame_count == FRAMES

                # Style Lab: rate the cartoon op (4 stars), check the store has it.
                goto("style_lab")
                form = page.get_by_test_id("stForm").filter(has_text="Save rating")
                form.get_by_test_id("stRadio").get_by_text("B", exact=True).click()
                slider = form.get_by_role("slider")
                slider.focus()
                page.keyboard.press("ArrowRight")
                expect(slider).to_have_attribute("aria-valuetext", "4")
                form.get_by_label("note").fill("browser test: looks good")
                form.get_by_role("button", name="Save rating").click()
                expect(page.get_by_text("rated cartoon B: 4 stars")).to_be_visible()
                settle()
                expect(page.get_by_role("button", name="Submit tune job")).to_be_visible()
                shoot("style_lab")
                with Store.open(clip_ws) as store:
                    ratings = store.ratings("cartoon")
                assert [(r["stars"], r["note"]) for r in ratings] == [(4, "browser test: looks good")]

                for name in ("trainer", "settings"):
                    goto(name)
                    shoot(name)
            finally:
                browser.close()
    finally:
        _stop(worker)
        _stop(ui)
    for name in PAGES:
        assert (ARTIFACTS / f"ui_{name}.png").stat().st_size > 0


def _heading(title: str) -> str:
    return {"Dashboard": "vidlab dashboard"}.get(title, title)
