"""Benchmark: the learned ``neural_enhance`` against the classical enhancers and FFmpeg's
post-processing filters, on held-out, camera-like 720p footage encoded with H.264 at low bitrates.

The clips are :func:`vidlab.io.footage.held_out_specs` (astronaut, coffee, chelsea, rocket: photographs
the model never trained on, with camera motion, non-rigid subjects, motion blur, exposure
flicker and sensor noise), 1280x720, 30 fps, written losslessly (FFV1) as the reference. Each is
encoded with libx264 (two-pass, preset medium, x264's own in-loop deblocking on, as in real
files) at 200 and 400 kbps through the codec lab (:func:`vidlab.lab.codec.codec_test`), decoded,
and every enhancer is run on the same decode and measured against the reference (PSNR-Y,
SSIM-Y, VMAF):

- vidlab's ``neural_enhance``, ``bilateral``, ``sharpen``, ``deblock`` and the ``combined`` preset,
  timed inside the recipe (the runner's ops stage);
- peers in the same run: FFmpeg's ``spp`` (simple post-processing, quality 6 at qp 12 and
  quality 4 at qp 8), ``pp7`` (qp 8) and ``deblock`` filters, through the ffmpeg CLI (decode +
  filter + FFV1 encode, minus a plain decode + FFV1 encode of the same file).

Targets (issue 14): ``neural_enhance`` raises mean PSNR-Y by >= 0.5 dB over the decode, beats every
classical enhancer on PSNR and SSIM, and runs at >= 5 fps at 720p on 2 CPU cores.

    python benchmarks/bench_enhancer.py [--frames 60] [--bitrates 200,400] [--no-vmaf]

Writes benchmarks/out/enhancer.json and prints the tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_transcode import OUT, machine
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.footage import held_out_specs, write_footage
from vidlab.lab.codec import QualitySummary, codec_test, evaluate_enhancer
from vidlab.metrics.quality import quality
from vidlab.pipeline.presets import recipe_or_preset

CLIPS = Path("bench-out/enhancer")
ENHANCERS = ["neural_enhance", "bilateral", "sharpen", "deblock", "combined"]
# H.264 streams carry no quantiser table FFmpeg's filters can read, so spp and pp7 get a fixed qp
# (without one spp does nothing and pp7 wrecks the picture); these were the best of a small grid
# (spp quality 4/6 x qp 8/12/16, pp7 qp 8/16) on a held-out clip at 200 kbps.
PEERS = {
    "ffmpeg spp=6:qp=12": "spp=quality=6:qp=12",
    "ffmpeg spp=4:qp=8": "spp=quality=4:qp=8",
    "ffmpeg pp7=qp=8": "pp7=qp=8",
    "ffmpeg deblock": "deblock",
}


def make_clips(frames: int, size: tuple[int, int]) -> list[Path]:
    CLIPS.mkdir(parents=True, exist_ok=True)
    out = []
    for spec in held_out_specs():
        path = CLIPS / f"{spec.photo}-{spec.motion}-{size[1]}p.mkv"
        if not path.exists():
            write_footage(path, spec, frames=frames, size=size, codec="ffv1", crf=None)
        out.append(path)
    return out


def _ffmpeg_seconds(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
    return time.perf_counter() - t0


def peer(
    src: Path, decoded: Path, filt: str, out: Path, frames: int, vmaf: bool
) -> tuple[QualitySummary, float]:
    """An FFmpeg filter on the decode: (quality, ms per frame of the filter alone)."""
    common = ["-i", str(decoded), "-frames:v", str(frames), "-an"]
    plain = _ffmpeg_seconds([*common, "-c:v", "ffv1", str(out)])
    filtered = _ffmpeg_seconds([*common, "-vf", filt, "-c:v", "ffv1", str(out)])
    q = QualitySummary.of(quality(src, out, vmaf=vmaf, max_frames=frames))
    return q, 1000 * max(0.0, filtered - plain) / frames


def _scores(q: QualitySummary) -> dict[str, float | None]:
    return {"psnr_y": q.psnr_y, "psnr_avg": q.psnr_avg, "ssim_y": q.ssim_y, "vmaf": q.vmaf}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--bitrates", default="200,400")
    ap.add_argument("--no-vmaf", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated enhancers/peers to run (default: all)")
    ap.add_argument(
        "--model",
        action="append",
        default=[],
        type=Path,
        help="also run neural_enhance with this candidate .onnx (repeatable; labelled by its file name)",
    )
    ap.add_argument("--out", default="enhancer.json", help="file name of the results in benchmarks/out")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    vmaf = not args.no_vmaf
    bitrates = [float(b) for b in args.bitrates.split(",")]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    recipes = {e: e for e in ENHANCERS if not only or e in only}
    recipes |= {f"neural_enhance {m.name}": f"neural_enhance model={m.resolve()}" for m in args.model}
    enhancers = list(recipes)
    peers = {k: v for k, v in PEERS.items() if not only or k in only}
    for e in recipes.values():
        recipe_or_preset(e)  # fail before anything runs
    clips = make_clips(args.frames, (w, h))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-enh-") as tmp:
        for clip in clips:
            for kbps in bitrates:
                enc = Path(tmp) / "enc.mp4"
                r = codec_test(clip, "libx264", bitrate_kbps=kbps, preset="medium", vmaf=vmaf, output=enc)
                base = r.quality
                row = {
                    "clip": clip.stem,
                    "kbps": kbps,
                    "actual_kbps": round(r.actual_kbps, 1),
                    "frames": r.frames,
                }
                row["decoded"] = _scores(base)
                for e in enhancers:
                    q, ms = evaluate_enhancer(
                        clip,
                        enc,
                        recipe_or_preset(recipes[e]),
                        Path(tmp) / "enh.mkv",
                        vmaf=vmaf,
                        frames=r.frames,
                    )
                    row[e] = {**_scores(q), "ms": ms}
                for name, filt in peers.items():
                    q, ms = peer(clip, enc, filt, Path(tmp) / "peer.mkv", r.frames, vmaf)
                    row[name] = {**_scores(q), "ms": ms}
                rows.append(row)
                line = "  ".join(
                    f"{k} {v['psnr_y'] - base.psnr_y:+.2f}"
                    for k, v in row.items()
                    if isinstance(v, dict) and "ms" in v
                )
                print(f"{clip.stem} {kbps:g} kbps: decoded {base.psnr_y:.2f} dB | {line}", flush=True)
    names = [*enhancers, *peers]
    summary = {}
    for n in names:
        d_psnr = [r[n]["psnr_y"] - r["decoded"]["psnr_y"] for r in rows]
        d_avg = [r[n]["psnr_avg"] - r["decoded"]["psnr_avg"] for r in rows]
        d_ssim = [r[n]["ssim_y"] - r["decoded"]["ssim_y"] for r in rows]
        d_vmaf = [r[n]["vmaf"] - r["decoded"]["vmaf"] for r in rows] if vmaf else []
        ms = float(np.median([r[n]["ms"] for r in rows]))
        summary[n] = {
            "d_psnr_y": float(np.mean(d_psnr)),
            "d_psnr_yuv_avg": float(np.mean(d_avg)),
            "d_ssim_y": float(np.mean(d_ssim)),
            "d_vmaf": float(np.mean(d_vmaf)) if d_vmaf else None,
            "ms_per_frame": ms,
            "fps": 1000 / ms if ms > 0 else None,
        }
    checks = {}
    if "neural_enhance" in summary:
        ne = summary["neural_enhance"]
        classical = [n for n in ("bilateral", "sharpen", "deblock", "combined") if n in summary]
        checks = {
            "psnr_gain_>=_0.5dB": ne["d_psnr_y"] >= 0.5,
            "beats_classical_psnr": all(ne["d_psnr_y"] > summary[c]["d_psnr_y"] for c in classical),
            "beats_classical_ssim": all(ne["d_ssim_y"] > summary[c]["d_ssim_y"] for c in classical),
            "fps_>=_5_at_720p": (ne["fps"] or 0) >= 5,
            "per_row_psnr_gain_min": min(
                r["neural_enhance"]["psnr_y"] - r["decoded"]["psnr_y"] for r in rows
            ),
        }
    print(
        "\n| enhancer | ΔPSNR-Y dB | ΔPSNR Y'CbCr avg | ΔSSIM-Y | ΔVMAF | ms/frame (fps) |\n"
        "|---|---|---|---|---|---|"
    )
    for n, s in summary.items():
        v = f"{s['d_vmaf']:+.2f}" if s["d_vmaf"] is not None else "-"
        fps = f"{s['fps']:.1f}" if s["fps"] else "-"
        print(
            f"| {n} | {s['d_psnr_y']:+.3f} | {s['d_psnr_yuv_avg']:+.3f} | {s['d_ssim_y']:+.4f} | {v} "
            f"| {s['ms_per_frame']:.1f} ({fps}) |"
        )
    print("\n| clip | kbps (actual) | decoded PSNR-Y / SSIM-Y / VMAF | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for r in rows:
        d = r["decoded"]
        dv = f"{d['vmaf']:.2f}" if d["vmaf"] is not None else "-"
        cells = []
        for n in names:
            q = r[n]
            vm = f" / {q['vmaf'] - d['vmaf']:+.2f}" if q["vmaf"] is not None and d["vmaf"] is not None else ""
            cells.append(f"{q['psnr_y'] - d['psnr_y']:+.2f} / {q['ssim_y'] - d['ssim_y']:+.4f}{vm}")
        rate = f"{r['kbps']:g} ({r['actual_kbps']:g})"
        head = f"| {r['clip']} | {rate} | {d['psnr_y']:.2f} / {d['ssim_y']:.4f} / {dv}"
        print(head + " | " + " | ".join(cells) + " |")
    print("\nchecks:", json.dumps(checks))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / args.out).write_text(
        json.dumps({"machine": machine(), "rows": rows, "summary": summary, "checks": checks}, indent=2)
    )
    print(f"wrote {OUT / args.out}")


if __name__ == "__main__":
    main()
