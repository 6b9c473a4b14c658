"""``vidlab train``: train a project network (:mod:`vidlab.ml.train`). Every
:class:`~vidlab.ml.train.TrainConfig` option is a flag; ``--config`` reads them from YAML first
and the flags win. Ctrl-C saves ``last.pt``; ``--resume`` continues exactly where it stopped."""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from vidlab.cli.common import QuietOpt, app, clock, ctrl_c_cancels, out, progress_bar

train_app = typer.Typer(
    help="Train project networks (PyTorch; pip install 'vidlab[train]').",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

# TrainConfig's options as flags (None: keep the config file's value or the default). The help
# repeats TrainConfig's field help; test_train checks that every field has its flag.
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML file of training options.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Run folder for checkpoints and logs (default runs/TASK)."),
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in the run folder from last.pt.")]
StepsOpt = Annotated[int | None, typer.Option(help="Optimizer steps in the whole run.")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Samples per micro-batch (per process).")]
AccumOpt = Annotated[int | None, typer.Option("--grad-accum", help="Micro-batches per optimizer step.")]
LrOpt = Annotated[float | None, typer.Option(help="Peak learning rate (AdamW), reached after the warm-up.")]
WdOpt = Annotated[float | None, typer.Option("--weight-decay", help="AdamW's decoupled weight decay.")]
WarmupOpt = Annotated[
    int | None, typer.Option("--warmup-steps", help="Steps of linear warm-up from 0 to lr.")
]
MinLrOpt = Annotated[
    float | None, typer.Option("--min-lr-ratio", help="Where the cosine decay ends, as a fraction of lr.")
]
LossOpt = Annotated[str | None, typer.Option(help="l1, l2, charbonnier, ssim, or a sum like l1+0.2*ssim.")]
CropOpt = Annotated[int | None, typer.Option(help="Training crop size in pixels.")]
ValEveryOpt = Annotated[int | None, typer.Option("--val-every", help="Validate every this many steps.")]
ValBatchesOpt = Annotated[
    int | None, typer.Option("--val-batches", help="Validation batches per evaluation (0: all).")
]
PatienceOpt = Annotated[
    int | None, typer.Option(help="Stop after this many evaluations without improvement (0: never).")
]
MinDeltaOpt = Annotated[
    float | None, typer.Option("--min-delta", help="Improvement in validation loss that counts.")
]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of weights, data order and augmentation.")]
LoaderWorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="DataLoader worker processes (0: exact resume).")
]
DeviceOpt = Annotated[str | None, typer.Option(help="auto (CUDA when present), cpu or cuda.")]
AmpOpt = Annotated[str | None, typer.Option(help="Mixed precision: auto (on for CUDA), on or off.")]
CkptEveryOpt = Annotated[
    int | None, typer.Option("--checkpoint-every", help="Write last.pt every this many steps.")
]
LogEveryOpt = Annotated[
    int | None, typer.Option("--log-every", help="Log a row and report progress every this many steps.")
]
TorchThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="torch CPU threads (0: torch's default).")
]
MaxMinutesOpt = Annotated[
    float | None, typer.Option("--max-minutes", help="Stop resumably after this many minutes.")
]
InitOpt = Annotated[
    Path | None,
    typer.Option("--init", help="Fine-tune: start from this checkpoint's weights (same network)."),
]
ArchOpt = Annotated[
    list[str] | None,
    typer.Option("--arch-config", help="Network option KEY=VALUE (repeatable), e.g. channels=16."),
]


def _arch_config(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    import yaml

    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--arch-config")
        try:
            result[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            result[key.strip()] = value
    return result


def load_config(
    task: str, config: Path | None, overrides: dict[str, Any], resume: bool, output: Path | None
) -> Any:
    """The run's TrainConfig: the file (or, resuming without one, the run folder's own
    config.yaml), then the flags."""
    from vidlab.ml.train import TrainConfig

    overrides = {**overrides, "task": task, "output": str(output) if output is not None else None}
    cfg = TrainConfig.from_sources(config, overrides)
    saved = cfg.run_dir / "config.yaml"
    if resume and config is None and saved.is_file():
        cfg = TrainConfig.from_sources(saved, overrides)
    return cfg


GenerateOpt = Annotated[
    int | None, typer.Option(help="Instead of --data: this many generated camera-like clips.")
]
PhotosOpt = Annotated[
    Path | None,
    typer.Option(
        help="With --generate: a folder of your photographs the clips are made from too, besides "
        "the bundled ones (scripts/training_photos.py fetches the shipped model's)."
    ),
]


def _option(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


#: The TrainConfig flags every ``vidlab train TASK`` takes, in --help order.
_CONFIG_OPTIONS = [
    _option(name, annotation)
    for name, annotation in (
        ("steps", StepsOpt),
        ("batch_size", BatchOpt),
        ("grad_accum", AccumOpt),
        ("lr", LrOpt),
        ("weight_decay", WdOpt),
        ("warmup_steps", WarmupOpt),
        ("min_lr_ratio", MinLrOpt),
        ("loss", LossOpt),
        ("crop", CropOpt),
        ("val_every", ValEveryOpt),
        ("val_batches", ValBatchesOpt),
        ("patience", PatienceOpt),
        ("min_delta", MinDeltaOpt),
        ("seed", SeedOpt),
        ("workers", LoaderWorkersOpt),
        ("device", DeviceOpt),
        ("amp", AmpOpt),
        ("checkpoint_every", CkptEveryOpt),
        ("log_every", LogEveryOpt),
        ("threads", TorchThreadsOpt),
        ("max_minutes", MaxMinutesOpt),
        ("init", InitOpt),
        ("arch_config", ArchOpt),
    )
]


def _frames_option(minimum: int, default: int) -> Any:
    return Annotated[
        int | None,
        typer.Option(
            "--frames-per-clip", min=minimum, help=f"Frames taken from each clip (default {default})."
        ),
    ]


def _clip_size_option(default: str) -> Any:
    return Annotated[
        str | None, typer.Option("--clip-size", help=f"Size of generated clips, WxH (default {default}).")
    ]


def train_command(
    task: str,
    doc: str,
    data_help: str,
    extra: list[inspect.Parameter],
    make_task: Callable[[dict[str, Any], Any], Any],
) -> Callable[..., None]:
    """Register ``vidlab train TASK``: --config, --data/--generate, --resume, --output, every
    TrainConfig flag, the task's ``extra`` options and -q. ``make_task(options, config)``
    builds the task from the parsed options."""

    def command(**options: Any) -> None:
        overrides = _overrides(options)
        cfg = load_config(task, options["config"], overrides, options["resume"], options["output"])
        made = make_task(options, cfg)
        again = _again(task, options["data"], options["generate"], options["photos"])
        if options.get("style_image") is not None:
            again += ["--style-image", str(options["style_image"])]
        run_training(made, cfg, resume=options["resume"], quiet=options["quiet"], again=again)

    params = [
        _option("config", ConfigOpt),
        _option("data", Annotated[Path | None, typer.Option(help=data_help)]),
        _option("generate", GenerateOpt),
        _option("photos", PhotosOpt),
        _option("resume", ResumeOpt, False),
        _option("output", OutputOpt),
        *_CONFIG_OPTIONS,
        *extra,
        _option("quiet", QuietOpt, False),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__name__ = command.__qualname__ = f"{task}_cmd"
    train_app.command(task)(command)
    return command


def _enhancer_task(o: dict[str, Any], cfg: Any) -> Any:
    from vidlab.io.codecs import canonical_codec
    from vidlab.ml.tasks import EnhancerTask

    codecs = o["codecs"]
    names = tuple(canonical_codec(c.strip()) for c in codecs.split(",") if c.strip()) if codecs else None
    return EnhancerTask.from_options(
        data=o["data"],
        generate=o["generate"],
        photos=o["photos"],
        config=cfg,
        codecs=names,
        x264_preset=o["x264_preset"],
        frames_per_clip=o["frames_per_clip"],
        size=_size(o["clip_size"]),
    )


enhancer_cmd = train_command(
    "enhancer",
    """Train the compression-artifact remover (EnhancerNet) on real encodes of your videos or of
    generated clips; writes RUN/best.pt, RUN/last.pt, log.csv and loss.png.""",
    "Folder of videos to learn from (encoded with real codecs).",
    [
        _option(
            "codecs",
            Annotated[
                str | None,
                typer.Option(help="Comma-separated encoders of the training pairs (default h264,h265,vp9)."),
            ],
        ),
        _option(
            "x264_preset",
            Annotated[
                str | None,
                typer.Option(
                    "--x264-preset",
                    help="x264 preset of the H.264 training encodes (default veryfast; match your files').",
                ),
            ],
        ),
        _option("frames_per_clip", _frames_option(2, 24)),
        _option("clip_size", _clip_size_option("960x544")),
    ],
    _enhancer_task,
)


def _interpolator_task(o: dict[str, Any], cfg: Any) -> Any:
    from vidlab.ml.tasks import InterpolatorTask

    factors, ks = o["factors"], None
    if factors:
        try:
            ks = tuple(int(k) for k in factors.split(",") if k.strip())
        except ValueError:
            raise typer.BadParameter(
                f"expected integers like 2,4, got {factors!r}", param_hint="--factors"
            ) from None
        if not ks or min(ks) < 2:
            raise typer.BadParameter(
                f"factors must be integers >= 2, got {factors!r}", param_hint="--factors"
            )
    return InterpolatorTask.from_options(
        data=o["data"],
        generate=o["generate"],
        photos=o["photos"],
        config=cfg,
        factors=ks,
        frames_per_clip=o["frames_per_clip"],
        size=_size(o["clip_size"]),
    )


interpolator_cmd = train_command(
    "interpolator",
    """Train the learned interpolator (a refinement of the flow method's frames, InterpRefineNet)
    on frames dropped from your videos or generated clips; writes RUN/best.pt, RUN/last.pt,
    log.csv and loss.png.""",
    "Folder of videos to learn from (frames dropped and rebuilt).",
    [
        _option(
            "factors",
            Annotated[
                str | None,
                typer.Option(help="Comma-separated rate factors the samples rebuild (default 2,4)."),
            ],
        ),
        _option("frames_per_clip", _frames_option(3, 17)),
        _option("clip_size", _clip_size_option("1280x720")),
    ],
    _interpolator_task,
)


def _style_task(o: dict[str, Any], cfg: Any) -> Any:
    from vidlab.ml.tasks import StyleTask

    if o["style_image"] is None:
        raise typer.BadParameter("a style network is trained for one style image", param_hint="--style-image")
    return StyleTask.from_options(
        data=o["data"],
        generate=o["generate"],
        photos=o["photos"],
        config=cfg,
        style_image=o["style_image"],
        arch=o["arch"],
        content_weight=o["content_weight"],
        style_weight=o["style_weight"],
        tv_weight=o["tv_weight"],
        style_size=o["style_size"],
        frames_per_clip=o["frames_per_clip"],
        size=_size(o["clip_size"]),
    )


def _weight_option(what: str, default: float) -> Any:
    return Annotated[
        float | None, typer.Option(min=0.0, help=f"Weight of the {what} loss (default {default:g}).")
    ]


style_cmd = train_command(
    "style",
    """Train a fast style network for one style image (style_mobile, the real-time one, or
    style_johnson) with a perceptual loss on the style predictor's features; content frames come
    from your videos or generated clips. Export it with `vidlab export-onnx` and run it with
    `vidlab stylize --style neural --model FILE`.""",
    "Folder of videos whose frames are the content images.",
    [
        _option(
            "style_image",
            Annotated[Path | None, typer.Option("--style-image", help="The style image (a painting).")],
        ),
        _option(
            "arch",
            Annotated[
                str | None,
                typer.Option(help="style_mobile (real-time, default) or style_johnson (Johnson et al.)."),
            ],
        ),
        _option("content_weight", _weight_option("content", 1.0)),
        _option("style_weight", _weight_option("style", 2.0)),
        _option("tv_weight", _weight_option("total-variation", 0.5)),
        _option(
            "style_size",
            Annotated[
                int | None,
                typer.Option(min=64, help="Short side the style image is seen at (default 384)."),
            ],
        ),
        _option("frames_per_clip", _frames_option(1, 24)),
        _option("clip_size", _clip_size_option("640x368")),
    ],
    _style_task,
)


def _overrides(options: dict[str, Any]) -> dict[str, Any]:
    """The TrainConfig fields among a command's options (None: not given)."""
    from vidlab.ml.train import TrainConfig

    if options.get("data") is not None and options.get("generate") is not None:
        raise typer.BadParameter("give --data or --generate, not both", param_hint="--generate")
    names = set(TrainConfig.field_names()) - {"task", "output"}
    picked = {k: v for k, v in options.items() if k in names}
    picked["arch_config"] = _arch_config(options.get("arch_config"))
    if picked.get("init") is not None:
        picked["init"] = str(picked["init"])
    return picked


def _size(text: str | None) -> tuple[int, int] | None:
    from vidlab.core.errors import UsageError
    from vidlab.core.timeparse import parse_size

    if text is None:
        return None
    try:
        return parse_size(text)
    except UsageError:
        raise typer.BadParameter(f"expected WxH, got {text!r}", param_hint="--clip-size") from None


def _again(task: str, data: Path | None, generate: int | None, photos: Path | None = None) -> list[str]:
    """The command line that resumes this run."""
    again = ["vidlab", "train", task]
    again += ["--data", str(data)] if data is not None else []
    again += ["--generate", str(generate)] if generate is not None else []
    again += ["--photos", str(photos)] if photos is not None else []
    return again


def run_training(task: Any, cfg: Any, *, resume: bool, quiet: bool, again: list[str]) -> Any:
    """Train with the progress bar (steps, ETA) and Ctrl-C as cancel; print the summary."""
    from vidlab.core.events import Cancelled, Event, EventBus
    from vidlab.ml.train import train

    label = f"train {task.name}"
    cancelled = None
    with ctrl_c_cancels() as token:
        if hasattr(task, "caches"):  # build the data first, cancellable (encodes can take minutes)
            if not quiet:
                out.print(f"{label}: preparing data in {getattr(task, 'cache_dir', '?')}", highlight=False)
            with progress_bar(not quiet, "encode pairs", unit="encodes") as prep:

                def prepared(done: int, total: int) -> None:
                    if prep is not None:
                        prep(Event("job", "running", "prepare data", done, total))

                task.caches(cancel=token, on_progress=prepared)
    with (
        ctrl_c_cancels() as token,
        progress_bar(not quiet, label, unit="steps") as draw,
        EventBus(draw) as bus,
    ):
        try:
            result = train(task, cfg, resume=resume, on_event=bus.emit if draw else None, cancel=token)
        except Cancelled as exc:
            result = getattr(exc, "result", None)
            if result is None:
                raise
            cancelled = exc
    _summary(result, cfg, again, quiet)
    if cancelled is not None:
        raise typer.Exit(cancelled.exit_code)
    return result


def _summary(result: Any, cfg: Any, again: list[str], quiet: bool) -> None:
    if quiet:
        return
    states = {
        "done": "done",
        "early_stopped": "early stopped (no validation improvement)",
        "stopped": f"stopped after max_minutes ({cfg.max_minutes:g} min)" if cfg.max_minutes else "stopped",
        "cancelled": "cancelled (last.pt saved)",
    }
    seconds = result.history[-1]["seconds"] if result.history else None
    out.print(
        f"{states.get(result.state, result.state)} at step {result.steps} of {cfg.steps}"
        + (f" in {clock(seconds)}" if seconds is not None else ""),
        highlight=False,
    )
    if result.best_val is not None:
        out.print(f"best val loss {result.best_val:.5g} at step {result.best_step}", highlight=False)
    run = result.run_dir
    if result.best_checkpoint is not None:
        out.print(f"best checkpoint: {result.best_checkpoint}", highlight=False)
    out.print(f"log: {run / 'log.csv'}, {run / 'loss.png'}", highlight=False)
    if result.state != "done" or result.steps < cfg.steps:
        resume_cmd = shlex.join([*again, "--resume", "-o", str(run)])
        extra = " (add --steps N to go further)" if result.state == "early_stopped" else ""
        out.print(f"resume: {resume_cmd}{extra}", highlight=False)
    if result.best_checkpoint is not None:
        export = ["vidlab", "export-onnx", str(result.best_checkpoint), "-o", "model.onnx"]
        out.print(f"export: {shlex.join(export)}", highlight=False)
