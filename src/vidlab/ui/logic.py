"""What the web UI does, as plain functions (no Streamlit here, so all of it is unit-tested):
workspace and file listing, uploads that are checked and size-limited, settings kept in the
workspace, render/train/tune job params, previews and A/B frames, training run folders.

Every path a user names goes through :meth:`Workspace.confine`; nothing here builds a shell
string; job params are validated by the store before they are queued."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from vidlab.core.errors import UsageError, VidlabError
from vidlab.jobs.store import ENDED, Job, Store
from vidlab.jobs.workspace import STATE_DIR, Workspace

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MEDIA_SUFFIXES = VIDEO_SUFFIXES + IMAGE_SUFFIXES
UPLOAD_DIR = "uploads"
OUTPUT_DIR = "outputs"
PREVIEW_SECONDS = 5
SETTINGS_FILE = "settings.json"
ENV_WORKSPACE = "VIDLAB_WORKSPACE"
CODECS = ("libx264", "libx265", "libsvtav1", "libvpx-vp9", "ffv1", "prores_ks", "h264_nvenc", "hevc_nvenc")
STABILIZE = ("preset", "flow", "edge", "ema", "none")
ACTIONS = ("pause", "resume", "cancel", "retry", "rm")


# -- workspace --------------------------------------------------------------------------------------


def workspace_from_args(argv: list[str] | None = None) -> Workspace:
    """The workspace the app was started with: ``--workspace DIR`` after Streamlit's ``--``,
    else ``$VIDLAB_WORKSPACE``, else the current folder."""
    args = list(sys.argv[1:] if argv is None else argv)
    root: str | None = None
    for i, a in enumerate(args):
        if a == "--workspace" and i + 1 < len(args):
            root = args[i + 1]
        elif a.startswith("--workspace="):
            root = a.split("=", 1)[1]
    return Workspace(root or os.environ.get(ENV_WORKSPACE) or None)


def list_media(ws: Workspace, *, videos_only: bool = False, limit: int = 2000) -> list[str]:
    """Media files in the workspace (relative paths, sorted), outside ``.vidlab``; symlinks that
    leave the workspace are skipped."""
    suffixes = VIDEO_SUFFIXES if videos_only else MEDIA_SUFFIXES
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(ws.root):
        dirnames[:] = sorted(d for d in dirnames if d != STATE_DIR and not d.startswith("."))
        for name in sorted(filenames):
            if not name.lower().endswith(suffixes):
                continue
            p = Path(dirpath) / name
            try:
                ws.confine(p)
            except UsageError:
                continue
            found.append(str(p.relative_to(ws.root)))
            if len(found) >= limit:
                return sorted(found)
    return sorted(found)


def list_folders(ws: Workspace, limit: int = 500) -> list[str]:
    """Folders in the workspace (relative, sorted; ``.`` first), outside ``.vidlab``."""
    out = ["."]
    for dirpath, dirnames, _ in os.walk(ws.root):
        dirnames[:] = sorted(d for d in dirnames if d != STATE_DIR and not d.startswith("."))
        for d in dirnames:
            out.append(str((Path(dirpath) / d).relative_to(ws.root)))
            if len(out) >= limit:
                return out
    return out


# -- settings ---------------------------------------------------------------------------------------


@dataclass
class Settings:
    """UI limits kept in ``WORKSPACE/.vidlab/settings.json``."""

    concurrency: int = 1  # jobs a worker runs at once (passed to `vidlab worker --concurrency`)
    workers: int = 2  # processes per chunked render job
    chunk_seconds: float = 2.0
    upload_limit_mb: int = 2048

    def check(self) -> Settings:
        for name in ("concurrency", "workers", "upload_limit_mb"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UsageError(f"{name} must be an integer >= 1, got {v!r}", param=name)
        c = self.chunk_seconds
        if isinstance(c, bool) or not isinstance(c, int | float) or not c > 0:
            raise UsageError(f"chunk_seconds must be > 0, got {c!r}", param="chunk_seconds")
        return self

    @property
    def upload_limit_bytes(self) -> int:
        return self.upload_limit_mb * 1024 * 1024


def settings_path(ws: Workspace) -> Path:
    return ws.state_dir / SETTINGS_FILE


def load_settings(ws: Workspace) -> Settings:
    """The workspace's settings (defaults for a missing file or unknown keys; a broken file is
    an error, not silently replaced)."""
    path = settings_path(ws)
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the UI settings ({exc})", path) from None
    known = {f.name for f in dataclasses.fields(Settings)}
    return Settings(**{k: v for k, v in (data or {}).items() if k in known}).check()


def save_settings(ws: Workspace, settings: Settings) -> Path:
    """Write the settings atomically (a crash leaves the old file or the new one)."""
    from vidlab.core.fsutil import write_atomic

    settings.check()
    path = settings_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(dataclasses.asdict(settings), indent=2).encode())
    return path


# -- uploads ----------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_name(name: str) -> str:
    """A safe file name from an uploaded one: no folders, no leading dots, only
    ``[A-Za-z0-9._-]``, at most 100 characters (the suffix kept)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("_", base).lstrip("._-")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip("._-")[:80] or "upload"
    suffix = suffix[:10].lower()
    return f"{stem}.{suffix}" if suffix else stem


def media_kind(path: Path) -> str:
    """``video`` or ``image`` when ``path`` really is one (probed by decoding its header, not
    by its name); a :class:`UsageError` otherwise."""
    from vidlab.io.probe import probe

    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            from PIL import Image

            with Image.open(path) as im:
                im.verify()
            return "image"
        except Exception:
            raise UsageError("not a readable image", path, param="upload") from None
    try:
        info = probe(path, count_frames=False)
    except (VidlabError, Exception):
        raise UsageError("not a readable video", path, param="upload") from None
    if not info.width or not info.height:
        raise UsageError("no video stream", path, param="upload")
    return "video"


def save_upload(
    ws: Workspace, name: str, data: bytes | IO[bytes], *, limit_bytes: int, size: int | None = None
) -> Path:
    """Save an upload into ``WORKSPACE/uploads/`` under a sanitized, unique name after checking
    its size and that it is a video or an image; nothing is left behind when it is refused."""
    clean = sanitize_name(name)
    if not clean.lower().endswith(MEDIA_SUFFIXES):
        raise UsageError(f"'{clean}' is not a video or image file name", param="upload")
    known = len(data) if isinstance(data, bytes | bytearray) else size
    if known is not None and known > limit_bytes:
        raise UsageError(f"upload is {known} bytes, over the limit of {limit_bytes}", param="upload")
    folder = ws.confine(UPLOAD_DIR, param="upload")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = ws.confine(Path(UPLOAD_DIR) / f".part-{uuid.uuid4().hex}{Path(clean).suffix}", param="upload")
    written = 0
    try:
        with open(tmp, "wb") as f:
            if isinstance(data, bytes | bytearray):
                f.write(data)
                written = len(data)
            else:
                while chunk := data.read(1 << 20):
                    written += len(chunk)
                    if written > limit_bytes:
                        raise UsageError(f"upload is over the limit of {limit_bytes} bytes", param="upload")
                    f.write(chunk)
        media_kind(tmp)
        dest = _unique(folder / clean)
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for i in range(1, 10000):
        p = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not p.exists():
            return p
    raise UsageError("too many files of this name", path, param="upload")


# -- render jobs ------------------------------------------------------------------------------------


def styles() -> list[str]:
    from vidlab.pipeline.presets import styles as _styles

    return _styles()


def op_names() -> list[str]:
    from vidlab.ops import list_ops

    return [o.name for o in list_ops()]


def build_render_params(
    *,
    style: str | None = None,
    level: str = "Balanced",
    recipe: str | None = None,
    codec: str | None = None,
    crf: float | None = None,
    chunk_seconds: float | None = None,
    stabilize: str = "preset",
    workers: int | None = None,
) -> dict[str, Any]:
    """A render job's params (validated by :func:`vidlab.jobs.params.render_params`)."""
    from vidlab.jobs.params import render_params

    settings: dict[str, Any] = {}
    if codec:
        settings["codec"] = codec
    if crf is not None:
        settings["crf"] = crf
    if recipe:
        return render_params(recipe=recipe, settings=settings, chunk_seconds=chunk_seconds, workers=workers)
    return render_params(
        style=style, level=level, stabilize=stabilize, settings=settings,
        chunk_seconds=chunk_seconds, workers=workers,
    )  # fmt: skip


def output_for(ws: Workspace, input: str, tag: str, suffix: str = ".mp4") -> Path:
    """``WORKSPACE/outputs/<stem>.<tag><suffix>`` for an input (``tag`` sanitized)."""
    stem = Path(input).stem
    tag = sanitize_name(tag.replace("/", "-").replace(" ", "")) or "out"
    return ws.confine(Path(OUTPUT_DIR) / f"{stem}.{tag}{suffix}", param="output")


def submit_renders(
    store: Store, inputs: Iterable[str], params: dict[str, Any], tag: str, *, suffix: str = ".mp4"
) -> list[int]:
    """One render job per input, outputs in ``WORKSPACE/outputs``; the store confines the paths
    and checks the params. Returns the job ids."""
    ids = []
    for name in inputs:
        src = store.workspace.confine(name, param="input")
        dst = output_for(store.workspace, name, tag, suffix)
        ids.append(store.submit("render", params, input=src, output=dst))
    return ids


def recipe_of(params: dict[str, Any]) -> Any:
    from vidlab.pipeline.recipe import Recipe

    return Recipe.from_data(params["recipe"])


def preview_frames(
    ws: Workspace, input: str, recipe: Any, *, seconds: float = PREVIEW_SECONDS
) -> tuple[np.ndarray, np.ndarray, Path]:
    """Run ``recipe`` on the first ``seconds`` of ``input`` into a clip in
    ``WORKSPACE/.vidlab/previews`` and return the middle frame before and after, and the clip."""
    from vidlab.io.reader import VideoReader
    from vidlab.pipeline.entry import execute
    from vidlab.pipeline.job import JobOptions

    src = ws.confine(input, param="input")
    folder = ws.state_dir / "previews"
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder, keep=20)
    clip = folder / f"{src.stem}.{uuid.uuid4().hex[:8]}.preview.mp4"
    duration = Fraction(seconds).limit_denominator(1000)
    result = execute(
        src, clip, recipe, duration=duration, copy_audio=False, options=JobOptions(chunk_seconds=0)
    )
    k = max(0, result.frames // 2)
    after = _nth(VideoReader(clip), k)
    before = _nth(VideoReader(src, duration=duration), k)
    return before, after, clip


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` preview clips (previews are throwaway)."""
    clips = sorted(folder.glob("*.preview.mp4"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in clips[keep:]:
        old.unlink(missing_ok=True)


def _nth(reader: Any, k: int) -> np.ndarray:
    last = None
    for i, frame in enumerate(reader):
        last = frame.image
        if i == k:
            break
    if last is None:
        raise UsageError("the clip has no frames", param="input")
    return last


def ab_frames(
    ws: Workspace, input: str, op: str, params_a: dict[str, Any], params_b: dict[str, Any], *,
    seconds: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The same middle frame of the first ``seconds`` of ``input``: original, with ``op`` at
    ``params_a`` and at ``params_b``."""
    before, a, _ = preview_frames(ws, input, step_recipe(op, params_a), seconds=seconds)
    _, b, _ = preview_frames(ws, input, step_recipe(op, params_b), seconds=seconds)
    return before, a, b


def step_recipe(op: str, params: dict[str, Any]) -> Any:
    """A one-op recipe (params checked against the op's schema)."""
    from vidlab.pipeline.recipe import Recipe

    return Recipe.from_data([{"op": op, "params": dict(params)}])


def slider(a: np.ndarray, b: np.ndarray, position: float) -> np.ndarray:
    """A before/after wipe: ``a`` left of ``position`` (0..1) and ``b`` right of it, with a
    white line where they meet."""
    if a.shape != b.shape:
        import cv2

        b = cv2.resize(b, (a.shape[1], a.shape[0]))
    x = round(float(np.clip(position, 0, 1)) * a.shape[1])
    out = b.copy()
    out[:, :x] = a[:, :x]
    if 0 < x < a.shape[1]:
        out[:, max(0, x - 1) : x + 1] = 255
    return out


# -- op forms ---------------------------------------------------------------------------------------


def param_specs(op: str) -> list[dict[str, Any]]:
    """The op's parameters as the UI builds widgets from them (``ParamSpec.to_dict``)."""
    from vidlab.ops import get_op

    return list(get_op(op).describe()["params"])


def widget_kind(spec: dict[str, Any]) -> str:
    """Which widget a parameter gets: slider (numbers with a range), number, checkbox, select, text."""
    t = spec["type"]
    if t == "bool":
        return "checkbox"
    if t == "choice" or spec.get("choices"):
        return "select"
    if t in ("int", "float"):
        return "slider" if spec.get("min") is not None and spec.get("max") is not None else "number"
    return "text"


def confine_paths(ws: Workspace, op: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every file-path parameter of ``op`` confined to the workspace."""
    out = dict(values)
    for spec in param_specs(op):
        if spec["type"] == "path" and out.get(spec["name"]):
            out[spec["name"]] = str(ws.confine(str(out[spec["name"]]), param=spec["name"]))
    return out


def clean_params(op: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` checked against the op's schema, only those that differ from the defaults
    (JSON values), as a recipe step stores them."""
    from vidlab.ops import get_op

    return dict(get_op(op).create(**values).to_spec()["params"])


# -- queue ------------------------------------------------------------------------------------------


def job_row(job: Job, ws: Workspace) -> dict[str, Any]:
    """One line of the queue table."""
    what = job.params.get("recipe_text") or job.params.get("task") or job.params.get("op") or ""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state + (f" ({job.request} requested)" if job.request else ""),
        "progress": job.progress,
        "frames": f"{job.frames_done}/{job.frames_total or '?'}",
        "fps": round(job.fps, 1) if job.fps else None,
        "eta": format_eta(job.eta),
        "what": what,
        "input": ws.relative(job.input) if job.input else "",
        "output": ws.relative(job.output) if job.output else "",
        "error": job.error or "",
    }


def format_eta(eta: float | None) -> str:
    if eta is None:
        return ""
    s = round(eta)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def actions_for(job: Job) -> list[str]:
    """The actions a job's state allows."""
    out = []
    if job.state in ("queued", "running") and job.request is None:
        out.append("pause")
    if job.state == "paused" or (job.state == "running" and job.request == "pause"):
        out.append("resume")
    if job.state in ("queued", "paused", "running") and job.request != "cancel":
        out.append("cancel")
    if job.state in ("failed", "cancelled"):
        out.append("retry")
    if job.state in ENDED or job.state in ("queued", "paused"):
        out.append("rm")
    return out


def apply_action(store: Store, action: str, ids: Iterable[int]) -> list[str]:
    """Run ``action`` on each job; returns one line per job it could not be done to."""
    if action not in ACTIONS:
        raise UsageError(f"action must be one of {', '.join(ACTIONS)}", param="action")
    errors = []
    for job_id in ids:
        try:
            getattr(store, action)(int(job_id))
        except VidlabError as exc:
            errors.append(f"job {job_id}: {exc.message}")
    return errors


# -- tuning -----------------------------------------------------------------------------------------


def objectives() -> list[str] | None:
    """The tuner's objective names, or None while ``vidlab.jobs.tune`` is not available."""
    try:
        from vidlab.jobs.tune import OBJECTIVES
    except ImportError:
        return None
    return list(OBJECTIVES)


def tune_params(
    input: str, op: str, objective: str, *, trials: int = 20, reference: str | None = None,
    fixed: dict[str, Any] | None = None, space: list[str] | None = None, frames: int | None = 30,
    seed: int = 0, preset: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A tune job's params (the worker's kind="tune")."""
    from vidlab.ops import get_op

    get_op(op)
    if not isinstance(trials, int) or trials < 1:
        raise UsageError(f"trials must be >= 1, got {trials!r}", param="trials")
    return {
        "input": input, "op": op, "objective": objective, "trials": trials, "reference": reference,
        "fixed": dict(fixed or {}), "space": list(space) if space else None, "frames": frames,
        "seed": seed, "preset": preset,
    }  # fmt: skip


def submit_tune(store: Store, params: dict[str, Any]) -> int:
    """Queue a tune job; its input (and reference) are confined to the workspace."""
    p = dict(params)
    src = store.workspace.confine(p["input"], param="input")
    p["input"] = str(src)
    if p.get("reference"):
        p["reference"] = str(store.workspace.confine(p["reference"], param="reference"))
    return store.submit("tune", p, input=src)


def trials_table(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A tuning run's trials as flat rows (number, value, then each parameter)."""
    rows = []
    for i, t in enumerate(run.get("trials") or []):
        if not isinstance(t, dict):
            continue
        row: dict[str, Any] = {"trial": t.get("number", i), "value": t.get("value")}
        params = t.get("params") or {}
        if isinstance(params, dict):
            row.update(params)
        rows.append(row)
    return rows


# -- training ---------------------------------------------------------------------------------------


def scan_dataset(ws: Workspace, folder: str) -> dict[str, Any]:
    """Videos in a workspace folder: how many, and per UCF-101-style class (first subfolder;
    ``""`` for videos directly in it)."""
    root = ws.confine(folder, param="data")
    if not root.is_dir():
        raise UsageError("not a folder", root, param="data")
    classes: dict[str, int] = {}
    total = 0
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            rel = p.relative_to(root)
            name = rel.parts[0] if len(rel.parts) > 1 else ""
            classes[name] = classes.get(name, 0) + 1
            total += 1
    return {"folder": ws.relative(root), "videos": total, "classes": classes}


TRAIN_TASKS = ("enhancer", "interpolator", "style")


def train_params(
    task: str, *, steps: int = 200, batch_size: int = 4, lr: float = 1e-3, crop: int = 64,
    val_every: int = 50, data: str | None = None, generate: int | None = None,
    extra_options: dict[str, Any] | None = None, init: str | None = None, photos: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A train job's params: ``{"task", "config", "options"}`` (checked by the store, which
    confines ``data``, ``photos`` and ``init`` to the workspace). ``init`` fine-tunes from a
    checkpoint; ``photos`` is a folder of photographs generated clips draw on."""
    config = {"steps": steps, "batch_size": batch_size, "lr": lr, "crop": crop, "val_every": val_every,
              "checkpoint_every": max(1, min(val_every, steps))}  # fmt: skip
    if init:
        config["init"] = init
    options: dict[str, Any] = dict(extra_options or {})
    if data:
        options["data"] = data
    else:
        options["generate"] = generate or 4
        if photos:
            options["photos"] = photos
    return {"task": task, "config": config, "options": options}


def run_dir(store: Store, job_id: int) -> Path:
    return store.job_dir(job_id) / "run"


def loss_history(folder: Path) -> list[dict[str, float | None]]:
    """``log.csv`` of a run folder as rows of numbers (missing values None); empty when absent."""
    path = folder / "log.csv"
    if not path.exists():
        return []
    rows = []
    try:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows.append({k: _num(v) for k, v in r.items() if k})
    except OSError:
        return []
    return rows


def _num(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


def checkpoints(folder: Path) -> list[dict[str, Any]]:
    """The ``.pt`` files of a run folder, newest first."""
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.pt"), key=lambda q: q.stat().st_mtime, reverse=True):
        st = p.stat()
        out.append({"name": p.name, "bytes": st.st_size,
                    "modified": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime))})  # fmt: skip
    return out


def _in_run(folder: Path, name: str) -> Path:
    from vidlab.jobs.workspace import confine

    p = confine(folder, name, param="checkpoint")
    if p.parent != folder.resolve() or p.suffix != ".pt" or not p.is_file():
        raise UsageError("no such checkpoint in the run folder", p, param="checkpoint")
    return p


def rollback(folder: Path, name: str) -> Path:
    """Make checkpoint ``name`` the one a resumed run continues from: the current ``last.pt``
    is kept as ``last.before-rollback.pt`` and ``name`` is copied to ``last.pt``."""
    src = _in_run(folder, name)
    last = folder / "last.pt"
    if src == last.resolve():
        return last
    if last.exists():
        shutil.copy2(last, folder / "last.before-rollback.pt")
    tmp = folder / "last.pt.rollback-tmp"
    shutil.copy2(src, tmp)
    os.replace(tmp, last)
    return last


def export_checkpoint(ws: Workspace, folder: Path, name: str, output: str) -> Any:
    """Export a run folder's checkpoint to ONNX at ``output`` (confined to the workspace)."""
    from vidlab.ml.export import export_onnx

    src = _in_run(folder, name)
    dst = ws.confine(output, param="output")
    if dst.suffix != ".onnx":
        raise UsageError("the export needs a .onnx file name", dst, param="output")
    dst.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx(src, dst)


# -- hardware ---------------------------------------------------------------------------------------


def hardware() -> dict[str, Any] | None:
    """``hardware_info().to_dict()``, or None while ``vidlab.lab.hardware`` is not available."""
    try:
        from vidlab.lab.hardware import hardware_info
    except ImportError:
        return None
    return hardware_info().to_dict()


def hardware_line(info: dict[str, Any] | None) -> str:
    """A one-line hardware status for the dashboard."""
    if info is None:
        return "hardware report not available yet"
    cpu = info.get("cpu")
    if isinstance(cpu, dict):
        cpu = f"{cpu.get('model', '?')} ({cpu.get('usable_cores', cpu.get('cores', '?'))} cores)"
    gpus = info.get("gpus") or []
    gpu = ", ".join(str(g.get("name", "GPU")) for g in gpus if isinstance(g, dict)) if gpus else "no GPU"
    nvenc = info.get("nvenc")
    if isinstance(nvenc, dict):
        working = [k for k, v in nvenc.items() if v]
        nv = f"NVENC: {', '.join(working)}" if working else "no NVENC"
    else:
        nv = "NVENC" if nvenc else "no NVENC"
    rec = info.get("recommendation")
    if isinstance(rec, dict):
        rec = f"recommended codec {rec.get('codec')}" if rec.get("codec") else ""
    return " · ".join(str(x) for x in (f"CPU {cpu}", gpu, nv, rec) if x)
