"""Metrics: quality (PSNR/SSIM/VMAF against a reference) and temporal stability over decoded
frames. Submodules load on first use, so ``vidlab metrics`` does not pay for optical flow."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidlab.metrics.quality import QualityReport, quality
    from vidlab.metrics.temporal import TemporalInstability, temporal_instability

_LAZY = {
    "QualityReport": "vidlab.metrics.quality",
    "quality": "vidlab.metrics.quality",
    "TemporalInstability": "vidlab.metrics.temporal",
    "temporal_instability": "vidlab.metrics.temporal",
}
__all__ = ["QualityReport", "TemporalInstability", "quality", "temporal_instability"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidlab.metrics' has no attribute {name!r}")
