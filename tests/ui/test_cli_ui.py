"""`vidlab ui`: loopback by default, a remote address only when asked, an argument list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vidlab.cli.ui import APP, is_loopback, server_command


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                          ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                          ("example.com", False)])  # fmt: skip
def test_is_loopback(host: str, ok: bool) -> None:
    assert is_loopback(host) is ok


def test_server_command_is_an_argument_list(tmp_path: Path) -> None:
    cmd = server_command("127.0.0.1", 8600, tmp_path / "a b; rm -rf x", 100)
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)] and APP.is_file()
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[-2:] == ["--workspace", str(tmp_path / "a b; rm -rf x")]


def test_a_remote_host_is_refused_without_allow_remote(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "vidlab", "ui", "--host", "0.0.0.0", "--workspace", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2
    assert "--allow-remote" in res.stderr and "loopback" in res.stderr
