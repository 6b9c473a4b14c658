"""Benchmark: the stylizers at 1080p and 720p.

1. The op alone on decoded frames held in memory (what the targets in issue 4 are about), beside
   OpenCV's built-in cv2.pencilSketch and cv2.stylization on the same frames, with ratios.
2. End to end through the CLI: decode -> style -> libx264 veryfast, beside the ffmpeg CLI doing
   decode -> libx264 veryfast with no filter (the I/O ceiling).

Writes benchmarks/out/styles.json.

    python benchmarks/bench_styles.py [--frames 60] [--sizes 1080,720]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench_transcode import OUT, ffmpeg_x264, machine, timed
from vidlab.core.frame import Frame
from vidlab.io.reader import VideoReader
from vidlab.io.samples import generate
from vidlab.ops.grade import read_cube, resolve_lut
from vidlab.pipeline.recipe import Recipe

# (label, recipe, target fps for the op alone at 1080p or None)
OPS = [
    ("pencil", "pencil", 40.0),
    ("pencil color+paper", "pencil color=true paper=procedural", None),
    ("cartoon", "cartoon", 20.0),
    ("comic", "comic", 20.0),
    ("lut+tone+vignette", "lut file=teal_orange interp=trilinear | tone | vignette", 40.0),
    ("lut tetrahedral", "lut file=teal_orange interp=tetrahedral", None),
    ("bloom", "bloom", None),
    ("grain", "grain", None),
    ("flow_stabilize", "flow_stabilize", None),
    ("edge_stabilize", "edge_stabilize", None),
]
# End to end: each style's Balanced preset, as `vidlab stylize` runs it.
STYLES = ["pencil", "cartoon", "comic", "cinematic"]


def clip(height: int, frames: int) -> Path:
    OUT.mkdir(exist_ok=True)
    width = height * 16 // 9
    path = OUT / f"styles_{height}p_{frames}.mp4"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        generate(path, frames=frames, size=(width, height), fps=30, crf=18)
    return path


def op_fps(recipe: Recipe, frames: list[Frame], repeat: int = 2) -> float:
    """Best-of-``repeat`` frames per second of the recipe alone (after a 3-frame warm-up that
    builds tables and caches, as a long video would amortize)."""
    for _ in recipe.process(iter(frames[:3])):
        pass
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in recipe.process(iter(frames)):
            pass
        best = min(best, time.perf_counter() - t0)
    return len(frames) / best


def opencv_fps(fn, images: list[np.ndarray]) -> float:
    fn(images[0])
    t0 = time.perf_counter()
    for img in images:
        fn(img)
    return len(images) / (time.perf_counter() - t0)


def bgr(fn):
    return lambda rgb: fn(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def naive_cartoon(rgb: np.ndarray) -> np.ndarray:
    """The textbook recipe at full resolution: bilateral, k-means on every pixel, threshold edges."""
    smooth = cv2.bilateralFilter(rgb, 9, 75, 75)
    data = smooth.reshape(-1, 3).astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, labels, centers = cv2.kmeans(data, 8, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    flat = centers.astype(np.uint8)[labels.ravel()].reshape(rgb.shape)
    gray = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 7)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 2)
    return cv2.bitwise_and(flat, flat, mask=edges)


def naive_lut(table: np.ndarray):
    """Trilinear 3D LUT computed per pixel in NumPy floats (what a straightforward port does)."""
    n = table.shape[0]

    def apply(rgb: np.ndarray) -> np.ndarray:
        x = rgb.astype(np.float32) * ((n - 1) / 255.0)
        i = np.minimum(x.astype(np.int32), n - 2)
        f = x - i
        r, g, b = i[..., 0], i[..., 1], i[..., 2]
        fr, fg, fb = f[..., 0:1], f[..., 1:2], f[..., 2:3]
        out = 0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dg, wg in ((0, 1 - fg), (1, fg)):
                for db, wb in ((0, 1 - fb), (1, fb)):
                    out = out + table[r + dr, g + dg, b + db] * (wr * wg * wb)
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)

    return apply


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", default="1080,720")
    ap.add_argument("--peer-frames", type=int, default=3, help="frames for the slow OpenCV peers")
    args = ap.parse_args()
    results: dict = {"machine": machine(), "frames": args.frames, "sizes": {}}
    print(f"machine: {results['machine']}")
    for height in (int(s) for s in args.sizes.split(",")):
        src = clip(height, args.frames)
        frames = list(VideoReader(src))
        images = [f.image for f in frames[: args.peer_frames]]
        res: dict = {"ops": {}, "peers": {}, "end_to_end": {}}
        print(f"\n== {height}p: {len(frames)} frames ==")
        peers = {
            "cv2.pencilSketch": bgr(
                lambda x: cv2.pencilSketch(x, sigma_s=60, sigma_r=0.07, shade_factor=0.05)
            ),
            "cv2.stylization": bgr(lambda x: cv2.stylization(x, sigma_s=60, sigma_r=0.45)),
            "naive bilateral+k-means cartoon": naive_cartoon,
            "naive NumPy trilinear LUT 33^3": naive_lut(read_cube(resolve_lut("teal_orange")).table),
        }
        for name, fn in peers.items():
            res["peers"][name] = opencv_fps(fn, images)
            print(f"  {name:<32} {res['peers'][name]:7.2f} fps  (peer, {len(images)} frames)")
        sketch = res["peers"]["cv2.pencilSketch"]
        styl = res["peers"]["cv2.stylization"]
        for label, text, target in OPS:
            fps = op_fps(Recipe.parse(text), frames)
            res["ops"][label] = {"recipe": text, "fps": fps, "target_1080p": target}
            goal = f"  target >= {target:g}" if target and height == 1080 else ""
            ok = "" if not goal else ("  OK" if fps >= target else "  MISSED")
            print(
                f"  {label:<22} {fps:7.1f} fps  {fps / sketch:6.1f}x pencilSketch  "
                f"{fps / styl:6.1f}x stylization{goal}{ok}",
                flush=True,
            )
        ff_out = OUT / f"styles_ff_{height}.mp4"
        ff = ffmpeg_x264(src, ff_out, audio=False)
        wall, _ = timed(ff)
        ff_fps = res["end_to_end"]["ffmpeg (no filter)"] = len(frames) / wall
        print(f"  end to end, ffmpeg decode->x264 veryfast (no filter): {len(frames) / wall:6.1f} fps")
        for style in STYLES:
            cmd = [sys.executable, "-m", "vidlab", "stylize", str(src), "-o", str(OUT / f"styled_{height}"),
                   "--style", style, "--encoder-preset", "veryfast", "--crf", "20"]  # fmt: skip
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            # The runner's own figure (decode -> style -> encode, without interpreter start-up).
            run_fps = float(re.search(r"([\d.]+) fps\)", done.stdout).group(1))
            res["end_to_end"][style] = {"fps": run_fps, "fps_incl_startup": len(frames) / wall}
            print(
                f"  end to end, vidlab stylize {style:<10} (Balanced): {run_fps:6.1f} fps "
                f"({len(frames) / wall:.1f} with start-up)  {run_fps / ff_fps:.2f}x ffmpeg",
                flush=True,
            )
        results["sizes"][f"{height}p"] = res
    (OUT / "styles.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
