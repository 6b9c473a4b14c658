"""The project's network architectures, built by name from a checkpoint's ``arch`` and
``arch_config`` (so a checkpoint or an export needs no pickled code)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidlab.core.errors import ModelError
from vidlab.ml.torchdep import require_torch

torch, nn = require_torch()

ARCHS: dict[str, Callable[..., Any]] = {}


def register_arch(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        ARCHS[name] = cls
        return cls

    return deco


def build_model(arch: str, **config: Any) -> nn.Module:
    """A new network of architecture ``arch`` with its keyword ``config`` (as in a checkpoint)."""
    try:
        cls = ARCHS[arch]
    except KeyError:
        raise ModelError(f"unknown architecture {arch!r} (known: {', '.join(sorted(ARCHS))})") from None
    try:
        return cls(**config)
    except TypeError as exc:
        raise ModelError(f"architecture {arch!r} does not take {config}: {exc}") from None


@register_arch("enhancer")
class EnhancerNet(nn.Module):
    """A compact, fully convolutional compression-artifact remover.

    The RGB frame (N x 3 x H x W, 0..1) is folded ``factor`` x ``factor`` into channels
    (pixel unshuffle), so the 3x3 convolutions see ``2 * factor`` more context per layer at a
    quarter of the cost; ``layers`` hidden convolutions of ``channels`` predict a correction
    that is unfolded and added to the input (a residual: at init the net is near identity).

    ``scales=2`` adds a coarser level, a small U-Net: after one convolution at the folded size,
    a stride-2 convolution goes to half that size with twice the channels, where the ``layers``
    hidden convolutions run (a quarter of the positions: more context and capacity for the
    same cost), and a 1x1 convolution with a pixel shuffle comes back up and is added to the
    skip before the output convolution. H and W must be multiples of :attr:`multiple`
    (tiling pads to it)."""

    def __init__(self, channels: int = 32, layers: int = 5, factor: int = 2, scales: int = 1) -> None:
        super().__init__()
        if channels < 1 or layers < 0 or factor < 1 or scales not in (1, 2):
            raise ValueError("channels and factor must be >= 1, layers >= 0 and scales 1 or 2")
        self.factor, self.scales = factor, scales
        folded = 3 * factor * factor
        c = channels
        relu = nn.ReLU(inplace=True)
        if scales == 1:
            body: list[nn.Module] = [nn.Conv2d(folded, c, 3, padding=1), relu]
            for _ in range(layers):
                body += [nn.Conv2d(c, c, 3, padding=1), relu]
            body.append(nn.Conv2d(c, folded, 3, padding=1))
            self.body = nn.Sequential(*body)
        else:
            self.head = nn.Sequential(
                nn.Conv2d(folded, c, 3, padding=1), relu, nn.Conv2d(c, c, 3, padding=1), relu
            )
            low: list[nn.Module] = [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), relu]
            for _ in range(layers):
                low += [nn.Conv2d(2 * c, 2 * c, 3, padding=1), relu]
            low += [nn.Conv2d(2 * c, 4 * c, 1), nn.PixelShuffle(2)]
            self.low = nn.Sequential(*low)
            self.tail = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), relu, nn.Conv2d(c, folded, 3, padding=1))
        self.fold = nn.PixelUnshuffle(factor)
        self.unfold = nn.PixelShuffle(factor)
        # He initialisation keeps the signal's scale through the ReLU stack. PyTorch's default
        # (kaiming_uniform with a=sqrt(5)) shrinks it layer by layer until the last features are
        # the biases alone, and such a net barely learns (measured: no gain after 2000 steps).
        _he_init(self)
        last = self.body[-1] if scales == 1 else self.tail[-1]
        nn.init.zeros_(last.weight)  # start as the identity: the residual is 0

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this."""
        return self.factor * self.scales

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = self.fold(x)
        if self.scales == 1:
            return x + self.unfold(self.body(folded))
        skip = self.head(folded)
        return x + self.unfold(self.tail(skip + self.low(skip)))


def _he_init(module: nn.Module) -> None:
    """He-normal weights and zero biases for every convolution (see :class:`EnhancerNet`)."""
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)


@register_arch("interp_refine")
class InterpRefineNet(nn.Module):
    """Refines the flow method's in-between frame (``interpolate method=learned``).

    Input (N x 8 x H x W, 0..1): frame 0 and frame 1 warped to time ``t`` by the flow method
    (:meth:`vidlab.vision.interp.FlowPair.warped`), frame 0's blend weight there, and ``t``
    as a constant plane. A small two-scale U-Net (at 1/2 and 1/4 size, behind a pixel unshuffle)
    predicts a correction of the blend weight's logit and an RGB residual; the output is
    ``m * w0_frame + (1 - m) * w1_frame + residual`` with ``m = sigmoid(logit(w0) + dz)``. The
    last layer starts at zero, so an untrained net is exactly the flow method, and training
    only has to learn where the flows and their weights are wrong. H and W must be multiples
    of 4."""

    multiple = 4
    in_channels = 8

    def __init__(self, channels: int = 24, depth: int = 2) -> None:
        super().__init__()
        if channels < 1 or depth < 0:
            raise ValueError("channels must be >= 1 and depth >= 0")
        c = channels
        self.fold = nn.PixelUnshuffle(2)
        self.enc = nn.Sequential(nn.Conv2d(32, c, 3, padding=1), nn.ReLU(inplace=True))
        low: list[nn.Module] = [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth):
            low += [nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU(inplace=True)]
        low += [nn.Conv2d(2 * c, 4 * c, 1), nn.PixelShuffle(2)]
        self.low = nn.Sequential(*low)
        self.dec = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(c, 16, 3, padding=1)
        self.unfold = nn.PixelShuffle(2)
        _he_init(self)
        nn.init.zeros_(self.head.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wa, wb, w0 = x[:, 0:3], x[:, 3:6], x[:, 6:7]
        e = self.enc(self.fold(x))
        d = self.dec(torch.cat([e, self.low(e)], 1))
        o = self.unfold(self.head(d))
        w = w0.clamp(1e-4, 1 - 1e-4)
        m = torch.sigmoid(torch.log(w) - torch.log1p(-w) + o[:, 0:1])
        return m * wa + (1 - m) * wb + o[:, 1:4]


# -- fast style networks (``vidlab train style``) -------------------------------------------------
# Both take and give RGB 0..255 (1 x 3 x H x W float), the common fast-neural-style layout, so an
# exported one runs in ``neural_style backend=onnx`` like any user model.


def _conv_in(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Module:
    """Reflection-padded convolution, instance norm (affine), ReLU."""
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(k // 2),
        nn.Conv2d(cin, cout, k, stride=stride, groups=groups, bias=False),
        nn.InstanceNorm2d(cout, affine=True),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Up(nn.Module):
    """Nearest-neighbour x2 then a convolution (no transposed convolution: no checkerboard)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


class _StyleNet(nn.Module):
    value_range = "0..255"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(x * (1 / 127.5) - 1.0)) * 255.0


@register_arch("style_johnson")
class JohnsonStyleNet(_StyleNet):
    """Johnson et al.'s image transformation network with instance norm (Ulyanov et al.): a 9x9
    convolution, two stride-2 convolutions, ``blocks`` residual blocks at 1/4 size, two
    upsampling convolutions and a 9x9 output. ``channels`` is the first width (32 in the paper).
    H and W must be multiples of 4."""

    multiple = 4

    def __init__(self, channels: int = 32, blocks: int = 5) -> None:
        super().__init__()
        c = channels
        res = [
            _Residual(nn.Sequential(_conv_in(4 * c, 4 * c, 3), _conv_in(4 * c, 4 * c, 3, act=False)))
            for _ in range(blocks)
        ]
        self.body = nn.Sequential(
            _conv_in(3, c, 9),
            _conv_in(c, 2 * c, 3, stride=2),
            _conv_in(2 * c, 4 * c, 3, stride=2),
            *res,
            _Up(_conv_in(4 * c, 2 * c, 3)),
            _Up(_conv_in(2 * c, c, 3)),
            nn.ReflectionPad2d(4),
            nn.Conv2d(c, 3, 9),
        )


def _inverted_residual(c: int, expand: int) -> nn.Module:
    """MobileNetV2's block with instance norm: 1x1 expansion, 3x3 depthwise, linear 1x1
    projection, and the skip."""
    e = c * expand
    return _Residual(
        nn.Sequential(
            nn.Conv2d(c, e, 1, bias=False),
            nn.InstanceNorm2d(e, affine=True),
            nn.ReLU6(inplace=True),
            _conv_in(e, e, 3, groups=e, act=False),
            nn.ReLU6(inplace=True),
            nn.Conv2d(e, c, 1, bias=False),
            nn.InstanceNorm2d(c, affine=True),
        )
    )


def _separable_in(cin: int, cout: int) -> nn.Module:
    """Depthwise 3x3 then pointwise, instance norm, ReLU."""
    return nn.Sequential(
        nn.ReflectionPad2d(1),
        nn.Conv2d(cin, cin, 3, groups=cin, bias=False),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.InstanceNorm2d(cout, affine=True),
        nn.ReLU(inplace=True),
    )


@register_arch("style_mobile")
class MobileStyleNet(_StyleNet):
    """The real-time fast style network: two stride-2 convolutions to 1/4 size, ``blocks``
    MobileNetV2 inverted residual blocks (``expand``) with instance norm there, and two
    upsampling depthwise-separable convolutions. About 1/8 of Johnson's net's work per pixel
    at the default width. H and W must be multiples of 4."""

    multiple = 4

    def __init__(self, channels: int = 16, blocks: int = 5, expand: int = 4) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            _conv_in(3, c, 3),
            _conv_in(c, 2 * c, 3, stride=2),
            _conv_in(2 * c, 4 * c, 3, stride=2),
            *[_inverted_residual(4 * c, expand) for _ in range(blocks)],
            _Up(_separable_in(4 * c, 2 * c)),
            _Up(_separable_in(2 * c, c)),
            nn.ReflectionPad2d(1),
            nn.Conv2d(c, 3, 3),
        )
