"""What every ``vidlab`` command shares: the Typer app, consoles, option types, the progress bar
drawn from events, Ctrl-C as cancellation, and the one place where library parameter names
become CLI flags. Each area of commands lives in its own module (run, style, lab, interp)."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidlab import __version__
from vidlab.core.errors import VidlabError
from vidlab.core.timeparse import parse_time
from vidlab.pipeline.defaults import DEFAULT_CHUNK_SECONDS

# The library loads per command (a command that measures pays only for what it uses).
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from vidlab.core.events import CancelToken, Event, EventCallback
    from vidlab.io.probe import VideoInfo
    from vidlab.pipeline.runner import RunResult

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


def table(**options: Any) -> Table:
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


def clock(seconds: float | None) -> str:
    return "--:--" if seconds is None else f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def print_info(info: VideoInfo) -> None:
    t = table(show_header=False, box=None, pad_edge=False)
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


def _device_option(value: str | None) -> str | None:
    """Check ``--device`` at once (one line if unknown or absent) and hand it to every neural op
    of the run, in this process and its workers, through ``VIDLAB_DEVICE``."""
    if value is None:
        return None
    from vidlab.ml.backends import DEVICE_ENV, select_backend

    select_backend(value)
    os.environ[DEVICE_ENV] = value
    return value


DeviceOpt = Annotated[
    str | None,
    typer.Option(
        callback=_device_option,
        help="Where neural ops run: auto (CUDA when present, else CPU), cpu, cuda, cuda:N or tensorrt.",
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


# -- library parameters as CLI flags ---------------------------------------------------------------

#: Where a library parameter's flag is not ``--`` + its name with dashes.
FLAG_NAMES = {
    "grid": "--grid-png",
    "grid_frames": "--grid-png",
    "methods": "--method",
    "bitrate_kbps": "--bitrate",
}


#: Commands whose flag for a parameter differs from the rule: only `run` calls the encoder's
#: preset `--preset` (elsewhere `--preset` is the style level, and the encoder's is
#: `--encoder-preset`).
COMMAND_FLAG_NAMES = {"run": {"preset": "--preset"}}
_DEFAULT_COMMAND_FLAGS = {"preset": "--encoder-preset"}


def flag(param: str, command: str | None = None) -> str:
    """The CLI flag for a library parameter name (``chunk_seconds`` -> ``--chunk-seconds``)."""
    special = COMMAND_FLAG_NAMES.get(command or "", _DEFAULT_COMMAND_FLAGS)
    if param in special:
        return special[param]
    return FLAG_NAMES.get(param, "--" + param.replace("_", "-"))


def user_message(exc: VidlabError, command: str | None = None) -> str:
    """The error's line as the CLI shows it: the parameters it names become the flags of
    ``command`` (the subcommand that ran)."""
    message = exc.message
    for name in exc.params:
        message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flag(name, command), message, count=1)
    return f"{exc.path}: {message}" if exc.path else message


def invoked_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    return next((a for a in argv[1:] if not a.startswith("-")), None)


#: Click's exception base (typer ships its own copy of click, so it is taken from typer's).
CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def click_message(exc: Any) -> str:
    """A click/typer usage error (bad value, unknown option, missing argument) as one line:
    its message with the parameter it names, and where the command's help is."""
    message = " ".join(exc.format_message().split())  # click's messages may span lines
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{message} (see {ctx.command_path} --help)"


# -- running through vidlab.pipeline.entry --------------------------------------------------------


@contextmanager
def progress_bar(enabled: bool, label: str, unit: str = "frames") -> Iterator[EventCallback | None]:
    """A rich bar (``unit`` done, per second, ETA) drawn from the run's job events; silent off
    a terminal. Video runs count frames, training counts steps."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit}  {{task.fields[fps]:>6.1f}}/s  ETA {{task.fields[eta]}}"),
        console=err.real(),
        transient=False,
    )
    task = bar.add_task(label, total=None, fps=0.0, eta="--:--")

    def draw(event: Event) -> None:
        if event.scope == "job":
            total = event.frames_total if event.frames_total else None
            bar.update(task, completed=event.frames_done, total=total, fps=event.fps, eta=clock(event.eta))

    with bar:
        yield draw


@contextmanager
def ctrl_c_cancels() -> Iterator[CancelToken]:
    """A cancel token that Ctrl-C cancels (reason ``interrupted``): the run stops at its next
    frame, through the same path as any cancel. A second Ctrl-C interrupts at once."""
    from vidlab.core.events import CancelToken

    token = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield token
        return

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel("interrupted")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def job_options(
    chunk_seconds: float | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    job_dir: Path | None = None,
    keep_chunks: bool = False,
) -> Any:
    """The run's :class:`vidlab.pipeline.job.JobOptions` from the shared options."""
    from vidlab.pipeline.job import JobOptions

    return JobOptions(
        job_dir=job_dir,
        chunk_seconds=chunk_seconds,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        keep_chunks=keep_chunks,
        threads_per_worker=threads_per_worker,
    )


def execute(
    input: Any, output: Path, recipe: Any, settings: Any, *, quiet: bool, label: str, **kw: Any
) -> RunResult:
    """:func:`vidlab.pipeline.entry` with the progress bar and Ctrl-C wired in."""
    from vidlab.pipeline.entry import execute as run

    with ctrl_c_cancels() as token, progress_bar(not quiet, label) as draw:
        return run(input, output, recipe, settings, on_event=draw, cancel=token, label=label, **kw)


def summary(result: RunResult, quiet: bool) -> None:
    if not quiet and result.note:
        out.print(result.note, highlight=False)
    elif not quiet:
        out.print(
            f"wrote {result.output} ({result.frames} frames in {result.seconds:.1f}s, {result.fps:.1f} fps)"
        )


def parse_time_option(text: str | None, option: str) -> Fraction | None:
    return parse_time(text, option) if text else None


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


def numbers(text: str, option: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected comma-separated numbers, got {text!r}", param_hint=option
        ) from None
    if not values:
        raise typer.BadParameter("give at least one value", param_hint=option)
    return values
