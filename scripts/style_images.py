"""Make the two style images the shipped fast style networks are trained on
(configs/styles/mosaic.png and configs/styles/brush.png), from scikit-image's photographs.

There is no painting in the environment to take, so both are painted here, deterministically:

- ``mosaic``: a stained-glass mosaic of ``rocket``: Voronoi cells of jittered size, each filled
  with its region's mean colour, hue jittered and saturation raised, dark lead between the cells;
- ``brush``: an impressionist painting of ``astronaut`` after Hertzmann (1998): three layers
  of curved strokes (large to small brushes) along the image's isophotes, coloured from a
  blurred copy with a little jitter, on a canvas texture.

    .venv/bin/python scripts/style_images.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

OUT = Path(__file__).resolve().parent.parent / "configs" / "styles"


def mosaic(size: int = 512, cells: int = 700, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    photo = cv2.resize(data.rocket()[:, 60:487], (size, size), interpolation=cv2.INTER_AREA)
    pts = rng.random((cells, 2)) * size
    yy, xx = np.mgrid[0:size, 0:size]
    # nearest seed per pixel, in blocks (memory)
    label = np.empty((size, size), np.int32)
    d2 = np.empty((size, size), np.float32)
    d2[:] = np.inf
    for k, (px, py) in enumerate(pts):
        d = (xx - px) ** 2 + (yy - py) ** 2
        closer = d < d2
        d2[closer] = d[closer]
        label[closer] = k
    out = np.zeros_like(photo, dtype=np.float32)
    flat = label.ravel()
    for c in range(3):
        sums = np.bincount(flat, weights=photo[..., c].ravel().astype(np.float64), minlength=cells)
        counts = np.maximum(np.bincount(flat, minlength=cells), 1)
        out[..., c] = (sums / counts)[label]
    hsv = cv2.cvtColor(out.astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + rng.normal(0, 9, cells).astype(np.float32)[label], 180)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.6 + 60, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * 1.1 + 15, 0, 255)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    # the glass's own mottling, then the lead between cells
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 2.0)
    rgb *= (1 + 0.12 * mottle)[..., None]
    edge = np.zeros((size, size), np.uint8)
    edge[:, 1:] |= (label[:, 1:] != label[:, :-1]).astype(np.uint8)
    edge[1:, :] |= (label[1:, :] != label[:-1, :]).astype(np.uint8)
    lead = cv2.dilate(edge, np.ones((3, 3), np.uint8)).astype(bool)
    rgb[lead] = (28, 22, 18)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def brush(size: int = 512, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    photo = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    canvas = np.full_like(photo, 235.0)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 0.8)
    for radius, count in ((14, 900), (7, 2600), (3, 5200)):
        ref = cv2.GaussianBlur(photo, (0, 0), radius * 0.6)
        gray = cv2.cvtColor(ref.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=5)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=5)
        for _ in range(count):
            x, y = rng.random(2) * (size - 1)
            color = ref[int(y), int(x)] * rng.uniform(0.9, 1.12) + rng.normal(0, 8, 3)
            pts = [(x, y)]
            dx, dy = 0.0, 0.0
            for _ in range(int(rng.integers(3, 8))):
                ix, iy = int(np.clip(x, 0, size - 1)), int(np.clip(y, 0, size - 1))
                g = np.hypot(gx[iy, ix], gy[iy, ix])
                if g < 1e-3:
                    break
                tx, ty = -gy[iy, ix] / g, gx[iy, ix] / g  # along the isophote
                if tx * dx + ty * dy < 0:
                    tx, ty = -tx, -ty
                dx, dy = 0.5 * dx + 0.5 * tx, 0.5 * dy + 0.5 * ty
                x, y = x + radius * dx, y + radius * dy
                pts.append((x, y))
            poly = np.round(np.asarray(pts)).astype(np.int32)
            c = tuple(float(v) for v in np.clip(color, 0, 255))
            if len(poly) > 1:
                cv2.polylines(canvas, [poly], False, c, thickness=radius, lineType=cv2.LINE_AA)
            else:
                cv2.circle(canvas, tuple(poly[0]), radius // 2, c, -1, lineType=cv2.LINE_AA)
    canvas *= (1 + 0.05 * grain)[..., None]
    return np.clip(canvas, 0, 255).astype(np.uint8)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in (("mosaic", mosaic), ("brush", brush)):
        path = OUT / f"{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(make(), cv2.COLOR_RGB2BGR))
        print(path)


if __name__ == "__main__":
    main()
