"""Flicker of each style, with and without temporal stabilization, on a generated clip with
known motion: temporal instability (mean |output - previous output warped by the input's
flow| over non-occluded pixels, code values) and the PSNR of the stabilized output against the
plain style (no drift, no ghosts). Writes benchmarks/out/flicker.json.

    python benchmarks/bench_flicker.py [--frames 60] [--size 640x360]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench_transcode import OUT, machine
from vidlab.core.timeparse import parse_size
from vidlab.io.reader import VideoReader
from vidlab.io.samples import generate
from vidlab.metrics import temporal_instability
from vidlab.pipeline.recipe import Recipe

STYLES = ["pencil", "cartoon", "comic", "lut file=teal_orange | tone | bloom | vignette"]
# Halftone screens are fixed on the page, so comic is stabilized on its input (as its presets do).
BEFORE = {"comic"}
STABILIZERS = ["ema alpha=0.5", "edge_stabilize", "flow_stabilize"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", default="640x360")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    w, h = parse_size(args.size)
    src = OUT / f"flicker_{w}x{h}_{args.frames}.mp4"
    if not src.exists():
        generate(src, frames=args.frames, size=(w, h), fps=30)
    frames = list(VideoReader(src))
    inputs = [f.image for f in frames]
    floor = temporal_instability(inputs, inputs).mean
    print(f"machine: {machine()}\nclip: {src.name}; instability of the input itself: {floor:.2f}")
    results: dict = {"clip": src.name, "input_floor": floor, "styles": {}}
    for style in STYLES:
        plain = [f.image for f in Recipe.parse(style).process(iter(frames))]
        base = temporal_instability(plain, inputs).mean
        row = {"plain": base}
        print(f"\n{style}: plain {base:.2f}")
        for stab in STABILIZERS:
            text = f"{stab} | {style}" if style in BEFORE else f"{style} | {stab}"
            out = [f.image for f in Recipe.parse(text).process(iter(frames))]
            value = temporal_instability(out, inputs).mean
            worst = min(psnr(a, b) for a, b in zip(out, plain, strict=True))
            row[stab] = {"instability": value, "cut": 1 - value / base, "min_psnr_vs_plain": worst}
            cut = 100 * (1 - value / base)
            where = "before" if style in BEFORE else "+"
            print(f"  {where} {stab:<16} {value:5.2f}  cut {cut:5.1f} %  min PSNR {worst:5.1f} dB")
        results["styles"][style] = row
    (OUT / "flicker.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
