"""The staged layers pipeline: segment, refine, temporal, inpaint and annotate, each stage in a
folder of its own with a config hash, reused or redone as its inputs change."""

from vidlab.layers.config import STAGES, LayersConfig
from vidlab.layers.run import LayersResult, run_layers

__all__ = ["STAGES", "LayersConfig", "LayersResult", "run_layers"]
