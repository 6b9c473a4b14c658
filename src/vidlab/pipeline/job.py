"""Chunked, resumable jobs: a job directory holds a JSON manifest (the input's identity, the
recipe, the output settings and every chunk's state, frame count, segment and hash) and the
encoded segments. The manifest is only ever replaced atomically (temporary file, fsync,
rename). A rerun verifies finished segments against their hashes and redoes only what is
missing or corrupt; a changed input, recipe or output setting refuses to resume."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidlab.core.errors import MediaError, UsageError, VidlabError
from vidlab.core.events import Cancelled, CancelToken, Event, EventBus, Meter
from vidlab.core.fsutil import write_atomic
from vidlab.io.codecs import EncodeSettings, resolve
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.segments import FrameIndex, index_frames, stitch
from vidlab.io.writer import check_output_path
from vidlab.pipeline.chunks import (
    Chunk,
    ChunkResult,
    ChunkTask,
    cores,
    default_workers,
    plan_chunks,
    segment_shift,
)
from vidlab.pipeline.defaults import DEFAULT_CHUNK_SECONDS
from vidlab.pipeline.executors import make_executor
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import RunResult

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
_HEAD_BYTES = 4 << 20
# Environment override of the free bytes the preflight sees (for tests and quota'd machines).
FREE_BYTES_ENV = "VIDLAB_FREE_BYTES"


# -- small helpers --------------------------------------------------------------------------------


def sha256_file(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = limit
        while remaining is None or remaining > 0:
            block = f.read(1 << 20 if remaining is None else min(1 << 20, remaining))
            if not block:
                break
            h.update(block)
            if remaining is not None:
                remaining -= len(block)
    return h.hexdigest()


def input_identity(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "head_sha256": sha256_file(path, _HEAD_BYTES),
    }


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace a JSON file atomically (see :func:`vidlab.core.fsutil.write_atomic`)."""
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _frac(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _settings_data(settings: EncodeSettings) -> dict[str, Any]:
    return asdict(settings)


# -- the job's parameters -------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """What a job makes; two runs with equal specs may share a job directory."""

    input: Path
    output: Path
    recipe: Recipe
    settings: EncodeSettings = field(default_factory=EncodeSettings)
    start: Fraction | None = None
    duration: Fraction | None = None
    copy_audio: bool = True

    def data(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.to_data(),
            "settings": _settings_data(self.settings),
            "start": _frac(self.start),
            "duration": _frac(self.duration),
            "copy_audio": self.copy_audio,
        }

    @classmethod
    def from_manifest(cls, m: dict[str, Any]) -> JobSpec:
        s = m["spec"]
        return cls(
            input=Path(m["input"]["path"]),
            output=Path(m["output"]),
            recipe=Recipe.from_data(s["recipe"]),
            settings=EncodeSettings(**s["settings"]),
            start=None if s["start"] is None else Fraction(s["start"]),
            duration=None if s["duration"] is None else Fraction(s["duration"]),
            copy_audio=bool(s["copy_audio"]),
        )


def default_job_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.vidlab-job"


# -- the manifest ---------------------------------------------------------------------------------


def read_manifest(job_dir: Path) -> dict[str, Any] | None:
    """The manifest, or None when it is missing. A truncated or malformed one is reported (it is
    never trusted) and treated as missing."""
    path = job_dir / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or not isinstance(data.get("chunks"), list):
            raise ValueError("unknown layout")
        for c in data["chunks"]:
            Chunk.from_dict(c["chunk"])
            if c["state"] not in ("pending", "done") or not isinstance(c["segment"], str):
                raise ValueError(f"bad chunk entry {c['chunk']['index']}")
            Fraction(c["shift"])
        if not isinstance(data["input"]["head_sha256"], str):
            raise ValueError("no input identity")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: manifest is truncated or corrupt (%s); the job starts over", path, exc)
        return None
    return data


def _segment_ok(job_dir: Path, entry: dict[str, Any]) -> bool:
    seg = job_dir / entry["segment"]
    try:
        if seg.stat().st_size != entry["bytes"]:
            return False
    except OSError:
        return False
    return sha256_file(seg) == entry["sha256"]


class _Lock:
    """An exclusive lock on the job directory, released by the OS if the process dies."""

    def __init__(self, job_dir: Path) -> None:
        self.path = job_dir / "lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise UsageError("another vidlab process is running this job", job_dir) from None

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def is_running(job_dir: Path) -> bool:
    path = job_dir / "lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# -- preflight ------------------------------------------------------------------------------------


def estimate_bytes(info: VideoInfo, settings: EncodeSettings, frames: int) -> int:
    """A generous estimate of an encoded output's size: the bitrate when one is given, else the
    source's own bits per frame (at least 0.2 bits per pixel), and half the raw size for ffv1."""
    pixels = info.width * info.height
    if settings.bitrate_kbps:
        return int(settings.bitrate_kbps * 1000 / 8 * frames / float(info.fps) * 1.2)
    if settings.codec == "ffv1":
        return int(pixels * 3 * frames * 0.6)
    src_bits = (info.bit_rate or 0) / float(info.fps)
    per_frame = max(src_bits * 1.5, pixels * 0.2) / 8
    return int(per_frame * frames)


def free_bytes(path: Path) -> int:
    free = shutil.disk_usage(path).free
    override = os.environ.get(FREE_BYTES_ENV)
    if override:
        free = min(free, int(override))
    return free


def preflight(job_dir: Path, output: Path, segment_bytes: int, output_bytes: int) -> None:
    """Refuse before any work when the disks cannot hold the segments and the stitched output."""
    needs: dict[int, tuple[Path, int]] = {}
    for where, amount in ((job_dir, segment_bytes), (output.parent, output_bytes)):
        dev = os.stat(where).st_dev
        place, total = needs.get(dev, (where, 0))
        needs[dev] = (place, total + amount)
    for place, need in needs.values():
        have = free_bytes(place)
        if have < need:
            raise VidlabError(
                f"not enough free disk space: the job needs about {_human(need)} "
                f"(segments and output) but only {_human(have)} is free",
                place,
            )


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# -- running a job --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobOptions:
    """How a run is carried out (not what it makes): one stream or chunks, where chunks run,
    and where the job keeps its state. ``chunk_seconds=None`` lets :func:`execute` decide (a
    job when the input is longer than two chunks); 0 runs in one stream."""

    job_dir: Path | None = None
    chunk_seconds: float | None = None
    workers: int | None = None  # default: the cores shared out by what the recipe's ops need
    executor: str = "local"
    ray_address: str | None = None
    keep_chunks: bool = False
    threads_per_worker: int | None = None  # default: the cores shared out among the workers

    def check(self) -> None:
        """Refuse impossible values, naming the parameter."""
        if self.chunk_seconds is not None and not self.chunk_seconds >= 0:
            raise UsageError(f"chunk_seconds must be >= 0, got {self.chunk_seconds}", param="chunk_seconds")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"workers must be >= 1, got {self.workers}", param="workers")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise UsageError(
                f"threads_per_worker must be >= 1, got {self.threads_per_worker}", param="threads_per_worker"
            )

    @property
    def asks_for_job(self) -> bool:
        """Whether an option only a chunked job has was given."""
        return (
            self.chunk_seconds is not None
            or self.workers is not None
            or self.job_dir is not None
            or self.keep_chunks
            or self.executor != "local"
            or self.ray_address is not None
        )

    @property
    def seconds(self) -> float:
        return DEFAULT_CHUNK_SECONDS if self.chunk_seconds is None else self.chunk_seconds


def _frame_range(spec: JobSpec, info: VideoInfo, index: FrameIndex) -> tuple[int, int, Fraction]:
    """The frames ``[first, last)`` selected by --start/--duration, and the run's time offset."""
    start = spec.start or Fraction(0)
    if start < 0:
        raise UsageError(f"start must be >= 0, got {float(start)}", param="start")
    if spec.duration is not None and spec.duration <= 0:
        raise UsageError(f"duration must be > 0, got {float(spec.duration)}", param="duration")
    begin = info.start_time + start
    end = None if spec.duration is None else begin + spec.duration
    pts = index.pts
    first = next((i for i, t in enumerate(pts) if t >= begin), len(pts))
    last = len(pts) if end is None else next((i for i, t in enumerate(pts) if t >= end), len(pts))
    if first >= last:
        raise UsageError(
            f"start {float(start):.3f}s selects no frames (the video lasts {float(info.duration):.3f}s)",
            spec.input,
            param="start",
        )
    return first, last, start


def run_job(
    spec: JobSpec,
    options: JobOptions | None = None,
    *,
    events: EventBus | None = None,
    label: str = "",
    cancel: CancelToken | None = None,
) -> RunResult:
    """Run ``spec`` in chunks, resuming whatever a previous run of the same job finished (the
    chunked path behind :func:`vidlab.pipeline.execute`). A cancelled token stops the running
    chunks at their next frame; finished chunks stay, so the job resumes where it stopped."""
    opts = options or JobOptions()
    opts.check()
    bus = events or EventBus(None)
    src, dst = spec.input, spec.output
    if not src.exists():
        raise UsageError("no such file", src)
    if dst.exists() and src.resolve() == dst.resolve():
        raise UsageError("output would overwrite the input", dst)
    check_output_path(dst)
    needs = spec.recipe.resources()
    workers = opts.workers or default_workers(needs.threads)
    executor = make_executor(opts.executor, workers, opts.ray_address, needs)
    info = probe(src)
    target = spec.recipe.output_info(info)
    resolve(spec.settings, target.pix_fmt, target.width, target.height)  # bad settings fail now
    index = index_frames(src)
    if index is None:
        raise MediaError("packets carry no timestamps, so the video cannot be cut into chunks", src)
    first, last, run_offset = _frame_range(spec, info, index)

    job_dir = opts.job_dir or default_job_dir(dst)
    explicit_dir = opts.job_dir is not None
    # What this run creates, removed again if it is refused before any work.
    made_dirs = _missing_dirs(job_dir / "chunks")
    made_lock = not (job_dir / "lock").exists()
    try:
        (job_dir / "chunks").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the job directory ({exc.strerror or exc})", job_dir) from None
    lock = _Lock(job_dir)
    started = False  # whether any work (or any change to the job's state) has begun
    try:
        manifest, up_to_date = _load_or_plan(job_dir, spec, info, index, opts, first, last, dst)
        chunks = manifest["chunks"]
        if up_to_date:
            made = sum(c["frames"] for c in chunks)
            return RunResult(
                input=src, output=dst, recipe=spec.recipe, frames=made, seconds=0.0, fps=0.0,
                source=info, target=target, mode="chunked",
                note=f"{dst} is up to date: this job already finished and its output is unchanged",
            )  # fmt: skip
        pending = [c for c in chunks if c["state"] != "done"]
        todo_frames = sum(Chunk.from_dict(c["chunk"]).frames for c in pending)
        total_frames = sum(Chunk.from_dict(c["chunk"]).frames for c in chunks)
        out_est = estimate_bytes(target, spec.settings, total_frames)
        preflight(job_dir, dst, estimate_bytes(target, spec.settings, todo_frames), out_est)

        started = True
        manifest.pop("output_file", None)
        manifest.pop("segments_kept", None)
        t0 = time.perf_counter()
        done_before = total_frames - todo_frames
        manifest["status"] = "running"
        manifest["attempt"] = {"pid": os.getpid(), "started": time.time(), "frames_at_start": done_before}
        write_json_atomic(job_dir / MANIFEST, manifest)

        live: dict[int, int] = {}
        finished = done_before
        meter = Meter(bus, label or src.name, total_frames, done_before=done_before)
        opened: list[tuple[int, str]] = []

        def report() -> None:
            # Progress counts source frames; a rate-changing recipe's chunks report output frames.
            meter.progress(finished + round(sum(live.values()) * info.fps / target.fps))

        def on_frames(chunk_index: int, frames: int) -> None:
            live[chunk_index] = frames
            report()

        by_index = {c["chunk"]["index"]: c for c in chunks}

        def on_done(result: ChunkResult) -> None:
            nonlocal finished
            entry = by_index[result.index]
            seg = job_dir / entry["segment"]
            expected = Chunk.from_dict(entry["chunk"]).frames
            if target.fps == info.fps and result.frames != expected:
                raise MediaError(
                    f"chunk {result.index} made {result.frames} frames, expected {expected}", seg
                )
            entry.update(
                state="done",
                frames=result.frames,
                bytes=seg.stat().st_size,
                sha256=sha256_file(seg),
                seconds=round(result.seconds, 3),
                finished=time.time(),
            )
            live.pop(result.index, None)
            finished += expected
            opened.extend((result.pid, k) for k in result.opened)
            manifest["updated"] = time.time()
            write_json_atomic(job_dir / MANIFEST, manifest)
            bus.emit(
                Event(
                    "chunk",
                    "done",
                    meter.job,
                    frames_done=result.frames,
                    frames_total=expected,
                    elapsed=result.seconds,
                    fps=result.frames / result.seconds if result.seconds > 0 else 0.0,
                    chunk=result.index,
                    message=result.node,
                )
            )
            report()

        threads = opts.threads_per_worker or max(1, cores() // workers)
        # x264 and x265 encode differently with 1 thread than with several, so a job keeps the
        # thread count of its first run: a resumed chunk is then bit-identical to one of an
        # uninterrupted run whatever --workers or the cores say this time.
        first_threads = int(manifest.setdefault("threads_per_chunk", threads))
        if first_threads != threads:
            log.info("resuming with %d threads per chunk, as the job began (not %d)", first_threads, threads)
        threads = first_threads
        tasks = [
            ChunkTask(
                chunk=Chunk.from_dict(c["chunk"]),
                source=str(src),
                info=info,
                recipe=spec.recipe.to_data(),
                settings=spec.settings,
                segment=str(job_dir / c["segment"]),
                run_offset=run_offset,
                shift=Fraction(c["shift"]),
                threads=threads,
            )
            for c in pending
        ]
        try:
            executor.run(tasks, on_done, on_frames, cancel)
            if cancel is not None:
                cancel.check()  # a cancel that came as the last chunk finished
        except BaseException as exc:
            if isinstance(exc, Cancelled):
                manifest["status"] = exc.reason  # paused, cancelled or interrupted: resumable
            else:
                manifest["status"] = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            manifest["error"] = str(exc)
            write_json_atomic(job_dir / MANIFEST, manifest)
            raise

        written = stitch(
            [(job_dir / c["segment"], Fraction(c["shift"])) for c in chunks],
            dst,
            target,
            audio_from=src,  # subtitles and attachments too, even with copy_audio off
            copy_audio=spec.copy_audio,
            audio_window=None if (first, last) == (0, len(index)) else _window(index, first, last),
            time_offset=run_offset,
        )
        made = sum(c["frames"] for c in chunks)
        if written != made:
            dst.unlink(missing_ok=True)
            raise MediaError(f"stitched {written} packets but the segments hold {made} frames", dst)
        manifest["status"] = "done"
        manifest["updated"] = time.time()
        manifest.pop("error", None)
        # What was written, so a rerun can tell the job is done (the output is still this file)
        # from one whose output was deleted or changed since; and whether segments remain.
        st = dst.stat()
        manifest["output_file"] = {
            "bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256_file(dst),
        }
        manifest["segments_kept"] = opts.keep_chunks
        write_json_atomic(job_dir / MANIFEST, manifest)
        elapsed = time.perf_counter() - t0
        meter.done = made
    finally:
        lock.release()
        if not started:
            _remove_unused_job_dir(job_dir, made_dirs, made_lock)
    if not opts.keep_chunks:
        if explicit_dir:
            shutil.rmtree(job_dir / "chunks", ignore_errors=True)
        else:
            shutil.rmtree(job_dir, ignore_errors=True)
    return RunResult(
        input=src,
        output=dst,
        recipe=spec.recipe,
        frames=made,
        seconds=elapsed,
        fps=(made - done_before) / elapsed if elapsed > 0 else 0.0,
        source=info,
        target=target,
        mode="chunked",
        states_opened=tuple(opened),
    )


def _missing_dirs(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing: list[Path] = []
    d = folder
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    return missing


def _remove_unused_job_dir(job_dir: Path, made_dirs: list[Path], made_lock: bool) -> None:
    """Undo what a run refused before any work created: its lock file and the folders it made
    (``chunks/``, the job folder, missing parents), deepest first. Only empty folders are
    removed, so a folder that existed before, or that holds a manifest or segments, stays."""
    if made_lock:
        with contextlib.suppress(OSError):
            (job_dir / "lock").unlink()
    for d in made_dirs:
        try:
            d.rmdir()
        except OSError:
            return


def _output_change(record: dict[str, Any] | None, dst: Path) -> str | None:
    """None when ``dst`` is still the file a finished job wrote (``record``: its size and hash);
    else how it differs, for the one line saying why the job is redone."""
    if record is None:
        return "was not recorded when this job finished (an older vidlab ran it)"
    try:
        size = dst.stat().st_size
    except OSError:
        return "was deleted since this job finished"
    if size != record.get("bytes"):
        return "changed since this job finished (its size differs)"
    try:
        same = sha256_file(dst) == record.get("sha256")
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if same else "changed since this job finished (its content differs)"


def _window(index: FrameIndex, first: int, last: int) -> tuple[Fraction, Fraction | None]:
    return index.pts[first], index.pts[last] if last < len(index) else None


def _load_or_plan(
    job_dir: Path,
    spec: JobSpec,
    info: VideoInfo,
    index: FrameIndex,
    opts: JobOptions,
    first: int,
    last: int,
    dst: Path,
) -> tuple[dict[str, Any], bool]:
    """The job's manifest: the old one (its chunks verified) or a fresh plan; and whether the
    job is already done (it finished and its output is unchanged), with nothing to redo."""
    identity = input_identity(spec.input)
    old = read_manifest(job_dir)
    if old is not None:
        _check_same_job(job_dir, old, identity, spec, dst)
        if old.get("status") == "done":
            why = _output_change(old.get("output_file"), dst)
            if why is None:
                log.info("%s: this job already finished and %s is unchanged; nothing to redo", job_dir, dst)
                return old, True
            segments = [job_dir / e["segment"] for e in old["chunks"]]
            if not old.get("segments_kept", True) or not any(p.exists() for p in segments):
                # Success removed the segments: nothing to verify, one line instead of one per chunk.
                log.warning("%s: the output %s; redoing the job (its segments were not kept)", dst, why)
                for entry in old["chunks"]:
                    entry.update(state="pending", frames=None, bytes=None, sha256=None)
                return old, False
            log.warning("%s: the output %s; rebuilding it from the kept segments", dst, why)
        kept = 0
        for entry in old["chunks"]:
            if entry["state"] == "done":
                if _segment_ok(job_dir, entry):
                    kept += 1
                    continue
                log.warning(
                    "%s: chunk %d's segment is missing, truncated or fails its hash; redoing it",
                    job_dir,
                    entry["chunk"]["index"],
                )
            entry.update(state="pending", frames=None, bytes=None, sha256=None)
        log.info("%s: resuming, %d of %d chunks verified", job_dir, kept, len(old["chunks"]))
        return old, False
    # A fresh plan: whatever is in chunks/ is stale and never trusted.
    for stale in (job_dir / "chunks").iterdir():
        with contextlib.suppress(OSError):
            stale.unlink()
    recipe = spec.recipe
    target = recipe.output_info(info)
    chunks = plan_chunks(
        index,
        opts.seconds,
        preroll=recipe.preroll(),
        postroll=recipe.postroll(),
        first=first,
        last=last,
    )
    suffix = dst.suffix.lower()
    entries = []
    for c in chunks:
        segment = f"chunks/{c.index:05d}{suffix}"
        entries.append(
            {
                "chunk": c.to_dict(),
                "state": "pending",
                "segment": segment,
                "shift": _frac(segment_shift(segment, c.begin, target, spec.start or Fraction(0))),
                "frames": None,
                "bytes": None,
                "sha256": None,
            }
        )
    plan = {
        "format": FORMAT,
        "created": time.time(),
        "updated": time.time(),
        "status": "planned",
        "input": identity,
        "output": str(dst.resolve()),
        "spec": spec.data(),
        "plan": {
            "chunk_seconds": opts.seconds,
            "frames": last - first,
            "keep_chunks": opts.keep_chunks,
        },
        "chunks": entries,
    }
    return plan, False


def _check_same_job(
    job_dir: Path, old: dict[str, Any], identity: dict[str, Any], spec: JobSpec, dst: Path
) -> None:
    """Refuse to mix two jobs in one directory, saying what differs."""
    was = old["input"]
    if was["path"] != identity["path"]:
        raise UsageError(
            f"this job directory belongs to another input ({was['path']}); remove it or choose "
            "another job_dir",
            job_dir,
            param="job_dir",
        )
    for key, what in (("size", "size"), ("head_sha256", "content"), ("mtime_ns", "modification time")):
        if was[key] != identity[key]:
            raise UsageError(
                f"the input changed since this job started (its {what} differs); remove the job "
                "directory to start over",
                job_dir,
            )
    now = spec.data()
    if old["spec"]["recipe"] != now["recipe"]:
        before = Recipe.from_data(old["spec"]["recipe"]).to_compact()
        raise UsageError(
            f"the recipe changed since this job started (was '{before}', now "
            f"'{spec.recipe.to_compact()}'); remove the job directory to start over",
            job_dir,
        )
    for key in ("settings", "start", "duration", "copy_audio"):
        if old["spec"][key] != now[key]:
            raise UsageError(
                f"the output {key.replace('_', ' ')} changed since this job started "
                f"(was {old['spec'][key]}, now {now[key]}); remove the job directory to start over",
                job_dir,
            )
    if old["output"] != str(dst.resolve()):
        raise UsageError(
            f"this job writes {old['output']}, not {dst}; remove it or choose another job_dir",
            job_dir,
            param="job_dir",
        )


# -- status ---------------------------------------------------------------------------------------


def job_status(job_dir: Path) -> dict[str, Any]:
    """Chunks and frames done of the total, state, fps and ETA, from the manifest."""
    if not (job_dir / MANIFEST).exists():
        raise UsageError("not a vidlab job directory (no manifest.json)", job_dir)
    m = read_manifest(job_dir)
    if m is None:
        raise MediaError("the job's manifest is truncated or corrupt", job_dir / MANIFEST)
    chunks = m["chunks"]
    done = [c for c in chunks if c["state"] == "done"]
    total_frames = sum(Chunk.from_dict(c["chunk"]).frames for c in chunks)
    frames_done = sum(Chunk.from_dict(c["chunk"]).frames for c in done)
    running = is_running(job_dir)
    state = "running" if running else m.get("status", "planned")
    if state == "running" and not running:
        state = "stopped"
    attempt = m.get("attempt") or {}
    fps = None
    if attempt:
        end = time.time() if running else m.get("updated", attempt["started"])
        span = end - attempt["started"]
        made = frames_done - attempt.get("frames_at_start", 0)
        fps = made / span if span > 0 and made > 0 else None
    eta = (total_frames - frames_done) / fps if fps and state == "running" else None
    return {
        "job_dir": str(job_dir),
        "input": m["input"]["path"],
        "output": m["output"],
        "recipe": Recipe.from_data(m["spec"]["recipe"]).to_compact(),
        "state": state,
        "chunks_done": len(done),
        "chunks_total": len(chunks),
        "frames_done": frames_done,
        "frames_total": total_frames,
        "fps": fps,
        "eta_seconds": eta,
        "error": m.get("error"),
    }


def job_from_dir(
    job_dir: Path,
    *,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> tuple[JobSpec, JobOptions]:
    """The spec and options of the job in ``job_dir``, from its manifest, for resuming it."""
    if not (job_dir / MANIFEST).exists():
        raise UsageError("not a vidlab job directory (no manifest.json)", job_dir)
    m = read_manifest(job_dir)
    if m is None:
        raise MediaError(
            "the job's manifest is truncated or corrupt, so the job cannot be reconstructed; rerun "
            "the original vidlab run command to start it over",
            job_dir / MANIFEST,
        )
    spec = JobSpec.from_manifest(m)
    plan = m["plan"]
    opts = JobOptions(
        job_dir=job_dir,
        chunk_seconds=plan["chunk_seconds"],
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        keep_chunks=bool(plan.get("keep_chunks")),
    )
    return spec, opts
