"""``vidlab ui``: start the web UI (a Streamlit app over the job store of one workspace).

It binds to 127.0.0.1 unless told otherwise; any other address needs ``--allow-remote``. The
server runs as ``python -m streamlit run APP ...`` from an argument list (never a shell
string); the app is found by its file path, so the CLI never imports :mod:`vidlab.ui`."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

import vidlab
from vidlab.cli.common import app
from vidlab.core.errors import UsageError

APP = Path(vidlab.__file__).parent / "ui" / "app.py"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_command(host: str, port: int, workspace: Path, max_upload_mb: int) -> list[str]:
    """The server's argument list."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.maxUploadSize", str(max_upload_mb),
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",  # no "Deploy" button
        "--", "--workspace", str(workspace),
    ]  # fmt: skip


@app.command("ui")
def ui_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless --allow-remote).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8501,
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace folder (default: the current folder).")
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (anyone who reaches it can run jobs)."
        ),
    ] = False,
    max_upload_mb: Annotated[
        int, typer.Option(help="Largest upload the server accepts (MiB).", min=1)
    ] = 2048,
) -> None:
    """Start the web UI: dashboard, queue, style lab, trainer and settings."""
    from vidlab.jobs.workspace import Workspace

    ws = Workspace(workspace)
    if not is_loopback(host):
        if not allow_remote:
            raise UsageError(
                f"refusing host {host}: it is not a loopback address, and the UI runs jobs on this "
                "machine for anyone who reaches it (give allow_remote to do it anyway)",
                param=("host", "allow_remote"),
            )
        print(
            f"vidlab: warning: the UI listens on {host}: anyone who reaches it can run jobs", file=sys.stderr
        )
    if not APP.is_file():
        raise UsageError("the web UI is not installed with this vidlab", APP)
    cmd = server_command(host, port, ws.root, max_upload_mb)
    print(f"vidlab ui: http://{host}:{port}  (workspace {ws.root})", file=sys.stderr, flush=True)
    if os.name == "posix":
        os.execv(sys.executable, cmd)  # the server takes this process (signals reach it directly)
    raise typer.Exit(subprocess.call(cmd))
