"""vidlab: an offline, ML-powered video lab on one streaming pipeline."""

from vidlab.errors import MediaError, RecipeError, UsageError, VidlabError
from vidlab.frame import Frame

__version__ = "0.1.0"

__all__ = ["Frame", "MediaError", "RecipeError", "UsageError", "VidlabError", "__version__"]
