"""``vidlab jobs`` and ``vidlab worker`` through the real entry point."""

# ruff: noqa: F811  (pytest fixtures imported from jobkit are parameters here)
from __future__ import annotations

import json
from pathlib import Path

from jobkit import clip, frames_hash, ws  # noqa: F401 (fixtures)

from conftest import run_cli


def _ok(*args: object, cwd: Path) -> str:
    res = run_cli(*map(str, args), cwd=cwd)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_submit_list_show_cancel_rm_and_worker(ws: Path) -> None:
    recipe = ("--recipe", "cartoon colors=6", "--codec", "ffv1", "--chunk-seconds", "0.5", "--workers", "1")
    out = _ok("jobs", "submit", "clip.mp4", "-o", "done.mkv", *recipe, cwd=ws)
    assert "job 1 queued: clip.mp4 -> done.mkv" in out
    style = ("--style", "cartoon", "--preset", "Speed", "--json")
    ids = json.loads(_ok("jobs", "submit", "clip.mp4", "-o", "styled/", *style, cwd=ws))
    assert ids == [2]
    listed = json.loads(_ok("jobs", "list", "--json", cwd=ws))
    assert [j["id"] for j in listed] == [2, 1] and all(j["state"] == "queued" for j in listed)
    shown = json.loads(_ok("jobs", "show", "2", "--json", cwd=ws))
    assert shown["params"]["level"] == "Speed" and shown["output"] == str(
        ws.resolve() / "styled" / "clip.mp4"
    )
    assert shown["events"][0]["state"] == "queued"
    assert "cancelled" in _ok("jobs", "cancel", "2", cwd=ws)
    assert "queued" in _ok("jobs", "retry", "2", cwd=ws)
    assert "paused" in _ok("jobs", "pause", "2", cwd=ws)
    assert "1 job(s)" in _ok("worker", "--once", cwd=ws)  # the paused job waits
    assert frames_hash(ws / "done.mkv")[0] == 150
    table = _ok("jobs", "list", cwd=ws)
    assert "done" in table and "paused" in table
    assert "removed" in _ok("jobs", "rm", "2", cwd=ws)
    assert [j["id"] for j in json.loads(_ok("jobs", "list", "--json", cwd=ws))] == [1]
    other = ws.parent / "elsewhere"
    other.mkdir()
    assert json.loads(_ok("jobs", "list", "--json", "--workspace", ws, cwd=other))[0]["state"] == "done"


def test_errors_are_one_line_with_exit_code_2(ws: Path) -> None:
    cases = [
        ("jobs", "submit", "clip.mp4", "-o", "o.mp4", "--recipe", "cartoon colours=3"),
        ("jobs", "submit", "clip.mp4", "-o", "../o.mp4", "--recipe", "identity"),
        ("jobs", "submit", "/etc/hostname", "-o", "o.mp4", "--recipe", "identity"),
        ("jobs", "submit", "clip.mp4", "-o", "o.mp4"),
        ("jobs", "submit", "clip.mp4", "-o", "o.mp4", "--style", "nope"),
        ("jobs", "show", "99"),
        ("jobs", "resume", "99"),
        ("worker", "--concurrency", "0", "--once"),
    ]
    for args in cases:
        res = run_cli(*args, cwd=ws)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, (args, res.stderr)
        assert res.stderr.startswith("vidlab: error: ")
    assert json.loads(run_cli("jobs", "list", "--json", cwd=ws).stdout) == []  # nothing was queued
