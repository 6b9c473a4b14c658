"""The real thing: `vidlab ui` serving the app to a headless Chromium (Debian's chromium and
chromedriver, driven by selenium). Skipped, with the reason, where either is missing."""

# ruff: noqa: F811  (pytest fixtures imported from uikit are parameters here)
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from uikit import clip_bytes, queued, store, ws_root  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
DRIVER = shutil.which("chromedriver")


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


@pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no chromium/chromedriver (apt-get install chromium chromium-driver)",
)
def test_dashboard_and_queue_render_in_chromium(ws_root: Path, queued: int) -> None:
    psutil = pytest.importorskip("psutil")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "vidlab", "ui", "--port", str(port), "--workspace", str(ws_root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    driver = None
    try:
        _wait_healthy(url, proc)
        listening = [
            c for c in psutil.Process(proc.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN
        ]
        assert {c.laddr.port for c in listening} == {port}
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
        driver.set_page_load_timeout(60)

        def text() -> str:
            return driver.find_element(By.TAG_NAME, "body").text

        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: "vidlab dashboard" in text())
        WebDriverWait(driver, 60).until(lambda d: "Hardware:" in text())
        assert "Traceback" not in text()
        driver.get(url + "/queue")
        WebDriverWait(driver, 60).until(lambda d: f"#{queued}" in text())
        assert "Traceback" not in text()
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
