"""Ops: the registry, base classes and the built-in op families."""

from vidlab.ops.base import Op, ParamSpec, SpatialOp, TemporalOp, param
from vidlab.ops.registry import ENTRY_POINT_GROUP, get_op, list_ops, register_op, reload_plugins

__all__ = [
    "ENTRY_POINT_GROUP",
    "Op",
    "ParamSpec",
    "SpatialOp",
    "TemporalOp",
    "get_op",
    "list_ops",
    "param",
    "register_op",
    "reload_plugins",
]
