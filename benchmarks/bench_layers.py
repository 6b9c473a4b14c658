"""Benchmark: the layers pipeline at 720p on 2 CPU cores (issue 17).

1. ``segment + refine`` (guided) speed at 1280x720, for the background model (median) and for
   MediaPipe's selfie segmenter (when installed: ``vidlab models install mediapipe``):
   - the two ops alone on decoded frames held in memory (``Recipe.process``), and
   - end to end through ``execute`` in one pass (decode H.264, both ops, encode the RGBA layer
     as FFV1), the way a one-pass run of the two stages would go;
   beside the peer, OpenCV's own background subtractor (``cv2.createBackgroundSubtractorMOG2``,
   its bare ``apply``, no refinement) on the same frames. Target: >= 10 fps.
2. The full staged pipeline (``vidlab.layers.run_layers``: segment, refine, temporal, inpaint,
   annotate, each stage its own pass with its folder, PNG sequences and FFV1 layer) on the same
   clip: seconds per stage.

The clip: ``io.matte_clips.matte_clip`` (a photographed person cut by a soft alpha over a real
photograph, static camera, sensor noise, H.264 CRF 20). Writes benchmarks/out/layers.json.

    python benchmarks/bench_layers.py [--frames 60]
"""

from __future__ import annotations

import argparse
import json
import time

import cv2

from bench_transcode import OUT, machine
from vidlab.io.codecs import EncodeSettings
from vidlab.io.matte_clips import matte_clip
from vidlab.io.reader import VideoReader
from vidlab.pipeline.entry import execute
from vidlab.pipeline.recipe import Recipe

TARGET_FPS = 10.0
RECIPES = {
    "background + refine": "segment_background | matte_refine",
    "mediapipe + refine": "segment_person | matte_refine",
}


def ops_fps(frames: list, recipe: str) -> float:
    """The recipe over frames in memory, best of two runs (the first also warms up)."""
    best = 0.0
    for _ in range(2):
        r = Recipe.parse(recipe)
        t0 = time.perf_counter()
        n = sum(1 for _ in r.process(iter(frames)))
        best = max(best, n / (time.perf_counter() - t0))
    return best


def mediapipe_ready() -> bool:
    try:
        from vidlab.ml.registry import get_model

        get_model("mediapipe_selfie")
        return True
    except Exception:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    src = OUT / f"layers_720p_{args.frames}.mp4"
    clip = matte_clip(src, width=1280, height=720, frames=args.frames, kind="photo", camera="static", crf=20)
    frames = list(VideoReader(clip.path))
    results: dict = {"machine": machine(), "clip": src.name, "frames": len(frames), "rows": {}}

    images = [f.image for f in frames]
    cv2.setNumThreads(2)
    best = 0.0
    for _ in range(2):
        mog = cv2.createBackgroundSubtractorMOG2(history=120, varThreshold=16, detectShadows=False)
        t0 = time.perf_counter()
        for im in images:
            mog.apply(im)
        best = max(best, len(images) / (time.perf_counter() - t0))
    results["peer_opencv_mog2_fps"] = best
    print(f"peer: OpenCV MOG2 apply (bare, no refine)   {best:6.1f} fps", flush=True)

    for label, recipe in RECIPES.items():
        if "segment_person" in recipe and not mediapipe_ready():
            print(f"{label}: skipped (run `vidlab models install mediapipe`)")
            continue
        mem = ops_fps(frames, recipe)
        out = OUT / "layers_onepass.mkv"
        t0 = time.perf_counter()
        res = execute(clip.path, out, recipe, EncodeSettings(codec="ffv1"), copy_audio=False)
        e2e = res.frames / (time.perf_counter() - t0)
        results["rows"][label] = {
            "recipe": recipe,
            "ops_in_memory_fps": mem,
            "execute_ffv1_fps": e2e,
            "ops_vs_peer": mem / results["peer_opencv_mog2_fps"],
        }
        print(
            f"{label:22s} ops in memory {mem:6.1f} fps ({mem / best:.2f}x the peer)   "
            f"execute -> FFV1 RGBA {e2e:5.1f} fps   target >= {TARGET_FPS:g}",
            flush=True,
        )

    from vidlab.layers.run import run_layers

    outdir = OUT / "layers_pipeline"
    t0 = time.perf_counter()
    run = run_layers(clip.path, outdir, force=True)
    total = time.perf_counter() - t0
    stages = {name: st.get("seconds") for name, st in run.report["stages"].items()}
    results["pipeline"] = {"seconds_per_stage": stages, "total_seconds": total}
    print("full pipeline, seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(f"total {total:.1f} s for {len(frames)} frames ({len(frames) / total:.1f} fps over five passes)")
    path = OUT / "layers.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
