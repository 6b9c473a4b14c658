"""AdaIN style transfer (Huang & Belongie 2017) with user-supplied ``vgg_normalised.pth`` and
``decoder.pth``, loaded safely and run on ONNX Runtime.

The two files are the state dicts of naoto0804/pytorch-AdaIN's ``net.vgg`` (a "normalised"
VGG-19 as an ``nn.Sequential`` of 53 layers: a 1x1 conv 3->3 that folds the RGB->BGR and mean
conversion in, then reflection pads, 3x3 convs, ReLUs and 2x2 max pools up to relu5_4) and
``net.decoder`` (its mirror from relu4_1 back to RGB, 29 layers, nearest 2x upsampling). The
encoder is the first 31 layers, up to relu4_1. The layer tables below rebuild those
``Sequential`` s index for index, so the files load with ``weights_only=True`` and a strict
``load_state_dict``; the modules, the checks and the ONNX wrapper are vidlab's.

The AdaIN step itself (channel mean/std matching, ``alpha``, weighted style interpolation) runs
in NumPy between the encoder and decoder sessions: the features are only 512 x H/8 x W/8, and a
style enters only through its 512 channel means and standard deviations, computed once per style
image.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import ModelError
from vidlab.ml.checkpoint import load_checkpoint
from vidlab.ml.export import onnx_bytes, write_checked
from vidlab.ml.session import cached_session, sha256_file
from vidlab.ml.torchdep import require_torch

log = logging.getLogger(__name__)

#: The largest difference between ONNX Runtime and PyTorch an export may show: absolute on the
#: decoder's 0..1 image, relative to the largest feature on the encoder's relu4_1 output.
TOLERANCE = 1e-3

OPSET = 17

#: relu4_1 has this many channels; H and W of an input must be multiples of :data:`MULTIPLE`.
FEATURES = 512
MULTIPLE = 8

#: AdaIN's epsilon, added to the (unbiased) channel variance as pytorch-AdaIN's calc_mean_std does.
EPS = 1e-5

#: The short side a style image is resized to before encoding (pytorch-AdaIN's ``style_size``).
STYLE_SIZE = 512

# A layer is ("conv", in, out, kernel), ("pad",) a 1-px reflection pad, ("relu",), ("pool",) a
# 2x2 stride-2 max pool with ceil_mode, or ("up",) nearest 2x upsampling.
Layer = tuple[Any, ...]


def _vgg_layers() -> list[Layer]:
    """net.vgg: the 1x1 conv, then per block (pad, 3x3 conv, relu) x n and a pool between blocks."""
    layers: list[Layer] = [("conv", 3, 3, 1)]
    blocks = [(3, 64, 2), (64, 128, 2), (128, 256, 4), (256, 512, 4), (512, 512, 4)]
    for b, (cin, cout, n) in enumerate(blocks):
        if b:
            layers.append(("pool",))
        for i in range(n):
            layers += [("pad",), ("conv", cin if i == 0 else cout, cout, 3), ("relu",)]
    return layers


def _decoder_layers() -> list[Layer]:
    """net.decoder: relu4_1's 512 channels back to RGB, mirroring relu4_1..relu1_1."""
    layers: list[Layer] = []
    plan = [
        (512, [256], True),
        (256, [256, 256, 256, 128], True),
        (128, [128, 64], True),
        (64, [64, 3], False),
    ]
    for cin, outs, up in plan:
        for cout in outs:
            layers += [("pad",), ("conv", cin, cout, 3)]
            cin = cout
            if cout != 3:
                layers.append(("relu",))
        if up:
            layers.append(("up",))
    return layers


VGG_LAYERS: list[Layer] = _vgg_layers()
DECODER_LAYERS: list[Layer] = _decoder_layers()
#: The encoder: net.vgg's first 31 layers (through relu4_1).
ENCODER_DEPTH = 31


def layer_shapes(layers: Sequence[Layer]) -> dict[str, tuple[int, ...]]:
    """The state-dict keys of an ``nn.Sequential`` of ``layers`` and their shapes."""
    out: dict[str, tuple[int, ...]] = {}
    for i, layer in enumerate(layers):
        if layer[0] == "conv":
            _, cin, cout, k = layer
            out[f"{i}.weight"] = (cout, cin, k, k)
            out[f"{i}.bias"] = (cout,)
    return out


VGG_SHAPES = layer_shapes(VGG_LAYERS)  # 34 tensors: the full vgg_normalised.pth
ENCODER_SHAPES = layer_shapes(VGG_LAYERS[:ENCODER_DEPTH])  # 20 tensors: a file cut at relu4_1
DECODER_SHAPES = layer_shapes(DECODER_LAYERS)  # 18 tensors

_WHAT = {
    "vgg": "not an AdaIN vgg_normalised.pth (VGG-19 nn.Sequential, 34 tensors, or 20 up to relu4_1)",
    "decoder": "not an AdaIN decoder.pth (relu4_1 -> RGB nn.Sequential, 18 tensors)",
}


# -- the networks (torch, built on first use) -----------------------------------------------------


@functools.cache
def _torch_parts() -> dict[str, Any]:
    """The torch builders, defined on first use so that importing this module needs no torch."""
    torch, nn = require_torch()

    def build(layers: Sequence[Layer]) -> Any:
        mods: list[Any] = []
        for layer in layers:
            kind = layer[0]
            if kind == "conv":
                mods.append(nn.Conv2d(layer[1], layer[2], (layer[3], layer[3])))
            elif kind == "pad":
                mods.append(nn.ReflectionPad2d((1, 1, 1, 1)))
            elif kind == "relu":
                mods.append(nn.ReLU())
            elif kind == "pool":
                mods.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
            else:
                mods.append(nn.Upsample(scale_factor=2, mode="nearest"))
        return nn.Sequential(*mods)

    return {"torch": torch, "build": build}


def build_vgg(depth: int = len(VGG_LAYERS)) -> Any:
    """A randomly initialised ``net.vgg`` (its first ``depth`` layers), keys as in the file."""
    return _torch_parts()["build"](VGG_LAYERS[:depth])


def build_decoder() -> Any:
    """A randomly initialised ``net.decoder``, keys as in decoder.pth."""
    return _torch_parts()["build"](DECODER_LAYERS)


# -- reading the files ----------------------------------------------------------------------------


def _listed(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _index_order(key: str) -> tuple[int, str]:
    head = key.partition(".")[0]
    return (int(head) if head.isdigit() else 1 << 30, key)


def _distance(found: dict[str, tuple[int, ...]], want: dict[str, tuple[int, ...]]) -> tuple[int, str]:
    """How far ``found`` is from ``want`` (0: exactly it) and a phrase naming the first mismatch."""
    missing = sorted(set(want) - set(found), key=_index_order)
    extra = sorted(set(found) - set(want), key=_index_order)
    reshaped = sorted((k for k in set(want) & set(found) if want[k] != found[k]), key=_index_order)
    parts = []
    if reshaped:
        k = reshaped[0]
        more = f" (and {len(reshaped) - 1} more shapes)" if len(reshaped) > 1 else ""
        parts.append(f"{k} is {found[k]}, expected {want[k]}{more}")
    if missing:
        parts.append(f"missing {_listed(missing)}")
    if extra:
        parts.append(f"unexpected {_listed(extra)}")
    return len(missing) + len(extra) + len(reshaped), "; ".join(parts)


def check_layout(state: dict[str, Any], kind: str) -> dict[str, tuple[int, ...]]:
    """The layout ``state`` matches exactly (``kind`` "vgg": the full 34-tensor VGG or its
    20-tensor relu4_1 prefix; "decoder": the 18-tensor decoder), or a one-line
    :class:`ModelError` naming the first mismatch (and saying so when the other file was given)."""
    what = _WHAT[kind]
    bad_keys = [k for k in state if not isinstance(k, str)]
    if bad_keys:
        raise ModelError(f"{what}: a key is a {type(bad_keys[0]).__name__}, not a string")
    not_tensors = sorted((k for k, v in state.items() if not hasattr(v, "shape")), key=_index_order)
    if not_tensors:
        raise ModelError(f"{what}: {_listed(not_tensors)} not tensors")
    found = {k: tuple(v.shape) for k, v in state.items()}
    other = "decoder" if kind == "vgg" else "vgg"
    mine = [VGG_SHAPES, ENCODER_SHAPES] if kind == "vgg" else [DECODER_SHAPES]
    theirs = [DECODER_SHAPES] if kind == "vgg" else [VGG_SHAPES, ENCODER_SHAPES]
    for want in mine:
        if found == want:
            return want
    if any(found == want for want in theirs):
        raise ModelError(f"{what}: it has the layout of a {other} file (are vgg and decoder swapped?)")
    if not found:
        raise ModelError(f"{what}: it holds no tensors")
    _, where = min(_distance(found, want) for want in mine)
    raise ModelError(f"{what}: {where}")


def _load(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    data = load_checkpoint(path)
    try:
        layout = check_layout(data, kind)
    except ModelError as exc:
        exc.set_path(path)
        raise
    return data, layout


def _strict(net: Any, state: dict[str, Any], path: Path) -> Any:
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as exc:  # check_layout passed; this is a backstop
        first = " ".join(str(exc).split())[:200]
        raise ModelError(f"weights do not fit the AdaIN layout: {first}", path) from None
    return net.float().eval()


def load_adain(vgg_path: str | os.PathLike[str], decoder_path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """``(encoder, decoder)`` in eval mode from ``vgg_normalised.pth`` and ``decoder.pth``, read
    with ``weights_only=True`` (pickled code is refused, never run) and loaded strictly into
    pytorch-AdaIN's layouts; the encoder is the VGG's first 31 layers (to relu4_1)."""
    vgg_path, decoder_path = Path(vgg_path), Path(decoder_path)
    vgg_state, layout = _load(vgg_path, "vgg")
    dec_state, _ = _load(decoder_path, "decoder")
    depth = len(VGG_LAYERS) if layout is VGG_SHAPES else ENCODER_DEPTH
    vgg = _strict(build_vgg(depth), vgg_state, vgg_path)
    encoder = _torch_parts()["torch"].nn.Sequential(*list(vgg.children())[:ENCODER_DEPTH]).eval()
    decoder = _strict(build_decoder(), dec_state, decoder_path)
    return encoder, decoder


# -- ONNX -----------------------------------------------------------------------------------------


def _export(net: Any, example: Any, names: tuple[str, str], source: Path) -> bytes:
    return onnx_bytes(net, example, names, opset=OPSET, what="AdaIN ONNX export", source=source)


def _write_checked(data: bytes, dest: Path, net: Any, x: np.ndarray, relative: bool, source: Path) -> float:
    """Write ``data`` to ``dest`` only if ONNX Runtime matches ``net`` on ``x``; the difference."""
    diff, _ = write_checked(
        data, dest, net, [x], tolerance=TOLERANCE, source=source, what="AdaIN: ", relative=relative, threads=1
    )
    return diff


def export_adain_onnx(
    vgg_path: str | os.PathLike[str],
    decoder_path: str | os.PathLike[str],
    encoder_onnx: str | os.PathLike[str],
    decoder_onnx: str | os.PathLike[str],
) -> tuple[Path, Path]:
    """Export the pair: the encoder (``image`` N x 3 x H x W RGB 0..1, H and W multiples of 8 ->
    ``features`` N x 512 x H/8 x W/8, relu4_1) and the decoder (``features`` -> ``image``);
    batch, H and W dynamic. Each is checked against PyTorch on a random input of a shape other
    than the traced one before it is renamed into place; a difference above :data:`TOLERANCE`
    is a :class:`ModelError` and nothing is written."""
    torch = _torch_parts()["torch"]
    vgg_path, decoder_path = Path(vgg_path), Path(decoder_path)
    encoder_onnx, decoder_onnx = Path(encoder_onnx), Path(decoder_onnx)
    encoder, decoder = load_adain(vgg_path, decoder_path)
    rng = np.random.default_rng(0)
    image = rng.random((1, 3, 48, 80), dtype=np.float32)
    with torch.no_grad():
        feats = encoder(torch.from_numpy(image)).numpy()
    enc_diff = dec_diff = 0.0
    if not encoder_onnx.is_file():
        data = _export(encoder, torch.rand(1, 3, 64, 64), ("image", "features"), vgg_path)
        enc_diff = _write_checked(data, encoder_onnx, encoder, image, True, vgg_path)
    if not decoder_onnx.is_file():
        data = _export(decoder, torch.rand(1, FEATURES, 8, 8), ("features", "image"), decoder_path)
        dec_diff = _write_checked(data, decoder_onnx, decoder, feats, False, decoder_path)
    log.info(
        "exported AdaIN %s + %s (max differences %.3g, %.3g)",
        vgg_path.name,
        decoder_path.name,
        enc_diff,
        dec_diff,
    )
    return encoder_onnx, decoder_onnx


def cache_folder() -> Path:
    """Where exported AdaIN models are kept: ``vidlab_home()/cache/adain``."""
    from vidlab.ml.registry import vidlab_home

    return vidlab_home() / "cache" / "adain"


def cached_adain_onnx(
    vgg_path: str | os.PathLike[str], decoder_path: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """The ONNX pair of the two files, made once and kept as ``cache/adain/encoder-{sha256 of
    the vgg}.onnx`` and ``decoder-{sha256 of the decoder}.onnx``: found again by the files'
    hashes without loading them (or needing torch). Both files' layouts are checked before any
    export."""
    paths = {"vgg": Path(vgg_path), "decoder": Path(decoder_path)}
    for kind, p in paths.items():
        if not p.is_file():
            raise ModelError(f"no such AdaIN {kind} weights file", p)
    folder = cache_folder()
    enc = folder / f"encoder-{sha256_file(paths['vgg'])}.onnx"
    dec = folder / f"decoder-{sha256_file(paths['decoder'])}.onnx"
    if enc.is_file() and dec.is_file():
        return enc, dec
    return export_adain_onnx(paths["vgg"], paths["decoder"], enc, dec)


# -- the AdaIN step (NumPy) -----------------------------------------------------------------------


def channel_stats(feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of ``N x C x h x w`` features (each ``N x C x 1 x 1``): the
    unbiased variance plus :data:`EPS`, as pytorch-AdaIN's calc_mean_std."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1).astype(np.float64)
    ddof = 1 if flat.shape[2] > 1 else 0
    mean = flat.mean(axis=2)
    std = np.sqrt(flat.var(axis=2, ddof=ddof) + EPS)
    return mean.reshape(n, c, 1, 1), std.reshape(n, c, 1, 1)


def blend_stats(
    stats: Sequence[tuple[np.ndarray, np.ndarray]], weights: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Several styles' (mean, std) as one, weights normalised to sum 1. pytorch-AdaIN
    interpolates the AdaIN outputs, ``sum w_i * (norm(c) * std_i + mean_i)``; with weights
    summing to 1 that is exactly AdaIN with the weighted mean and std, so blending the
    statistics once gives the same features for every frame."""
    w = np.asarray(weights, dtype=np.float64)
    if len(stats) != len(w) or len(w) == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ModelError(f"AdaIN style weights {list(weights)} must be >= 0 with a positive sum")
    w = w / w.sum()
    mean = sum(wi * m for wi, (m, _) in zip(w, stats, strict=True))
    std = sum(wi * s for wi, (_, s) in zip(w, stats, strict=True))
    return np.asarray(mean), np.asarray(std)


def adain(
    content: np.ndarray,
    style_mean: np.ndarray,
    style_std: np.ndarray,
    alpha: float = 1.0,
    content_stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """AdaIN: ``content`` features normalised per channel and given the style's mean and std,
    then ``alpha`` of that plus ``1 - alpha`` of the content (alpha 0 returns the content).
    ``content_stats`` replaces the content's own statistics (tiles of one frame share the
    frame's, so they agree)."""
    c_mean, c_std = content_stats if content_stats is not None else channel_stats(content)
    t = (content - c_mean) / c_std * style_std + style_mean
    if alpha != 1.0:
        t = alpha * t + (1.0 - alpha) * content
    return t.astype(np.float32)


def pad_to_multiple(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (h x w x 3 float) reflect-padded at the bottom and right to multiples of 8."""
    h, w = rgb.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    if not ph and not pw:
        return rgb
    mode = "reflect" if h > 1 and w > 1 else "edge"
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode=mode)


class AdainModel:
    """An AdaIN encoder/decoder pair on ONNX Runtime: :meth:`style_stats` of a style image (once
    per style), :meth:`stylize` of N x 3 x H x W RGB 0..1 batches (H, W multiples of 8)."""

    def __init__(
        self,
        vgg_path: str | os.PathLike[str],
        decoder_path: str | os.PathLike[str],
        device: str = "auto",
        threads: int = 0,
    ) -> None:
        self.encoder_path, self.decoder_path = cached_adain_onnx(vgg_path, decoder_path)
        self.encoder = cached_session(self.encoder_path, device, threads)
        self.decoder = cached_session(self.decoder_path, device, threads)
        self.encoder.check_input(channels=3)
        self.decoder.check_input(channels=FEATURES)

    def __repr__(self) -> str:
        return f"AdainModel({self.encoder!r}, {self.decoder!r})"

    def encode(self, x: np.ndarray) -> np.ndarray:
        """relu4_1 features of an N x 3 x H x W RGB 0..1 batch (H and W multiples of 8)."""
        return self.encoder.run(x)

    def decode(self, feat: np.ndarray) -> np.ndarray:
        """The image (N x 3 x 8h x 8w, about 0..1, not clipped) of N x 512 x h x w features."""
        return self.decoder.run(feat)

    def style_stats(self, rgb: np.ndarray, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The channel mean and std of a style image's relu4_1 features (RGB uint8 in), with
        its short side resized to ``size`` (None: :data:`STYLE_SIZE`; 0: as it is), as
        pytorch-AdaIN does by default."""
        import cv2

        size = STYLE_SIZE if size is None else size

        x = rgb.astype(np.float32) * (1 / 255.0)
        h, w = x.shape[:2]
        if size and min(h, w) != size:
            f = size / min(h, w)
            dsize = (max(1, round(w * f)), max(1, round(h * f)))
            x = cv2.resize(x, dsize, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
        x = pad_to_multiple(np.clip(x, 0, 1))
        return channel_stats(self.encode(x.transpose(2, 0, 1)[None]))

    def stylize(
        self,
        x: np.ndarray,
        style: tuple[np.ndarray, np.ndarray],
        alpha: float = 1.0,
        content_stats: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Encode ``x``, AdaIN with ``style`` (mean, std) at ``alpha``, decode."""
        feat = self.encode(x)
        return self.decode(adain(feat, style[0], style[1], alpha, content_stats))
