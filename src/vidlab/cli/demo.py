"""``vidlab demo``: generate a sample, run a recipe on it, stylize it in the pencil, cartoon,
comic, cinematic and neural styles, interpolate it to twice its rate (every method scored),
pause and resume a chunked job, key a green-screen clip, undo H.264 artifacts with the learned
enhancer, and write the outputs, a before/after image, a contact sheet of the styles and a JSON
report."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidlab import __version__
from vidlab.core.events import EventCallback
from vidlab.io.codecs import EncodeSettings
from vidlab.io.images import frame_at, write_png
from vidlab.io.probe import probe
from vidlab.io.samples import generate
from vidlab.metrics.image import psnr
from vidlab.pipeline.entry import execute
from vidlab.pipeline.recipe import Recipe
from vidlab.vision.draw import before_after

DEMO_RECIPE = "denoise method=bilateral strength=4 | sharpen amount=0.8 radius=1.2 | ema alpha=0.7"


DEMO_STYLES = ("pencil", "cartoon", "comic", "cinematic", "neural", "neural-mosaic", "neural-brush")
#: Demo runs that are a style's preset with its neural_style step changed: the project's own
#: fast style networks (``vidlab train style``) through the neural Balanced preset.
DEMO_VARIANTS = {
    "neural-mosaic": ("neural", {"backend": "onnx", "model": "style_mosaic"}),
    "neural-brush": ("neural", {"backend": "onnx", "model": "style_brush"}),
}


@dataclass(frozen=True)
class DemoResult:
    sample: Path
    output: Path
    comparison: Path
    styles: dict[str, Path]
    contact_sheet: Path
    interpolated: Path
    report: Path
    report_data: dict


def _stylize(sample: Path, outdir: Path, mid: Fraction, on_event: EventCallback | None) -> dict:
    """Each shipped style's Balanced preset over the sample; returns report entries."""
    from vidlab.pipeline.presets import find

    outdir.mkdir(exist_ok=True)
    entries = {}
    for style in DEMO_STYLES:
        base, changes = DEMO_VARIANTS.get(style, (style, {}))
        preset = find(base)
        recipe = preset.recipe().with_params("neural_style", **changes)
        target = outdir / f"{sample.stem}.{style}.mp4"
        result = execute(sample, target, recipe, on_event=on_event)
        info = probe(target)
        entries[style] = {
            "output": str(target),
            "preset": preset.name,
            "recipe": str(recipe),
            "fps": round(result.fps, 2),
            "frames_kept": info.frame_count == result.source.frame_count,
            "timing_kept": (info.fps, info.duration) == (result.source.fps, result.source.duration),
            "frame": frame_at(target, mid),
        }
    return entries


def _interpolate(sample: Path, outdir: Path, on_event: EventCallback | None) -> dict:
    """The sample at twice its rate, and every method (flow, the learned refinement of it, FFmpeg's
    minterpolate as the peer, a blend) scored on rebuilt frames."""
    from vidlab.lab.interp import eval_interp

    target = outdir / f"{sample.stem}.2x.mp4"
    result = execute(sample, target, Recipe.parse("interpolate factor=2"), on_event=on_event)
    info, src = probe(target), result.source
    scores = eval_interp(sample, ("flow", "learned", "minterpolate", "blend"), max_frames=61).scores
    return {
        "output": str(target),
        "fps": f"{info.fps.numerator}/{info.fps.denominator}",
        "frames": info.frame_count,
        "frames_doubled": info.frame_count == 2 * src.frame_count,
        "duration_kept": abs(info.duration - src.duration) <= 1 / info.fps,
        "audio_streams": len(info.audio),
        "rebuilt_frames_y_psnr_db": {s.method: round(s.psnr_y, 2) for s in scores},
        "rebuilt_frames_per_second": {s.method: round(s.fps, 1) for s in scores},
    }


def _frame_hashes(path: Path) -> list[tuple[int, str]]:
    """Every decoded frame's pts and a hash of its planes (PyAV directly)."""
    import hashlib

    import av

    with av.open(str(path)) as c:
        return [
            (f.pts, hashlib.sha256(b"".join(bytes(p) for p in f.planes)).hexdigest())
            for f in c.decode(video=0)
        ]


def _pause_resume(sample: Path, outdir: Path) -> dict:
    """A chunked job paused as its first chunk lands, then resumed: the same frames, bit for bit,
    as the job run without a pause; the events tell what happened."""
    from vidlab.core.events import Cancelled, CancelToken, Event
    from vidlab.pipeline.job import JobOptions, read_manifest

    work = outdir / "pause_resume"
    work.mkdir(exist_ok=True)
    recipe = Recipe.parse("sharpen amount=0.8")
    opts = JobOptions(chunk_seconds=1, workers=2, job_dir=work / "job", keep_chunks=True)
    straight = work / "uninterrupted.mp4"
    execute(sample, straight, recipe, options=JobOptions(chunk_seconds=1, workers=2))
    token = CancelToken()
    events: list[Event] = []

    def pause_on_first_chunk(e: Event) -> None:
        events.append(e)
        if e.scope == "chunk" and e.state == "done":
            token.pause()

    resumed = work / "resumed.mp4"
    paused = False
    try:
        execute(sample, resumed, recipe, options=opts, on_event=pause_on_first_chunk, cancel=token)
    except Cancelled:
        paused = True
    nothing_written = not resumed.exists()
    manifest = read_manifest(work / "job") or {"chunks": []}
    kept = sum(c["state"] == "done" for c in manifest["chunks"])
    after: list[Event] = []
    execute(sample, resumed, recipe, options=opts, on_event=after.append)
    redone = sum(1 for e in after if e.scope == "chunk" and e.state == "done")
    return {
        "recipe": str(recipe),
        "paused": paused and bool(events) and events[-1].state == "paused",
        "no_output_while_paused": nothing_written,
        "chunks": len(manifest["chunks"]),
        "chunks_kept_at_pause": kept,
        "chunks_redone_on_resume": redone,
        "events_first_run": len(events),
        "last_event": events[-1].to_dict() if events else None,
        "resumed_equals_uninterrupted": _frame_hashes(resumed) == _frame_hashes(straight),
        "output": str(resumed),
    }


def _key(outdir: Path, backdrop: np.ndarray, size: tuple[int, int], on_event: EventCallback | None) -> dict:
    """A generated green-screen clip (a photograph with a known soft matte over an unevenly lit,
    noisy, H.264-compressed screen) keyed to an RGBA layer and composited over the demo's own
    sample; the layer's matte is scored against the true one (MAD as RobustVideoMatting's)."""
    from vidlab.io.reader import VideoReader
    from vidlab.io.samples import greenscreen
    from vidlab.metrics.matte import matte_errors

    work = outdir / "key"
    work.mkdir(exist_ok=True)
    clip = work / "greenscreen.mp4"
    _, truth = greenscreen(clip, frames=30, size=size)
    layer = work / "layer.mkv"
    keyed = execute(clip, layer, "chromakey color=green", EncodeSettings(codec="ffv1"), on_event=on_event)
    back = work / "backdrop.png"
    write_png(back, cv2.resize(backdrop, size, interpolation=cv2.INTER_AREA))
    composite = work / "composite.mp4"
    execute(clip, composite, Recipe.parse(f"chromakey color=green background={back}"), on_event=on_event)
    frames = list(VideoReader(layer))
    errors = matte_errors((f.alpha for f in frames), (truth(i) for i in range(len(frames))), full=False)
    mid = len(frames) // 2
    alpha = frames[mid].alpha
    assert alpha is not None
    sheet = work / "key.png"
    row = [frame_at(clip, frames[mid].pts), np.dstack([alpha] * 3), frame_at(composite, frames[mid].pts)]
    write_png(sheet, before_after(before_after(row[0], row[1]), row[2]))
    layer_info = probe(layer)
    return {
        "source": str(clip),
        "layer": str(layer),
        "composite": str(composite),
        "sheet": str(sheet),
        "layer_has_alpha": layer_info.has_alpha,
        "layer_pix_fmt": layer_info.pix_fmt,
        "frames": layer_info.frame_count,
        "fps": round(keyed.fps, 1),
        "matte_vs_truth": {k: round(v, 3) for k, v in errors.means().items()},
    }


def _layers(outdir: Path, size: tuple[int, int]) -> dict:
    """The staged layers pipeline (segment with the background model, guided refine, temporal,
    clean plate, shot annotation) on a static-camera clip of a photographed person cut by a known
    soft alpha over a real photograph, with sensor noise and H.264; every stage is scored
    against the true alpha, and the clean plate against the true background."""
    from vidlab.io.matte_clips import matte_clip
    from vidlab.io.reader import VideoReader
    from vidlab.layers.run import run_layers

    work = outdir / "layers"
    work.mkdir(exist_ok=True)
    clip = matte_clip(
        work / "clip.mp4", width=size[0], height=size[1], frames=30, kind="photo", camera="static"
    )
    truth = work / "truth"
    clip.save_alphas(truth)
    result = run_layers(clip.path, work / "out", truth=truth)
    rep = result.report
    stages = rep["stages"]
    plate = [f.image for f in VideoReader(result.outdir / "inpaint" / "clean_plate.mp4")]
    seen = clip.alphas.min(axis=0) < 13  # pixels the background showed in at least one frame
    plate_psnr = float(
        np.mean([psnr(a[seen], b[seen]) for a, b in zip(plate, clip.backgrounds, strict=False)])
    )
    return {
        "source": str(clip.path),
        "outdir": str(result.outdir),
        "status": result.status,
        "report": str(result.report_path),
        "contact_sheet": str(result.outdir / "contact_sheet.png"),
        "layer_video": rep.get("layer_video"),
        "matte_vs_truth": {
            name: stages[name]["quality"]["truth"]
            for name in ("segment", "refine", "temporal")
            if "truth" in stages[name].get("quality", {})
        },
        "clean_plate_psnr_db": round(plate_psnr, 2),
        "shots": stages["annotate"]["quality"]["shots"],
        "seconds": {name: stages[name].get("seconds") for name in stages},
    }


def _queue(outdir: Path, sample: Path) -> dict:
    """The job queue: a render job submitted to the workspace's SQLite store and run by a worker
    (what `vidlab jobs submit` and `vidlab worker --once` do), then an auto-tune (Optuna) of
    ``tone``'s contrast for the best PSNR against a reference graded with ``tone contrast=1.2``:
    the search should find about 1.2. The best is saved as a preset. `vidlab ui --workspace DIR`
    shows the same store in the browser."""
    from vidlab.jobs.params import render_params
    from vidlab.jobs.store import Store
    from vidlab.jobs.tune import tune
    from vidlab.jobs.worker import Worker

    outdir, sample = outdir.resolve(), sample.resolve()  # the store takes relative paths in the workspace
    work = outdir / "queue"
    work.mkdir(exist_ok=True)
    out = work / f"{sample.stem}.cartoon.mp4"
    reference = work / "graded_contrast_1.2.mkv"
    execute(sample, reference, "tone contrast=1.2", EncodeSettings(codec="ffv1", pix_fmt="gbrp"))
    with Store.open(outdir) as store:
        job_id = store.submit(
            "render", render_params(style="cartoon", level="Speed"), input=sample, output=out
        )
        Worker(store).run(once=True)
        job = store.get(job_id)
        result = tune(sample, "tone", "psnr", reference=reference, space=["contrast"], trials=10, frames=12)
        store.save_preset("demo-tone", "tone", result.best_params)
        events = len(store.events(job_id))
    return {
        "store": str(outdir / ".vidlab" / "jobs.db"),
        "job": {"id": job_id, "state": job.state, "error": job.error, "output": str(out), "events": events},
        "output_frames": probe(out).frame_count if out.exists() else 0,
        "tune": {
            "op": "tone",
            "objective": "psnr",
            "reference": "the sample through tone contrast=1.2",
            "trials": len(result.trials),
            "best_contrast": round(float(result.best_params["contrast"]), 3),
            "best_value": round(result.best_value, 4),
            "saved_preset": "demo-tone",
        },
    }


def _enhance(outdir: Path, size: tuple[int, int], on_event: EventCallback | None) -> dict:
    """The learned enhancer on held-out footage (photographs it never trained on, camera motion,
    noise), H.264 at a low bitrate (0.014 bits per pixel: 400 kbps at 720p30), against the
    decode and the classical ``deblock``; a crop of the source, the decode and the enhanced
    frame side by side, at 2x."""
    from vidlab.io.footage import held_out_specs, write_footage
    from vidlab.lab.codec import codec_test, evaluate_enhancer

    work = outdir / "enhance"
    work.mkdir(exist_ok=True)
    source = work / "source.mkv"
    write_footage(source, held_out_specs()[0], frames=20, size=size, codec="ffv1", crf=None)
    kbps = max(50, round(0.014 * size[0] * size[1] * 30 / 1000))
    decoded, enhanced = work / "decoded.mp4", work / "enhanced.mkv"
    neural = codec_test(
        source, "h264", bitrate_kbps=kbps, enhancer="neural_enhance", output=decoded, enhanced_output=enhanced
    )
    # deblock on the same decode: one encode serves both enhancers
    theirs, _ = evaluate_enhancer(
        source, decoded, Recipe.parse("deblock"), work / "deblocked.mkv", vmaf=False, frames=neural.frames
    )
    (work / "deblocked.mkv").unlink()
    # the same model quantized to int8 for the CPU, calibrated on a few frames of the decode
    from vidlab.ml.export import calibration_frames, quantize_int8
    from vidlab.ml.registry import resolve

    card, onnx_file = resolve("neural_enhance")
    samples = calibration_frames(decoded, 4)
    int8 = quantize_int8(onnx_file, work / "neural_enhance_int8.onnx", samples, card=card)
    q8, ms8 = evaluate_enhancer(
        source,
        decoded,
        Recipe.parse(f"neural_enhance model={int8.output.resolve()}"),
        work / "int8.mkv",
        vmaf=False,
        frames=neural.frames,
    )
    (work / "int8.mkv").unlink()
    t = Fraction(10, 30)
    h, w = size[1] // 3, size[0] // 4
    y, x = size[1] // 3, size[0] // 3
    crops = [cv2.resize(frame_at(p, t)[y : y + h, x : x + w], (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
             for p in (source, decoded, enhanced)]  # fmt: skip
    sheet = work / "enhance.png"
    write_png(sheet, before_after(before_after(crops[0], crops[1]), crops[2]))
    base, mine = neural.quality, neural.enhanced_quality
    assert mine is not None
    return {
        "source": str(source),
        "decoded": str(decoded),
        "enhanced": str(enhanced),
        "sheet": str(sheet),
        "sheet_shows": "source | H.264 decode | neural_enhance (2x crops)",
        "kbps": kbps,
        "decoded_psnr_y": round(base.psnr_y, 3),
        "neural_enhance_psnr_y_gain_db": round(mine.psnr_y - base.psnr_y, 3),
        "neural_enhance_ssim_y_gain": round(mine.ssim_y - base.ssim_y, 5),
        "deblock_psnr_y_gain_db": round(theirs.psnr_y - base.psnr_y, 3),
        "neural_enhance_ms_per_frame": round(neural.enhancer_ms_per_frame or 0, 1),
        "int8_model": str(int8.output),
        "int8_psnr_y_gain_db": round(q8.psnr_y - base.psnr_y, 3),
        "int8_ms_per_frame": round(ms8, 1),
        "int8_mean_code_diff": round(int8.mean_code_diff, 3),
        "frames": neural.frames,
    }


def _contact_sheet(source: np.ndarray, styled: dict[str, np.ndarray]) -> np.ndarray:
    """The source and each style's middle frame, at half size, in a grid with white gaps."""
    tiles = [
        cv2.resize(t, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) for t in [source, *styled.values()]
    ]
    while len(tiles) % 3:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [before_after(before_after(a, b), c) for a, b, c in zip(*[iter(tiles)] * 3, strict=True)]
    gap = np.full((8, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([x for r in rows for x in (r, gap)][:-1], axis=0)


def run_demo(
    outdir: Path,
    *,
    frames: int = 120,
    size: tuple[int, int] = (1280, 720),
    recipe: str = DEMO_RECIPE,
    on_event: EventCallback | None = None,
) -> DemoResult:
    outdir.mkdir(parents=True, exist_ok=True)
    sample = outdir / "sample.mp4"
    output = outdir / "processed.mp4"
    # A keyframe a second, so the pause/resume job below has chunks to cut.
    generate(sample, frames=frames, size=size, fps=Fraction(30000, 1001), audio=True, gop=30)
    result = execute(sample, output, Recipe.parse(recipe), on_event=on_event)
    out_info = probe(output)

    mid = result.source.duration / 2
    before, after = frame_at(sample, mid), frame_at(output, mid)
    comparison = outdir / "before_after.png"
    write_png(comparison, before_after(before, after))
    styles = _stylize(sample, outdir / "styles", mid, on_event)
    interpolated = _interpolate(sample, outdir, on_event)
    pause = _pause_resume(sample, outdir)
    small = (640, 360) if size[0] >= 1280 else (320, 176)
    key = _key(outdir, before, small, on_event)
    enhance = _enhance(outdir, small, on_event)
    layers = _layers(outdir, small)
    queue = _queue(outdir, sample)
    sheet = outdir / "styles.png"
    write_png(sheet, _contact_sheet(before, {k: v.pop("frame") for k, v in styles.items()}))

    data = {
        "vidlab": __version__,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "recipe": result.recipe.to_data(),
        "recipe_compact": result.recipe.to_compact(),
        "input": result.source.to_dict(),
        "output": out_info.to_dict(),
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
        "fps": round(result.fps, 2),
        "checks": {
            "frame_count_kept": out_info.frame_count == result.source.frame_count,
            "fps_kept": out_info.fps == result.source.fps,
            "size_kept": (out_info.width, out_info.height) == (result.source.width, result.source.height),
            "audio_streams": len(out_info.audio),
            "psnr_mid_frame_vs_input_db": round(psnr(before, after), 2),
            "styles_keep_frames_and_timing": all(
                v["frames_kept"] and v["timing_kept"] for v in styles.values()
            ),
            "interpolation_doubles_frames_keeps_duration": interpolated["frames_doubled"]
            and interpolated["duration_kept"]
            and interpolated["audio_streams"] == len(out_info.audio),
            "key_layer_has_alpha_and_mad_below_12": key["layer_has_alpha"]
            and key["matte_vs_truth"]["mad"] < 12,
            "neural_enhance_beats_decode_and_deblock": enhance["neural_enhance_psnr_y_gain_db"] > 0
            and enhance["neural_enhance_psnr_y_gain_db"] > enhance["deblock_psnr_y_gain_db"],
            "int8_enhancer_within_a_code_value_of_float": enhance["int8_mean_code_diff"] < 1,
            "layers_all_stages_ran_plate_above_30db": all(v == "ran" for v in layers["status"].values())
            and layers["clean_plate_psnr_db"] >= 30,
            "queue_job_done_and_frames_kept": queue["job"]["state"] == "done"
            and queue["output_frames"] == result.source.frame_count,
            "tune_finds_contrast_within_15_percent": abs(queue["tune"]["best_contrast"] - 1.2) <= 0.18,
            "pause_resume_bit_identical": pause["paused"]
            and pause["no_output_while_paused"]
            and pause["resumed_equals_uninterrupted"]
            and pause["chunks_redone_on_resume"] == pause["chunks"] - pause["chunks_kept_at_pause"],
        },
        "styles": styles,
        "interpolation": interpolated,
        "pause_resume": pause,
        "key": key,
        "enhance": enhance,
        "layers": layers,
        "queue": queue,
    }
    report = outdir / "report.json"
    report.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return DemoResult(
        sample=sample,
        output=output,
        comparison=comparison,
        styles={k: Path(v["output"]) for k, v in styles.items()},
        contact_sheet=sheet,
        interpolated=Path(interpolated["output"]),
        report=report,
        report_data=data,
    )
