"""Finish the card of the shipped ``neural_enhance`` model after ``vidlab export-onnx``: the
license, the exact training commands, the training data and the measured metrics (validation
loss from the checkpoint, the benchmark's per-clip figures from benchmarks/out/enhancer.json).

    python scripts/model_card.py [--card src/vidlab/data/models/neural_enhance.json]
        [--checkpoint runs/enhancer/best.pt] [--bench benchmarks/out/enhancer.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vidlab.ml.checkpoint import load_checkpoint
from vidlab.ml.session import sha256_file

CARD = Path("src/vidlab/data/models/neural_enhance.json")
COMMANDS = [
    "vidlab train enhancer --config configs/train_enhancer.yaml --generate 32",
    "vidlab export-onnx runs/enhancer/best.pt -o src/vidlab/data/models/neural_enhance.onnx",
    "python benchmarks/bench_enhancer.py",
    "python scripts/model_card.py",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--card", type=Path, default=CARD)
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/enhancer/best.pt"))
    ap.add_argument("--bench", type=Path, default=Path("benchmarks/out/enhancer.json"))
    args = ap.parse_args()
    card = json.loads(args.card.read_text())
    model = args.card.with_name(card["file"])
    ckpt = load_checkpoint(args.checkpoint)
    config = ckpt.get("config", {})
    card.update(
        name="neural_enhance",
        task="enhance",
        sha256=sha256_file(model),
        license="MIT (weights trained by the vidlab project); training images: scikit-image's "
        "and matplotlib's bundled sample data (grace_hopper.jpg), see skimage/data/README.txt and "
        "matplotlib's mpl-data/sample_data/README.txt for each image's terms",
        description="Compact fully convolutional compression-artifact remover (EnhancerNet: "
        "pixel-unshuffle x2, 7 convolutions of 32 channels, residual) for H.264, H.265 and VP9 "
        "decodes; RGB in 0..1, N x 3 x H x W, H and W multiples of 2 (vidlab tiles on 16).",
    )
    card["training"].update(
        command=" && ".join(COMMANDS),
        data=config.get("data", {}),
        hardware="2 CPU cores (no GPU)",
        best_step=ckpt.get("step"),
        best_val_loss=ckpt.get("best_val"),
    )
    metrics = {"val_charbonnier": ckpt.get("best_val"), "val_step": ckpt.get("step")}
    if args.bench.is_file():
        bench = json.loads(args.bench.read_text())
        metrics["benchmark"] = {
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
    card["metrics"] = metrics
    args.card.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.card} (sha256 {card['sha256'][:12]})")


if __name__ == "__main__":
    main()
