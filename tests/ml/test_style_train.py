"""The project's fast style networks: the style predictor converted to PyTorch (the perceptual
feature network), the Gram style loss, `vidlab train style`, the export in the 0-255 layout and
its use through ``neural_style backend=onnx``; the built-in styles' names."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from conftest import decode_rgb, frame_times, run_cli
from vidlab.core.errors import ModelError, RecipeError, UsageError
from vidlab.io.samples import generate

torch = pytest.importorskip("torch")


def _save(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


@pytest.fixture(scope="module")
def style_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A painted style image: OpenCV's stylization of the rocket photograph."""
    d = tmp_path_factory.mktemp("style")
    painted = cv2.stylization(np.ascontiguousarray(skdata.rocket()[:, :, ::-1]), sigma_s=60, sigma_r=0.45)
    return _save(d / "rocket_painted.png", painted[:, :, ::-1])


def test_the_style_predictor_in_pytorch_matches_onnx_runtime():
    import onnxruntime as ort

    from vidlab.ml.style import OnnxTorch, style_predictor_path

    path = style_predictor_path()
    img = cv2.resize(skdata.astronaut(), (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: img[None]})[0].ravel()
    name = sess.get_outputs()[0].name
    with torch.no_grad():
        exact = OnnxTorch(path, quantize=True)(torch.from_numpy(img[None]), [name])[name].numpy().ravel()
        smooth = OnnxTorch(path)(torch.from_numpy(img[None]), [name])[name].numpy().ravel()
    scale = float(np.abs(want).max())
    # int8 rounding at 65 activations: the simulation keeps within 1% of the range; the float
    # network (what training differentiates) within 2%, and both correlate > 0.999
    assert np.abs(exact - want).max() < 0.01 * scale
    assert np.abs(smooth - want).max() < 0.02 * scale
    assert np.corrcoef(smooth, want)[0, 1] > 0.999


def test_the_feature_network_gives_gradients_and_only_runs_what_it_needs():
    from vidlab.ml.style import CONTENT_LAYER, STYLE_LAYERS, StyleFeatures

    feats = StyleFeatures()
    assert not any(p.requires_grad for p in feats.parameters())
    x = torch.rand(2, 3, 96, 128, requires_grad=True)
    out = feats(x)
    assert set(out) == {*STYLE_LAYERS, CONTENT_LAYER}
    assert out[STYLE_LAYERS[0]].shape == (2, 32, 48, 64)  # stride 2
    assert out[CONTENT_LAYER].shape[-2:] == (12, 16)  # stride 8
    sum(v.mean() for v in out.values()).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    first = feats.net._plan((STYLE_LAYERS[0],))
    assert len(first) < len(feats.net.nodes) // 10  # the first tap needs a few nodes only


def test_an_unsupported_graph_is_one_line(tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper

    from vidlab.ml.style import OnnxTorch

    node = helper.make_node("Softmax", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    path = tmp_path / "softmax.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ModelError, match="Softmax is not supported") as info:
        OnnxTorch(path)
    assert "\n" not in str(info.value) and "softmax.onnx" in str(info.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot read"):
        OnnxTorch(bad)


def test_the_style_loss_prefers_the_style_and_keeps_the_content(style_png: Path):
    from vidlab.io.images import read_image
    from vidlab.ml.style import PerceptualStyleLoss

    style = read_image(style_png)
    loss = PerceptualStyleLoss(style)
    photo = cv2.resize(skdata.coffee(), (192, 128), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(photo.transpose(2, 0, 1)).float()[None]
    s = torch.from_numpy(cv2.resize(style, (192, 128)).transpose(2, 0, 1)).float()[None]
    with torch.no_grad():
        c_id, s_id, _ = loss.terms(x, x)
        c_st, s_st, _ = loss.terms(s, x)
    assert float(c_id) == 0.0 and float(c_st) > 0.1  # content: the photo itself is perfect
    assert float(s_st) < 0.5 * float(s_id)  # style: the style image is much closer than the photo


@pytest.mark.parametrize("arch, multiple", [("style_mobile", 4), ("style_johnson", 4)])
def test_both_style_archs_take_and_give_0_255(arch: str, multiple: int):
    from vidlab.ml.models import build_model

    net = build_model(arch, **({"channels": 8} if arch == "style_johnson" else {}))
    assert net.multiple == multiple and net.value_range == "0..255"
    with torch.no_grad():
        y = net(torch.rand(1, 3, 8 * multiple, 6 * multiple) * 255)
    assert y.shape == (1, 3, 8 * multiple, 6 * multiple)
    assert float(y.min()) >= 0 and float(y.max()) <= 255


def test_training_lowers_the_loss_exports_and_stylizes(style_png: Path, tmp_path: Path):
    """A short `vidlab train style` run lowers the validation loss; the export is a
    fast-neural-style model (0-255, multiple 4 on its card) that ``--model`` runs on a clip
    whose size is not a multiple of 4 (102 x 62), keeping size and timing."""
    import csv

    run = tmp_path / "run"
    res = run_cli(
        "train", "style", "--style-image", style_png, "--generate", "2", "--clip-size", "192x128",
        "--frames-per-clip", "6", "--steps", "40", "--batch-size", "2", "--crop", "96", "--lr", "0.01",
        "--warmup-steps", "2", "--val-every", "10", "--threads", "2", "--arch-config", "channels=8",
        "--arch-config", "blocks=2", "-o", run, "-q",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = [r for r in csv.DictReader((run / "log.csv").open()) if r["val_loss"]]
    vals = [float(r["val_loss"]) for r in rows]
    assert len(vals) == 4 and vals[-1] < 0.9 * vals[0], vals
    model = tmp_path / "mine.onnx"
    res = run_cli("export-onnx", run / "best.pt", "-o", model)
    assert res.returncode == 0, res.stderr
    import json

    card = json.loads(model.with_suffix(".json").read_text())
    assert card["task"] == "style" and card["inputs"]["range"] == "0..255" and card["inputs"]["multiple"] == 4
    assert card["training"]["data"]["style_image"] == str(style_png)
    clip = tmp_path / "clip.mp4"
    generate(clip, frames=3, size=(102, 62), fps=25)
    out = tmp_path / "styled"
    res = run_cli("stylize", clip, "-o", out, "--style", "neural", "-p", "Speed", "--model", model, "-q")
    assert res.returncode == 0, res.stderr
    got, src = decode_rgb(out / "clip.neural.mp4"), decode_rgb(clip)
    assert len(got) == 3 and got[0].shape == (62, 102, 3)
    assert frame_times(out / "clip.neural.mp4") == pytest.approx(frame_times(clip), abs=1e-3)
    assert np.abs(got[1].astype(int) - src[1]).mean() > 2


def test_a_missing_or_broken_style_image_is_one_line(tmp_path: Path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    for args, needle in (
        ([], "--style-image"),
        (["--style-image", tmp_path / "nope.png"], "nope.png"),
        (["--style-image", broken], "broken.png"),
    ):
        res = run_cli("train", "style", "--generate", "2", "--steps", "1", "-o", tmp_path / "r", *args)
        assert res.returncode == 2, res.stderr
        assert needle in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r" / "last.pt").exists()


def test_a_wrong_arch_is_one_line(style_png: Path):
    from vidlab.ml.tasks import StyleTask

    with pytest.raises(UsageError, match="style arch must be one of"):
        StyleTask.from_options(generate=2, style_image=style_png, arch="enhancer")


def test_builtin_styles_have_names():
    from vidlab.ops.neural_style import BUILTIN_NAMES, NUM_STYLES, builtin_index, parse_blend

    assert len(BUILTIN_NAMES) == NUM_STYLES == len(set(BUILTIN_NAMES))
    assert builtin_index("starry") == 7 and builtin_index("7") == 7
    assert np.array_equal(parse_blend("starry:0.6,weave:0.4"), parse_blend("7:0.6,17:0.4"))
    with pytest.raises(RecipeError, match="builtin='nope' names no built-in style"):
        parse_blend("nope")


def test_the_shipped_style_networks_are_registered_and_run():
    from vidlab.ml.registry import get_model, verify
    from vidlab.ops import get_op

    frame = cv2.resize(skdata.astronaut(), (124, 92), interpolation=cv2.INTER_AREA)
    outs = []
    for name in ("style_mosaic", "style_brush"):
        card = get_model(name)
        verify(card)
        assert card.task == "style" and card.inputs["range"] == "0..255"
        assert card.metrics.get("val_perceptual") is not None and card.training.get("command")
        op = get_op("neural_style").create(backend="onnx", model=name, threads=2)
        out = op.apply(frame)
        assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() > 10
        outs.append(out)
    assert np.abs(outs[0].astype(int) - outs[1]).mean() > 10  # two different styles
