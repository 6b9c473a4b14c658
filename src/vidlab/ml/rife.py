"""Practical-RIFE ``flownet.pkl`` weights (user-supplied), loaded safely and run on ONNX Runtime.

RIFE's IFNet (github hzwer/Practical-RIFE, ``train_log/IFNet_HDv3.py``) is reimplemented here
so that a ``flownet.pkl`` (a bare state dict) loads with ``weights_only=True`` and a strict
``load_state_dict``: no code from the file or from the RIFE repository runs. The parameter names
and shapes are RIFE's own; the classes, the forward passes and the ONNX wrapper are vidlab's.

Four layouts are known, told apart by their keys and shapes alone (:func:`detect_version`):

* ``4.6``: four flow blocks (192/128/96/64 wide), no feature encoder; sizes a multiple of 32.
* ``4.22``: also 4.21 and 4.23 (the same tensors): a 32-wide encoder giving 8 feature channels,
  four blocks 256/192/96/48 that pass an 8-channel feature map on; multiple of 32.
* ``4.24``: the 4.22 encoder, four blocks 192/128/96/64 without the carried feature map.
* ``4.25``: also 4.26 (the same tensors): a 16-wide encoder giving 4 channels, five blocks
  192/128/96/64/32 from 1/16 scale down to full scale; multiple of 64.

Official files also hold the training-only ``teacher`` block and ``caltime`` net (RIFE itself
loads them with ``strict=False`` and ignores them); those two prefixes are dropped before the
strict load, any other unknown key is refused.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import ModelError
from vidlab.ml.checkpoint import load_checkpoint
from vidlab.ml.export import onnx_bytes, write_checked
from vidlab.ml.session import cached_session, sha256_file
from vidlab.ml.torchdep import require_torch

log = logging.getLogger(__name__)

#: The largest difference between ONNX Runtime and PyTorch an export may show (0..1 pixels).
TOLERANCE = 1e-3

#: The ONNX opset (GridSample needs 16).
OPSET = 17

#: Key prefixes of training-only parts that official files carry and inference never uses.
TRAINING_ONLY = ("teacher.", "caltime.")


@dataclasses.dataclass(frozen=True)
class RifeLayout:
    """One IFNet layout: what its tensors look like and how its forward pass runs.

    ``widths`` are the flow blocks' channel widths (block0 first); ``encoder`` is the feature
    encoder's ``(hidden, out)`` channels or None; ``carries_feat`` says whether each block hands
    an 8-channel feature map to the next (its last layer then has 52 outputs, else 24);
    ``adds_mask`` whether block masks accumulate (4.6) or replace each other; ``scales`` the
    blocks' downscale factors at ``scale=1``; ``pad`` the multiple H and W must have."""

    version: str
    widths: tuple[int, ...]
    encoder: tuple[int, int] | None
    carries_feat: bool
    adds_mask: bool
    scales: tuple[float, ...]
    pad: int
    same_as: tuple[str, ...] = ()

    @property
    def feat_channels(self) -> int:
        """Channels of the encoder's per-image feature map (0 without an encoder)."""
        return self.encoder[1] if self.encoder else 0

    @property
    def first_in(self) -> int:
        """block0's input: both images, both feature maps, the time plane."""
        return 7 + 2 * self.feat_channels

    @property
    def later_in(self) -> int:
        """A later block's input: warped images, warped features, time, mask, (feat), flow."""
        return 3 + 3 + 2 * self.feat_channels + 1 + 1 + (8 if self.carries_feat else 0) + 4

    @property
    def head_out(self) -> int:
        """Channels of a block's output before the 2x pixel shuffle."""
        return 4 * (13 if self.carries_feat else 6)


LAYOUTS: dict[str, RifeLayout] = {
    layout.version: layout
    for layout in (
        RifeLayout("4.6", (192, 128, 96, 64), None, False, True, (8, 4, 2, 1), 32),
        RifeLayout("4.22", (256, 192, 96, 48), (32, 8), True, False, (8, 4, 2, 1), 32, ("4.21", "4.23")),
        RifeLayout("4.24", (192, 128, 96, 64), (32, 8), False, False, (8, 4, 2, 1), 32),
        RifeLayout("4.25", (192, 128, 96, 64, 32), (16, 4), True, False, (16, 8, 4, 2, 1), 64, ("4.26",)),
    )
}

#: The multiple H and W must have at ``scale=1``, per version.
PAD = {v: layout.pad for v, layout in LAYOUTS.items()}

_EXPECTED = "not a Practical-RIFE flownet.pkl (v" + " / v".join(LAYOUTS) + ")"


def pad_multiple(version: str, scale: float = 1.0) -> int:
    """The multiple the padded H and W need for ``version`` at flow ``scale`` (a smaller scale
    runs the coarsest block at a coarser grid, so it needs a larger multiple)."""
    pad = LAYOUTS[version].pad
    return max(pad, int(pad / scale))


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if scale not in (0.25, 0.5, 1.0, 2.0, 4.0):
        raise ModelError(f"RIFE scale must be 0.25, 0.5, 1.0, 2.0 or 4.0, not {scale:g}", param="scale")
    return scale


# -- the network (torch, built on first use) ------------------------------------------------------


@functools.cache
def _net_classes() -> dict[str, Any]:
    """The torch modules, defined on first use so that importing this module needs no torch."""
    torch, nn = require_torch()
    F = torch.nn.functional

    def conv_act(cin: int, cout: int, stride: int = 1) -> Any:
        """3x3 convolution and leaky ReLU (keys ``N.0.weight``, ``N.0.bias``)."""
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, True))

    def resize(x: Any, factor: float) -> Any:
        """Bilinear resize by ``factor`` (half-pixel centres, as RIFE); 1 is the identity."""
        if factor == 1.0:
            return x
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def backward_warp(img: Any, flow: Any) -> Any:
        """Sample ``img`` at each pixel plus ``flow`` (pixels, x then y), clamping at the border.

        The pixel grid is built from tensor ops (a cumulative sum of ones) rather than from
        Python sizes, so the exported ONNX graph keeps H and W dynamic."""
        ones = torch.ones_like(flow[:, :1])
        xs = ones.cumsum(3) - 1.0
        ys = ones.cumsum(2) - 1.0
        w = ones.sum(3, keepdim=True)
        h = ones.sum(2, keepdim=True)
        gx = (xs + flow[:, 0:1]) * (2.0 / (w - 1.0)) - 1.0
        gy = (ys + flow[:, 1:2]) * (2.0 / (h - 1.0)) - 1.0
        grid = torch.cat((gx, gy), 1).permute(0, 2, 3, 1)
        return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)

    class Encoder(nn.Module):
        """Per-image features at full resolution: a stride-2 conv, two convs, a 2x deconv."""

        def __init__(self, hidden: int, out: int) -> None:
            super().__init__()
            self.cnn0 = nn.Conv2d(3, hidden, 3, 2, 1)
            self.cnn1 = nn.Conv2d(hidden, hidden, 3, 1, 1)
            self.cnn2 = nn.Conv2d(hidden, hidden, 3, 1, 1)
            self.cnn3 = nn.ConvTranspose2d(hidden, out, 4, 2, 1)
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x: Any) -> Any:
            x = self.relu(self.cnn0(x))
            x = self.relu(self.cnn1(x))
            x = self.relu(self.cnn2(x))
            return self.cnn3(x)

    class ScaledResidual(nn.Module):
        """``act(conv(x) * beta + x)`` with a learned per-channel ``beta``."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, 1, 1)
            self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x: Any) -> Any:
            return self.relu(self.conv(x) * self.beta + x)

    class FlowBlock(nn.Module):
        """One coarse-to-fine step: at 1/``scale`` it reads the inputs (and the flow so far) and
        predicts a flow (4 channels: to frame 0, to frame 1), a mask logit and, in the layouts
        that carry one, an 8-channel feature map for the next block."""

        def __init__(self, cin: int, c: int, head_out: int) -> None:
            super().__init__()
            self.conv0 = nn.Sequential(conv_act(cin, c // 2, 2), conv_act(c // 2, c, 2))
            self.convblock = nn.Sequential(*(ScaledResidual(c) for _ in range(8)))
            self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, head_out, 4, 2, 1), nn.PixelShuffle(2))

        def forward(self, x: Any, flow: Any, scale: float) -> tuple[Any, Any, Any]:
            x = resize(x, 1.0 / scale)
            if flow is not None:
                x = torch.cat((x, resize(flow, 1.0 / scale) / scale), 1)
            out = resize(self.lastconv(self.convblock(self.conv0(x))), scale)
            return out[:, :4] * scale, out[:, 4:5], out[:, 5:]

    class IFNet(nn.Module):
        """RIFE's intermediate-flow network for one :class:`RifeLayout`: the frame at time ``t``
        as a mask-weighted blend of both frames warped by the estimated flows."""

        def __init__(self, version: str) -> None:
            super().__init__()
            self.layout = layout = LAYOUTS[version]
            self.version = version
            for i, width in enumerate(layout.widths):
                cin = layout.first_in if i == 0 else layout.later_in
                self.add_module(f"block{i}", FlowBlock(cin, width, layout.head_out))
            if layout.encoder is not None:
                self.encode = Encoder(*layout.encoder)

        def forward(self, img0: Any, img1: Any, t: Any, scale: float = 1.0) -> Any:
            """The frame between ``img0`` and ``img1`` (N x 3 x H x W, 0..1) at the time plane
            ``t`` (N x 1 x H x W); H and W a multiple of :func:`pad_multiple`."""
            layout = self.layout
            if layout.encoder is not None:
                f0, f1 = self.encode(img0), self.encode(img1)
            flow = mask = feat = None
            warped0, warped1 = img0, img1
            for i, base in enumerate(layout.scales):
                block = getattr(self, f"block{i}")
                s = base / scale
                if flow is None:
                    parts = [img0, img1] + ([f0, f1] if layout.encoder else []) + [t]
                    flow, mask, feat = block(torch.cat(parts, 1), None, s)
                else:
                    parts = [warped0, warped1]
                    if layout.encoder is not None:
                        parts += [backward_warp(f0, flow[:, :2]), backward_warp(f1, flow[:, 2:4])]
                    parts += [t, mask]
                    if layout.carries_feat:
                        parts.append(feat)
                    dflow, dmask, feat = block(torch.cat(parts, 1), flow, s)
                    flow = flow + dflow
                    mask = mask + dmask if layout.adds_mask else dmask
                warped0 = backward_warp(img0, flow[:, :2])
                warped1 = backward_warp(img1, flow[:, 2:4])
            weight = torch.sigmoid(mask)
            return warped0 * weight + warped1 * (1.0 - weight)

    class OnnxWrapper(nn.Module):
        """What is exported: one 7-channel input ``[img0, img1, t-plane]``, one RGB output."""

        def __init__(self, net: Any, scale: float) -> None:
            super().__init__()
            self.net = net
            self.scale = scale

        def forward(self, x: Any) -> Any:
            return self.net(x[:, 0:3], x[:, 3:6], x[:, 6:7], self.scale)

    return {"IFNet": IFNet, "OnnxWrapper": OnnxWrapper}


def build_ifnet(version: str) -> Any:
    """A new, randomly initialised IFNet of ``version`` (one of :data:`LAYOUTS`)."""
    if version not in LAYOUTS:
        raise ModelError(f"unknown RIFE version {version!r} (known: {', '.join(LAYOUTS)})")
    return _net_classes()["IFNet"](version)


@functools.cache
def expected_shapes(version: str) -> dict[str, tuple[int, ...]]:
    """Every key of ``version``'s state dict (no ``module.`` prefix) and its shape."""
    torch, _ = require_torch()
    with torch.device("meta"):
        net = build_ifnet(version)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


# -- reading a flownet.pkl ------------------------------------------------------------------------


def _plain_keys(state_dict: dict[str, Any]) -> dict[str, Any]:
    """``state_dict`` without DataParallel's ``module.`` prefix and without training-only keys."""
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise ModelError(f"{_EXPECTED}: a key is a {type(key).__name__}, not a string")
        name = key[len("module.") :] if key.startswith("module.") else key
        if name in out:
            raise ModelError(f"{_EXPECTED}: {name} appears with and without the module. prefix")
        if not name.startswith(TRAINING_ONLY):
            out[name] = value
    return out


def _listed(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _mismatch(found: dict[str, tuple[int, ...]], version: str) -> tuple[tuple[int, int], str]:
    """How far ``found`` is from ``version``'s layout (shapes that differ first, then keys
    missing or extra: a truncated file is nearest its own layout), and a phrase saying where."""
    want = expected_shapes(version)
    missing = sorted(set(want) - set(found))
    extra = sorted(set(found) - set(want))
    reshaped = sorted(k for k in set(want) & set(found) if want[k] != found[k])
    parts = []
    if missing:
        parts.append(f"missing {_listed(missing)}")
    if extra:
        parts.append(f"unexpected {_listed(extra)}")
    if reshaped:
        k = reshaped[0]
        more = f" (and {len(reshaped) - 1} more shapes)" if len(reshaped) > 1 else ""
        parts.append(f"{k} is {found[k]}, v{version} has {want[k]}{more}")
    return (len(reshaped), len(missing) + len(extra)), "; ".join(parts)


def detect_version(state_dict: dict[str, Any]) -> str:
    """The RIFE version (a key of :data:`LAYOUTS`) whose layout ``state_dict`` has exactly,
    judged from its keys and shapes alone (``module.`` prefixes and training-only ``teacher.``
    and ``caltime.`` keys are ignored). Anything else is a one-line :class:`ModelError` saying
    what was expected and what was found."""
    state = _plain_keys(state_dict)
    not_tensors = [k for k, v in state.items() if not hasattr(v, "shape")]
    if not_tensors:
        raise ModelError(f"{_EXPECTED}: {_listed(sorted(not_tensors))} not tensors")
    if "block0.conv0.0.0.weight" not in state:
        sample = _listed(sorted(state), 2) if state else "no keys"
        raise ModelError(f"{_EXPECTED}: missing block0.conv0.0.0.weight (found {len(state)} keys: {sample})")
    found = {k: tuple(v.shape) for k, v in state.items()}
    scored = sorted(((*_mismatch(found, v), v) for v in LAYOUTS), key=lambda s: s[0])
    distance, where, version = scored[0]
    if distance == (0, 0):
        return version
    raise ModelError(f"{_EXPECTED}: closest is v{version}, but {where}")


def load_rife(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """``(IFNet in eval mode, version)`` from a Practical-RIFE ``flownet.pkl``, read with
    ``weights_only=True`` (a file carrying pickled code is refused, never run) and loaded
    strictly into the detected layout."""
    path = Path(path)
    data = load_checkpoint(path)
    try:
        version = detect_version(data)
    except ModelError as exc:
        exc.set_path(path)
        raise
    net = build_ifnet(version)
    try:
        net.load_state_dict(_plain_keys(data), strict=True)
    except (RuntimeError, ValueError) as exc:  # detect_version checked it; this is a backstop
        first = " ".join(str(exc).split())[:200]
        raise ModelError(f"weights do not fit RIFE v{version}: {first}", path) from None
    net.float().eval()
    log.debug("%s: RIFE v%s", path.name, version)
    return net, version


# -- ONNX -----------------------------------------------------------------------------------------


def _random_input(rng: np.random.Generator, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Two random frames and a constant time plane per batch item, like :class:`RifePair` feeds."""
    x = rng.random(shape, dtype=np.float32)
    x[:, 6] = rng.uniform(0.1, 0.9, size=(shape[0], 1, 1)).astype(np.float32)
    return x


def export_rife_onnx(
    pkl_path: str | os.PathLike[str], onnx_path: str | os.PathLike[str], scale: float = 1.0
) -> Path:
    """Export ``pkl_path``'s IFNet to ``onnx_path``: input ``x`` (N x 7 x H x W float32: frame
    0 RGB, frame 1 RGB, the constant time plane, all 0..1; H and W already padded to
    :func:`pad_multiple`), output ``frame`` (N x 3 x H x W); batch, H and W dynamic.

    ONNX Runtime is checked against PyTorch on a shape other than the traced one: a
    difference above :data:`TOLERANCE` is a :class:`ModelError` and nothing is written. The
    file is written under a temporary name and renamed into place."""
    torch, _ = require_torch()
    scale = _check_scale(scale)
    pkl_path, onnx_path = Path(pkl_path), Path(onnx_path)
    net, version = load_rife(pkl_path)
    model = _net_classes()["OnnxWrapper"](net, scale).eval()
    m = pad_multiple(version, scale)
    what = f"RIFE v{version}"
    example = torch.rand(1, 7, m, 2 * m)
    data = onnx_bytes(
        model, example, ("x", "frame"), opset=OPSET, what=f"{what} ONNX export", source=pkl_path
    )
    x = _random_input(np.random.default_rng(0), (2, 7, 2 * m, m))
    diff, _ = write_checked(
        data, onnx_path, model, [x], tolerance=TOLERANCE, source=pkl_path, what=f"{what}: ", threads=1
    )
    log.info("exported RIFE v%s %s to %s (max difference %.3g)", version, pkl_path.name, onnx_path, diff)
    return onnx_path


def cache_folder() -> Path:
    """Where exported RIFE models are kept: ``vidlab_home()/cache/rife``."""
    from vidlab.ml.registry import vidlab_home

    return vidlab_home() / "cache" / "rife"


def _cache_name(sha: str, version: str, scale: float) -> str:
    return f"{sha}-{version}.onnx" if scale == 1.0 else f"{sha}-{version}-scale{scale:g}.onnx"


def cached_rife_onnx(pkl_path: str | os.PathLike[str], scale: float = 1.0) -> Path:
    """The ONNX export of ``pkl_path``, made once and kept as
    ``cache/rife/{sha256}-{version}.onnx`` (``-scale{s}`` added when ``scale`` is not 1). A
    file already exported is found by its sha256 without loading it again (or needing torch)."""
    scale = _check_scale(scale)
    pkl_path = Path(pkl_path)
    if not pkl_path.is_file():
        raise ModelError("no such RIFE weights file", pkl_path)
    sha = sha256_file(pkl_path)
    folder = cache_folder()
    for version in LAYOUTS:
        done = folder / _cache_name(sha, version, scale)
        if done.is_file():
            return done
    _, version = load_rife(pkl_path)  # fails early, before any export, on a foreign file
    return export_rife_onnx(pkl_path, folder / _cache_name(sha, version, scale), scale)


def version_of(onnx_path: str | os.PathLike[str]) -> str:
    """The RIFE version in a cached export's name (``{sha256}-{version}[-scale..].onnx``)."""
    stem = Path(onnx_path).stem
    parts = stem.split("-")
    if len(parts) >= 2 and parts[1] in LAYOUTS:
        return parts[1]
    raise ModelError("not a cached RIFE export (its name has no RIFE version)", onnx_path)


# -- running --------------------------------------------------------------------------------------


class RifePair:
    """Frame interpolation with a RIFE ``flownet.pkl``, the :class:`PairInterpolator` way:
    :meth:`pair` takes two RGB uint8 frames, :meth:`at` makes the frame at time ``t``.

    The weights are exported to ONNX once (:func:`cached_rife_onnx`) and run on ONNX Runtime on
    ``device``. Frames are padded on the right and bottom to the version's multiple by edge
    replication (Practical-RIFE pads with zeros; replication keeps a black border out of the
    flow estimate) and the result is cropped back."""

    def __init__(
        self, model_path: str | os.PathLike[str], device: str = "auto", threads: int = 0, scale: float = 1.0
    ) -> None:
        self.scale = _check_scale(scale)
        self.onnx_path = cached_rife_onnx(model_path, self.scale)
        self.version = version_of(self.onnx_path)
        self.multiple = pad_multiple(self.version, self.scale)
        self.session = cached_session(self.onnx_path, device, threads)
        self.session.check_input(channels=7)
        self._x: np.ndarray | None = None
        self._size = (0, 0)

    def __repr__(self) -> str:
        return f"RifePair(v{self.version}, multiple={self.multiple}, {self.session!r})"

    def pair(self, a: np.ndarray, b: np.ndarray) -> None:
        """Take the two neighbouring frames (H x W x 3 uint8, the same size)."""
        for name, frame in (("a", a), ("b", b)):
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ModelError(
                    f"RIFE takes H x W x 3 uint8 frames; {name} is {frame.shape} {frame.dtype}", param=name
                )
        if a.shape != b.shape:
            raise ModelError(f"RIFE frames differ in size: {a.shape} and {b.shape}", param=("a", "b"))
        h, w = a.shape[:2]
        m = self.multiple
        ph, pw = -(-h // m) * m, -(-w // m) * m
        x = np.empty((1, 7, ph, pw), np.float32)
        for i, frame in enumerate((a, b)):
            chw = frame.transpose(2, 0, 1).astype(np.float32) / 255.0
            x[0, 3 * i : 3 * i + 3] = np.pad(chw, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
        self._a, self._b = a, b
        self._x, self._size = x, (h, w)

    def at(self, t: float) -> np.ndarray:
        """The frame at ``0 <= t <= 1`` between the pair (H x W x 3 uint8); 0 and 1 give the
        pair's own frames."""
        if self._x is None:
            raise ModelError("RifePair.at called before pair")
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ModelError(f"t must be within 0..1, not {t:g}", param="t")
        if t == 0.0:
            return self._a.copy()
        if t == 1.0:
            return self._b.copy()
        self._x[0, 6] = t
        y = self.session.run(self._x)
        h, w = self._size
        out = y[0, :, :h, :w].transpose(1, 2, 0)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
