"""The codec lab and measurements: metrics, compare, codec-test, codec-sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidlab.core.errors import UsageError

if TYPE_CHECKING:
    from vidlab.lab.codec import QualitySummary
from vidlab.cli.common import (
    CrfOpt,
    DeviceOpt,
    EncoderPresetOpt,
    PixFmtOpt,
    QuietOpt,
    app,
    err,
    numbers,
    out,
    progress_bar,
    table,
)


@app.command("metrics")
def metrics_cmd(
    reference: Annotated[Path, typer.Argument(help="Reference (original) video.")],
    distorted: Annotated[Path, typer.Argument(help="Distorted (encoded/processed) video.")],
    vmaf: Annotated[bool, typer.Option("--vmaf", help="Also compute VMAF (libvmaf, default model).")] = False,
    extra: Annotated[
        bool, typer.Option("--extra", help="Also sharpness, edge coherence and temporal instability (RGB).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print per-frame JSON with a global block.")
    ] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write per-frame rows to this CSV file.")
    ] = None,
    offset: Annotated[
        int, typer.Option(help="Frames the distorted video is late by (negative: the reference is).")
    ] = 0,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Compare at most N frames.")] = None,
) -> None:
    """Full-reference quality: PSNR and SSIM per plane (FFmpeg's definitions), MSE, VMAF.

    The distorted video is scaled to the reference's size when they differ. Pooled over frames
    as mean, harmonic mean, min, max and 5th percentile."""
    from vidlab.core.fsutil import write_atomic
    from vidlab.io.writer import check_writable_file
    from vidlab.metrics.quality import quality

    if max_frames is not None and max_frames < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--max-frames")
    if csv_file is not None:
        check_writable_file(csv_file)  # before measuring: a bad path fails in one line, at once
    report = quality(reference, distorted, vmaf=vmaf, extra=extra, offset=offset, max_frames=max_frames)
    if csv_file is not None:
        try:
            write_atomic(csv_file, report.to_csv().encode())
        except OSError as exc:
            raise UsageError(f"cannot write the CSV file ({exc.strerror or exc})", csv_file) from None
    if as_json:
        print(report.to_json())
        return
    t = table(box=None, pad_edge=False)
    for col in ("metric", "mean", "harmonic", "min", "max", "p5"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for keys in report.global_().values():
        for key, stats in keys.items():
            if key.startswith(("integer_", "VMAF_")):
                continue  # libvmaf's internal features: in --json
            t.add_row(key, *(f"{stats[s]:.4f}" for s in ("mean", "harmonic_mean", "min", "max", "p5")))
    out.print(f"{report.frames} frames: {distorted} against {reference}", highlight=False)
    out.print(t)
    if csv_file is not None:
        out.print(f"wrote {csv_file}")


@app.command("compare")
def compare_cmd(
    original: Annotated[Path, typer.Option("--original", help="Original (reference) video.")],
    test: Annotated[Path, typer.Option("--test", help="Test video (encoded or processed).")],
    enhanced: Annotated[
        Path | None, typer.Option("--enhanced", help="Optional third view, e.g. the test video enhanced.")
    ] = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Append a heatmap of |original - test| (mean over RGB).")
    ] = False,
    diff_max: Annotated[
        float, typer.Option("--diff-max", help="Difference (code values) at the top of the fixed scale.")
    ] = 64.0,
    colormap: Annotated[str, typer.Option(help="Heatmap colormap: inferno or viridis.")] = "inferno",
    save: Annotated[
        Path | None, typer.Option("--save", help="Write the side-by-side video (H.264, original's fps).")
    ] = None,
    crf: CrfOpt = None,
    grid_png: Annotated[
        int | None,
        typer.Option(
            "--grid-png",
            help="Write a PNG of N evenly spaced composites stacked vertically (to --grid-png-path, "
            "default OUT.grid.png beside --save).",
        ),
    ] = None,
    grid_png_path: Annotated[
        Path | None, typer.Option("--grid-png-path", help="Where --grid-png writes (a .png file).")
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Play the composite in a window (q/Esc closes).")
    ] = False,
    labels: Annotated[
        str | None,
        typer.Option(help='Comma-separated view labels, e.g. "Original,Test,Enhanced" (+ the diff view\'s).'),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Side by side: original | test [| enhanced] [| diff], synced by timestamp, with labels and
    per-frame PSNR against the original.

    Views touch (no gaps), each the original's size: the output is (views x W) by H. Other sizes
    are scaled to the original's height. For each original frame, every other view shows its
    latest frame at or before that time (own clocks), so other frame rates and dropped frames
    stay in sync; output stops when any input ends. Needs --save, --grid-png or --show."""
    from vidlab.lab.compare import compare, default_grid_path

    if grid_png_path is not None and grid_png is None:
        raise typer.BadParameter("give --grid-png N with --grid-png-path", param_hint="--grid-png-path")
    grid = None
    if grid_png is not None:
        if grid_png < 1:
            raise typer.BadParameter("must be >= 1", param_hint="--grid-png")
        if grid_png_path is None and save is None:
            raise UsageError("--grid-png needs --grid-png-path, or --save (it then writes OUT.grid.png)")
        grid = grid_png_path if grid_png_path is not None else default_grid_path(save)  # type: ignore[arg-type]
    names = [s.strip() for s in labels.split(",")] if labels is not None else None
    with progress_bar(not quiet and not show, "compare") as draw:
        res = compare(
            original,
            test,
            enhanced,
            save=save,
            grid=grid,
            grid_frames=grid_png or 1,
            show=show,
            diff=diff,
            labels=names,
            diff_max=diff_max,
            colormap=colormap,
            crf=crf,
            on_event=draw,
        )
    if not quiet:
        psnr = f"mean PSNR test {res.psnr_test:.2f} dB"
        if res.psnr_enhanced is not None:
            psnr += f", enhanced {res.psnr_enhanced:.2f} dB"
        out.print(f"{res.frames} frames, {res.width}x{res.height}; {psnr}", highlight=False)
        for path in (res.output, res.grid):
            if path is not None:
                out.print(f"wrote {path}", highlight=False)


@app.command("codec-test")
def codec_test_cmd(
    input: Annotated[Path, typer.Argument(help="Input video (the reference).")],
    codec: Annotated[str, typer.Option(help="h264, h265, vp8, vp9 or av1.")],
    bitrate: Annotated[float | None, typer.Option(help="Target bitrate in kbps.")] = None,
    crf: Annotated[float | None, typer.Option(help="Constant quality instead of a bitrate.")] = None,
    enhancer: Annotated[
        str | None, typer.Option(help="Enhancer op or recipe run on the decoded video, e.g. deblock.")
    ] = None,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Use the first N frames.")] = None,
    vmaf: Annotated[bool, typer.Option("--vmaf", help="Also VMAF (libvmaf, default model).")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Keep the encoded file here.")] = None,
    enhanced_output: Annotated[
        Path | None, typer.Option("--enhanced-output", help="Keep the enhanced video here (lossless).")
    ] = None,
    encoder_preset: EncoderPresetOpt = None,
    pix_fmt: PixFmtOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    device: DeviceOpt = None,
) -> None:
    """Encode with one codec at a bitrate or CRF, decode, and report size, bitrate, speed and
    quality (PSNR/SSIM, VMAF with --vmaf), and an enhancer's effect with --enhancer.

    PSNR per frame is capped at 6 x bits + 12 dB (60 dB for 8-bit), as libvmaf caps it, so a
    lossless frame counts as 60 dB and --json stays strict JSON."""
    from vidlab.lab.codec import codec_test

    if (bitrate is None) == (crf is None):
        raise typer.BadParameter("give exactly one of --bitrate or --crf", param_hint="--bitrate/--crf")
    if max_frames is not None and max_frames < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--max-frames")
    r = codec_test(
        input,
        codec,
        bitrate_kbps=bitrate,
        crf=crf,
        preset=encoder_preset,
        enhancer=enhancer,
        max_frames=max_frames,
        vmaf=vmaf,
        output=output,
        enhanced_output=enhanced_output,
        pix_fmt=pix_fmt,
    )
    if as_json:
        from vidlab.metrics.quality import finite_json

        print(json.dumps(finite_json(r.to_dict()), indent=2, allow_nan=False))
        return
    target = f"{bitrate:g} kbps" if bitrate is not None else f"CRF {crf:g}"
    rows = [
        ("codec", f"{r.codec} ({r.encoder}), {r.passes} pass{'es' if r.passes > 1 else ''}"),
        ("target / actual", f"{target} / {r.actual_kbps:.1f} kbps"),
        ("frames", f"{r.frames} at {r.width}x{r.height}, {float(r.fps):.3f} fps"),
        (
            "size",
            f"{r.file_bytes:,} bytes (video {r.video_bytes:,}), compression {r.compression_ratio:.1f}:1",
        ),
        ("encode / decode", f"{r.encode_ms_per_frame:.2f} / {r.decode_ms_per_frame:.2f} ms per frame"),
        ("total", f"{r.total_ms_per_frame:.2f} ms per frame"),
        ("decoded", _quality_line(r.quality)),
    ]
    if r.enhanced_quality is not None:
        d = r.deltas
        rows.append((f"enhanced ({r.enhancer})", _quality_line(r.enhanced_quality)))
        plane = _plane_label(r.quality)
        delta = f"PSNR{plane} {d['psnr_y']:+.3f} dB, SSIM{plane} {d['ssim_y']:+.5f}"
        if d.get("vmaf") is not None:
            delta += f", VMAF {d['vmaf']:+.2f}"
        rows.append(("delta", f"{delta}; enhancer {r.enhancer_ms_per_frame:.2f} ms per frame"))
    t = table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


def _plane_label(q: QualitySummary) -> str:
    """``-Y`` for luma; `` (avg)`` where the format has no luma plane (RGB)."""
    return "-Y" if q.main_plane == "y" else " (avg)"


def _quality_line(q: QualitySummary) -> str:
    plane = _plane_label(q)
    if q.main_plane == "y":
        text = f"PSNR-Y {q.psnr_y:.3f} dB (avg {q.psnr_avg:.3f}), "
        text += f"SSIM-Y {q.ssim_y:.5f} (all {q.ssim_avg:.5f})"
    else:
        text = f"PSNR{plane} {q.psnr_avg:.3f} dB, SSIM{plane} {q.ssim_avg:.5f}"
    return text + (f", VMAF {q.vmaf:.2f}" if q.vmaf is not None else "")


@app.command("codec-sweep")
def codec_sweep_cmd(
    input: Annotated[Path, typer.Argument(help="Input video (the reference).")],
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Report folder.")],
    codecs: Annotated[str, typer.Option(help="Comma-separated: h264,h265,vp8,vp9,av1.")] = "h264,vp9,av1",
    bitrates: Annotated[str, typer.Option(help="Comma-separated kbps.")] = "100,200,400,800",
    enhancers: Annotated[
        str, typer.Option(help="Comma-separated enhancer ops run on every decode, e.g. bilateral,combined.")
    ] = "",
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Use the first N frames.")] = None,
    vmaf: Annotated[bool, typer.Option("--vmaf", help="Also VMAF (and its BD-rates).")] = False,
    device: DeviceOpt = None,
) -> None:
    """Rate-distortion sweep: RD table (CSV, JSON), RD plots (PNG), BD-rate and BD-PSNR between
    every pair of curves, and a self-contained HTML report."""
    from vidlab.lab.sweep import sweep

    names = [c.strip() for c in codecs.split(",") if c.strip()]
    enh = [e.strip() for e in enhancers.split(",") if e.strip()]

    def step(curve: str, kbps: float) -> None:
        err.print(f"  {curve} at {kbps:g} kbps", highlight=False)

    res = sweep(
        input, names, numbers(bitrates, "--bitrates"), outdir, enhancers=enh, vmaf=vmaf,
        max_frames=max_frames, on_point=step,
    )  # fmt: skip
    t = table(box=None, pad_edge=False)
    for col in ("anchor", "test", "metric", "BD-rate %", "BD-quality"):
        t.add_column(col)
    for row in res.bd:
        if "error" in row:
            t.add_row(row["anchor"], row["test"], row["metric"], row["error"], "")
        else:
            t.add_row(
                row["anchor"],
                row["test"],
                row["metric"],
                f"{row['bd_rate_pct']:+.2f}",
                f"{row['bd_quality']:+.4f}",
            )
    out.print(t)
    out.print(f"report: {res.files['html']}")
