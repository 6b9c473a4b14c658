"""``vidlab`` command line. Each command parses options, calls the library and reports.

User errors (:class:`vidlab.errors.VidlabError`) become one line on stderr and exit code 2
(usage) or 1 (media); a traceback is shown only with ``VIDLAB_DEBUG=1``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from vidlab import __version__
from vidlab.errors import VidlabError
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import VideoInfo, probe
from vidlab.pipeline import runner
from vidlab.pipeline.chunks import DEFAULT_CHUNK_SECONDS
from vidlab.pipeline.recipe import Recipe
from vidlab.timeparse import parse_rate, parse_size, parse_time

app = typer.Typer(
    name="vidlab",
    help="Offline video lab: probe, process with op recipes, generate samples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"vidlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what vidlab decides.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="vidlab: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


@contextmanager
def _progress_bar(enabled: bool, label: str):  # type: ignore[no-untyped-def]
    """A rich bar (frames, fps, ETA) fed by the runner's progress events; silent off a terminal."""
    if not enabled or not err.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames  {task.fields[fps]:>6.1f} fps  ETA {task.fields[eta]}"),
        console=err,
        transient=False,
    )
    task = bar.add_task(label, total=None, fps=0.0, eta="--:--")

    def update(p: runner.Progress) -> None:
        bar.update(task, completed=p.frames_done, total=p.total_frames, fps=p.fps, eta=_clock(p.eta))

    with bar:
        yield update


def _clock(seconds: float | None) -> str:
    return "--:--" if seconds is None else f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def _print_info(info: VideoInfo) -> None:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    c = info.color.names()
    vfr = " (variable frame rate)" if info.is_vfr else ""
    rows = [
        ("file", info.path),
        ("container", info.container),
        ("video", f"{info.codec}, {info.width}x{info.height}, SAR {info.sar}, rotation {info.rotation}°"),
        ("fps", f"{info.fps} ({float(info.fps):.3f}){vfr}"),
        (
            "frames",
            f"{info.frame_count}, duration {float(info.duration):.3f}s, start {float(info.start_time):.3f}s",
        ),
        ("pixels", f"{info.pix_fmt}, {info.bit_depth}-bit"),
        (
            "color",
            f"primaries {c['primaries']}, transfer {c['transfer']}, matrix {c['matrix']}, range {c['range']}",
        ),
    ]
    for a in info.audio:
        rows.append((f"audio #{a.index}", f"{a.codec}, {a.sample_rate} Hz, {a.channels} ch ({a.layout})"))
    if not info.audio:
        rows.append(("audio", "none"))
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


@app.command("probe")
def probe_cmd(
    file: Annotated[Path, typer.Argument(help="Video file to describe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Describe a video: size, SAR, rotation, exact fps, frames, pixel format, color, audio."""
    info = probe(file)
    if as_json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        _print_info(info)


@app.command("run")
def run_cmd(
    input: Annotated[Path, typer.Argument(help="Input video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.mp4, .mkv, .mov, .webm).")],
    recipe: Annotated[
        str,
        typer.Option(
            "--recipe",
            "-r",
            help='Ops, e.g. "denoise strength=5 | sharpen amount=0.6", or a .yaml/.json file.',
        ),
    ] = "identity",
    codec: Annotated[
        str, typer.Option(help="libx264|libx265|libvpx-vp9|libsvtav1|ffv1 (or h264, h265, vp9, av1).")
    ] = "libx264",
    crf: Annotated[float | None, typer.Option(help="Constant quality (codec's scale).")] = None,
    bitrate: Annotated[float | None, typer.Option(help="Target bitrate in kbps (instead of --crf).")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Encoder preset (x264/x265: veryfast..slow; svt-av1: 0-13).")
    ] = None,
    pix_fmt: Annotated[
        str | None, typer.Option("--pix-fmt", help="Output pixel format; default: the source's.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Start time: seconds or [hh:]mm:ss[.frac].")] = None,
    duration: Annotated[
        str | None, typer.Option(help="Duration to process: seconds or [hh:]mm:ss[.frac].")
    ] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Do not copy audio streams.")] = False,
    chunk_seconds: Annotated[
        float | None,
        typer.Option(
            "--chunk-seconds",
            help=f"Chunk length, cut on keyframes (default {DEFAULT_CHUNK_SECONDS:g}); 0 runs in one stream.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes for chunks (default: one per core).")
    ] = None,
    threads_per_worker: Annotated[
        int | None,
        typer.Option(
            "--threads-per-worker", help="Decoder/encoder/OpenCV threads per worker (default: cores/workers)."
        ),
    ] = None,
    executor: Annotated[str, typer.Option(help="Where chunks run: local or ray.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Existing Ray cluster (default: start one locally).")
    ] = None,
    job_dir: Annotated[
        Path | None,
        typer.Option(
            "--job-dir", help="Job folder (manifest + segments); default: hidden beside the output."
        ),
    ] = None,
    keep_chunks: Annotated[
        bool, typer.Option("--keep-chunks", help="Keep the segments after success.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Run a recipe of ops over a video, keeping fps, timestamps, color tags and audio.

    Videos longer than two chunks run as a resumable job in parallel worker processes: run the
    same command again (or `vidlab resume JOBDIR`) after a crash to redo only what is missing."""
    from vidlab.pipeline.job import JobOptions, JobSpec, run_job

    spec = JobSpec(
        input=input,
        output=output,
        recipe=Recipe.parse(recipe),
        settings=EncodeSettings(codec=codec, crf=crf, bitrate_kbps=bitrate, preset=preset, pix_fmt=pix_fmt),
        start=parse_time(start, "--start") if start else None,
        duration=parse_time(duration, "--duration") if duration else None,
        copy_audio=not no_audio,
    )
    if chunk_seconds is not None and chunk_seconds < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--chunk-seconds")
    if workers is not None and workers < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--workers")
    seconds = DEFAULT_CHUNK_SECONDS if chunk_seconds is None else chunk_seconds
    if threads_per_worker is not None and threads_per_worker < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--threads-per-worker")
    asked = chunk_seconds is not None or workers is not None or job_dir is not None or keep_chunks
    chunked = seconds > 0 and (asked or executor != "local" or _longer_than(input, 2 * seconds))
    if not chunked and (executor != "local" or ray_address or job_dir or keep_chunks):
        raise typer.BadParameter("--chunk-seconds 0 runs in one stream, without a job or executor")
    with _progress_bar(not quiet, input.name) as update:
        if chunked:
            opts = JobOptions(
                job_dir=job_dir,
                chunk_seconds=seconds,
                workers=workers,
                executor=executor,
                ray_address=ray_address,
                keep_chunks=keep_chunks,
                threads_per_worker=threads_per_worker,
            )
            result = run_job(spec, opts, on_progress=update)
        else:
            result = runner.run(
                spec.input,
                spec.output,
                spec.recipe,
                spec.settings,
                start=spec.start,
                duration=spec.duration,
                copy_audio=spec.copy_audio,
                on_progress=update,
            )
    _summary(result, quiet)


def _longer_than(path: Path, seconds: float) -> bool:
    if not path.is_file():
        return False  # let the runner report the problem
    try:
        return probe(path, count_frames=False).duration > seconds
    except VidlabError:
        return False


def _summary(result: runner.RunResult, quiet: bool) -> None:
    if not quiet:
        out.print(
            f"wrote {result.output} ({result.frames} frames in {result.seconds:.1f}s, {result.fps:.1f} fps)"
        )


@app.command("resume")
def resume_cmd(
    job_dir: Annotated[Path, typer.Argument(help="A job folder made by `vidlab run`.")],
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
    executor: Annotated[str, typer.Option(help="Where chunks run: local or ray.")] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Existing Ray cluster.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Finish an interrupted job: verify its segments and redo only what is missing or corrupt."""
    from vidlab.pipeline.job import resume_job

    with _progress_bar(not quiet, job_dir.name) as update:
        result = resume_job(
            job_dir, workers=workers, executor=executor, ray_address=ray_address, on_progress=update
        )
    _summary(result, quiet)


@app.command("jobs-status")
def jobs_status_cmd(
    job_dir: Annotated[Path, typer.Argument(help="A job folder made by `vidlab run`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a job's state: chunks and frames done of the total, fps and ETA."""
    from vidlab.pipeline.job import job_status

    st = job_status(job_dir)
    if as_json:
        print(json.dumps(st, indent=2))
        return
    fps = "-" if st["fps"] is None else f"{st['fps']:.1f}"
    out.print(f"job:     {st['job_dir']} ({st['state']})", highlight=False)
    out.print(f"input:   {st['input']}", highlight=False)
    out.print(f"output:  {st['output']}", highlight=False)
    out.print(f"recipe:  {st['recipe']}", highlight=False)
    out.print(
        f"chunks:  {st['chunks_done']}/{st['chunks_total']}   "
        f"frames: {st['frames_done']}/{st['frames_total']}   fps: {fps}   ETA: {_clock(st['eta_seconds'])}",
        highlight=False,
    )
    if st["error"]:
        out.print(f"error:   {st['error']}", highlight=False)


@app.command("ops")
def ops_cmd(
    name: Annotated[str | None, typer.Argument(help="Show only this op.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the ops with their parameters (name, type, default, range, help)."""
    from vidlab.ops.registry import get_op, list_ops

    ops = [get_op(name)] if name else list_ops()
    if as_json:
        data = [
            {
                "name": op.name,
                "kind": op.kind,
                "help": op.summary(),
                "params": [
                    {
                        "name": p.name,
                        "type": p.type.__name__,
                        "default": p.default,
                        "min": p.min,
                        "max": p.max,
                        "choices": list(p.choices) if p.choices else None,
                        "help": p.help,
                    }
                    for p in op.params()
                ],
            }
            for op in ops
        ]
        print(json.dumps(data, indent=2))
        return
    for op in ops:
        pre = ""
        if op.kind == "temporal":
            pre = f", pre-roll {op().preroll()} frames at defaults"
        out.print(f"[bold]{op.name}[/bold] ({op.kind}{pre}) - {op.summary()}", highlight=False)
        for p in op.params():
            rng = f" {p.range_text}" if p.range_text else ""
            out.print(f"    {p.name}: {p.type.__name__} = {p.default!r}{rng}  {p.help}", highlight=False)


@app.command("generate-test-video")
def generate_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.mp4, .mkv...).")],
    frames: Annotated[int, typer.Option(help="Number of frames.")] = 90,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT.")] = "640x360",
    fps: Annotated[str, typer.Option(help="Frame rate: 30, 25, 30000/1001...")] = "30",
    audio: Annotated[bool, typer.Option("--audio", help="Add a 440 Hz AAC tone.")] = False,
    codec: Annotated[str, typer.Option(help="Encoder.")] = "libx264",
    pix_fmt: Annotated[str, typer.Option("--pix-fmt", help="Pixel format, e.g. yuv420p10le.")] = "yuv420p",
    vfr: Annotated[bool, typer.Option("--vfr", help="Irregular (variable) frame timing.")] = False,
    rotation: Annotated[int, typer.Option(help="Display rotation tag in degrees (0, 90, 180, 270).")] = 0,
    gop: Annotated[
        int | None, typer.Option(help="Keyframe interval in frames (where chunked runs can cut).")
    ] = None,
) -> None:
    """Make a sample: real photographs panned and zoomed with known motion, plus moving patterns."""
    from vidlab.samples import generate

    if rotation % 90:
        raise typer.BadParameter("rotation must be a multiple of 90", param_hint="--rotation")
    info = generate(
        output,
        frames=frames,
        size=parse_size(size),
        fps=parse_rate(fps),
        audio=audio,
        codec=codec,
        pix_fmt=pix_fmt,
        vfr=vfr,
        rotation=rotation,
        gop=gop,
    )
    out.print(f"wrote {output}: {info.width}x{info.height}, {info.frame_count} frames at {info.fps} fps")


@app.command("demo")
def demo_cmd(
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Folder for the demo's files.")] = Path(
        "vidlab-demo"
    ),
    frames: Annotated[int, typer.Option(help="Frames in the generated sample.")] = 120,
    size: Annotated[str, typer.Option(help="Sample size WIDTHxHEIGHT.")] = "1280x720",
) -> None:
    """Generate a sample, run a recipe on it, and write the output, a before/after PNG and a report."""
    from vidlab.demo import DEMO_RECIPE, run_demo

    out.print(f"vidlab demo: recipe [bold]{DEMO_RECIPE}[/bold]", highlight=False)
    with _progress_bar(True, "demo") as update:
        res = run_demo(outdir, frames=frames, size=parse_size(size), on_progress=update)
    checks = res.report_data["checks"]
    out.print(f"sample:        {res.sample}")
    out.print(
        f"output:        {res.output}  ({res.report_data['frames']} frames, {res.report_data['fps']} fps)"
    )
    out.print(f"before/after:  {res.comparison}")
    out.print(f"report:        {res.report}")
    out.print(f"checks:        {checks}", highlight=False)


def main() -> None:
    """Console entry point: one line and an exit code for every user error."""
    try:
        app(prog_name="vidlab")
    except VidlabError as exc:
        print(f"vidlab: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("vidlab: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("VIDLAB_DEBUG"):
            raise
        print(
            f"vidlab: internal error: {type(exc).__name__}: {exc} (VIDLAB_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
