"""Recipes and the runner that streams frames through them (loaded on first use)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidlab.pipeline' has no attribute {name!r}")
