"""Tiny ONNX models the ML tests build themselves (no torch needed): ``y = factor * x``."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scale_model(
    path: Path, channels: int | None = 3, factor: float = 2.0, dtype: str = "float32", opset: int = 17
) -> Path:
    """An ONNX model multiplying an ``N x channels x H x W`` input by ``factor`` (None: any channels)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.FLOAT16
    dims = ["batch", channels if channels is not None else "channels", "height", "width"]
    x = helper.make_tensor_value_info("input", elem, dims)
    y = helper.make_tensor_value_info("output", elem, dims)
    k = numpy_helper.from_array(np.array(factor, dtype=np.dtype(dtype)), "factor")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "factor"], ["output"])], "scale", [x], [y], [k]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
