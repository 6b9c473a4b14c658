"""Frame interpolation commands: interpolate and eval-interp."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidlab.cli.common import (
    BitrateOpt,
    ChunkSecondsOpt,
    CodecOpt,
    CrfOpt,
    DeviceOpt,
    EncoderPresetOpt,
    ExecutorOpt,
    NoAudioOpt,
    PixFmtOpt,
    QuietOpt,
    RayAddressOpt,
    StartOpt,
    ThreadsOpt,
    WorkersOpt,
    app,
    execute,
    job_options,
    out,
    parse_time_option,
    summary,
    table,
)
from vidlab.core.errors import UsageError
from vidlab.core.timeparse import parse_rate

if TYPE_CHECKING:
    from vidlab.lab.interp import FolderEval, InterpEval

MethodOpt = Annotated[
    str,
    typer.Option(
        "--method",
        "-m",
        help="flow (motion-compensated), learned (flow refined by the project's network), "
        "rife (your Practical-RIFE flownet.pkl, with --model), blend or minterpolate.",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="learned: a registry name or .onnx (default interpolate_learned); rife: a flownet.pkl.",
    ),
]


@app.command("interpolate")
def interpolate_cmd(
    input: Annotated[
        str, typer.Argument(help="Input video, or a live source: - (stdin), a URL or /dev/videoN.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.mp4, .mkv, .mov, .webm).")],
    factor: Annotated[
        int | None, typer.Option("--factor", "-x", help="Multiply the frame rate: 2, 4...")
    ] = None,
    fps: Annotated[str | None, typer.Option(help="Target frame rate: 60, 59.94, 60000/1001...")] = None,
    method: MethodOpt = "flow",
    model: ModelOpt = None,
    device: DeviceOpt = None,
    scene_cut: Annotated[
        str, typer.Option("--scene-cut", help="At a cut: repeat (hold the last frame), blend or cut.")
    ] = "repeat",
    allow_drop: Annotated[
        bool, typer.Option("--allow-drop", help="Allow a target below the source's rate.")
    ] = False,
    codec: CodecOpt = "libx264",
    crf: CrfOpt = None,
    bitrate: BitrateOpt = None,
    preset: EncoderPresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    start: StartOpt = None,
    duration: Annotated[
        str | None, typer.Option(help="Duration to process (for a live input: stop after it).")
    ] = None,
    no_audio: NoAudioOpt = False,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    threads_per_worker: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Raise the frame rate: 2x/4x slow-motion frames or any target fps, audio kept in sync.

    The default method follows the motion (bidirectional optical flow with occlusion
    handling); originals stay untouched at their timestamps and scene cuts are never morphed.
    A live input (stdin, URL, capture device) is processed as it arrives, about one source
    frame behind, and its audio is not kept."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.ops.interpolate import Interpolate
    from vidlab.pipeline.recipe import Recipe

    if (factor is None) == (fps is None):
        raise UsageError("give --factor N or --fps F (one of them)")
    if factor is not None and factor < 1:
        raise UsageError(f"--factor must be a positive integer, got {factor}")
    rate = parse_rate(fps, "--fps") if fps is not None else Fraction(0)
    if model and method not in ("learned", "rife"):
        raise UsageError(f"--model is for --method learned or rife, not {method}")
    op = Interpolate.create(
        factor=factor or 0,
        fps=rate,
        method=method,
        scene_cut=scene_cut,
        allow_drop=allow_drop,
        model=model or "",
    )
    recipe = Recipe((op,))
    settings = EncodeSettings(codec=codec, crf=crf, bitrate_kbps=bitrate, preset=preset, pix_fmt=pix_fmt)
    begin, length = parse_time_option(start, "--start"), parse_time_option(duration, "--duration")
    result = execute(
        input,
        output,
        recipe,
        settings,
        start=begin,
        duration=length,
        copy_audio=not no_audio,
        options=job_options(chunk_seconds, workers, threads_per_worker, executor, ray_address),
        quiet=quiet,
        label=Path(input).name,
    )
    if not quiet:
        src, dst = result.source, result.target
        out.print(
            f"{float(src.fps):.3f} fps -> {float(dst.fps):.3f} fps ({op.method}, scene cuts: {scene_cut})"
        )
    summary(result, quiet)


@app.command("eval-interp")
def eval_interp_cmd(
    video: Annotated[
        Path,
        typer.Argument(help="A video with real motion (the ground truth), or a folder: every video in it."),
    ],
    methods: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="Methods to compare (repeat the option; default: all three)."),
    ] = None,
    factor: Annotated[
        int, typer.Option("--factor", "-x", help="Keep every k-th frame and rebuild the k-1 between.")
    ] = 2,
    max_frames: Annotated[int, typer.Option("--max-frames", help="Use at most N source frames.")] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    per_frame: Annotated[bool, typer.Option("--per-frame", help="With --json: every frame's PSNR.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="The learned method's model (registry name or .onnx).")
    ] = None,
    rife_model: Annotated[
        Path | None, typer.Option("--rife-model", help="The rife method's Practical-RIFE flownet.pkl.")
    ] = None,
    device: DeviceOpt = None,
) -> None:
    """Score interpolation: drop frames, rebuild them with each method, compare to the truth.

    Reports Y-PSNR and Y-SSIM on exactly the rebuilt frames, their count, and the speed in
    rebuilt frames per second, for every method in one run. Given a folder, scores every video
    under it (sorted) and adds an overall table: each method's mean over the clips and, with
    minterpolate among the methods, each method's gain over it per clip."""
    from vidlab.lab.interp import eval_interp, eval_interp_folder

    if max_frames < 3:
        raise typer.BadParameter("must be >= 3", param_hint="--max-frames")
    names = [m.strip() for item in (methods or ["flow", "blend", "minterpolate"]) for m in item.split(",")]
    names = [m for m in names if m]
    if "rife" in names and rife_model is None:
        raise typer.BadParameter("method rife needs --rife-model flownet.pkl", param_hint="--rife-model")
    per_method = {"learned": {"model": model or ""}, "rife": {"model": str(rife_model or "")}}
    if video.is_dir():
        folder = eval_interp_folder(
            video, names, factor=factor, max_frames=max_frames, method_params=per_method
        )
        if as_json:
            print(json.dumps(folder.to_dict(per_frame=per_frame), indent=2))
            return
        for clip in folder.clips:
            _print_eval(clip)
            out.print()
        _print_overall(folder)
        return
    result = eval_interp(video, names, factor=factor, max_frames=max_frames, method_params=per_method)
    if as_json:
        print(json.dumps(result.to_dict(per_frame=per_frame), indent=2))
        return
    _print_eval(result)


def _print_eval(result: InterpEval) -> None:
    """One video's table: a method a row."""
    out.print(
        f"{result.video}: {result.width}x{result.height} at {float(Fraction(result.source_fps)):.3f} fps, "
        f"1 in {result.factor} frames kept, {result.scores[0].frames} frames rebuilt",
        highlight=False,
    )
    t = table(box=None, pad_edge=False)
    for col in ("method", "Y-PSNR dB", "min dB", "Y-SSIM", "frames/s"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for s in result.scores:
        t.add_row(s.method, f"{s.psnr_y:.2f}", f"{s.psnr_y_min:.2f}", f"{s.ssim_y:.4f}", f"{s.fps:.1f}")
    out.print(t)


def _print_overall(folder: FolderEval) -> None:
    """The summary over a folder's clips: means per method, and gains over minterpolate."""
    overall = folder.overall()
    for why in folder.skipped:
        out.print(f"skipped {why}", highlight=False)
    out.print(
        f"overall: {len(folder.clips)} clips in {folder.folder}, each weighing the same", highlight=False
    )
    t = table(box=None, pad_edge=False)
    for col in ("method", "mean Y-PSNR dB", "worst clip dB", "mean Y-SSIM", "mean frames/s"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for m, v in overall["methods"].items():
        t.add_row(
            m, f"{v['psnr_y']:.2f}", f"{v['psnr_y_min_clip']:.2f}", f"{v['ssim_y']:.4f}", f"{v['fps']:.1f}"
        )
    out.print(t)
    gains = overall.get("gain_over_minterpolate_db")
    if not gains:
        return
    out.print()
    g = table(box=None, pad_edge=False)
    g.add_column("gain over minterpolate dB", justify="left")
    for m in gains:
        g.add_column(m, justify="right")
    for i, clip in enumerate(folder.clips):
        g.add_row(Path(clip.video).name, *(f"{gains[m]['per_clip'][i]:+.2f}" for m in gains))
    g.add_row("mean", *(f"{gains[m]['mean']:+.2f}" for m in gains))
    g.add_row("min", *(f"{gains[m]['min']:+.2f}" for m in gains))
    out.print(g)
