"""Benchmark: the `identity` recipe, 1080p H.264 -> libx264 veryfast CRF 20, through vidlab and
through the ffmpeg CLI (imageio-ffmpeg's binary) in the same run, plus peak memory for a clip
10x longer. Prints a table with ratios and writes benchmarks/out/transcode.json.

    python benchmarks/bench_transcode.py [--frames 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import av

from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.samples import generate

OUT = Path(__file__).resolve().parent / "out"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def timed(cmd: list[str], tree: bool = False) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, sampled every 20 ms) of one child process, summed over
    its own children too when ``tree`` (vidlab's worker processes).

    (``ru_maxrss`` from wait4 is useless here: Linux carries the parent's high-water mark
    across fork+exec, so every child reports the benchmark's own peak.)"""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)] if tree else [root]
        except psutil.NoSuchProcess:
            break
        rss = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                rss += p.memory_info().rss
        peak = max(peak, rss)
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, peak / 2**20


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(video=0) if p.size)


def concat(src: Path, times: int, dst: Path) -> Path:
    """``src`` repeated ``times`` times by stream copy (fast to make, real H.264 to decode)."""
    if not dst.exists():
        listing = OUT / f"concat_{dst.stem}.txt"
        listing.write_text("".join(f"file '{src.name}'\n" for _ in range(times)))
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-c", "copy", str(dst)], check=True)  # fmt: skip
    return dst


def make_clips(frames: int) -> tuple[Path, Path]:
    OUT.mkdir(exist_ok=True)
    short = OUT / f"src_1080p_{frames}.mp4"
    long = OUT / f"src_1080p_{frames * 10}.mp4"
    if not short.exists():
        print(f"generating {short.name} ...", flush=True)
        generate(short, frames=frames, size=(1920, 1080), fps=30, crf=18, audio=True)
    concat(short, 10, long)
    return short, long


def ffmpeg_x264(
    src: Path, dst: Path, *, crf: int | None = 20, vf: str | None = None, audio: bool = True
) -> list[str]:
    """The ffmpeg CLI peer: decode ``src`` (through ``-vf`` if given), libx264 veryfast."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src)]
    cmd += ["-vf", vf] if vf else []
    cmd += ["-c:v", "libx264", "-preset", "veryfast"]
    cmd += ["-crf", str(crf)] if crf is not None else []
    cmd += ["-c:a", "copy"] if audio else ["-an"]
    return [*cmd, str(dst)]


def vidlab_cmd(src: Path, dst: Path, recipe: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vidlab",
        "run",
        str(src),
        "-o",
        str(dst),
        "--recipe",
        recipe,
        "--codec",
        "libx264",
        "--preset",
        "veryfast",
        "--crf",
        "20",
        "-q",
        *extra,
    ]


def commands(src: Path, label: str) -> dict[str, list[str]]:
    """The peer and vidlab's identity as a user runs it (the 10 s clip in one stream, the 100 s
    clip as a chunked job on one worker per core), plus the other mode on each clip so that
    memory compares like for like; on the short clip also identity through RGB and back (what
    any pixel-changing recipe pays)."""
    cmds = {
        "ffmpeg": ffmpeg_x264(src, OUT / f"ff_{label}.mp4"),
        "vidlab": vidlab_cmd(src, OUT / f"vl_{label}.mp4", "identity"),
    }
    if label == "1x":
        cmds["vidlab_rgb"] = vidlab_cmd(src, OUT / "vlrgb_1x.mp4", "identity via_rgb=true")
        cmds["vidlab_chunked"] = vidlab_cmd(src, OUT / "vlch_1x.mp4", "identity", "--chunk-seconds", "2.5")
    else:
        cmds["vidlab_stream"] = vidlab_cmd(src, OUT / "vlst_10x.mp4", "identity", "--chunk-seconds", "0")
    return cmds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    short, long = make_clips(args.frames)
    results: dict[str, dict] = {"machine": machine(), "frames": args.frames, "runs": {}}
    print(f"machine: {results['machine']}")
    t_start = time.time()
    for label, src in (("1x", short), ("10x", long)):
        n = frames_of(src)
        repeat = args.repeat if label == "1x" else 1
        for tool, cmd in commands(src, label).items():
            best_wall, peak = float("inf"), 0.0
            for _ in range(repeat):
                wall, rss = timed(cmd, tree=tool.startswith("vidlab"))  # workers count too
                best_wall, peak = min(best_wall, wall), max(peak, rss)
            results["runs"][f"{tool}_{label}"] = {
                "frames": n,
                "seconds": best_wall,
                "fps": n / best_wall,
                "peak_rss_mib": peak,
            }
            print(
                f"{tool:>10} {label:>4}: {n:5d} frames  {best_wall:7.2f} s  {n / best_wall:6.1f} fps  "
                f"peak {peak:6.0f} MiB",
                flush=True,
            )
        for name in ("vl", "vlst", "vlch", "vlrgb"):
            out = OUT / f"{name}_{label}.mp4"
            if out.exists() and out.stat().st_mtime > t_start:
                assert frames_of(out) == n, f"{out.name} lost frames"
    r = results["runs"]
    results["fps_ratio_vidlab_vs_ffmpeg"] = r["vidlab_1x"]["fps"] / r["ffmpeg_1x"]["fps"]
    results["fps_ratio_vidlab_via_rgb_vs_ffmpeg"] = r["vidlab_rgb_1x"]["fps"] / r["ffmpeg_1x"]["fps"]
    results["fps_ratio_vidlab_vs_ffmpeg_10x"] = r["vidlab_10x"]["fps"] / r["ffmpeg_10x"]["fps"]
    results["vidlab_peak_memory_ratio_10x_vs_1x"] = {
        "one stream": r["vidlab_stream_10x"]["peak_rss_mib"] / r["vidlab_1x"]["peak_rss_mib"],
        "chunked": r["vidlab_10x"]["peak_rss_mib"] / r["vidlab_chunked_1x"]["peak_rss_mib"],
    }
    results["ffmpeg_peak_memory_ratio_10x_vs_1x"] = (
        r["ffmpeg_10x"]["peak_rss_mib"] / r["ffmpeg_1x"]["peak_rss_mib"]
    )
    print(
        f"vidlab/ffmpeg fps: {results['fps_ratio_vidlab_vs_ffmpeg']:.2f}x (target >= 0.80x); "
        f"10x clip: {results['fps_ratio_vidlab_vs_ffmpeg_10x']:.2f}x; "
        f"through RGB and back: {results['fps_ratio_vidlab_via_rgb_vs_ffmpeg']:.2f}x"
    )
    mem = results["vidlab_peak_memory_ratio_10x_vs_1x"]
    print(
        f"vidlab peak memory 10x/1x (process tree): one stream {mem['one stream']:.2f}, "
        f"chunked {mem['chunked']:.2f} (target < 1.2); "
        f"ffmpeg: {results['ffmpeg_peak_memory_ratio_10x_vs_1x']:.2f}"
    )
    (OUT / "transcode.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
