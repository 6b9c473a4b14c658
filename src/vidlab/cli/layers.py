"""Keying and layers: ``vidlab key`` pulls a green or blue screen into an RGBA layer, or
composites it over a new background."""

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
