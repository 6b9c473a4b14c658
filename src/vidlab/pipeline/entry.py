"""The one entry point: :func:`execute` runs a recipe over an input, deciding between one
stream, a chunked resumable job and a live input, with events and cancellation for all three.
The CLI, the demo, the lab, the layers pipeline, the job queue and the UI all call it."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from vidlab.core.errors import UsageError, VidlabError
from vidlab.core.events import Cancelled, CancelToken, Event, EventBus, EventCallback
from vidlab.io.codecs import EncodeSettings
from vidlab.io.probe import is_image_sequence
from vidlab.io.reader import is_live
from vidlab.pipeline.job import JobOptions, JobSpec, job_from_dir, run_job
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import RunResult, run_stream


def execute(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    recipe: Recipe | str = "identity",
    settings: EncodeSettings | None = None,
    *,
    start: Fraction | float | None = None,
    duration: Fraction | float | None = None,
    copy_audio: bool = True,
    options: JobOptions | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    label: str | None = None,
) -> RunResult:
    """Apply ``recipe`` to ``input`` and write ``output``, keeping resolution, exact fps and
    timestamps, color tags and audio.

    How it runs: a live input (``-``, a URL, a device, a FIFO) is read once, as it arrives. A
    file runs as a chunked, resumable job (in worker processes or on Ray) when ``options``
    asks for one or when it is longer than two chunks; otherwise in one stream.

    ``on_event`` receives every :class:`Event` on one thread of its own, in order, the last one
    ``done``, ``failed`` (with the message), ``cancelled`` or ``paused``. ``cancel`` stops the run
    at its next frame: nothing is left at ``output`` and no temporary file remains; a chunked
    job keeps its finished chunks, and running the same call again resumes it, bit-identical to
    an uninterrupted run (pausing is cancelling with ``cancel.pause()``; a one-stream run starts
    over when resumed)."""
    opts = options or JobOptions()
    source = os.fspath(input)
    name = label or Path(source).name
    bus = EventBus(on_event)
    try:
        opts.check()
        recipe = Recipe.parse(recipe) if isinstance(recipe, str) else recipe
        begin = None if start is None else Fraction(start)
        length = None if duration is None else Fraction(duration)
        if is_live(source):
            if opts.asks_for_job:
                raise UsageError("a live input is read once, in one stream: it cannot run as a job", source)
            result = _stream(source, output, recipe, settings, begin, length, copy_audio, bus, name, cancel)
        elif _chunked(Path(source), Path(output), opts):
            spec = JobSpec(Path(source), Path(output), recipe, settings or EncodeSettings(),
                           begin, length, copy_audio)  # fmt: skip
            result = run_job(spec, opts, events=bus, label=name, cancel=cancel)
        else:
            result = _stream(source, output, recipe, settings, begin, length, copy_audio, bus, name, cancel)
        bus.emit(
            Event(
                "job",
                "done",
                name,
                frames_done=result.frames,
                frames_total=result.frames,
                fps=result.fps,
                eta=0.0,
                elapsed=result.seconds,
                message=str(result.output),
            )
        )
        return result
    except Cancelled as exc:
        state = "paused" if exc.reason == "paused" else "cancelled"
        bus.emit(_final(bus, name, state, exc.reason))
        raise
    except VidlabError as exc:
        bus.emit(_final(bus, name, "failed", str(exc)))
        raise
    except KeyboardInterrupt:
        bus.emit(_final(bus, name, "cancelled", "interrupted"))
        raise
    except BaseException as exc:
        bus.emit(_final(bus, name, "failed", f"internal error: {type(exc).__name__}: {exc}"))
        raise
    finally:
        bus.close()


def resume(
    job_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> RunResult:
    """Finish the job in ``job_dir`` with the input, recipe and settings its manifest records."""
    spec, opts = job_from_dir(Path(job_dir), workers=workers, executor=executor, ray_address=ray_address)
    return execute(
        spec.input,
        spec.output,
        spec.recipe,
        spec.settings,
        start=spec.start,
        duration=spec.duration,
        copy_audio=spec.copy_audio,
        options=opts,
        on_event=on_event,
        cancel=cancel,
    )


def _stream(
    source: str,
    output: str | os.PathLike[str],
    recipe: Recipe,
    settings: EncodeSettings | None,
    start: Fraction | None,
    duration: Fraction | None,
    copy_audio: bool,
    bus: EventBus,
    name: str,
    cancel: CancelToken | None,
) -> RunResult:
    return run_stream(
        source, output, recipe, settings, start=start, duration=duration, copy_audio=copy_audio,
        events=bus, label=name, cancel=cancel,
    )  # fmt: skip


def _final(bus: EventBus, name: str, state: str, message: str) -> Event:
    last = bus.last
    return Event(
        "job",
        state,
        name,
        frames_done=last.frames_done if last else 0,
        frames_total=last.frames_total if last else None,
        fps=last.fps if last else 0.0,
        elapsed=last.elapsed if last else 0.0,
        message=message,
    )


def _chunked(path: Path, output: Path, opts: JobOptions) -> bool:
    """One stream or a job: a job when an option asks for one, or the input is long. Image
    sequences (in or out) always run in one stream: segments are containers, not folders."""
    if is_image_sequence(path) or is_image_sequence(output):
        if opts.asks_for_job:
            raise UsageError("an image sequence runs in one stream, without chunks or workers", output)
        return False
    if opts.seconds <= 0:
        if opts.asks_for_job and (
            opts.executor != "local" or opts.ray_address or opts.job_dir or opts.keep_chunks or opts.workers
        ):
            raise UsageError("chunk_seconds=0 runs in one stream, without a job, workers or an executor")
        return False
    return opts.asks_for_job or _longer_than(path, 2 * opts.seconds)


def _longer_than(path: Path, seconds: float) -> bool:
    if not path.is_file():
        return False  # the one-stream path reports the problem
    try:
        from vidlab.io.probe import probe

        return probe(path, count_frames=False).duration > seconds
    except VidlabError:
        return False
