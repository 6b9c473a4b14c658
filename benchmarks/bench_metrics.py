"""Benchmark: full-reference quality metrics on a 720p pair, vidlab beside the ffmpeg CLI and the
peer package ffmpeg-quality-metrics (ffqm), all in the same run.

Reference: a generated 720p30 clip (`vidlab.io.samples`, CRF 18). Distorted: the same clip
re-encoded by the ffmpeg binary with libx264 veryfast CRF 32. Every command is a child process
(wall clock includes interpreter / process start), best of ``--repeat``, the tools interleaved
round by round so that a burst of load on a shared machine hits them alike. CPU seconds (user +
system, the process and its children, least of the rounds) are printed beside wall seconds.

1. PSNR+SSIM: `vidlab metrics REF DIST --json` vs `ffmpeg -lavfi "...psnr...;...ssim..."` (one
   pass, per-frame stats files) vs `ffmpeg-quality-metrics DIST REF -m psnr ssim`.
2. VMAF: `vidlab metrics REF DIST --vmaf --json` (the CLI always computes PSNR/SSIM too) and the
   library call `quality(..., psnr=False, ssim=False, vmaf=True)` in `python -c`, vs the ffmpeg
   CLI's libvmaf (n_threads=2), the ffmpeg CLI computing all three in one pass, and
   `ffmpeg-quality-metrics DIST REF -m vmaf --vmaf-threads 2`.

Also checks that the numbers agree (PSNR-Y, SSIM-Y and VMAF means). ffqm is not a vidlab
dependency: install it for the benchmark (`pip install ffmpeg-quality-metrics`); it wants an
`ffmpeg` on PATH, so imageio-ffmpeg's binary is linked as `ffmpeg` in a temp dir put first on
PATH (there is no ffprobe there: ffqm then warns and skips its input checks).
Writes benchmarks/out/metrics.json.

    python benchmarks/bench_metrics.py [--frames 300] [--repeat 3] [--crf 32]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from bench_transcode import OUT, ffmpeg_x264, frames_of, machine, timed
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.samples import generate
from vidlab.metrics.quality import quality

TARGETS = {"psnr_ssim": 0.8, "vmaf": 0.9}
VMAF_THREADS = 2


def make_pair(frames: int, crf: int) -> tuple[Path, Path]:
    OUT.mkdir(exist_ok=True)
    ref = OUT / f"metrics_ref_720p_{frames}.mp4"
    dist = OUT / f"metrics_dist_720p_{frames}_crf{crf}.mp4"
    if not ref.exists():
        print(f"generating {ref.name} ...", flush=True)
        generate(ref, frames=frames, size=(1280, 720), fps=30, crf=18)
    if not dist.exists():
        print(f"encoding {dist.name} (libx264 veryfast CRF {crf}) ...", flush=True)
        subprocess.run(ffmpeg_x264(ref, dist, crf=crf, audio=False), check=True)
    return ref, dist


def ffqm_cmd() -> list[str] | None:
    """The ffmpeg-quality-metrics console script, or None when the package is not installed."""
    if importlib.util.find_spec("ffmpeg_quality_metrics") is None:
        return None
    script = Path(sys.executable).with_name("ffmpeg-quality-metrics")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ffmpeg_quality_metrics"]


def ffmpeg_on_path() -> Path:
    """A temp dir holding imageio-ffmpeg's binary as ``ffmpeg``, put first on PATH (children inherit)."""
    bindir = Path(tempfile.mkdtemp(prefix="bench-metrics-bin-"))
    (bindir / "ffmpeg").symlink_to(ffmpeg_exe())
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    return bindir


def commands(ref: Path, dist: Path) -> dict[str, dict[str, list[str]]]:
    ff = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(dist), "-i", str(ref)]
    psnr_log, ssim_log, vmaf_log = OUT / "ff_psnr.log", OUT / "ff_ssim.log", OUT / "ff_vmaf.json"
    vmaf_opts = f"n_threads={VMAF_THREADS}:log_fmt=json:log_path={vmaf_log}"
    vidlab = [sys.executable, "-m", "vidlab", "metrics", str(ref), str(dist), "--json"]
    lib = "import sys; from vidlab.metrics.quality import quality; quality(sys.argv[1], sys.argv[2]{})"
    groups: dict[str, dict[str, list[str]]] = {
        "psnr_ssim": {
            "ffmpeg CLI psnr+ssim": [
                *ff, "-lavfi",
                f"[0:v]split[a][b];[1:v]split[c][d];[a][c]psnr=stats_file={psnr_log};"
                f"[b][d]ssim=stats_file={ssim_log}",
                "-f", "null", "-",
            ],
            "vidlab metrics --json": vidlab,
            "vidlab quality() psnr+ssim": [sys.executable, "-c", lib.format(""), str(ref), str(dist)],
        },
        "vmaf": {
            "ffmpeg CLI libvmaf": [*ff, "-lavfi", f"[0:v][1:v]libvmaf={vmaf_opts}", "-f", "null", "-"],
            "vidlab quality() vmaf only": [
                sys.executable, "-c", lib.format(", psnr=False, ssim=False, vmaf=True"), str(ref), str(dist)
            ],
            "vidlab metrics --vmaf --json": [*vidlab, "--vmaf"],
            "ffmpeg CLI psnr+ssim+libvmaf": [
                *ff, "-lavfi",
                "[0:v]split=3[a][b][e];[1:v]split=3[c][d][f];[a][c]psnr;[b][d]ssim;"
                f"[e][f]libvmaf=n_threads={VMAF_THREADS}",
                "-f", "null", "-",
            ],
        },
    }  # fmt: skip
    peer = ffqm_cmd()
    if peer is not None:
        groups["psnr_ssim"]["ffmpeg-quality-metrics psnr ssim"] = [
            *peer, str(dist), str(ref), "-m", "psnr", "ssim", "-o", str(OUT / "ffqm_psnr_ssim.json"),
        ]  # fmt: skip
        groups["vmaf"]["ffmpeg-quality-metrics vmaf"] = [
            *peer, str(dist), str(ref), "-m", "vmaf", "--vmaf-threads", str(VMAF_THREADS),
            "-o", str(OUT / "ffqm_vmaf.json"),
        ]  # fmt: skip
    return groups


def child_cpu() -> float:
    """User+system CPU seconds of all waited-for children (and theirs) so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_group(cmds: dict[str, list[str]], frames: int, repeat: int) -> dict[str, dict]:
    """Best wall clock, least CPU time and highest peak RSS of each command over ``repeat``
    rounds. CPU seconds are less disturbed by other load than wall seconds on a shared machine."""
    best = {name: [float("inf"), float("inf"), 0.0] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            cpu0 = child_cpu()
            wall, rss = timed(cmd, tree=True)
            b = best[name]
            b[:] = [min(b[0], wall), min(b[1], child_cpu() - cpu0), max(b[2], rss)]
    return {
        name: {"seconds": s, "fps": frames / s, "cpu_seconds": cpu, "peak_rss_mib": rss, "cmd": cmds[name]}
        for name, (s, cpu, rss) in best.items()
    }


def stats_file_mean(path: Path, key: str) -> float:
    """Mean of ``key`` over the frames of an ffmpeg psnr/ssim stats file (``k:v`` pairs)."""
    vals = []
    for line in path.read_text().splitlines():
        fields = dict(kv.split(":", 1) for kv in line.split() if ":" in kv)
        vals.append(float(fields[key]))
    return float(np.mean(vals))


def agreement(ref: Path, dist: Path, have_peer: bool) -> dict[str, dict[str, float]]:
    """The same figures from each tool (vidlab in process: the code path the CLI calls)."""
    g = quality(ref, dist, vmaf=True).global_()
    out = {
        "psnr_y_mean": {
            "vidlab": g["psnr"]["psnr_y"]["mean"],
            "ffmpeg (per-frame stats file, 2 decimals)": stats_file_mean(OUT / "ff_psnr.log", "psnr_y"),
        },
        "ssim_y_mean": {
            "vidlab": g["ssim"]["ssim_y"]["mean"],
            "ffmpeg (per-frame stats file)": stats_file_mean(OUT / "ff_ssim.log", "Y"),
        },
        "vmaf_mean": {
            "vidlab": g["vmaf"]["vmaf"]["mean"],
            "ffmpeg libvmaf (pooled mean)": json.loads((OUT / "ff_vmaf.json").read_text())["pooled_metrics"][
                "vmaf"
            ]["mean"],
        },
    }
    if have_peer:
        pg = json.loads((OUT / "ffqm_psnr_ssim.json").read_text())["global"]
        out["psnr_y_mean"]["ffmpeg-quality-metrics (3 decimals)"] = pg["psnr"]["psnr_y"]["average"]
        out["ssim_y_mean"]["ffmpeg-quality-metrics (3 decimals)"] = pg["ssim"]["ssim_y"]["average"]
        vg = json.loads((OUT / "ffqm_vmaf.json").read_text())["global"]
        out["vmaf_mean"]["ffmpeg-quality-metrics (3 decimals)"] = vg["vmaf"]["vmaf"]["average"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--crf", type=int, default=32, help="x264 CRF of the distorted clip")
    args = ap.parse_args()
    ref, dist = make_pair(args.frames, args.crf)
    n = frames_of(ref)
    assert frames_of(dist) == n, "distorted clip lost frames"
    bindir = ffmpeg_on_path()
    peer = ffqm_cmd()
    versions = {"pyav": av.__version__, "ffmpeg_binary": Path(ffmpeg_exe()).name}
    try:
        versions["ffmpeg-quality-metrics"] = importlib.metadata.version("ffmpeg-quality-metrics")
    except importlib.metadata.PackageNotFoundError:
        versions["ffmpeg-quality-metrics"] = "not installed (pip install ffmpeg-quality-metrics)"
    results: dict = {
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "versions": versions,
        "frames": n,
        "size": "1280x720",
        "distorted": f"libx264 veryfast crf {args.crf}",
        "repeat": args.repeat,
        "ffmpeg_on_path": str(bindir / "ffmpeg"),
        "groups": {},
    }
    print(f"machine: {results['machine']}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in results['load_average_at_start'])}")
    print(f"versions: {versions}")
    print(f"pair: {ref.name} vs {dist.name}, {n} frames, best of {args.repeat}\n")

    for group, cmds in commands(ref, dist).items():
        res = run_group(cmds, n, args.repeat)
        ff_name = next(name for name in res if name.startswith("ffmpeg CLI"))
        ff_fps = res[ff_name]["fps"]
        for r in res.values():
            r["vs_ffmpeg_cli"] = r["fps"] / ff_fps
        results["groups"][group] = res
        print(f"== {group} ==  (ratios: fps / fps of '{ff_name}')")
        print(f"  {'tool':<34} {'seconds':>8} {'fps':>7} {'ratio':>7} {'CPU s':>6} {'peak RSS':>9}")
        for name, r in res.items():
            print(
                f"  {name:<34} {r['seconds']:8.2f} {r['fps']:7.1f} {r['vs_ffmpeg_cli']:6.2f}x "
                f"{r['cpu_seconds']:6.2f} {r['peak_rss_mib']:5.0f} MiB"
            )
        print()

    g = results["groups"]
    checks = {  # label: (target group, ratio)
        "PSNR+SSIM (CLI --json)": ("psnr_ssim", g["psnr_ssim"]["vidlab metrics --json"]["vs_ffmpeg_cli"]),
        "VMAF (library, VMAF only)": ("vmaf", g["vmaf"]["vidlab quality() vmaf only"]["vs_ffmpeg_cli"]),
        "VMAF (CLI --vmaf, +PSNR/SSIM)": ("vmaf", g["vmaf"]["vidlab metrics --vmaf --json"]["vs_ffmpeg_cli"]),
    }
    results["targets"] = {}
    for label, (group, ratio) in checks.items():
        target = TARGETS[group]
        met = ratio >= target
        results["targets"][label] = {"ratio": ratio, "target": target, "met": met}
        print(f"vidlab/ffmpeg {label}: {ratio:.2f}x (target >= {target:.2f}x) {'OK' if met else 'MISSED'}")
    all_three = (
        g["vmaf"]["vidlab metrics --vmaf --json"]["fps"] / g["vmaf"]["ffmpeg CLI psnr+ssim+libvmaf"]["fps"]
    )
    results["groups"]["vmaf"]["vidlab metrics --vmaf --json"]["vs_ffmpeg_cli_all_three"] = all_three
    print(f"vidlab --vmaf / ffmpeg CLI psnr+ssim+libvmaf in one pass (like for like): {all_three:.2f}x")
    if peer is not None:
        for group, name in (("psnr_ssim", "vidlab metrics --json"), ("vmaf", "vidlab metrics --vmaf --json")):
            peer_name = next(k for k in g[group] if k.startswith("ffmpeg-quality-metrics"))
            ratio = g[group][name]["fps"] / g[group][peer_name]["fps"]
            results["groups"][group][name]["vs_ffmpeg_quality_metrics"] = ratio
            print(f"vidlab/ffmpeg-quality-metrics {group} ({name}): {ratio:.2f}x")

    print("\nagreement:")
    results["agreement"] = agreement(ref, dist, peer is not None)
    for metric, vals in results["agreement"].items():
        print(f"  {metric}: " + ", ".join(f"{k} {v:.4f}" for k, v in vals.items()))
    results["load_average_at_end"] = os.getloadavg()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in results['load_average_at_end'])}")
    (OUT / "metrics.json").write_text(json.dumps(results, indent=2))
    shutil.rmtree(bindir, ignore_errors=True)
    print(f"wrote {OUT / 'metrics.json'}")


if __name__ == "__main__":
    main()
