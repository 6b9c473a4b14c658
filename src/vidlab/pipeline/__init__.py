"""Recipes and the runner that streams frames through them (loaded on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from vidlab.pipeline.recipe import Recipe
    from vidlab.pipeline.runner import Progress, RunResult, run

_LAZY = {
    "Recipe": "vidlab.pipeline.recipe",
    "Progress": "vidlab.pipeline.runner",
    "RunResult": "vidlab.pipeline.runner",
    "run": "vidlab.pipeline.runner",
}
__all__ = ["Progress", "Recipe", "RunResult", "run"]

__getattr__ = lazy_getattr(__name__, _LAZY)
