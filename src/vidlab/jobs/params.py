"""What a job's ``params`` hold, checked before a job is queued (so a bad value never reaches a
worker). A render job's params::

    {"recipe": {"ops": [...]},          # canonical recipe data (what the worker runs)
     "recipe_text": "cartoon colors=8", # compact form, for display
     "style": "cartoon", "level": "Balanced",   # when it came from a style preset
     "settings": {"codec": "libx264", "crf": 18},  # EncodeSettings fields
     "chunk_seconds": 2.0, "workers": 2, "copy_audio": true}

Build one with :func:`render_params` (a recipe text or a style and level); :func:`check_params`
validates and normalizes what is given to :meth:`Store.submit`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from vidlab.core.errors import UsageError, VidlabError

_RENDER_KEYS = {"recipe", "recipe_text", "style", "level", "stabilize", "settings", "chunk_seconds",
                "workers", "copy_audio"}  # fmt: skip


def render_params(
    *,
    recipe: str | None = None,
    style: str | None = None,
    level: str | None = None,
    stabilize: str = "preset",
    settings: dict[str, Any] | None = None,
    chunk_seconds: float | None = None,
    workers: int | None = None,
    copy_audio: bool = True,
) -> dict[str, Any]:
    """A render job's params from a recipe (text, file or preset name) or a style preset."""
    params: dict[str, Any] = {"settings": dict(settings or {}), "copy_audio": copy_audio}
    if (recipe is None) == (style is None):
        raise UsageError("give a recipe or a style (one of them)", param=("recipe", "style"))
    if recipe is not None:
        params["recipe"] = recipe
    else:
        params.update(style=style, level=level, stabilize=stabilize)
    if chunk_seconds is not None:
        params["chunk_seconds"] = chunk_seconds
    if workers is not None:
        params["workers"] = workers
    return check_render(params)


def check_params(kind: str, params: dict[str, Any], src: Path | None, dst: Path | None) -> dict[str, Any]:
    """Validate ``params`` of a job of ``kind`` (and its paths); returns them normalized."""
    if kind == "render":
        if src is None or dst is None:
            raise UsageError("a render job needs an input and an output", param=("input", "output"))
        if not src.is_file():
            raise UsageError("no such file", src, param="input")
        if src == dst:
            raise UsageError("output would overwrite the input", dst, param="output")
        return check_render(params)
    if kind == "train":
        return check_train(params)
    return params


#: Training tasks a train job can run: name -> class in :mod:`vidlab.ml.tasks`.
TRAIN_TASKS = {
    "enhancer": "EnhancerTask",
    "interpolator": "InterpolatorTask",
    "style": "StyleTask",
}


def check_train(params: dict[str, Any]) -> dict[str, Any]:
    """A train job's params: ``{"task": "enhancer", "config": {TrainConfig fields},
    "options": {the task's options: data (a folder, confined by the store) or generate, photos,
    frames_per_clip, size, ...}}``. The config is checked now; the run folder is the job's."""
    from vidlab.ml.train import TrainConfig

    unknown = set(params) - {"task", "config", "options"}
    if unknown:
        raise UsageError(
            f"unknown train parameter(s): {', '.join(sorted(unknown))}", param=tuple(sorted(unknown))
        )
    task = params.get("task")
    if task not in TRAIN_TASKS:
        raise UsageError(f"task must be one of {', '.join(TRAIN_TASKS)}, got {task!r}", param="task")
    config = params.get("config") or {}
    options = params.get("options") or {}
    if not isinstance(config, dict) or not isinstance(options, dict):
        raise UsageError("a train job's config and options are mappings", param=("config", "options"))
    if "output" in config:
        raise UsageError("a train job runs in its own job folder: leave output out", param="output")
    TrainConfig.from_dict({**config, "task": task})  # a bad field is a one-line error now
    return {"task": task, "config": dict(config), "options": dict(options)}


def train_task(params: dict[str, Any], run_dir: Path) -> tuple[Any, Any]:
    """The task and TrainConfig a train job runs, writing to ``run_dir``."""
    from vidlab.ml import tasks
    from vidlab.ml.train import TrainConfig

    config = TrainConfig.from_dict({**params["config"], "task": params["task"], "output": str(run_dir)})
    options = dict(params.get("options") or {})
    for key in ("data", "photos"):
        if options.get(key) is not None:
            options[key] = Path(options[key])
    if options.get("size") is not None:
        options["size"] = tuple(options["size"])
    task = getattr(tasks, TRAIN_TASKS[params["task"]]).from_options(config=config, **options)
    return task, config


def check_render(params: dict[str, Any]) -> dict[str, Any]:
    """Check a render job's params against the recipe's op schemas and the encoder settings."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline.presets import find, recipe_or_preset, with_stabilizer
    from vidlab.pipeline.recipe import Recipe

    unknown = set(params) - _RENDER_KEYS
    if unknown:
        raise UsageError(
            f"unknown render parameter(s): {', '.join(sorted(unknown))}", param=tuple(sorted(unknown))
        )
    out = dict(params)
    try:
        if params.get("style"):
            preset = find(str(params["style"]), params.get("level"))
            recipe = with_stabilizer(preset.recipe(), str(params.get("stabilize") or "preset"))
            out.update(style=preset.style, level=preset.level)
        elif isinstance(params.get("recipe"), str):
            recipe = recipe_or_preset(params["recipe"])
        elif params.get("recipe") is not None:
            recipe = Recipe.from_data(params["recipe"])
        else:
            raise UsageError("a render job needs a recipe or a style", param=("recipe", "style"))
    except VidlabError as exc:
        raise UsageError(exc.message, exc.path, param=exc.params) from None
    out["recipe"] = recipe.to_data()
    out["recipe_text"] = recipe.to_compact()
    settings = params.get("settings") or {}
    if not isinstance(settings, dict):
        raise UsageError("settings must be a mapping of encoder settings", param="settings")
    fields = {f.name for f in dataclasses.fields(EncodeSettings)}
    bad = set(settings) - fields
    if bad:
        raise UsageError(f"unknown encoder setting(s): {', '.join(sorted(bad))}", param="settings")
    EncodeSettings(**settings)
    out["settings"] = dict(settings)
    chunk = params.get("chunk_seconds")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int | float) or not chunk > 0):
        raise UsageError(f"chunk_seconds must be > 0, got {chunk!r}", param="chunk_seconds")
    workers = params.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers must be >= 1, got {workers!r}", param="workers")
    return out


def encode_settings(params: dict[str, Any]) -> Any:
    from vidlab.io.codecs import EncodeSettings

    return EncodeSettings(**(params.get("settings") or {}))
