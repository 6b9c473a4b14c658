"""Recipes and the runner that streams frames through them."""

from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import Progress, RunResult, run

__all__ = ["Progress", "Recipe", "RunResult", "run"]
