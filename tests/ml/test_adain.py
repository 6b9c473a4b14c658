"""AdaIN with pytorch-AdaIN's vgg_normalised.pth and decoder.pth: the layouts match the public
files key for key, the loader refuses anything else in one line (pickled code never runs), the
ONNX pair matches PyTorch and is cached once, the NumPy AdaIN step does what the paper says, and
``neural_style backend=adain`` runs with its options.

The weights are random (the real files are user-supplied), saved with torch.save from a table
written here from the public layout, not from vidlab's builders, so a drift in either fails."""

from __future__ import annotations

import pathlib
import pickle

import cv2
import numpy as np
import pytest

from vidlab.core.errors import ModelError, RecipeError
from vidlab.ml.checkpoint import REFUSED_PICKLE

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("two_torch_threads")

from vidlab.ml import adain  # noqa: E402
from vidlab.ops import get_op  # noqa: E402

# -- the public layouts, written out independently ------------------------------------------------
# From naoto0804/pytorch-AdaIN's net.py: ``vgg`` is an nn.Sequential whose layer 0 is a 1x1 conv
# 3->3, then ReflectionPad2d(1) + 3x3 Conv2d + ReLU per conv and MaxPool2d(2, 2, ceil_mode=True)
# between blocks, 53 layers to relu5_4 (test.py keeps the first 31, to relu4_1); ``decoder`` is
# 29 layers, ReflectionPad2d(1) + 3x3 conv (+ ReLU) with UpsamplingNearest2d(2) at 3, 16 and 23.
# index: (out, in, kernel)
VGG_CONVS = {
    0: (3, 3, 1),
    2: (64, 3, 3),
    5: (64, 64, 3),
    9: (128, 64, 3),
    12: (128, 128, 3),
    16: (256, 128, 3),
    19: (256, 256, 3),
    22: (256, 256, 3),
    25: (256, 256, 3),
    29: (512, 256, 3),
    32: (512, 512, 3),
    35: (512, 512, 3),
    38: (512, 512, 3),
    42: (512, 512, 3),
    45: (512, 512, 3),
    48: (512, 512, 3),
    51: (512, 512, 3),
}
DECODER_CONVS = {
    1: (256, 512, 3),
    5: (256, 256, 3),
    8: (256, 256, 3),
    11: (256, 256, 3),
    14: (128, 256, 3),
    18: (128, 128, 3),
    21: (64, 128, 3),
    25: (64, 64, 3),
    28: (3, 64, 3),
}
VGG_POOLS = {7, 14, 27, 40}
DECODER_UPS = {3, 16, 23}


def public_shapes(convs: dict[int, tuple[int, int, int]], below: int = 10**6) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for i, (cout, cin, k) in convs.items():
        if i < below:
            out[f"{i}.weight"] = (cout, cin, k, k)
            out[f"{i}.bias"] = (cout,)
    return out


def random_state(convs: dict[int, tuple[int, int, int]], seed: int, below: int = 10**6) -> dict[str, object]:
    """He-initialised weights in the table's layout (so activations keep their scale); the
    decoder's last conv gives about 0.5 +- a little, so outputs rarely clip."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, object] = {}
    last = max(convs)
    for i, (cout, cin, k) in sorted(convs.items()):
        if i >= below:
            continue
        w = torch.randn((cout, cin, k, k), generator=g) * (2.0 / (cin * k * k)) ** 0.5
        b = torch.randn((cout,), generator=g) * 0.01
        if convs is DECODER_CONVS and i == last:
            w, b = w * 0.15, b * 0 + 0.5
        state[f"{i}.weight"], state[f"{i}.bias"] = w, b
    return state


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, pathlib.Path]:
    """A full 34-tensor vgg_normalised.pth, a 20-tensor one cut at relu4_1, and a decoder.pth."""
    d = tmp_path_factory.mktemp("adain")
    out = {"vgg": d / "vgg_normalised.pth", "vgg31": d / "vgg_relu4_1.pth", "decoder": d / "decoder.pth"}
    torch.save(random_state(VGG_CONVS, 1), out["vgg"])
    torch.save(random_state(VGG_CONVS, 1, below=31), out["vgg31"])
    torch.save(random_state(DECODER_CONVS, 2), out["decoder"])
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDLAB_HOME", str(h))
        yield h


@pytest.fixture(scope="module")
def model(files, home):
    """The exported pair; style images are encoded at a 128-px short side (512 by default) to
    keep the module fast."""
    torch.set_num_threads(2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(adain, "STYLE_SIZE", 128)
        yield adain.AdainModel(files["vgg"], files["decoder"], device="cpu", threads=2)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, object]:
    from skimage import data as skdata

    d = tmp_path_factory.mktemp("styles")
    paths = {}
    for name, rgb in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        paths[name] = d / f"{name}.png"
        cv2.imwrite(str(paths[name]), np.ascontiguousarray(rgb[::2, ::2, ::-1]))
    content = cv2.resize(skdata.astronaut(), (128, 96), interpolation=cv2.INTER_AREA)
    return {**paths, "content": content}


# -- layouts --------------------------------------------------------------------------------------


def test_layout_matches_the_public_files():
    assert public_shapes(VGG_CONVS) == adain.VGG_SHAPES and len(adain.VGG_SHAPES) == 34
    assert public_shapes(VGG_CONVS, below=31) == adain.ENCODER_SHAPES and len(adain.ENCODER_SHAPES) == 20
    assert public_shapes(DECODER_CONVS) == adain.DECODER_SHAPES and len(adain.DECODER_SHAPES) == 18
    nn = torch.nn
    vgg = adain.build_vgg()
    assert len(vgg) == 53
    assert {k: tuple(v.shape) for k, v in vgg.state_dict().items()} == public_shapes(VGG_CONVS)
    for i, layer in enumerate(vgg):
        if i in VGG_POOLS:
            assert isinstance(layer, nn.MaxPool2d) and layer.ceil_mode and layer.kernel_size == (2, 2)
        elif i in VGG_CONVS:
            assert isinstance(layer, nn.Conv2d) and layer.padding == (0, 0)
        elif i + 1 in VGG_CONVS:
            assert isinstance(layer, nn.ReflectionPad2d) and tuple(layer.padding) == (1, 1, 1, 1), i
        else:
            assert isinstance(layer, nn.ReLU) and i - 1 in VGG_CONVS, i
    assert isinstance(vgg[30], nn.ReLU)  # relu4_1, the encoder's last layer
    decoder = adain.build_decoder()
    assert len(decoder) == 29
    assert {k: tuple(v.shape) for k, v in decoder.state_dict().items()} == public_shapes(DECODER_CONVS)
    for i, layer in enumerate(decoder):
        if i in DECODER_UPS:
            assert isinstance(layer, nn.Upsample) and layer.mode == "nearest" and layer.scale_factor == 2
        elif i + 1 in DECODER_CONVS:
            assert isinstance(layer, nn.ReflectionPad2d) and tuple(layer.padding) == (1, 1, 1, 1), i
    assert isinstance(decoder[28], nn.Conv2d)  # no ReLU after the last conv


# -- loading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["vgg", "vgg31"])
def test_loader_takes_the_files_strictly(files, which):
    encoder, decoder = adain.load_adain(files[which], files["decoder"])
    assert len(encoder) == 31 and not encoder.training and not decoder.training
    want = torch.load(files[which], weights_only=True)
    got = encoder.state_dict()
    assert set(got) == set(public_shapes(VGG_CONVS, below=31))
    assert torch.equal(got["29.weight"], want["29.weight"]) and torch.equal(got["0.bias"], want["0.bias"])
    assert torch.equal(
        decoder.state_dict()["28.weight"], torch.load(files["decoder"], weights_only=True)["28.weight"]
    )
    with torch.no_grad():
        feat = encoder(torch.rand(1, 3, 40, 56))
        assert feat.shape == (1, 512, 5, 7)
        assert decoder(feat).shape == (1, 3, 40, 56)


def _refused(tmp_path, files, payload, kind: str = "vgg") -> ModelError:
    path = tmp_path / f"{kind}.pth"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        torch.save(payload, path)
    args = (path, files["decoder"]) if kind == "vgg" else (files["vgg"], path)
    with pytest.raises(ModelError) as e:
        adain.load_adain(*args)
    assert e.value.path == str(path) and "\n" not in str(e.value)
    return e.value


def test_other_layouts_are_refused_in_one_line(tmp_path, files):
    vgg = torch.load(files["vgg"], weights_only=True)
    dec = torch.load(files["decoder"], weights_only=True)

    err = _refused(tmp_path, files, dec, "vgg")  # swapped
    assert err.message.startswith("not an AdaIN vgg_normalised.pth") and "swapped" in err.message
    err = _refused(tmp_path, files, vgg, "decoder")
    assert err.message.startswith("not an AdaIN decoder.pth") and "swapped" in err.message

    truncated = {k: v for k, v in vgg.items() if k not in ("29.weight", "29.bias")}
    assert "missing 29.bias, 29.weight" in _refused(tmp_path, files, truncated).message
    err = _refused(tmp_path, files, {k: v for k, v in dec.items() if k != "28.bias"}, "decoder")
    assert "missing 28.bias" in err.message

    reshaped = dict(vgg) | {"9.weight": torch.zeros(128, 32, 3, 3)}
    err = _refused(tmp_path, files, reshaped)
    assert "9.weight is (128, 32, 3, 3), expected (128, 64, 3, 3)" in err.message

    extra = dict(dec) | {"30.weight": torch.zeros(3)}
    assert "unexpected 30.weight" in _refused(tmp_path, files, extra, "decoder").message

    err = _refused(tmp_path, files, {"model": dict(vgg), "epoch": 3})
    assert "epoch, model not tensors" in err.message
    assert "holds a list" in _refused(tmp_path, files, [1, 2]).message
    assert "no tensors" in _refused(tmp_path, files, {}).message
    assert "not a PyTorch checkpoint" in _refused(tmp_path, files, b"junk" * 10).message


class _TouchesMarker:
    """Unpickling this calls ``Path.touch`` on the marker: proof that a loader ran pickled code."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_pickled_code_is_refused_not_run(tmp_path, files, home, how):
    marker = tmp_path / "marker"
    evil = tmp_path / "decoder.pth"
    payload = dict(torch.load(files["decoder"], weights_only=True))
    payload["extra"] = _TouchesMarker(marker)
    if how == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    for call in (adain.load_adain, adain.cached_adain_onnx):
        with pytest.raises(ModelError) as e:
            call(files["vgg"], evil)
        assert e.value.message == REFUSED_PICKLE and e.value.path == str(evil)
    assert not marker.exists()


# -- ONNX -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_onnx_pair_matches_torch_and_is_cached_once(model, files, monkeypatch):
    enc_path, dec_path = model.encoder_path, model.decoder_path
    assert enc_path.parent == dec_path.parent == adain.cache_folder()
    assert enc_path.name.startswith("encoder-") and dec_path.name.startswith("decoder-")
    assert model.encoder.inputs[0].shape == (None, 3, None, None)
    assert model.decoder.inputs[0].shape == (None, 512, None, None)
    encoder, decoder = adain.load_adain(files["vgg"], files["decoder"])
    x = np.random.default_rng(4).random((1, 3, 56, 72), dtype=np.float32)
    with torch.no_grad():
        feat = encoder(torch.from_numpy(x))
        want_img = decoder(feat).numpy()
    feat = feat.numpy()
    got = model.encode(x)
    assert got.shape == (1, 512, 7, 9)
    assert float(np.max(np.abs(got - feat))) <= 1e-3 * max(1.0, float(np.abs(feat).max()))
    assert float(np.max(np.abs(model.decode(feat) - want_img))) <= 1e-3

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(adain, "export_adain_onnx", no_export)
    monkeypatch.setattr(adain, "load_adain", no_export)
    before = enc_path.stat().st_mtime_ns
    assert adain.cached_adain_onnx(files["vgg"], files["decoder"]) == (enc_path, dec_path)
    assert enc_path.stat().st_mtime_ns == before
    assert not [p for p in enc_path.parent.iterdir() if ".partial" in p.name]


# -- the AdaIN step -------------------------------------------------------------------------------


def test_adain_matches_the_style_statistics_and_alpha_interpolates():
    rng = np.random.default_rng(0)
    content = rng.gamma(2.0, 1.5, (1, 512, 6, 8)).astype(np.float32)
    style = rng.gamma(1.0, 4.0, (1, 512, 10, 12)).astype(np.float32)
    mean, std = adain.channel_stats(style)
    # pytorch-AdaIN's calc_mean_std: unbiased variance plus 1e-5
    flat = style.reshape(512, -1).astype(np.float64)
    assert np.allclose(std.ravel(), np.sqrt(flat.var(axis=1, ddof=1) + 1e-5))
    t = adain.adain(content, mean, std)
    t_mean, t_std = adain.channel_stats(t)
    assert np.allclose(t_mean, mean, atol=1e-4) and np.allclose(t_std, std, rtol=1e-3)
    assert np.array_equal(adain.adain(content, mean, std, alpha=0.0), content)
    half = adain.adain(content, mean, std, alpha=0.5)
    assert np.allclose(half, 0.5 * t + 0.5 * content, atol=1e-4)


def test_style_interpolation_is_pytorch_adains():
    rng = np.random.default_rng(1)
    content = rng.gamma(2.0, 1.5, (1, 512, 6, 8)).astype(np.float32)
    styles = [adain.channel_stats(rng.gamma(k, 2.0, (1, 512, 8, 8)).astype(np.float32)) for k in (1.0, 3.0)]
    one = adain.blend_stats(styles, [1.0, 0.0])
    assert np.array_equal(adain.adain(content, *one), adain.adain(content, *styles[0]))
    # pytorch-AdaIN's test.py interpolates the AdaIN outputs with weights summing to 1
    w = [0.7, 0.3]
    want = sum(wi * adain.adain(content, *s) for wi, s in zip(w, styles, strict=True))
    got = adain.adain(content, *adain.blend_stats(styles, [7, 3]))  # weights normalised
    assert np.allclose(got, want, atol=1e-4)
    with pytest.raises(ModelError, match="positive sum"):
        adain.blend_stats(styles, [0, 0])


@pytest.mark.slow
def test_alpha_zero_decodes_the_contents_own_features(model, images):
    x = images["content"].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    style = model.style_stats(cv2.imread(str(images["cat"]))[:, :, ::-1])
    assert style[0].shape == style[1].shape == (1, 512, 1, 1)
    plain = model.decode(model.encode(x))
    assert np.allclose(model.stylize(x, style, alpha=0.0), plain, atol=1e-5)
    assert np.abs(model.stylize(x, style, alpha=1.0) - plain).max() > 1e-3


# -- the op ---------------------------------------------------------------------------------------


def _op(files, **kw):
    params = {"backend": "adain", "vgg": str(files["vgg"]), "decoder": str(files["decoder"])}
    return get_op("neural_style").create(threads=2, device="cpu", **(params | kw))


@pytest.mark.slow
def test_the_op_stylizes_deterministically_and_follows_the_style(model, files, images):
    content = images["content"]
    cat, coffee = str(images["cat"]), str(images["coffee"])
    a = _op(files, style_image=cat).bind(None).apply(content)  # type: ignore[arg-type]
    assert a.shape == (96, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(_op(files, style_image=cat).apply(content), a)
    b = _op(files, style_image=coffee).apply(content)
    assert np.abs(a.astype(int) - b).mean() > 0.5
    assert np.array_equal(_op(files, style_image=f"{cat}:1,{coffee}:0").apply(content), a)
    mixed = _op(files, style_image=f"{cat}:0.5,{coffee}:0.5").apply(content)
    assert not np.array_equal(mixed, a) and not np.array_equal(mixed, b)
    assert np.array_equal(_op(files, style_image=cat, strength=0).apply(content), content)
    low = _op(files, style_image=cat, alpha=0.2).apply(content)
    assert not np.array_equal(low, a)
    # scale and tiling keep the frame's size
    assert _op(files, style_image=cat, scale=64).apply(content).shape == (96, 128, 3)
    tiled = _op(files, style_image=cat, tile=64, overlap=16).apply(content)
    assert tiled.shape == (96, 128, 3)
    assert np.abs(tiled.astype(int) - a).mean() < 20  # one set of frame statistics for every tile


@pytest.mark.slow
def test_the_op_preserves_color(model, files, images):
    def chroma(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[:, :, 1:].astype(int)

    content = images["content"]
    plain = _op(files, style_image=str(images["coffee"])).apply(content)
    kept = _op(files, style_image=str(images["coffee"]), preserve_color=True).apply(content)
    c = chroma(content)
    assert np.abs(chroma(plain) - c).mean() > 3
    diff = np.abs(chroma(kept) - c)
    assert np.median(diff) <= 1 and diff.mean() < 2


def test_the_op_refuses_at_bind_in_one_line(files, images, tmp_path, home):
    cat = str(images["cat"])
    with pytest.raises(RecipeError, match="needs vgg") as e:
        _op(files, vgg="", style_image=cat).bind(None)  # type: ignore[arg-type]
    assert e.value.params == ("vgg",)
    with pytest.raises(RecipeError, match="needs style_image"):
        _op(files).bind(None)  # type: ignore[arg-type]
    with pytest.raises(RecipeError) as e:
        _op(files, vgg=str(files["decoder"]), decoder=str(files["vgg"]), style_image=cat).bind(None)  # type: ignore[arg-type]
    assert "swapped" in str(e.value) and str(files["decoder"]) in str(e.value) and "\n" not in str(e.value)
    assert e.value.params == ("vgg",)
    with pytest.raises(RecipeError, match="no such AdaIN decoder") as e:
        _op(files, decoder=str(tmp_path / "nope.pth"), style_image=cat).bind(None)  # type: ignore[arg-type]
    assert e.value.params == ("decoder",)
    with pytest.raises(RecipeError, match="must be >= 0"):
        _op(files, style_image=f"{cat}:-1")
    with pytest.raises(RecipeError, match="no style any weight"):
        _op(files, style_image=f"{cat}:0")


def test_no_torch_needed_to_import():
    # The torch modules are built on first use; cached exports then run on ONNX Runtime alone.
    import os
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; import vidlab.ml.adain as a; print(len(a.VGG_SHAPES))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "34"
