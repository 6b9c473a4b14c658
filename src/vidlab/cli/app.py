"""``vidlab`` command line. Each command parses options, calls the library and reports.

User errors (:class:`vidlab.core.errors.VidlabError`) become one line on stderr and exit code 2
(usage) or 1 (media); a traceback is shown only with ``VIDLAB_DEBUG=1``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidlab import __version__
from vidlab.core.errors import UsageError, VidlabError
from vidlab.core.timeparse import parse_rate, parse_size, parse_time
from vidlab.pipeline.defaults import DEFAULT_CHUNK_SECONDS

# The library loads per command (a command that measures pays only for what it uses).
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from vidlab.io.probe import VideoInfo
    from vidlab.lab.codec import QualitySummary
    from vidlab.pipeline import runner
    from vidlab.pipeline.job import JobSpec
    from vidlab.pipeline.recipe import Recipe

app = typer.Typer(
    name="vidlab",
    help="Offline video lab: probe, process with op recipes, generate samples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _LazyConsole:
    """A rich Console made on first use: a command that prints JSON never loads rich."""

    def __init__(self, **options: object) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)  # type: ignore[arg-type]
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


out = _LazyConsole(soft_wrap=True)
err = _LazyConsole(stderr=True)


def _table(**options: Any) -> Table:
    from rich.table import Table

    return Table(**options)


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames  {task.fields[fps]:>6.1f} fps  ETA {task.fields[eta]}"),
        console=err.real(),
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
    t = _table(show_header=False, box=None, pad_edge=False)
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
    from vidlab.io.probe import probe

    info = probe(file)
    if as_json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        _print_info(info)


# Options shared by the commands that encode (run, stylize, preview).
CodecOpt = Annotated[
    str, typer.Option(help="libx264|libx265|libvpx-vp9|libsvtav1|ffv1 (or h264, h265, vp9, av1).")
]
CrfOpt = Annotated[float | None, typer.Option(help="Constant quality (codec's scale).")]
BitrateOpt = Annotated[float | None, typer.Option(help="Target bitrate in kbps (instead of --crf).")]
PixFmtOpt = Annotated[
    str | None, typer.Option("--pix-fmt", help="Output pixel format; default: the source's.")
]
StartOpt = Annotated[str | None, typer.Option(help="Start time: seconds or [hh:]mm:ss[.frac].")]
ChunkSecondsOpt = Annotated[
    float | None,
    typer.Option(
        "--chunk-seconds",
        help=f"Chunk length, cut on keyframes (default {DEFAULT_CHUNK_SECONDS:g}); 0 runs in one stream.",
    ),
]
WorkersOpt = Annotated[int | None, typer.Option(help="Worker processes for chunks (default: one per core).")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads-per-worker", help="Decoder/encoder/OpenCV threads per worker (default: cores/workers)."
    ),
]
ExecutorOpt = Annotated[str, typer.Option(help="Where chunks run: local or ray.")]
RayAddressOpt = Annotated[
    str | None, typer.Option("--ray-address", help="Existing Ray cluster (default: start one locally).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
NoAudioOpt = Annotated[bool, typer.Option("--no-audio", help="Do not copy audio streams.")]


@dataclass(frozen=True)
class _Parallel:
    """How a run is split: chunked job or one stream, and where the chunks run."""

    chunk_seconds: float | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    job_dir: Path | None = None
    keep_chunks: bool = False


def _execute(spec: JobSpec, par: _Parallel, quiet: bool, label: str) -> runner.RunResult:
    """Run one spec as a resumable chunked job (long inputs, or when asked) or as one stream."""
    from vidlab.pipeline import runner
    from vidlab.pipeline.job import JobOptions, run_job

    if par.chunk_seconds is not None and par.chunk_seconds < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--chunk-seconds")
    if par.workers is not None and par.workers < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--workers")
    if par.threads_per_worker is not None and par.threads_per_worker < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--threads-per-worker")
    seconds = DEFAULT_CHUNK_SECONDS if par.chunk_seconds is None else par.chunk_seconds
    asked = (
        par.chunk_seconds is not None or par.workers is not None or par.job_dir is not None or par.keep_chunks
    )
    chunked = seconds > 0 and (asked or par.executor != "local" or _longer_than(spec.input, 2 * seconds))
    if not chunked and (par.executor != "local" or par.ray_address or par.job_dir or par.keep_chunks):
        raise typer.BadParameter("--chunk-seconds 0 runs in one stream, without a job or executor")
    with _progress_bar(not quiet, label) as update:
        if chunked:
            opts = JobOptions(
                job_dir=par.job_dir,
                chunk_seconds=seconds,
                workers=par.workers,
                executor=par.executor,
                ray_address=par.ray_address,
                keep_chunks=par.keep_chunks,
                threads_per_worker=par.threads_per_worker,
            )
            return run_job(spec, opts, on_progress=update)
        return runner.run(
            spec.input,
            spec.output,
            spec.recipe,
            spec.settings,
            start=spec.start,
            duration=spec.duration,
            copy_audio=spec.copy_audio,
            on_progress=update,
        )


def _time(text: str | None, option: str) -> Fraction | None:
    return parse_time(text, option) if text else None


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
    codec: CodecOpt = "libx264",
    crf: CrfOpt = None,
    bitrate: BitrateOpt = None,
    preset: Annotated[
        str | None, typer.Option(help="Encoder preset (x264/x265: veryfast..slow; svt-av1: 0-13).")
    ] = None,
    pix_fmt: PixFmtOpt = None,
    start: StartOpt = None,
    duration: Annotated[
        str | None, typer.Option(help="Duration to process: seconds or [hh:]mm:ss[.frac].")
    ] = None,
    no_audio: NoAudioOpt = False,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    threads_per_worker: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    job_dir: Annotated[
        Path | None,
        typer.Option(
            "--job-dir", help="Job folder (manifest + segments); default: hidden beside the output."
        ),
    ] = None,
    keep_chunks: Annotated[
        bool, typer.Option("--keep-chunks", help="Keep the segments after success.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a recipe of ops over a video, keeping fps, timestamps, color tags and audio.

    Videos longer than two chunks run as a resumable job in parallel worker processes: run the
    same command again (or `vidlab resume JOBDIR`) after a crash to redo only what is missing."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline.job import JobSpec
    from vidlab.pipeline.recipe import Recipe

    spec = JobSpec(
        input=input,
        output=output,
        recipe=Recipe.parse(recipe),
        settings=EncodeSettings(codec=codec, crf=crf, bitrate_kbps=bitrate, preset=preset, pix_fmt=pix_fmt),
        start=_time(start, "--start"),
        duration=_time(duration, "--duration"),
        copy_audio=not no_audio,
    )
    par = _Parallel(chunk_seconds, workers, threads_per_worker, executor, ray_address, job_dir, keep_chunks)
    _summary(_execute(spec, par, quiet, input.name), quiet)


def _longer_than(path: Path, seconds: float) -> bool:
    if not path.is_file():
        return False  # let the runner report the problem
    try:
        from vidlab.io.probe import probe

        return probe(path, count_frames=False).duration > seconds
    except VidlabError:
        return False


def _summary(result: runner.RunResult, quiet: bool) -> None:
    if not quiet:
        out.print(
            f"wrote {result.output} ({result.frames} frames in {result.seconds:.1f}s, {result.fps:.1f} fps)"
        )


StyleLevelOpt = Annotated[
    str, typer.Option("--preset", "-p", help="Preset level per style: Speed, Balanced or Quality.")
]
StabilizeOpt = Annotated[
    str,
    typer.Option(
        help="Temporal stabilizer: flow, edge, ema or none; 'preset' keeps the preset's own choice."
    ),
]
EncoderPresetOpt = Annotated[
    str | None, typer.Option("--encoder-preset", help="Encoder preset (x264/x265: veryfast..slow).")
]


def _style_recipe(style: str, level: str, stabilize: str) -> tuple[str, Recipe]:
    from vidlab.pipeline.presets import find, with_stabilizer

    preset = find(style, level)
    return preset.name, with_stabilizer(preset.recipe(), stabilize)


def _styles(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise typer.BadParameter("name at least one style", param_hint="--style")
    return list(dict.fromkeys(names))


def _suffix(path: Path) -> str:
    return path.suffix.lower() if path.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm") else ".mp4"


@app.command("stylize")
def stylize_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Input videos.")],
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Folder for the outputs.")],
    style: Annotated[
        str,
        typer.Option("--style", "-s", help="Comma-separated styles: pencil, cartoon, comic, cinematic..."),
    ] = "cartoon",
    level: StyleLevelOpt = "Balanced",
    stabilize: StabilizeOpt = "preset",
    codec: CodecOpt = "libx264",
    crf: CrfOpt = None,
    bitrate: BitrateOpt = None,
    encoder_preset: EncoderPresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    threads_per_worker: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Stylize videos in batch: one output per input and style, OUTDIR/NAME.STYLE.mp4.

    Each style runs its preset (see `vidlab presets list`); --stabilize swaps the preset's
    temporal stabilizer. Long inputs run as resumable chunked jobs, like `vidlab run`."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.io.probe import probe
    from vidlab.pipeline.job import JobSpec

    recipes = [(s, *_style_recipe(s, level, stabilize)) for s in _styles(style)]
    for path in inputs:  # check every input before the first long run starts
        if not path.is_file():
            raise UsageError("not a file" if path.exists() else "input not found", path)
        probe(path, count_frames=False)
    outdir.mkdir(parents=True, exist_ok=True)
    settings = EncodeSettings(
        codec=codec, crf=crf, bitrate_kbps=bitrate, preset=encoder_preset, pix_fmt=pix_fmt
    )
    par = _Parallel(chunk_seconds, workers, threads_per_worker, executor, ray_address)
    for path in inputs:
        for name, preset_name, recipe in recipes:
            target = outdir / f"{path.stem}.{name.replace('/', '-')}{_suffix(path)}"
            if not quiet:
                line = f"{path.name} -> {target}  [{preset_name}: {recipe}]"
                out.print(line, highlight=False, markup=False)
            spec = JobSpec(input=path, output=target, recipe=recipe, settings=settings)
            _summary(_execute(spec, par, quiet, f"{path.stem} {name}"), quiet)


@app.command("preview")
def preview_cmd(
    input: Annotated[Path, typer.Argument(help="Input video.")],
    style: Annotated[str, typer.Option("--style", "-s", help="One style (see `vidlab presets list`).")],
    level: StyleLevelOpt = "Balanced",
    stabilize: StabilizeOpt = "preset",
    start: StartOpt = None,
    duration: Annotated[str, typer.Option(help="Length of the clip (seconds or mm:ss).")] = "5",
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Folder for the clip and the PNG.")] = Path(
        "."
    ),
    quiet: QuietOpt = False,
) -> None:
    """Try a style on a short clip: writes NAME.STYLE.preview.mp4 and a before/after PNG."""
    from vidlab.pipeline.preview import make_preview

    names = _styles(style)
    if len(names) != 1:
        raise typer.BadParameter("preview takes one style", param_hint="--style")
    preset_name, recipe = _style_recipe(names[0], level, stabilize)
    length = _time(duration, "--duration")
    if not length:
        raise typer.BadParameter("must be > 0", param_hint="--duration")
    outdir.mkdir(parents=True, exist_ok=True)
    stem = f"{input.stem}.{names[0]}"
    with _progress_bar(not quiet, f"preview {names[0]}") as update:
        res = make_preview(
            input,
            recipe,
            outdir / f"{stem}.preview.mp4",
            outdir / f"{stem}.before_after.png",
            start=_time(start, "--start"),
            duration=length,
            on_progress=update,
        )
    if not quiet:
        out.print(f"{preset_name}: {recipe}", highlight=False)
        out.print(f"clip:          {res.clip}  ({res.result.frames} frames)")
        out.print(f"before/after:  {res.image}")


presets_app = typer.Typer(
    help="Style presets: list, show, export and import (user presets live in your config folder).",
    no_args_is_help=True,
)
app.add_typer(presets_app, name="presets")


@presets_app.command("list")
def presets_list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List presets: style/level, where each comes from, what it does."""
    from vidlab.pipeline.presets import all_presets, user_dir

    presets = all_presets()
    if as_json:
        print(json.dumps([{**p.to_data(), "name": p.name, "source": p.source} for p in presets], indent=2))
        return
    t = _table(box=None, pad_edge=False)
    for col in ("preset", "source", "description"):
        t.add_column(col)
    for p in presets:
        t.add_row(p.name, p.source, p.description)
    out.print(t)
    out.print(f"user presets: {user_dir()}", highlight=False)


@presets_app.command("show")
def presets_show_cmd(
    name: Annotated[str, typer.Argument(help="STYLE or STYLE/LEVEL.")],
    level: StyleLevelOpt = "Balanced",
) -> None:
    """Print a preset as YAML, and its recipe in the compact form `vidlab run -r` takes."""
    from vidlab.pipeline.presets import find

    p = find(name, level)
    print(f"# {p.name} ({p.source}{': ' + str(p.path) if p.source == 'user' else ''})")
    print(p.to_yaml(), end="")
    print(f"# vidlab run IN -o OUT -r {shlex.quote(str(p.recipe()))}")


@presets_app.command("export")
def presets_export_cmd(
    name: Annotated[str, typer.Argument(help="STYLE or STYLE/LEVEL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File or folder to write.")],
    level: StyleLevelOpt = "Balanced",
) -> None:
    """Write a preset to a YAML file you can edit and import back."""
    from vidlab.pipeline.presets import export_preset, find

    dest = export_preset(find(name, level), output)
    out.print(f"wrote {dest}")


@presets_app.command("import")
def presets_import_cmd(
    file: Annotated[Path, typer.Argument(help="A preset YAML (or a plain recipe with --style).")],
    style: Annotated[str | None, typer.Option(help="Style name (overrides the file's).")] = None,
    level: Annotated[str | None, typer.Option(help="Level (overrides the file's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a user preset of the same name.")] = False,
) -> None:
    """Validate a preset and add it to your user presets (same name as a shipped one overrides it)."""
    from vidlab.pipeline.presets import import_preset

    p = import_preset(file, style=style, level=level, force=force)
    out.print(f"imported {p.name} -> {p.path}")


@app.command("metrics")
def metrics_cmd(
    reference: Annotated[Path, typer.Argument(help="Reference (original) video.")],
    distorted: Annotated[Path, typer.Argument(help="Distorted (encoded/processed) video.")],
    vmaf: Annotated[bool, typer.Option("--vmaf", help="Also compute VMAF (libvmaf, default model).")] = False,
    extra: Annotated[
        bool, typer.Option("--extra", help="Also sharpness, edge coherence and temporal instability (RGB).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print per-frame JSON with a global block.")
    ] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write per-frame rows to this CSV file.")
    ] = None,
    offset: Annotated[
        int, typer.Option(help="Frames the distorted video is late by (negative: the reference is).")
    ] = 0,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Compare at most N frames.")] = None,
) -> None:
    """Full-reference quality: PSNR and SSIM per plane (FFmpeg's definitions), MSE, VMAF.

    The distorted video is scaled to the reference's size when they differ. Pooled over frames
    as mean, harmonic mean, min, max and 5th percentile."""
    from vidlab.core.fsutil import write_atomic
    from vidlab.metrics.quality import quality

    if max_frames is not None and max_frames < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--max-frames")
    report = quality(reference, distorted, vmaf=vmaf, extra=extra, offset=offset, max_frames=max_frames)
    if csv_file is not None:
        write_atomic(csv_file, report.to_csv().encode())
    if as_json:
        print(report.to_json())
        return
    t = _table(box=None, pad_edge=False)
    for col in ("metric", "mean", "harmonic", "min", "max", "p5"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for keys in report.global_().values():
        for key, stats in keys.items():
            if key.startswith(("integer_", "VMAF_")):
                continue  # libvmaf's internal features: in --json
            t.add_row(key, *(f"{stats[s]:.4f}" for s in ("mean", "harmonic_mean", "min", "max", "p5")))
    out.print(f"{report.frames} frames: {distorted} against {reference}", highlight=False)
    out.print(t)
    if csv_file is not None:
        out.print(f"wrote {csv_file}")


@app.command("compare")
def compare_cmd(
    original: Annotated[Path, typer.Option("--original", help="Original (reference) video.")],
    test: Annotated[Path, typer.Option("--test", help="Test video (encoded or processed).")],
    enhanced: Annotated[
        Path | None, typer.Option("--enhanced", help="Optional third view, e.g. the test video enhanced.")
    ] = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Append a heatmap of |original - test| (mean over RGB).")
    ] = False,
    diff_max: Annotated[
        float, typer.Option("--diff-max", help="Difference (code values) at the top of the fixed scale.")
    ] = 64.0,
    colormap: Annotated[str, typer.Option(help="Heatmap colormap: inferno or viridis.")] = "inferno",
    save: Annotated[
        Path | None, typer.Option("--save", help="Write the side-by-side video (H.264, original's fps).")
    ] = None,
    crf: CrfOpt = None,
    grid_png: Annotated[
        int | None,
        typer.Option(
            "--grid-png",
            help="Write a PNG of N evenly spaced composites stacked vertically (to --grid-png-path, "
            "default OUT.grid.png beside --save).",
        ),
    ] = None,
    grid_png_path: Annotated[
        Path | None, typer.Option("--grid-png-path", help="Where --grid-png writes (a .png file).")
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Play the composite in a window (q/Esc closes).")
    ] = False,
    labels: Annotated[
        str | None,
        typer.Option(help='Comma-separated view labels, e.g. "Original,Test,Enhanced" (+ the diff view\'s).'),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Side by side: original | test [| enhanced] [| diff], synced by timestamp, with labels and
    per-frame PSNR against the original.

    Views touch (no gaps), each the original's size: the output is (views x W) by H. Other sizes
    are scaled to the original's height. For each original frame, every other view shows its
    latest frame at or before that time (own clocks), so other frame rates and dropped frames
    stay in sync; output stops when any input ends. Needs --save, --grid-png or --show."""
    from vidlab.lab.compare import compare, default_grid_path

    if grid_png_path is not None and grid_png is None:
        raise typer.BadParameter("give --grid-png N with --grid-png-path", param_hint="--grid-png-path")
    grid = None
    if grid_png is not None:
        if grid_png < 1:
            raise typer.BadParameter("must be >= 1", param_hint="--grid-png")
        if grid_png_path is None and save is None:
            raise UsageError("--grid-png needs --grid-png-path, or --save (it then writes OUT.grid.png)")
        grid = grid_png_path if grid_png_path is not None else default_grid_path(save)  # type: ignore[arg-type]
    names = [s.strip() for s in labels.split(",")] if labels is not None else None
    with _progress_bar(not quiet and not show, "compare") as update:
        res = compare(
            original,
            test,
            enhanced,
            save=save,
            grid=grid,
            grid_frames=grid_png or 1,
            show=show,
            diff=diff,
            labels=names,
            diff_max=diff_max,
            colormap=colormap,
            crf=crf,
            on_progress=update,
        )
    if not quiet:
        psnr = f"mean PSNR test {res.psnr_test:.2f} dB"
        if res.psnr_enhanced is not None:
            psnr += f", enhanced {res.psnr_enhanced:.2f} dB"
        out.print(f"{res.frames} frames, {res.width}x{res.height}; {psnr}", highlight=False)
        for path in (res.output, res.grid):
            if path is not None:
                out.print(f"wrote {path}", highlight=False)


@app.command("codec-test")
def codec_test_cmd(
    input: Annotated[Path, typer.Argument(help="Input video (the reference).")],
    codec: Annotated[str, typer.Option(help="h264, h265, vp8, vp9 or av1.")],
    bitrate: Annotated[float | None, typer.Option(help="Target bitrate in kbps.")] = None,
    crf: Annotated[float | None, typer.Option(help="Constant quality instead of a bitrate.")] = None,
    enhancer: Annotated[
        str | None, typer.Option(help="Enhancer op or recipe run on the decoded video, e.g. deblock.")
    ] = None,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Use the first N frames.")] = None,
    vmaf: Annotated[bool, typer.Option("--vmaf", help="Also VMAF (libvmaf, default model).")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Keep the encoded file here.")] = None,
    enhanced_output: Annotated[
        Path | None, typer.Option("--enhanced-output", help="Keep the enhanced video here (lossless).")
    ] = None,
    encoder_preset: EncoderPresetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Encode with one codec at a bitrate or CRF, decode, and report size, bitrate, speed and
    quality (PSNR/SSIM, VMAF with --vmaf), and an enhancer's effect with --enhancer."""
    from vidlab.lab.codec import codec_test

    if (bitrate is None) == (crf is None):
        raise typer.BadParameter("give exactly one of --bitrate or --crf", param_hint="--bitrate/--crf")
    if max_frames is not None and max_frames < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--max-frames")
    r = codec_test(
        input,
        codec,
        bitrate_kbps=bitrate,
        crf=crf,
        preset=encoder_preset,
        enhancer=enhancer,
        max_frames=max_frames,
        vmaf=vmaf,
        output=output,
        enhanced_output=enhanced_output,
    )
    if as_json:
        print(json.dumps(r.to_dict(), indent=2))
        return
    target = f"{bitrate:g} kbps" if bitrate is not None else f"CRF {crf:g}"
    rows = [
        ("codec", f"{r.codec} ({r.encoder}), {r.passes} pass{'es' if r.passes > 1 else ''}"),
        ("target / actual", f"{target} / {r.actual_kbps:.1f} kbps"),
        ("frames", f"{r.frames} at {r.width}x{r.height}, {float(r.fps):.3f} fps"),
        (
            "size",
            f"{r.file_bytes:,} bytes (video {r.video_bytes:,}), compression {r.compression_ratio:.1f}:1",
        ),
        ("encode / decode", f"{r.encode_ms_per_frame:.2f} / {r.decode_ms_per_frame:.2f} ms per frame"),
        ("total", f"{r.total_ms_per_frame:.2f} ms per frame"),
        ("decoded", _quality_line(r.quality)),
    ]
    if r.enhanced_quality is not None:
        d = r.deltas
        rows.append((f"enhanced ({r.enhancer})", _quality_line(r.enhanced_quality)))
        delta = f"PSNR-Y {d['psnr_y']:+.3f} dB, SSIM-Y {d['ssim_y']:+.5f}"
        if d.get("vmaf") is not None:
            delta += f", VMAF {d['vmaf']:+.2f}"
        rows.append(("delta", f"{delta}; enhancer {r.enhancer_ms_per_frame:.2f} ms per frame"))
    t = _table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


def _quality_line(q: QualitySummary) -> str:
    text = f"PSNR-Y {q.psnr_y:.3f} dB (avg {q.psnr_avg:.3f}), SSIM-Y {q.ssim_y:.5f} (all {q.ssim_avg:.5f})"
    return text + (f", VMAF {q.vmaf:.2f}" if q.vmaf is not None else "")


def _numbers(text: str, option: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected comma-separated numbers, got {text!r}", param_hint=option
        ) from None
    if not values:
        raise typer.BadParameter("give at least one value", param_hint=option)
    return values


@app.command("codec-sweep")
def codec_sweep_cmd(
    input: Annotated[Path, typer.Argument(help="Input video (the reference).")],
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Report folder.")],
    codecs: Annotated[str, typer.Option(help="Comma-separated: h264,h265,vp8,vp9,av1.")] = "h264,vp9,av1",
    bitrates: Annotated[str, typer.Option(help="Comma-separated kbps.")] = "100,200,400,800",
    enhancers: Annotated[
        str, typer.Option(help="Comma-separated enhancer ops run on every decode, e.g. bilateral,combined.")
    ] = "",
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Use the first N frames.")] = None,
    vmaf: Annotated[bool, typer.Option("--vmaf", help="Also VMAF (and its BD-rates).")] = False,
) -> None:
    """Rate-distortion sweep: RD table (CSV, JSON), RD plots (PNG), BD-rate and BD-PSNR between
    every pair of curves, and a self-contained HTML report."""
    from vidlab.lab.sweep import sweep

    names = [c.strip() for c in codecs.split(",") if c.strip()]
    enh = [e.strip() for e in enhancers.split(",") if e.strip()]

    def step(curve: str, kbps: float) -> None:
        err.print(f"  {curve} at {kbps:g} kbps", highlight=False)

    res = sweep(
        input, names, _numbers(bitrates, "--bitrates"), outdir, enhancers=enh, vmaf=vmaf,
        max_frames=max_frames, on_point=step,
    )  # fmt: skip
    t = _table(box=None, pad_edge=False)
    for col in ("anchor", "test", "metric", "BD-rate %", "BD-quality"):
        t.add_column(col)
    for row in res.bd:
        if "error" in row:
            t.add_row(row["anchor"], row["test"], row["metric"], row["error"], "")
        else:
            t.add_row(
                row["anchor"],
                row["test"],
                row["metric"],
                f"{row['bd_rate_pct']:+.2f}",
                f"{row['bd_quality']:+.4f}",
            )
    out.print(t)
    out.print(f"report: {res.files['html']}")


MethodOpt = Annotated[
    str, typer.Option("--method", "-m", help="flow (motion-compensated), blend or minterpolate.")
]


@app.command("interpolate")
def interpolate_cmd(
    input: Annotated[
        str, typer.Argument(help="Input video, or a live source: - (stdin), a URL or /dev/videoN.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.mp4, .mkv, .mov, .webm).")],
    factor: Annotated[
        int | None, typer.Option("--factor", "-x", help="Multiply the frame rate: 2, 4...")
    ] = None,
    fps: Annotated[str | None, typer.Option(help="Target frame rate: 60, 59.94, 60000/1001...")] = None,
    method: MethodOpt = "flow",
    scene_cut: Annotated[
        str, typer.Option("--scene-cut", help="At a cut: repeat (hold the last frame), blend or cut.")
    ] = "repeat",
    allow_drop: Annotated[
        bool, typer.Option("--allow-drop", help="Allow a target below the source's rate.")
    ] = False,
    codec: CodecOpt = "libx264",
    crf: CrfOpt = None,
    bitrate: BitrateOpt = None,
    preset: EncoderPresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    start: StartOpt = None,
    duration: Annotated[
        str | None, typer.Option(help="Duration to process (for a live input: stop after it).")
    ] = None,
    no_audio: NoAudioOpt = False,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    threads_per_worker: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Raise the frame rate: 2x/4x slow-motion frames or any target fps, audio kept in sync.

    The default method follows the motion (bidirectional optical flow with occlusion
    handling); originals stay untouched at their timestamps and scene cuts are never morphed.
    A live input (stdin, URL, capture device) is processed as it arrives, about one source
    frame behind, and its audio is not kept."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.io.reader import is_live
    from vidlab.ops.interpolate import Interpolate
    from vidlab.pipeline import runner
    from vidlab.pipeline.job import JobSpec
    from vidlab.pipeline.recipe import Recipe

    if (factor is None) == (fps is None):
        raise UsageError("give --factor N or --fps F (one of them)")
    if factor is not None and factor < 1:
        raise UsageError(f"--factor must be a positive integer, got {factor}")
    if fps is not None:
        parse_rate(fps, "--fps")
    op = Interpolate.create(
        factor=factor or 0, fps=fps or "", method=method, scene_cut=scene_cut, allow_drop=allow_drop
    )
    recipe = Recipe((op,))
    settings = EncodeSettings(codec=codec, crf=crf, bitrate_kbps=bitrate, preset=preset, pix_fmt=pix_fmt)
    begin, length = _time(start, "--start"), _time(duration, "--duration")
    if is_live(input):  # read once, as it arrives (a URL is not a Path: no job, no chunks)
        with _progress_bar(not quiet, "live") as update:
            result = runner.run(
                input, output, recipe, settings, start=begin, duration=length, on_progress=update
            )
        _summary(result, quiet)
        return
    spec = JobSpec(
        input=Path(input),
        output=output,
        recipe=recipe,
        settings=settings,
        start=begin,
        duration=length,
        copy_audio=not no_audio,
    )
    par = _Parallel(chunk_seconds, workers, threads_per_worker, executor, ray_address)
    result = _execute(spec, par, quiet, Path(input).name)
    if not quiet:
        src, dst = result.source, result.target
        out.print(
            f"{float(src.fps):.3f} fps -> {float(dst.fps):.3f} fps ({op.method}, scene cuts: {scene_cut})"
        )
    _summary(result, quiet)


@app.command("eval-interp")
def eval_interp_cmd(
    video: Annotated[Path, typer.Argument(help="A video with real motion (the ground truth).")],
    methods: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="Methods to compare (repeat the option; default: all three)."),
    ] = None,
    factor: Annotated[
        int, typer.Option("--factor", "-x", help="Keep every k-th frame and rebuild the k-1 between.")
    ] = 2,
    max_frames: Annotated[int, typer.Option("--max-frames", help="Use at most N source frames.")] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    per_frame: Annotated[bool, typer.Option("--per-frame", help="With --json: every frame's PSNR.")] = False,
) -> None:
    """Score interpolation: drop frames, rebuild them with each method, compare to the truth.

    Reports Y-PSNR and Y-SSIM on exactly the rebuilt frames, their count, and the speed in
    rebuilt frames per second, for every method in one run."""
    from vidlab.lab.interp import eval_interp

    if max_frames < 3:
        raise typer.BadParameter("must be >= 3", param_hint="--max-frames")
    names = [m.strip() for item in (methods or ["flow", "blend", "minterpolate"]) for m in item.split(",")]
    result = eval_interp(video, [m for m in names if m], factor=factor, max_frames=max_frames)
    if as_json:
        print(json.dumps(result.to_dict(per_frame=per_frame), indent=2))
        return
    out.print(
        f"{video}: {result.width}x{result.height} at {float(Fraction(result.source_fps)):.3f} fps, "
        f"1 in {factor} frames kept, {result.scores[0].frames} frames rebuilt",
        highlight=False,
    )
    t = _table(box=None, pad_edge=False)
    for col in ("method", "Y-PSNR dB", "min dB", "Y-SSIM", "frames/s"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for s in result.scores:
        t.add_row(s.method, f"{s.psnr_y:.2f}", f"{s.psnr_y_min:.2f}", f"{s.ssim_y:.4f}", f"{s.fps:.1f}")
    out.print(t)


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
            inst = op()
            rolls = [
                f"{what} {n} frame{'s' if n != 1 else ''}"
                for what, n in (("pre-roll", inst.preroll()), ("look-ahead", inst.postroll()))
                if n
            ]
            pre = f", {', '.join(rolls)} at defaults" if rolls else ""
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
    from vidlab.io.samples import generate

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
    from vidlab.cli.demo import DEMO_RECIPE, run_demo

    out.print(f"vidlab demo: recipe [bold]{DEMO_RECIPE}[/bold]", highlight=False)
    with _progress_bar(True, "demo") as update:
        res = run_demo(outdir, frames=frames, size=parse_size(size), on_progress=update)
    checks = res.report_data["checks"]
    out.print(f"sample:        {res.sample}")
    out.print(
        f"output:        {res.output}  ({res.report_data['frames']} frames, {res.report_data['fps']} fps)"
    )
    out.print(f"before/after:  {res.comparison}")
    for style, path in res.styles.items():
        out.print(f"{style + ':':<15}{path}  ({res.report_data['styles'][style]['preset']})", highlight=False)
    out.print(f"styles sheet:  {res.contact_sheet}")
    interp = res.report_data["interpolation"]
    psnrs = ", ".join(f"{k} {v} dB" for k, v in interp["rebuilt_frames_y_psnr_db"].items())
    out.print(f"2x frames:     {res.interpolated}  ({interp['frames']} frames; rebuilt frames: {psnrs})")
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
