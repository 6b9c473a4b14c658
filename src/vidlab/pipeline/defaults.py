"""Defaults shared by the pipeline and the command line (kept free of heavy imports)."""

DEFAULT_CHUNK_SECONDS = 10.0
"""Chunk length for resumable jobs, in seconds of source; chunks are cut on keyframes."""
