"""Metrics: quality and temporal-stability measures over decoded frames."""

from vidlab.metrics.temporal import TemporalInstability, temporal_instability

__all__ = ["TemporalInstability", "temporal_instability"]
