"""Keying and layers: ``vidlab key`` pulls a green or blue screen into an RGBA layer, or
composites it over a new background; ``vidlab eval-matte`` scores mattes against the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vidlab.cli.common import (
    ChunkSecondsOpt,
    CrfOpt,
    NoAudioOpt,
    PixFmtOpt,
    QuietOpt,
    WorkersOpt,
    app,
    execute,
    job_options,
    out,
    summary,
    table,
)


@app.command("key")
def key_cmd(
    input: Annotated[Path, typer.Argument(help="A green- or blue-screen video.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="RGBA layer: .mkv (FFV1), .mov (ProRes 4444), .webm (VP9 alpha) or frames/%05d.png; "
            "with --background any video file.",
        ),
    ],
    color: Annotated[
        str, typer.Option(help="Key colour: auto (from the border), green, blue, #rrggbb.")
    ] = "auto",
    tolerance: Annotated[float, typer.Option(help="Distance from the key that is fully transparent.")] = 0.1,
    softness: Annotated[float, typer.Option(help="Width of the ramp from transparent to opaque.")] = 0.75,
    spill: Annotated[float, typer.Option(help="Spill suppression, 0..1.")] = 1.0,
    choke: Annotated[int, typer.Option(help="Erode the matte by N px (negative grows it).")] = 0,
    blur: Annotated[float, typer.Option(help="Matte blur sigma in px.")] = 0.0,
    background: Annotated[
        str | None,
        typer.Option(help="Composite over a colour (#rrggbb, a name) or an image FILE instead of alpha."),
    ] = None,
    codec: Annotated[
        str | None, typer.Option(help="Encoder; default from the extension (ffv1, prores, vp9, png; x264).")
    ] = None,
    crf: CrfOpt = None,
    pix_fmt: PixFmtOpt = None,
    no_audio: NoAudioOpt = False,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Key a green or blue screen: an RGBA layer (alpha kept by the codec), or a composite.

    The matte comes from the distance to the key colour in linear-light chroma, against a
    screen level measured locally in every frame, with a tolerance and a softness ramp; spill
    is suppressed, and the matte can be choked and blurred. Give --color for a chunked run:
    `auto` picks the colour on each chunk's first frame."""
    from vidlab.io.alpha import alpha_encoder_for
    from vidlab.io.codecs import EncodeSettings
    from vidlab.ops.key import ChromaKey
    from vidlab.pipeline.recipe import Recipe

    op = ChromaKey.create(
        color=color, tolerance=tolerance, softness=softness, spill=spill, choke=choke, blur=blur,
        background=background or "",
    )  # fmt: skip
    chosen = codec or ("libx264" if background else alpha_encoder_for(output) or "libx264")
    result = execute(
        input,
        output,
        Recipe((op,)),
        EncodeSettings(codec=chosen, crf=crf, pix_fmt=pix_fmt),
        copy_audio=not no_audio,
        options=job_options(chunk_seconds, workers),
        quiet=quiet,
        label=input.name,
    )
    if not quiet:
        what = f"composited over {background}" if background else f"RGBA layer ({chosen})"
        out.print(f"{input.name}: {what}", highlight=False)
    summary(result, quiet)


@app.command("eval-matte")
def eval_matte_cmd(
    pred: Annotated[Path, typer.Argument(help="Predicted mattes: a folder of PNGs (by name) or a video.")],
    gt: Annotated[Path, typer.Argument(help="True mattes: a folder of PNGs (by name) or a video.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print per-frame JSON with a global block.")
    ] = False,
) -> None:
    """Score predicted alpha mattes against the truth, frame by frame: MAD, MSE, Grad, Conn and
    dtSSD as RobustVideoMatting's evaluation defines them, averaged over the clip.

    A video gives its alpha plane where it has one, else its luma. The two must have the same
    number of frames and the same size."""
    import json

    from vidlab.core.errors import UsageError
    from vidlab.io.matte_clips import MatteSource
    from vidlab.metrics.matte import MatteErrors

    preds, trues = MatteSource(pred), MatteSource(gt)
    if len(preds) != len(trues):
        raise UsageError(f"has {len(preds)} mattes but {gt} has {len(trues)}", pred)
    errors = MatteErrors()
    for (p_name, p), (t_name, t) in zip(preds, trues, strict=False):
        if p.shape != t.shape:
            raise UsageError(
                f"matte is {p.shape[1]}x{p.shape[0]} but {t_name} is {t.shape[1]}x{t.shape[0]}", p_name
            )
        errors.add(p, t)
    if errors.frames != len(preds):  # a video whose probed count was wrong
        raise UsageError(f"decoded {errors.frames} mattes, expected {len(preds)}", pred)
    if as_json:
        print(json.dumps({"pred": str(pred), "gt": str(gt), **errors.to_dict()}, indent=2))
        return
    means = errors.means()
    t = table(box=None, pad_edge=False)
    for col in ("clip", "frames", "MAD", "MSE", "Grad", "Conn", "dtSSD"):
        t.add_column(col, justify="left" if col == "clip" else "right")
    t.add_row(
        str(pred), str(errors.frames),
        *(f"{means[k]:.3f}" for k in ("mad", "mse", "grad", "conn", "dtssd")),
    )  # fmt: skip
    out.print(f"{errors.frames} mattes: {pred} against {gt}", highlight=False)
    out.print(t)


@app.command("layers")
def layers_cmd(
    input: Annotated[Path, typer.Argument(help="The source video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (a folder per stage).")],
    stages: Annotated[
        str | None,
        typer.Option(help="Comma-separated stages to run: segment,refine,temporal,inpaint,annotate."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Stage configs: a .yaml or .json file.")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="A folder of true alpha PNGs: report MAD, Grad, dtSSD...")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Resume an interrupted stage's chunked run.")] = False,
    force: Annotated[bool, typer.Option(help="Redo the stages even where their hashes match.")] = False,
    layer_format: Annotated[
        str,
        typer.Option(
            help="Final RGBA video: mkv (FFV1, always written), or also mov (ProRes 4444), webm (VP9)."
        ),
    ] = "mkv",
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Pull layers out of a video: masks, RGBA mattes, a clean plate and per-shot annotations.

    Each stage writes a folder under OUTPUT with a stage.json (its config hash and inputs);
    a rerun reuses the stages whose hashes match and redoes the rest (with everything
    downstream of them). segment, refine and temporal run through the chunked runner:
    --resume continues an interrupted stage's chunks."""
    from vidlab.cli.common import ctrl_c_cancels, progress_bar
    from vidlab.layers import LayersConfig, run_layers
    from vidlab.layers.run import iter_stage_names

    cfg = LayersConfig.load(config)
    with ctrl_c_cancels() as token:
        result = run_layers(
            input, output, cfg, stages=list(iter_stage_names(stages)) or None, truth=truth,
            resume=resume, force=force, layer_format=layer_format,
            options=job_options(chunk_seconds, workers),
            events=lambda name: progress_bar(not quiet, name), cancel=token,
        )  # fmt: skip
    if not quiet:
        for name, state in result.status.items():
            entry = result.report["stages"].get(name, {})
            out.print(
                f"{name}: {state} ({entry.get('frames')} frames, {entry.get('seconds')}s)", highlight=False
            )
        out.print(f"wrote {result.report_path}", highlight=False)
