"""Finish the card of a shipped model after ``vidlab export-onnx``: the license, the exact
training commands, the training data and the measured metrics (validation loss from the
checkpoint, the benchmark's figures from its JSON in benchmarks/out/).

    python scripts/model_card.py MODEL [--checkpoint PT] [--bench JSON]

MODEL: neural_enhance, interpolate_learned, style_mosaic or style_brush.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vidlab.ml.checkpoint import load_checkpoint
from vidlab.ml.session import sha256_file

FOLDER = Path("src/vidlab/data/models")
LICENSE = (
    "MIT (weights trained by the vidlab project); training images: scikit-image's and matplotlib's "
    "bundled sample data (grace_hopper.jpg), see skimage/data/README.txt and matplotlib's "
    "mpl-data/sample_data/README.txt for each image's terms"
)


def _enhancer_bench(bench: dict[str, Any]) -> dict[str, Any]:
    return {
        "what": "held-out camera-like 720p clips (vidlab.io.footage.held_out_specs), libx264 two-pass "
        "medium at 200 and 400 kbps; deltas against the decode; see docs/benchmarks.md",
        "machine": bench["machine"],
        "summary": bench["summary"],
        "checks": bench["checks"],
        "rows": [
            {
                "clip": r["clip"],
                "kbps": r["kbps"],
                "decoded": r["decoded"],
                "neural_enhance": r.get("neural_enhance"),
            }
            for r in bench["rows"]
        ],
    }


def _interp_bench(bench: dict[str, Any]) -> dict[str, Any]:
    return {
        "what": "benchmarks/interp_clips.py REAL_CLIPS (camera-like 720p30: blur, correlated sensor noise, "
        "flicker, H.264 CRF 21), every other frame dropped and rebuilt, Y-PSNR on the rebuilt frames; "
        "see docs/benchmarks.md",
        "machine": bench["machine"],
        "factor": bench.get("factor"),
        "summary": bench.get("summary"),
        "clips": {
            name: {
                s["method"]: {"psnr_y": s["psnr_y"], "ssim_y": s["ssim_y"], "fps": s["fps"]}
                for s in clip["scores"]
            }
            for name, clip in bench["clips"].items()
        },
    }


def _style_bench(bench: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "what": "benchmarks/bench_neural_style.py: E_warp (Lai et al.) with and without flow_stabilize on "
        "a generated 640x360 clip, and end-to-end fps at 720p; see docs/benchmarks.md",
        "machine": bench["machine"],
        "flicker": bench.get("flicker", {}).get(name),
        "speed": (bench.get("speed") or {}).get("trained", {}).get(name),
    }


def _style_model(name: str, image: str) -> dict[str, Any]:
    return {
        "task": "style",
        "checkpoint": f"runs/{name}/best.pt",
        "bench": "benchmarks/out/neural_style.json",
        "summarise": lambda bench: _style_bench(bench, name),
        "commands": [
            "python scripts/style_images.py",
            f"vidlab train style --config configs/train_style.yaml --generate 16 --style-image {image} "
            f"-o runs/{name}",
            f"vidlab export-onnx runs/{name}/best.pt -o src/vidlab/data/models/{name}.onnx",
            "python benchmarks/bench_neural_style.py",
            f"python scripts/model_card.py {name}",
        ],
        "description": f"Fast style network for one style ({image}, painted by scripts/style_images.py): "
        "MobileStyleNet (two stride-2 convolutions, 5 MobileNetV2 inverted residual blocks with instance "
        "norm at 1/4 size, two upsampling separable convolutions), trained with a perceptual loss on the "
        "style predictor's features. In and out: 1 x 3 x H x W RGB float 0..255 (the common "
        "fast-neural-style layout); H and W multiples of 4. Run: vidlab stylize --style neural "
        f"--model {name}.",
        "val_metric": "val_perceptual",
    }


MODELS: dict[str, dict[str, Any]] = {
    "style_mosaic": _style_model("style_mosaic", "configs/styles/mosaic.png"),
    "style_brush": _style_model("style_brush", "configs/styles/brush.png"),
    "neural_enhance": {
        "task": "enhance",
        "checkpoint": "runs/enhancer/best.pt",
        "bench": "benchmarks/out/enhancer.json",
        "summarise": _enhancer_bench,
        "commands": [
            "vidlab train enhancer --config configs/train_enhancer.yaml --generate 32",
            "vidlab export-onnx runs/enhancer/best.pt -o src/vidlab/data/models/neural_enhance.onnx",
            "python benchmarks/bench_enhancer.py",
            "python scripts/model_card.py neural_enhance",
        ],
        "description": "Compact fully convolutional compression-artifact remover (EnhancerNet: "
        "pixel-unshuffle x2, 7 convolutions of 32 channels, residual) for H.264, H.265 and VP9 "
        "decodes; RGB in 0..1, N x 3 x H x W, H and W multiples of 2 (vidlab tiles on 16).",
    },
    "interpolate_learned": {
        "task": "interpolator",
        "checkpoint": "runs/interpolator/best.pt",
        "bench": "benchmarks/out/interp_real.json",
        "summarise": _interp_bench,
        "commands": [
            "vidlab train interpolator --config configs/train_interpolator.yaml --generate 24",
            "vidlab export-onnx runs/interpolator/best.pt -o src/vidlab/data/models/interpolate_learned.onnx",
            "python benchmarks/bench_interp.py --set real --methods flow,learned,minterpolate,blend",
            "python scripts/model_card.py interpolate_learned",
        ],
        "description": "Refinement of vidlab's flow interpolation (InterpRefineNet: a two-scale U-Net "
        "of 24/48 channels behind a pixel unshuffle). In: N x 8 x H x W in 0..1, frame 0 and frame 1 "
        "warped to t by the flow method, frame 0's blend weight, t; out: the RGB frame at t. H and W "
        "multiples of 4. Untrained it is exactly the flow method's blend.",
    },
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--bench", type=Path)
    args = ap.parse_args()
    spec = MODELS[args.model]
    card_path = FOLDER / f"{args.model}.json"
    card = json.loads(card_path.read_text())
    ckpt = load_checkpoint(args.checkpoint or spec["checkpoint"])
    config = ckpt.get("config", {})
    card.update(
        name=args.model,
        task=spec["task"],
        sha256=sha256_file(card_path.with_name(card["file"])),
        license=LICENSE,
        description=spec["description"],
    )
    card["training"].update(
        command=" && ".join(spec["commands"]),
        data=config.get("data", {}),
        hardware="2 CPU cores (no GPU)",
        best_step=ckpt.get("step"),
        best_val_loss=ckpt.get("best_val"),
    )
    metric = spec.get("val_metric", "val_charbonnier")
    metrics: dict[str, Any] = {metric: ckpt.get("best_val"), "val_step": ckpt.get("step")}
    bench_path = args.bench or Path(spec["bench"])
    if bench_path.is_file():
        metrics["benchmark"] = spec["summarise"](json.loads(bench_path.read_text()))
    card["metrics"] = metrics
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {card_path} (sha256 {card['sha256'][:12]})")


if __name__ == "__main__":
    main()
