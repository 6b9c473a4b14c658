"""Measures on RGB frames: PSNR of two pictures, sharpness (variance of the Laplacian),
edge coherence (how well the edge maps of two frames agree) and, per frame, the temporal
stability of the distorted video (flow-warped difference to its previous frame)."""

from __future__ import annotations

import math
from itertools import islice
from pathlib import Path

import cv2
import numpy as np

from vidlab.io.reader import VideoReader
from vidlab.metrics.temporal import warp_error
from vidlab.vision import flow


def psnr(reference: np.ndarray, distorted: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over every sample of two pictures of the same shape (RGB, a luma plane,
    ``uint8`` or float on a 0..``peak`` scale); ``inf`` when they are identical."""
    d = reference.astype(np.float64) - distorted.astype(np.float64)
    mse = float(np.mean(d * d))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luma: higher is sharper (or noisier)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def edges(image: np.ndarray) -> np.ndarray:
    gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    return cv2.Canny(gray, 50, 150) > 0


def edge_coherence(reference: np.ndarray, distorted: np.ndarray, tolerance: int = 1) -> float:
    """F1 score of the distorted frame's Canny edges against the reference's, where an edge
    counts as matched within ``tolerance`` pixels: 1 when the edge maps agree, 0 when they
    share nothing. Two frames without edges agree perfectly."""
    a, b = edges(reference), edges(distorted)
    if not a.any() and not b.any():
        return 1.0
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * tolerance + 1,) * 2)
    near_a = cv2.dilate(a.astype(np.uint8), k) > 0
    near_b = cv2.dilate(b.astype(np.uint8), k) > 0
    precision = float((b & near_a).sum()) / max(1, int(b.sum()))
    recall = float((a & near_b).sum()) / max(1, int(a.sum()))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def extra_metrics(
    reference: Path, distorted: Path, skip_ref: int, skip_dist: int, count: int
) -> list[dict[str, float]]:
    """Per frame of ``count`` aligned pairs (after skipping ``skip_ref``/``skip_dist`` frames):
    sharpness of both, edge coherence, and the distorted video's temporal instability against
    the reference's motion (:func:`vidlab.metrics.temporal.warp_error`; 0 on the first frame)."""
    refs = islice(VideoReader(reference), skip_ref, skip_ref + count)
    dists = islice(VideoReader(distorted), skip_dist, skip_dist + count)
    estimator = flow.dis("medium")
    rows: list[dict[str, float]] = []
    prev: tuple[np.ndarray, np.ndarray] | None = None
    for n, (fr, fd) in enumerate(zip(refs, dists, strict=False), 1):
        r, d = fr.image, fd.image
        if d.shape != r.shape:
            d = cv2.resize(d, (r.shape[1], r.shape[0]), interpolation=cv2.INTER_CUBIC)
        gray = flow.gray(r)
        instability = 0.0
        if prev is not None:
            instability = warp_error(prev[1], d, prev[0], gray, estimator)[0]
        rows.append(
            {
                "n": n,
                "sharpness_ref": sharpness(r),
                "sharpness_dist": sharpness(d),
                "edge_coherence": edge_coherence(r, d),
                "temporal_instability": instability,
            }
        )
        prev = (gray, d)
    return rows
