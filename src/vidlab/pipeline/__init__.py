"""Recipes and the one entry point that runs them (loaded on first use): :func:`execute`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from vidlab.pipeline.entry import execute, resume
    from vidlab.pipeline.job import JobOptions
    from vidlab.pipeline.recipe import Recipe
    from vidlab.pipeline.runner import RunResult

_LAZY = {
    "Recipe": "vidlab.pipeline.recipe",
    "RunResult": "vidlab.pipeline.runner",
    "JobOptions": "vidlab.pipeline.job",
    "execute": "vidlab.pipeline.entry",
    "resume": "vidlab.pipeline.entry",
}
__all__ = ["JobOptions", "Recipe", "RunResult", "execute", "resume"]

__getattr__ = lazy_getattr(__name__, _LAZY)
