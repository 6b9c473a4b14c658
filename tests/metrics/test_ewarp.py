"""E_warp (Lai et al.): the occlusion-masked mean squared warp error on 0..1, over frame pairs."""

from __future__ import annotations

import numpy as np

from vidlab.metrics import e_warp, temporal_instability


def _still(n: int = 4, size: tuple[int, int] = (96, 128)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    return [base.copy() for _ in range(n)]


def test_a_steady_output_has_no_warp_error_and_flicker_is_its_variance():
    inputs = _still()
    assert e_warp(inputs, inputs) == 0.0
    rng = np.random.default_rng(1)
    sigma = 8.0
    flicker = [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in inputs]
    # Independent noise in two frames: the difference has variance 2 sigma^2 (on 0..1: / 255^2).
    want = 2 * sigma**2 / 255.0**2
    assert abs(e_warp(flicker, inputs) - want) < 0.15 * want
    # The absolute-difference instability is the same pixels' mean |difference| in code values.
    assert abs(temporal_instability(flicker, inputs).mean - 2 * sigma / np.sqrt(np.pi)) < 1.0
