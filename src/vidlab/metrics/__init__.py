"""Metrics: quality (PSNR/SSIM/VMAF against a reference) and temporal stability over decoded
frames. Submodules load on first use, so ``vidlab metrics`` does not pay for optical flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from vidlab.metrics.matte import MatteErrors, conn, dtssd, grad, mad, matte_errors, mse
    from vidlab.metrics.quality import QualityReport
    from vidlab.metrics.temporal import TemporalInstability, e_warp, temporal_instability

_LAZY = {
    "MatteErrors": "vidlab.metrics.matte",
    "matte_errors": "vidlab.metrics.matte",
    "mad": "vidlab.metrics.matte",
    "mse": "vidlab.metrics.matte",
    "grad": "vidlab.metrics.matte",
    "conn": "vidlab.metrics.matte",
    "dtssd": "vidlab.metrics.matte",
    "QualityReport": "vidlab.metrics.quality",
    "TemporalInstability": "vidlab.metrics.temporal",
    "temporal_instability": "vidlab.metrics.temporal",
    "e_warp": "vidlab.metrics.temporal",
}
# (The ``quality()`` function lives in ``vidlab.metrics.quality``; a package attribute of the
# same name would be shadowed by the submodule itself.)
__all__ = [
    "MatteErrors",
    "QualityReport",
    "TemporalInstability",
    "conn",
    "dtssd",
    "e_warp",
    "grad",
    "mad",
    "matte_errors",
    "mse",
    "temporal_instability",
]

__getattr__ = lazy_getattr(__name__, _LAZY)
