"""vidlab: an offline, ML-powered video lab on one streaming pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.errors import MediaError, RecipeError, UsageError, VidlabError
from vidlab.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from vidlab.core.frame import Frame

__version__ = "0.1.0"

__all__ = ["Frame", "MediaError", "RecipeError", "UsageError", "VidlabError", "__version__"]

__getattr__ = lazy_getattr(__name__, {"Frame": "vidlab.core.frame"})
