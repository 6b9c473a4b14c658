"""``vidlab demo``: generate a sample, run a recipe on it, write the output, a before/after
image and a JSON report."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidlab import __version__
from vidlab.io.probe import probe
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import ProgressCallback, run
from vidlab.preview import before_after, frame_at, write_png
from vidlab.samples import generate

DEMO_RECIPE = "denoise method=bilateral strength=4 | sharpen amount=0.8 radius=1.2 | ema alpha=0.7"


@dataclass(frozen=True)
class DemoResult:
    sample: Path
    output: Path
    comparison: Path
    report: Path
    report_data: dict


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def run_demo(
    outdir: Path,
    *,
    frames: int = 120,
    size: tuple[int, int] = (1280, 720),
    recipe: str = DEMO_RECIPE,
    on_progress: ProgressCallback | None = None,
) -> DemoResult:
    outdir.mkdir(parents=True, exist_ok=True)
    sample = outdir / "sample.mp4"
    output = outdir / "processed.mp4"
    generate(sample, frames=frames, size=size, fps=Fraction(30000, 1001), audio=True)
    result = run(sample, output, Recipe.parse(recipe), on_progress=on_progress)
    out_info = probe(output)

    mid = result.source.duration / 2
    before, after = frame_at(sample, mid), frame_at(output, mid)
    comparison = outdir / "before_after.png"
    write_png(comparison, before_after(before, after))

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
            "psnr_mid_frame_vs_input_db": round(_psnr(before, after), 2),
        },
    }
    report = outdir / "report.json"
    report.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return DemoResult(sample=sample, output=output, comparison=comparison, report=report, report_data=data)
