"""Benchmark: the chromakey op against ffmpeg's chromakey filter, for speed and matte error.

1. Speed at 1080p: the op alone on decoded frames held in memory (best of several runs, after a
   warm-up), beside ffmpeg's ``chromakey`` filter on the same file, timed as decode + filter
   minus a plain decode (both to ``-f null``, best of several runs each).
2. Matte error against the exact alpha of the generated green- and blue-screen clips
   (``vidlab.io.samples.greenscreen``, H.264 yuv420p CRF 20): RVM's MAD, MSE, Grad and dtSSD for
   the op, and MAD for ffmpeg with the same key colour at its best similarity/blend on a grid
   and at 0.1/0.05.

Writes benchmarks/out/chromakey.json.

    python benchmarks/bench_chromakey.py [--frames 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from bench_styles import op_fps
from bench_transcode import OUT, machine
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.reader import VideoReader
from vidlab.io.samples import greenscreen
from vidlab.metrics.matte import matte_errors
from vidlab.ops.key import pick_key_color
from vidlab.pipeline.recipe import Recipe

RECIPES = [
    ("chromakey (alpha out)", "chromakey"),
    ("chromakey spill=0", "chromakey spill=0"),
    ("chromakey background=#0000ff", "chromakey background=#0000ff"),
    ("chromakey choke=2 blur=1", "chromakey choke=2 blur=1"),
]
TARGET_FPS = 60.0
GRID = list(itertools.product([0.05, 0.08, 0.1, 0.13, 0.16, 0.2], [0.0, 0.02, 0.05, 0.1, 0.15]))


def clip(key: str, size: tuple[int, int], frames: int, seed: int) -> tuple[Path, list[np.ndarray]]:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"greenscreen_{key}_{size[1]}p_{frames}_s{seed}.mp4"
    print(f"generating {path.name} ...", flush=True)
    _, truth = greenscreen(path, frames=frames, size=size, key=key, crf=20, seed=seed)
    return path, [truth(i) for i in range(frames)]


def ffmpeg_seconds(src: Path, graph: str | None, repeat: int) -> float:
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(src)]
    if graph:
        cmd += ["-vf", graph]
    cmd += ["-f", "null", "-"]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def ffmpeg_alpha(src: Path, color: tuple[int, int, int], sim: float, blend: float, w: int, h: int):
    hexc = "0x{:02x}{:02x}{:02x}".format(*color)
    graph = f"chromakey={hexc}:{sim}:{blend},format=yuva420p,alphaextract"
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(src), "-vf", graph]
    cmd += ["-f", "rawvideo", "-pix_fmt", "gray", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return list(np.frombuffer(out, np.uint8).reshape(-1, h, w))


def matte_figures(src: Path, truth: list[np.ndarray], full: bool) -> dict:
    frames = list(VideoReader(src))
    recipe = Recipe.parse("chromakey").bind(VideoReader(src).info)
    ours = matte_errors((f.alpha for f in recipe.process(iter(frames))), truth, full=full).means()
    h, w = truth[0].shape
    color = pick_key_color(frames[0].image)
    scores = {}
    for sim, blend in GRID:
        a = ffmpeg_alpha(src, color, sim, blend, w, h)
        scores[(sim, blend)] = matte_errors(a, truth, full=False).means()["mad"]
    best = min(scores, key=scores.get)
    return {
        "frames": len(frames),
        "key": "#{:02x}{:02x}{:02x}".format(*color),
        "chromakey": ours,
        "ffmpeg_best": {"similarity": best[0], "blend": best[1], "mad": scores[best]},
        "ffmpeg_0.1_0.05": scores[(0.1, 0.05)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict = {"machine": machine(), "frames": args.frames, "speed_1080p": {}, "matte": {}}
    print(f"machine: {results['machine']}")

    src, truth_hd = clip("green", (1920, 1080), args.frames, seed=0)
    frames = list(VideoReader(src))
    info = VideoReader(src).info
    print(f"\n== speed at 1080p: {len(frames)} frames ==")
    speed = results["speed_1080p"]
    for label, text in RECIPES:
        fps = op_fps(Recipe.parse(text).bind(info), frames, args.repeat)
        speed[label] = fps
        ok = ("  OK" if fps >= TARGET_FPS else "  MISSED") if text == "chromakey" else ""
        print(f"  {label:<32} {fps:7.1f} fps{ok}", flush=True)
    decode = ffmpeg_seconds(src, None, args.repeat)
    keyed = ffmpeg_seconds(src, "chromakey=0x00ff00:0.1:0.05,format=yuva420p", args.repeat)
    ff_fps = len(frames) / max(keyed - decode, 1e-6)
    speed["ffmpeg decode only"] = len(frames) / decode
    speed["ffmpeg decode+chromakey"] = len(frames) / keyed
    speed["ffmpeg chromakey filter (minus decode)"] = ff_fps
    ours = speed["chromakey (alpha out)"]
    print(f"  ffmpeg decode only               {len(frames) / decode:7.1f} fps")
    print(f"  ffmpeg decode+chromakey+yuva420p {len(frames) / keyed:7.1f} fps")
    print(f"  ffmpeg chromakey (minus decode)  {ff_fps:7.1f} fps   ours / ffmpeg: {ours / ff_fps:.2f}x")

    print("\n== matte error (RVM scales: MAD, MSE x1e3, Grad /1e3, dtSSD x1e2) ==")
    cases = [("green 1080p", src, truth_hd, False)]
    for key in ("green", "blue"):
        path, truth = clip(key, (480, 270), 48, seed=3)
        cases.append((f"{key} 480x270", path, truth, True))
    for label, path, truth, full in cases:
        fig = matte_figures(path, truth, full)
        results["matte"][label] = fig
        m, fb = fig["chromakey"], fig["ffmpeg_best"]
        extra = f" grad {m['grad']:.2f} conn {m['conn']:.2f}" if full else ""
        print(
            f"  {label:<14} chromakey MAD {m['mad']:6.2f} MSE {m['mse']:5.2f} dtSSD {m['dtssd']:5.2f}{extra}"
            f" | ffmpeg best ({fb['similarity']}/{fb['blend']}) MAD {fb['mad']:6.2f},"
            f" 0.1/0.05 MAD {fig['ffmpeg_0.1_0.05']:6.2f}  (key {fig['key']})",
            flush=True,
        )
    (OUT / "chromakey.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
