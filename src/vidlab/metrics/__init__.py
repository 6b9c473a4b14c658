"""Metrics: quality (PSNR/SSIM/VMAF against a reference) and temporal stability over decoded
frames. Submodules load on first use, so ``vidlab metrics`` does not pay for optical flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from vidlab.metrics.quality import QualityReport
    from vidlab.metrics.temporal import TemporalInstability, temporal_instability

_LAZY = {
    "QualityReport": "vidlab.metrics.quality",
    "TemporalInstability": "vidlab.metrics.temporal",
    "temporal_instability": "vidlab.metrics.temporal",
}
# (The ``quality()`` function lives in ``vidlab.metrics.quality``; a package attribute of the
# same name would be shadowed by the submodule itself.)
__all__ = ["QualityReport", "TemporalInstability", "temporal_instability"]

__getattr__ = lazy_getattr(__name__, _LAZY)
