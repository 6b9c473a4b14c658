"""The job queue from the shell: ``vidlab jobs submit|list|show|pause|resume|cancel|retry|rm`` and
``vidlab worker``. Every command works on the store of one workspace (the current folder unless
``--workspace``), ``WORKSPACE/.vidlab/jobs.db``; paths are taken in, and confined to, it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidlab.cli.common import app, clock, out, table
from vidlab.core.errors import UsageError

if TYPE_CHECKING:
    from vidlab.jobs.store import Job, Store

jobs_app = typer.Typer(
    help="The job queue: submit renders, watch and control them (run them with `vidlab worker`).",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")

WorkspaceOpt = Annotated[
    Path | None, typer.Option("--workspace", "-w", help="Workspace folder (default: the current folder).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArg = Annotated[int, typer.Argument(help="A job id (see `vidlab jobs list`).")]


def _store(workspace: Path | None) -> Store:
    from vidlab.jobs.store import Store

    return Store.open(workspace)


def _outputs(store: Store, inputs: list[str], output: str, suffix: str | None) -> list[tuple[Path, Path]]:
    """One output per input: ``output`` itself for one input (unless it is a folder), else
    ``output/<stem>.<suffix>`` in the folder."""
    ws = store.workspace
    sources = [ws.confine(i, param="input") for i in inputs]
    dst = ws.confine(output, param="output")
    if len(sources) == 1 and not (dst.is_dir() or output.endswith("/")):
        return [(sources[0], dst)]
    if dst.exists() and not dst.is_dir():
        raise UsageError("with several inputs the output is a folder", dst, param="output")
    return [(s, dst / f"{s.stem}.{suffix or 'mp4'}") for s in sources]


@jobs_app.command("submit")
def submit_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Input videos (in the workspace).")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file, or a folder for several inputs.")
    ],
    recipe: Annotated[
        str | None, typer.Option("--recipe", "-r", help="A recipe: text, file or preset.")
    ] = None,
    style: Annotated[
        str | None, typer.Option("--style", "-s", help="A style (see `vidlab presets list`).")
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="Style level: Speed, Balanced or Quality.")
    ] = "Balanced",
    codec: Annotated[str | None, typer.Option(help="Output codec (default libx264).")] = None,
    crf: Annotated[float | None, typer.Option(help="Constant quality (codec's scale).")] = None,
    chunk_seconds: Annotated[
        float | None, typer.Option("--chunk-seconds", help="Chunk length in seconds.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Chunk worker processes per job.")] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue one render job per input (a recipe or a style); `vidlab worker` runs them."""
    from vidlab.jobs.params import render_params

    if (recipe is None) == (style is None):
        raise UsageError("give --recipe or --style (one of them)")
    settings: dict[str, Any] = {}
    if codec is not None:
        settings["codec"] = codec
    if crf is not None:
        settings["crf"] = crf
    params = render_params(
        recipe=recipe, style=style, level=preset if style else None, settings=settings,
        chunk_seconds=chunk_seconds, workers=workers,
    )  # fmt: skip
    with _store(workspace) as store:
        pairs = _outputs(store, inputs, output, None)
        for src, _ in pairs:  # check every input before queueing any
            if not src.is_file():
                raise UsageError("no such file", store.workspace.relative(src))
        ids = [store.submit("render", params, input=s, output=d, priority=priority) for s, d in pairs]
        if as_json:
            print(json.dumps(ids))
            return
        for job_id, (src, dst) in zip(ids, pairs, strict=True):
            ws = store.workspace
            out.print(
                f"job {job_id} queued: {ws.relative(src)} -> {ws.relative(dst)}",
                highlight=False,
                markup=False,
            )


def _row(store: Store, job: Job) -> list[str]:
    ws = store.workspace
    progress = job.progress
    pct = "" if progress is None else f"{progress * 100:.0f}%"
    what = job.params.get("style") and f"{job.params['style']}/{job.params.get('level')}"
    live = job.state == "running"
    return [
        str(job.id),
        job.kind,
        job.state + (f" ({job.request} requested)" if job.request else ""),
        pct,
        f"{job.fps:.1f}" if live else "",
        clock(job.eta) if live else "",
        ws.relative(job.input or ""),
        ws.relative(job.output or ""),
        str(what or job.params.get("recipe_text", "")),
    ]


@jobs_app.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the jobs, newest first: state, progress, fps and ETA."""
    with _store(workspace) as store:
        jobs = store.list(state)
        if as_json:
            print(json.dumps([j.to_dict() for j in jobs], indent=2))
            return
        if not jobs:
            out.print("no jobs", highlight=False)
            return
        t = table(box=None, pad_edge=False)
        for col in ("id", "kind", "state", "progress", "fps", "eta", "input", "output", "recipe"):
            t.add_column(col, style="bold" if col == "id" else None)
        for job in jobs:
            t.add_row(*_row(store, job))
        out.print(t)


@jobs_app.command("show")
def show_cmd(job_id: IdArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show one job: its fields, events and logs."""
    with _store(workspace) as store:
        job = store.get(job_id)
        events, logs = store.events(job_id), store.logs(job_id)
        if as_json:
            print(json.dumps({**job.to_dict(), "events": events, "logs": logs}, indent=2))
            return
        t = table(show_header=False, box=None, pad_edge=False)
        t.add_column(style="bold")
        t.add_column()
        for key, value in job.to_dict().items():
            if key != "params":
                t.add_row(key, "" if value is None else str(value))
        t.add_row("params", json.dumps(job.params))
        out.print(t)
        for e in events:
            chunk = "" if e["chunk"] is None else f" chunk {e['chunk']}"
            stamp = time.strftime("%H:%M:%S", time.localtime(e["time"]))
            line = f"{stamp} {e['scope']}{chunk} {e['state']} {e['frames_done']} {e['message']}"
            out.print(line, highlight=False, markup=False)
        for entry in logs:
            out.print(f"log {entry['level']}: {entry['message']}", highlight=False, markup=False)


def _control(action: str, job_id: int, workspace: Path | None) -> None:
    with _store(workspace) as store:
        job = getattr(store, action)(job_id)
        note = f" ({job.request} requested)" if job.request else ""
        out.print(f"job {job.id}: {job.state}{note}", highlight=False, markup=False)


@jobs_app.command("pause")
def pause_cmd(job_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Pause a job (a running one stops at its next frame and resumes where it stopped)."""
    _control("pause", job_id, workspace)


@jobs_app.command("resume")
def resume_cmd(job_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Queue a paused job again."""
    _control("resume", job_id, workspace)


@jobs_app.command("cancel")
def cancel_cmd(job_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Cancel a job (a running one stops at its next frame; its chunks are removed)."""
    _control("cancel", job_id, workspace)


@jobs_app.command("retry")
def retry_cmd(job_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Queue a failed or cancelled job again."""
    _control("retry", job_id, workspace)


@jobs_app.command("rm")
def rm_cmd(job_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Delete a job that is not running (its events, logs and chunks; never its output)."""
    with _store(workspace) as store:
        store.rm(job_id)
    out.print(f"job {job_id} removed", highlight=False, markup=False)


@app.command("worker")
def worker_cmd(
    concurrency: Annotated[int, typer.Option(help="Jobs run at the same time.")] = 1,
    once: Annotated[bool, typer.Option("--once", help="Drain the queue, then exit.")] = False,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", help="How long a claim lasts without a heartbeat.")
    ] = 30.0,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run queued jobs (Ctrl-C stops; a killed worker's job resumes in the next worker)."""
    from vidlab.jobs.worker import Worker

    if not lease_seconds > 0:
        raise UsageError(f"lease_seconds must be > 0, got {lease_seconds}", param="lease_seconds")
    with _store(workspace) as store:
        worker = Worker(store, concurrency, lease_seconds=lease_seconds)
        ran = worker.run(once=once)
    out.print(f"worker ran {ran} job(s)", highlight=False)
