"""Models: ``vidlab models list|info|add|install`` over the model registry, and ``vidlab export-onnx``
from a training checkpoint."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from vidlab.cli.common import app, out, table

models_app = typer.Typer(
    help="Neural models: the built-in ones and those you add by path (with their model cards).",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


def _size(path: Path) -> str:
    try:
        n = float(path.stat().st_size)
    except OSError:
        return "missing"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@models_app.command("list")
def models_list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the models: name, task, size, sha256 prefix, and whether built in or added."""
    from vidlab.ml.registry import list_models, model_path

    cards = list_models()
    if as_json:
        rows = [{**c.to_dict(), "source": c.source, "path": str(model_path(c))} for c in cards]
        print(json.dumps(rows, indent=2))
        return
    if not cards:
        out.print("no models yet: add one with `vidlab models add MODEL.onnx`", highlight=False)
        return
    t = table(box=None, pad_edge=False)
    for col in ("name", "task", "size", "sha256", "source"):
        t.add_column(col, style="bold" if col == "name" else None)
    for c in cards:
        t.add_row(c.name, c.task, _size(model_path(c)), c.sha256[:12], c.source)
    out.print(t)


@models_app.command("info")
def models_info_cmd(
    name: Annotated[str, typer.Argument(help="A model's name (see `vidlab models list`) or an .onnx file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a model's card: task, file, sha256, input spec, license, training and metrics."""
    from vidlab.ml.registry import resolve

    card, path = resolve(name)
    data = {**card.to_dict(), "source": card.source, "path": str(path)}
    if as_json:
        print(json.dumps(data, indent=2))
        return
    t = table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for key, value in data.items():
        shown = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)
        t.add_row(key, shown)
    out.print(t)


@models_app.command("add")
def models_add_cmd(
    path: Annotated[Path, typer.Argument(help="An ONNX model file (a NAME.json card beside it is read).")],
    name: Annotated[
        str | None, typer.Option(help="Its name (default: the card's, or the file's stem).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Its task, e.g. enhance (default: the card's).")] = None,
) -> None:
    """Register a model by path: its absolute path and sha256 go into your model index."""
    from vidlab.ml.registry import add_model, user_index_path

    card = add_model(path, name=name, task=task)
    out.print(
        f"added {card.name} ({card.task}, sha256 {card.sha256[:12]}) to {user_index_path()}", highlight=False
    )


@models_app.command("install")
def models_install_cmd(
    what: Annotated[str, typer.Argument(help="What to install: mediapipe.")],
    wheel: Annotated[
        Path | None,
        typer.Option(help="A downloaded mediapipe wheel (default: fetch mediapipe==0.10.21 with pip)."),
    ] = None,
) -> None:
    """Install models that ship in a registry package: `mediapipe` (person segmentation, faces)."""
    from vidlab.core.errors import UsageError

    if what != "mediapipe":
        raise UsageError(f"nothing called {what!r} to install (known: mediapipe)")
    from vidlab.ml.mediapipe import install, models_folder

    cards = install(wheel)
    names = ", ".join(f"{c.name} ({c.task})" for c in cards)
    out.print(f"installed {names} into {models_folder()}", highlight=False)


@app.command("export-onnx")
def export_onnx_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A vidlab training checkpoint (.pth).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The ONNX file to write.")],
    opset: Annotated[int, typer.Option(help="ONNX opset version.")] = 17,
    int8: Annotated[
        Path | None,
        typer.Option(
            "--int8",
            help="Quantize to int8 (about 2.4x faster on CPUs with VNNI), calibrated on this "
            "video's frames; the float export is checked first.",
        ),
    ] = None,
    frames: Annotated[
        int,
        typer.Option(
            "--calibration-frames", min=1, help="Frames spread over the --int8 video used to calibrate."
        ),
    ] = 12,
) -> None:
    """Export a checkpoint to ONNX, checked against PyTorch on ONNX Runtime, with its card."""
    import tempfile

    from vidlab.ml.export import calibration_frames, export_onnx, quantize_int8

    if int8 is None:
        report = export_onnx(checkpoint, output, opset=opset)
    else:
        samples = calibration_frames(int8, frames)
        with tempfile.TemporaryDirectory(prefix="vidlab-export-") as tmp:
            report = export_onnx(checkpoint, Path(tmp) / output.name, opset=opset)
            q = quantize_int8(report.output, output, samples)
        out.print(
            f"int8: calibrated on {q.samples} frames of {int8}; vs float max {q.max_code_diff:.2f}, "
            f"mean {q.mean_code_diff:.3f} code values",
            highlight=False,
        )
        report = dataclasses.replace(report, output=output, card=output.with_suffix(".json"))
    out.print(
        f"wrote {report.output} ({report.arch}); ONNX Runtime vs PyTorch max difference "
        f"{report.max_abs_diff:.3g} on {len(report.shapes_checked)} shapes; card {report.card}",
        highlight=False,
    )


@models_app.command("quantize")
def quantize_cmd(
    model: Annotated[str, typer.Argument(help="A registered model's name or an .onnx file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The int8 ONNX file to write.")],
    calibrate: Annotated[Path, typer.Option(help="A video whose frames set the activation ranges.")],
    frames: Annotated[int, typer.Option(min=1, help="Frames spread over the video used to calibrate.")] = 12,
) -> None:
    """Quantize an image model to int8 for the CPU (about 2.4x faster with VNNI), with its card."""
    from vidlab.ml.export import calibration_frames, quantize_int8
    from vidlab.ml.registry import resolve

    card, path = resolve(model)
    q = quantize_int8(path, output, calibration_frames(calibrate, frames), card=card)
    card_file = q.output.with_suffix(".json")
    out.print(
        f"wrote {q.output} (int8, calibrated on {q.samples} frames of {calibrate}); vs float: max "
        f"{q.max_code_diff:.2f}, mean {q.mean_code_diff:.3f} code values; card {card_file}",
        highlight=False,
    )
