"""Commands over files and jobs: probe, run, resume, jobs-status, ops, generate-test-video, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vidlab.cli.common import (
    BitrateOpt,
    ChunkSecondsOpt,
    CodecOpt,
    CrfOpt,
    DeviceOpt,
    ExecutorOpt,
    NoAudioOpt,
    PixFmtOpt,
    QuietOpt,
    RayAddressOpt,
    StartOpt,
    ThreadsOpt,
    WorkersOpt,
    app,
    clock,
    ctrl_c_cancels,
    execute,
    job_options,
    out,
    parse_time_option,
    print_info,
    progress_bar,
    summary,
)
from vidlab.core.timeparse import parse_rate, parse_size


@app.command("probe")
def probe_cmd(
    file: Annotated[Path, typer.Argument(help="Video file to describe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Describe a video: size, SAR, rotation, exact fps, frames, pixel format, color, audio."""
    from vidlab.io.probe import probe

    info = probe(file)
    if as_json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print_info(info)


@app.command("run")
def run_cmd(
    input: Annotated[Path, typer.Argument(help="Input video.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.mp4, .mkv, .mov, .webm).")],
    recipe: Annotated[
        str,
        typer.Option(
            "--recipe",
            "-r",
            help='Ops, e.g. "denoise strength=5 | sharpen amount=0.6", or a .yaml/.json file.',
        ),
    ] = "identity",
    codec: CodecOpt = "libx264",
    crf: CrfOpt = None,
    bitrate: BitrateOpt = None,
    preset: Annotated[
        str | None, typer.Option(help="Encoder preset (x264/x265: veryfast..slow; svt-av1: 0-13).")
    ] = None,
    pix_fmt: PixFmtOpt = None,
    start: StartOpt = None,
    duration: Annotated[
        str | None, typer.Option(help="Duration to process: seconds or [hh:]mm:ss[.frac].")
    ] = None,
    no_audio: NoAudioOpt = False,
    chunk_seconds: ChunkSecondsOpt = None,
    workers: WorkersOpt = None,
    threads_per_worker: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    job_dir: Annotated[
        Path | None,
        typer.Option(
            "--job-dir", help="Job folder (manifest + segments); default: hidden beside the output."
        ),
    ] = None,
    keep_chunks: Annotated[
        bool, typer.Option("--keep-chunks", help="Keep the segments after success.")
    ] = False,
    device: DeviceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a recipe of ops over a video, keeping fps, timestamps, color tags and audio.

    Videos longer than two chunks run as a resumable job in parallel worker processes: run the
    same command again (or `vidlab resume JOBDIR`) after a crash to redo only what is missing."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline.presets import recipe_or_preset

    result = execute(
        input,
        output,
        recipe_or_preset(recipe),
        EncodeSettings(codec=codec, crf=crf, bitrate_kbps=bitrate, preset=preset, pix_fmt=pix_fmt),
        start=parse_time_option(start, "--start"),
        duration=parse_time_option(duration, "--duration"),
        copy_audio=not no_audio,
        options=job_options(
            chunk_seconds, workers, threads_per_worker, executor, ray_address, job_dir, keep_chunks
        ),
        quiet=quiet,
        label=input.name,
    )
    summary(result, quiet)


@app.command("resume")
def resume_cmd(
    job_dir: Annotated[Path, typer.Argument(help="A job folder made by `vidlab run`.")],
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
    executor: Annotated[str, typer.Option(help="Where chunks run: local or ray.")] = "local",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Existing Ray cluster.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Finish an interrupted job: verify its segments and redo only what is missing or corrupt."""
    from vidlab.pipeline.entry import resume

    with ctrl_c_cancels() as token, progress_bar(not quiet, job_dir.name) as draw:
        result = resume(
            job_dir, workers=workers, executor=executor, ray_address=ray_address, on_event=draw, cancel=token
        )
    summary(result, quiet)


@app.command("jobs-status")
def jobs_status_cmd(
    job_dir: Annotated[Path, typer.Argument(help="A job folder made by `vidlab run`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a job's state: chunks and frames done of the total, fps and ETA."""
    from vidlab.pipeline.job import job_status

    st = job_status(job_dir)
    if as_json:
        print(json.dumps(st, indent=2))
        return
    fps = "-" if st["fps"] is None else f"{st['fps']:.1f}"
    out.print(f"job:     {st['job_dir']} ({st['state']})", highlight=False)
    out.print(f"input:   {st['input']}", highlight=False)
    out.print(f"output:  {st['output']}", highlight=False)
    out.print(f"recipe:  {st['recipe']}", highlight=False)
    out.print(
        f"chunks:  {st['chunks_done']}/{st['chunks_total']}   "
        f"frames: {st['frames_done']}/{st['frames_total']}   fps: {fps}   ETA: {clock(st['eta_seconds'])}",
        highlight=False,
    )
    if st["error"]:
        out.print(f"error:   {st['error']}", highlight=False)


@app.command("ops")
def ops_cmd(
    name: Annotated[str | None, typer.Argument(help="Show only this op.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (each op's parameter specs).")] = False,
    schema: Annotated[bool, typer.Option("--schema", help="Print the recipe JSON schema.")] = False,
) -> None:
    """List the ops with their parameters (name, type, default, range, help)."""
    from vidlab.ops.registry import get_op, list_ops

    if schema:
        from vidlab.pipeline.recipe import Recipe

        print(json.dumps(Recipe.json_schema(), indent=2))
        return
    ops = [get_op(name)] if name else list_ops()
    if as_json:
        print(json.dumps([op.describe() for op in ops], indent=2))
        return
    for op in ops:
        pre = ""
        if op.kind == "temporal":
            inst = op()
            rolls = [
                f"{what} {n} frame{'s' if n != 1 else ''}"
                for what, n in (("pre-roll", inst.preroll()), ("look-ahead", inst.postroll()))
                if n
            ]
            pre = f", {', '.join(rolls)} at defaults" if rolls else ""
        out.print(f"[bold]{op.name}[/bold] ({op.kind}{pre}) - {op.summary()}", highlight=False)
        for p in op.params():
            rng = f" {p.range_text}" if p.range_text else ""
            default = p.to_json(p.default)
            out.print(f"    {p.name}: {p.kind} = {default!r}{rng}  {p.help}", highlight=False)


@app.command("generate-test-video")
def generate_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.mp4, .mkv...).")],
    frames: Annotated[int, typer.Option(help="Number of frames.")] = 90,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT.")] = "640x360",
    fps: Annotated[str, typer.Option(help="Frame rate: 30, 25, 30000/1001...")] = "30",
    audio: Annotated[bool, typer.Option("--audio", help="Add a 440 Hz AAC tone.")] = False,
    codec: Annotated[str, typer.Option(help="Encoder.")] = "libx264",
    pix_fmt: Annotated[str, typer.Option("--pix-fmt", help="Pixel format, e.g. yuv420p10le.")] = "yuv420p",
    vfr: Annotated[bool, typer.Option("--vfr", help="Irregular (variable) frame timing.")] = False,
    rotation: Annotated[int, typer.Option(help="Display rotation tag in degrees (0, 90, 180, 270).")] = 0,
    gop: Annotated[
        int | None, typer.Option(help="Keyframe interval in frames (where chunked runs can cut).")
    ] = None,
) -> None:
    """Make a sample: real photographs panned and zoomed with known motion, plus moving patterns."""
    from vidlab.io.samples import generate

    if rotation % 90:
        raise typer.BadParameter("rotation must be a multiple of 90", param_hint="--rotation")
    info = generate(
        output,
        frames=frames,
        size=parse_size(size),
        fps=parse_rate(fps),
        audio=audio,
        codec=codec,
        pix_fmt=pix_fmt,
        vfr=vfr,
        rotation=rotation,
        gop=gop,
    )
    out.print(f"wrote {output}: {info.width}x{info.height}, {info.frame_count} frames at {info.fps} fps")


@app.command("demo")
def demo_cmd(
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Folder for the demo's files.")] = Path(
        "vidlab-demo"
    ),
    frames: Annotated[int, typer.Option(help="Frames in the generated sample.")] = 120,
    size: Annotated[str, typer.Option(help="Sample size WIDTHxHEIGHT.")] = "1280x720",
) -> None:
    """Generate a sample, run a recipe on it, and write the output, a before/after PNG and a report."""
    from vidlab.cli.demo import DEMO_RECIPE, run_demo

    out.print(f"vidlab demo: recipe [bold]{DEMO_RECIPE}[/bold]", highlight=False)
    with progress_bar(True, "demo") as draw:
        res = run_demo(outdir, frames=frames, size=parse_size(size), on_event=draw)
    checks = res.report_data["checks"]
    out.print(f"sample:        {res.sample}")
    out.print(
        f"output:        {res.output}  ({res.report_data['frames']} frames, {res.report_data['fps']} fps)"
    )
    out.print(f"before/after:  {res.comparison}")
    for style, path in res.styles.items():
        out.print(f"{style + ':':<15}{path}  ({res.report_data['styles'][style]['preset']})", highlight=False)
    out.print(f"styles sheet:  {res.contact_sheet}")
    interp = res.report_data["interpolation"]
    psnrs = ", ".join(f"{k} {v} dB" for k, v in interp["rebuilt_frames_y_psnr_db"].items())
    out.print(f"2x frames:     {res.interpolated}  ({interp['frames']} frames; rebuilt frames: {psnrs})")
    pr = res.report_data["pause_resume"]
    out.print(
        f"pause/resume:  {pr['output']}  (paused after {pr['chunks_kept_at_pause']} of "
        f"{pr['chunks']} chunks; resumed = uninterrupted: {pr['resumed_equals_uninterrupted']})",
        highlight=False,
    )
    key = res.report_data["key"]
    out.print(
        f"green screen:  {key['layer']} (RGBA {key['layer_pix_fmt']}), {key['composite']}, {key['sheet']}  "
        f"(matte MAD {key['matte_vs_truth']['mad']} vs the true alpha)",
        highlight=False,
    )
    enh = res.report_data["enhance"]
    out.print(
        f"enhancer:      {enh['enhanced']}, {enh['sheet']}  (H.264 at {enh['kbps']} kbps: PSNR-Y "
        f"neural_enhance {enh['neural_enhance_psnr_y_gain_db']:+.2f} dB, "
        f"deblock {enh['deblock_psnr_y_gain_db']:+.2f} dB)",
        highlight=False,
    )
    out.print(
        f"int8 enhancer: {enh['int8_model']}  (PSNR-Y {enh['int8_psnr_y_gain_db']:+.2f} dB at "
        f"{enh['int8_ms_per_frame']:.0f} ms/frame; float {enh['neural_enhance_ms_per_frame']:.0f})",
        highlight=False,
    )
    out.print(f"report:        {res.report}")
    out.print(f"checks:        {checks}", highlight=False)
