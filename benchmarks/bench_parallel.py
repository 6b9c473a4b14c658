"""Benchmark: chunked execution across worker processes (issue 3).

1. Speed-up: a CPU-heavy recipe (`denoise`, non-local means) on a 720p clip with 2 workers vs
   1 worker (one thread each, so the figure is the chunk executor's scaling), plus 1 worker
   with every core's threads, and the peer: ffmpeg's own `nlmeans` filter on the same clip.
2. Memory: peak RSS of the whole process tree (coordinator + workers) for a 1-minute and a
   10-minute 720p input, 2 workers, a light recipe.

    python benchmarks/bench_parallel.py [--skip-memory]

Prints a table with ratios and writes benchmarks/out/parallel.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench_transcode import OUT, concat, ffmpeg_x264, frames_of, machine, timed
from vidlab.io.samples import generate

HEAVY = "denoise strength=5 search=7"
LIGHT = "denoise method=gaussian strength=6"


def vidlab(src: Path, dst: Path, recipe: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vidlab", "run", str(src), "-o", str(dst), "-r", recipe, "-q",
            "--preset", "veryfast", *extra]  # fmt: skip


def base_clip() -> Path:
    """5 s of 720p24 with a keyframe every 15 frames (generating is slow; longer inputs repeat it)."""
    src = OUT / "par_720p_8x15.mp4"
    if not src.exists():
        print(f"generating {src.name} ...", flush=True)
        generate(src, frames=120, size=(1280, 720), fps=24, audio=True, gop=15)
    return src


def speedup(repeat: int) -> dict[str, dict[str, float]]:
    src = base_clip()
    if repeat > 1:
        src = concat(src, repeat, OUT / f"par_720p_{repeat * 5}s.mp4")
    n = frames_of(src)
    chunked = ("--chunk-seconds", "0.6", "--workers")
    runs = {
        "vidlab 1 worker x 1 thread": vidlab(
            src, OUT / "p1.mp4", HEAVY, *chunked, "1", "--threads-per-worker", "1"
        ),
        "vidlab 2 workers x 1 thread": vidlab(
            src, OUT / "p2.mp4", HEAVY, *chunked, "2", "--threads-per-worker", "1"
        ),
        "vidlab 1 worker x 2 threads": vidlab(
            src, OUT / "p3.mp4", HEAVY, *chunked, "1", "--threads-per-worker", "2"
        ),
        "ffmpeg -vf nlmeans (2 threads)": ffmpeg_x264(
            src, OUT / "p_ff.mp4", crf=None, vf="nlmeans=s=5:p=5:r=7"
        ),
    }
    results = {}
    for label, cmd in runs.items():
        wall, peak = timed(cmd, tree=True)
        results[label] = {"frames": n, "seconds": wall, "fps": n / wall, "peak_rss_mib": peak}
        print(f"{label:>32}: {n} frames {wall:7.2f} s {n / wall:6.2f} fps  peak {peak:5.0f} MiB", flush=True)
    return results


def memory() -> dict[str, dict[str, float]]:
    clip = base_clip()
    results = {}
    for label, times in (("1 min", 12), ("10 min", 120)):
        src = concat(clip, times, OUT / f"par_720p_{times * 5}s.mp4")
        n = frames_of(src)
        cmd = vidlab(src, OUT / "m.mp4", LIGHT, "--workers", "2", "--preset", "ultrafast")
        wall, peak = timed(cmd, tree=True)
        results[label] = {"frames": n, "seconds": wall, "fps": n / wall, "peak_rss_mib": peak}
        print(
            f"{label:>7}: {n} frames {wall:7.1f} s {n / wall:6.1f} fps  peak (all processes) {peak:5.0f} MiB"
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--speed-repeat", type=int, default=2, help="speed-up clip = 5 s x this")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    data: dict = {"machine": machine()}
    print(f"machine: {data['machine']}")
    if not args.skip_speed:
        s = data["speedup"] = speedup(args.speed_repeat)
        one = s["vidlab 1 worker x 1 thread"]["fps"]
        data["speedup_2_vs_1_workers"] = s["vidlab 2 workers x 1 thread"]["fps"] / one
        data["speedup_1_worker_2_threads_vs_1"] = s["vidlab 1 worker x 2 threads"]["fps"] / one
        data["vidlab_2_workers_vs_ffmpeg_nlmeans"] = (
            s["vidlab 2 workers x 1 thread"]["fps"] / s["ffmpeg -vf nlmeans (2 threads)"]["fps"]
        )
        print(f"2 workers / 1 worker: {data['speedup_2_vs_1_workers']:.2f}x (target >= 1.7x)")
        print(f"1 worker with 2 threads / 1 thread: {data['speedup_1_worker_2_threads_vs_1']:.2f}x")
        print(f"vidlab 2 workers / ffmpeg nlmeans: {data['vidlab_2_workers_vs_ffmpeg_nlmeans']:.2f}x")
    if not args.skip_memory:
        m = data["memory"] = memory()
        data["peak_memory_10min_vs_1min"] = m["10 min"]["peak_rss_mib"] / m["1 min"]["peak_rss_mib"]
        print(f"peak memory 10 min / 1 min: {data['peak_memory_10min_vs_1min']:.2f} (target: flat)")
    name = "parallel" + ("_memory" if args.skip_speed else "") + ("_speed" if args.skip_memory else "")
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
