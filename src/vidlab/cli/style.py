"""Stylizing commands: stylize, preview and the presets group."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidlab.core.errors import UsageError

if TYPE_CHECKING:
    from vidlab.pipeline.recipe import Recipe
from vidlab.cli.common import (
    BitrateOpt,
    ChunkSecondsOpt,
    CrfOpt,
    EncoderPresetOpt,
    ExecutorOpt,
    PixFmtOpt,
    QuietOpt,
    RayAddressOpt,
    StabilizeOpt,
    StartOpt,
    StyleLevelOpt,
    ThreadsOpt,
    WorkersOpt,
    app,
    ctrl_c_cancels,
    execute,
    job_options,
    out,
    parse_time_option,
    progress_bar,
    summary,
    table,
)


def _style_recipe(style: str, level: str, stabilize: str) -> tuple[str, Recipe]:
    from vidlab.pipeline.presets import find, with_stabilizer

    preset = find(style, level)
    return preset.name, with_stabilizer(preset.recipe(), stabilize)


StyleImageOpt = Annotated[
    Path | None,
    typer.Option(
        "--style-image",
        help="--style neural: the style image (a painting or photo), or a weighted list a.jpg:0.7,b.jpg:0.3.",
    ),
]
BuiltinOpt = Annotated[
    str | None,
    typer.Option(
        "--builtin",
        help="--style neural: built-in style 0-25 or its name (starry, weave, ...), or a blend such as "
        "3:0.7,10:0.3.",
    ),
]
StyleModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="--style neural: a fast style network: a trained model's name (style_mosaic, style_brush; "
        "see `vidlab models list`) or a 1x3xHxW 0-255 .onnx file.",
    ),
]
StrengthOpt = Annotated[
    float | None,
    typer.Option("--strength", min=0.0, max=1.0, help="--style neural: blend with the content (0-1)."),
]


def _neural(
    recipe: Recipe,
    style_image: Path | None,
    builtin: str | None,
    strength: float | None,
    model: str | None = None,
) -> Recipe:
    """Fill a recipe's ``neural_style`` steps from --style-image (the arbitrary backend),
    --builtin, --model (a fast style network) and --strength; a recipe without one is returned
    unchanged."""
    if not any(op.name == "neural_style" for op in recipe.ops):
        return recipe
    given = [
        flag for flag, v in (("--style-image", style_image), ("--builtin", builtin), ("--model", model)) if v
    ]
    if len(given) > 1:
        raise typer.BadParameter(f"give one of {', '.join(given)}, not several", param_hint=given[-1])
    changes: dict[str, object] = {}
    if builtin is not None:
        changes.update(backend="builtin", builtin=builtin)
    elif model is not None:
        from vidlab.ml.registry import resolve

        card, path = resolve(model)  # an unknown name or a missing file: one line before any run
        changes.update(backend="onnx", model=card.name if card.source == "builtin" else str(path))
    elif style_image is not None:
        from vidlab.ops.neural_style import parse_styles, read_style_image

        styles = parse_styles(str(style_image))  # one image, or a weighted list a.jpg:0.7,b.jpg:0.3
        for path, _ in styles:
            read_style_image(path)  # a missing or broken style file: one line before any run
        spec = ",".join(f"{path.absolute()}:{weight:g}" for path, weight in styles)
        changes.update(
            backend="arbitrary", style_image=spec if len(styles) > 1 else str(styles[0][0].absolute())
        )
    if strength is not None:
        changes["strength"] = strength
    return recipe.with_params("neural_style", **changes)


def _check_neural_options(
    names: list[str], style_image: Path | None, builtin: str | None, model: str | None = None
) -> None:
    if (style_image is not None or builtin is not None or model is not None) and "neural" not in names:
        raise typer.BadParameter(
            "--style-image, --builtin and --model go with --style neural", param_hint="--style"
        )


def _styles(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise typer.BadParameter("name at least one style", param_hint="--style")
    return list(dict.fromkeys(names))


def _output_folder(folder: Path) -> Path:
    """Make the folder the outputs go into, or refuse in one line: an existing file, or a folder
    that cannot be created."""
    if folder.exists() and not folder.is_dir():
        raise UsageError("output must be a folder, but this is a file", folder, param="output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder ({exc.strerror or exc})", folder) from None
    return folder


# The encoders each output container holds (None: every one vidlab drives).
_HOLDS: dict[str, tuple[str, ...] | None] = {
    ".mp4": ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "h264_nvenc"),
    ".mov": ("libx264", "libx265", "prores_ks", "h264_nvenc"),
    ".webm": ("libvpx", "libvpx-vp9", "libsvtav1"),
    ".mkv": None,
}


def _output_for(path: Path, codec: str | None) -> tuple[str, str]:
    """(extension, encoder) of a stylized ``path``: the input's container (.mp4 for any other),
    with H.264, or VP9 in WebM, when no codec is given; a given codec that container cannot
    hold goes to .mp4, or .mkv where MP4 cannot hold it either."""
    from vidlab.io.codecs import canonical_codec

    suffix = path.suffix.lower() if path.suffix.lower() in _HOLDS else ".mp4"
    if codec is None:
        return suffix, "libvpx-vp9" if suffix == ".webm" else "libx264"
    encoder = canonical_codec(codec)
    for candidate in (suffix, ".mp4", ".mkv"):
        holds = _HOLDS[candidate]
        if holds is None or encoder in holds:
            return candidate, encoder
    return ".mkv", encoder


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
    codec: Annotated[
        str | None,
        typer.Option(help="libx264|libx265|libvpx-vp9|libsvtav1|ffv1 (default: h264; vp9 for .webm)."),
    ] = None,
    crf: CrfOpt = None,
    bitrate: BitrateOpt = None,
    encoder_preset: EncoderPresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    threads_per_worker: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    style_image: StyleImageOpt = None,
    builtin: BuiltinOpt = None,
    model: StyleModelOpt = None,
    strength: StrengthOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Stylize videos in batch: one output per input and style, OUTDIR/NAME.STYLE.mp4.

    An .mkv, .mov or .webm input keeps its container (NAME.STYLE.webm is VP9 unless --codec
    says otherwise); a --codec the container cannot hold is written to .mp4 (or .mkv).

    Each style runs its preset (see `vidlab presets list`); --stabilize swaps the preset's
    temporal stabilizer. --style neural takes --style-image IMG (any painting or photo),
    --builtin N|NAME (one of 26 built-in styles) or --model NAME|FILE (a fast style network such
    as style_mosaic), and --strength. Long inputs run as resumable
    chunked jobs, like `vidlab run`."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.io.probe import probe

    names = _styles(style)
    _check_neural_options(names, style_image, builtin, model)
    recipes = [
        (s, name, _neural(recipe, style_image, builtin, strength, model))
        for s in names
        for name, recipe in [_style_recipe(s, level, stabilize)]
    ]
    for path in inputs:  # check every input before the first long run starts
        if not path.is_file():
            raise UsageError("not a file" if path.exists() else "input not found", path)
        probe(path, count_frames=False)
    made_folder = not outdir.exists()
    _output_folder(outdir)
    settings = EncodeSettings(
        codec=codec or "libx264", crf=crf, bitrate_kbps=bitrate, preset=encoder_preset, pix_fmt=pix_fmt
    )
    options = job_options(chunk_seconds, workers, threads_per_worker, executor, ray_address)
    for path in inputs:
        for name, preset_name, recipe in recipes:
            suffix, encoder = _output_for(path, codec)
            target = outdir / f"{path.stem}.{name.replace('/', '-')}{suffix}"
            if not quiet:
                line = f"{path.name} -> {target}  [{preset_name}: {recipe}]"
                out.print(line, highlight=False, markup=False)
            label = f"{path.stem} {name}"
            chosen = dataclasses.replace(settings, codec=encoder)
            try:
                result = execute(path, target, recipe, chosen, options=options, quiet=quiet, label=label)
            except BaseException:
                if made_folder and not any(outdir.iterdir()):
                    outdir.rmdir()  # nothing was made: leave no empty folder behind
                raise
            summary(result, quiet)


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
    style_image: StyleImageOpt = None,
    builtin: BuiltinOpt = None,
    model: StyleModelOpt = None,
    strength: StrengthOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Try a style on a short clip: writes NAME.STYLE.preview.mp4 and a before/after PNG."""
    from vidlab.pipeline.preview import make_preview

    names = _styles(style)
    if len(names) != 1:
        raise typer.BadParameter("preview takes one style", param_hint="--style")
    _check_neural_options(names, style_image, builtin, model)
    preset_name, recipe = _style_recipe(names[0], level, stabilize)
    recipe = _neural(recipe, style_image, builtin, strength, model)
    length = parse_time_option(duration, "--duration")
    if not length:
        raise typer.BadParameter("must be > 0", param_hint="--duration")
    _output_folder(outdir)
    stem = f"{input.stem}.{names[0]}"
    with ctrl_c_cancels() as token, progress_bar(not quiet, f"preview {names[0]}") as draw:
        res = make_preview(
            input,
            recipe,
            outdir / f"{stem}.preview.mp4",
            outdir / f"{stem}.before_after.png",
            start=parse_time_option(start, "--start"),
            duration=length,
            on_event=draw,
            cancel=token,
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
    t = table(box=None, pad_edge=False)
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
