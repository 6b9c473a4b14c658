"""The RobustVideoMatting and LaMa ONNX loaders, with tiny models exported in their exact
layouts: RVM's recurrent state is carried frame to frame and warmed across chunk seams by
pre-roll; LaMa fills the clean plate's never-seen pixels; wrong layouts are one-line errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidlab.core.errors import ModelError
from vidlab.core.frame import Frame
from vidlab.io import EncodeSettings, VideoInfo
from vidlab.io.writer import VideoWriter

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

W, H = 64, 48
FFV1 = EncodeSettings(codec="ffv1")


def _save(nodes, inputs, outputs, path: Path, inits=()) -> Path:  # type: ignore[no-untyped-def]
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _const(name: str, value: float):  # type: ignore[no-untyped-def]
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def toy_rvm(path: Path) -> Path:
    """RVM's I/O layout; r1o = 0.5 r1i + 0.5 mean_c(src) (forgets its start by 2^-n) and
    pha = sigmoid(16 (r1o - 0.5)): a frame's matte depends on the frames before it."""
    f = TensorProto.FLOAT
    ins = [helper.make_tensor_value_info("src", f, [1, 3, "h", "w"])]
    ins += [helper.make_tensor_value_info(f"r{i}i", f, [1, f"c{i}", f"a{i}", f"b{i}"]) for i in range(1, 5)]
    ins.append(helper.make_tensor_value_info("downsample_ratio", f, [1]))
    outs = [
        helper.make_tensor_value_info("fgr", f, [1, 3, "h", "w"]),
        helper.make_tensor_value_info("pha", f, [1, 1, "h", "w"]),
    ]
    outs.append(helper.make_tensor_value_info("r1o", f, [1, 1, "h", "w"]))
    outs += [helper.make_tensor_value_info(f"r{i}o", f, [1, f"c{i}", f"a{i}", f"b{i}"]) for i in range(2, 5)]
    nodes = [
        helper.make_node("ReduceMean", ["src"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["r1i", "half"], ["a"]),
        helper.make_node("Mul", ["m", "half"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["r1o"]),
        helper.make_node("Sub", ["r1o", "half"], ["c"]),
        helper.make_node("Mul", ["c", "k"], ["d"]),
        helper.make_node("Sigmoid", ["d"], ["s"]),
        helper.make_node("Mul", ["downsample_ratio", "zero"], ["z"]),
        helper.make_node("Add", ["s", "z"], ["pha"]),
        helper.make_node("Identity", ["src"], ["fgr"]),
        *(helper.make_node("Identity", [f"r{i}i"], [f"r{i}o"]) for i in range(2, 5)),
    ]
    inits = [_const("half", 0.5), _const("k", 16.0), _const("zero", 0.0)]
    return _save(nodes, ins, outs, path, inits)


def toy_matte(path: Path) -> Path:
    """A one-in one-out matte model (the U²-Net layout): not RVM's, not LaMa's."""
    f = TensorProto.FLOAT
    x = helper.make_tensor_value_info("input", f, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("matte", f, [1, 1, "h", "w"])
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["m"], ["matte"]),
    ]
    return _save(nodes, [x], [y], path)


def toy_lama(path: Path, size: int | None = None, scale: float = 1.0) -> Path:
    """LaMa's layout: output = image (1 - mask) + 0.5 mask (times ``scale``: 255 for a 0..255
    export); ``size``: a fixed-size export."""
    f = TensorProto.FLOAT
    h, w = (size, size) if size else ("h", "w")
    ins = [
        helper.make_tensor_value_info("image", f, [1, 3, h, w]),
        helper.make_tensor_value_info("mask", f, [1, 1, h, w]),
    ]
    outs = [helper.make_tensor_value_info("output", f, [1, 3, h, w])]
    nodes = [
        helper.make_node("Sub", ["one", "mask"], ["inv"]),
        helper.make_node("Mul", ["image", "inv"], ["a"]),
        helper.make_node("Mul", ["mask", "half"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["o"]),
        helper.make_node("Mul", ["o", "scale"], ["output"]),
    ]
    inits = [_const("one", 1.0), _const("half", 0.5), _const("scale", scale)]
    return _save(nodes, ins, outs, path, inits)


def _frame(i: int) -> np.ndarray:
    """Brightness drifting around mid-grey with a moving gradient: mattes sit on the sigmoid's
    slope, where a wrong recurrent state shows."""
    yy, xx = np.mgrid[0:H, 0:W]
    v = 128 + 40 * np.sin((xx + 3 * i) / 9.0) + 20 * np.cos((yy - 2 * i) / 7.0) + 8 * np.sin(i / 3.0)
    return np.repeat(np.clip(v, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _rgb_clip(path: Path, images: list[np.ndarray]) -> Path:
    h, w = images[0].shape[:2]
    info = VideoInfo.constant_rate(path, w, h, Fraction(30), len(images))
    with VideoWriter(path, info, FFV1) as wr:  # FFV1: every frame a keyframe, exact pixels
        for i, img in enumerate(images):
            wr.write(Frame(img, Fraction(i, 30), i))
    return path


def _alphas(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgba")[..., 3] for f in c.decode(video=0)])


def _op(model: Path, **kw):  # type: ignore[no-untyped-def]
    from vidlab.ops.registry import get_op

    return get_op("segment_rvm").create(model=str(model), **kw)


def test_rvm_state_carries_across_frames(tmp_path: Path):
    from vidlab.ops.matte import rvm_downsample_ratio

    op = _op(toy_rvm(tmp_path / "rvm.onnx"), cut_threshold=0)
    info = VideoInfo.constant_rate(tmp_path / "x.mp4", W, H, Fraction(30), 6)
    op = op.bind(info)
    still = np.full((H, W, 3), 200, np.uint8)
    out = [f.alpha for f in op.process(Frame(still, Fraction(i, 30), i) for i in range(6))]
    means = [float(a.mean()) for a in out]
    # the same picture six times: the state climbs 0.39, 0.59, 0.69 ... towards 200/255
    assert means == sorted(means) and means[-1] - means[0] > 0.5
    # a second stream starts from zeros again (the state is the stream's, not the process's)
    again = next(iter(op.process(iter([Frame(still, Fraction(0), 0)]))))
    assert np.allclose(again.alpha, out[0])
    assert op.preroll() == 8
    assert rvm_downsample_ratio(1080, 1920) == pytest.approx(512 / 1920)
    assert rvm_downsample_ratio(240, 320) == 1.0


def test_rvm_resets_at_scene_cuts(tmp_path: Path):
    model = toy_rvm(tmp_path / "rvm.onnx")
    info = VideoInfo.constant_rate(tmp_path / "x.mp4", W, H, Fraction(30), 6)
    dark, bright = np.full((H, W, 3), 10, np.uint8), np.full((H, W, 3), 220, np.uint8)
    images = [dark] * 5 + [bright]

    def last(op) -> np.ndarray:  # type: ignore[no-untyped-def]
        frames = (Frame(im, Fraction(i, 30), i) for i, im in enumerate(images))
        return list(op.bind(info).process(frames))[-1].alpha

    fresh = next(iter(_op(model).bind(info).process(iter([Frame(bright, Fraction(0), 0)])))).alpha
    assert np.allclose(last(_op(model)), fresh)  # the cut restarted the state from zeros
    assert not np.allclose(last(_op(model, cut_threshold=0)), fresh)


def test_rvm_chunked_equals_one_stream(tmp_path: Path):
    from vidlab.pipeline import JobOptions, Recipe, execute

    model = toy_rvm(tmp_path / "rvm.onnx")
    clip = _rgb_clip(tmp_path / "in.nut", [_frame(i) for i in range(30)])
    recipe = Recipe((_op(model),))
    one, chunked, cold = tmp_path / "one.nut", tmp_path / "chunked.nut", tmp_path / "cold.nut"
    execute(clip, one, recipe, FFV1, options=JobOptions(chunk_seconds=0))
    execute(clip, chunked, recipe, FFV1, options=JobOptions(chunk_seconds=0.3, workers=1))
    execute(
        clip, cold, Recipe((_op(model, warmup=0),)), FFV1, options=JobOptions(chunk_seconds=0.3, workers=1)
    )
    a, b, c = _alphas(one), _alphas(chunked), _alphas(cold)
    assert a.shape == b.shape == (30, H, W)
    # 8 pre-roll frames leave at most 2^-8 of the state's start; the sigmoid's slope (4) makes
    # that <= 4/255 of alpha: measured max 2 levels (cold chunk starts: 228)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 4
    # without pre-roll, each chunk's first frames start cold and differ visibly
    assert np.abs(a.astype(int) - c.astype(int)).max() > 20


def test_rvm_wrong_layout_is_one_line(tmp_path: Path):
    bad = toy_matte(tmp_path / "u2net.onnx")
    info = VideoInfo.constant_rate(tmp_path / "x.mp4", W, H, Fraction(30), 2)
    with pytest.raises(ModelError) as e:
        _op(bad).bind(info)
    line = str(e.value)
    assert "\n" not in line and "u2net.onnx" in line and "RobustVideoMatting" in line


@pytest.mark.parametrize(("size", "scale"), [(None, 1.0), (None, 255.0), (64, 1.0)])
def test_lama_fills_holes_only(tmp_path: Path, size, scale):
    from vidlab.ml.lama import LamaInpainter

    lama = LamaInpainter(toy_lama(tmp_path / f"lama{size}_{int(scale)}.onnx", size, scale))
    assert lama.fixed_size == ((size, size) if size else None)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)  # not a multiple of 8
    hole = np.zeros((50, 70), bool)
    hole[10:30, 20:50] = True
    out = lama.fill(rgb, hole)
    assert np.array_equal(out[~hole], rgb[~hole])
    inner = out[14:26, 26:44]  # away from the resize's reach at the hole's edge
    assert np.abs(inner.astype(int) - 128).max() <= (0 if size is None else 2)
    if size is None:
        assert np.abs(out[hole].astype(int) - 128).max() <= 0


def test_lama_wrong_layout_is_one_line(tmp_path: Path):
    from vidlab.ml.lama import LamaInpainter

    with pytest.raises(ModelError) as e:
        LamaInpainter(toy_matte(tmp_path / "notlama.onnx"))
    line = str(e.value)
    assert "\n" not in line and "notlama.onnx" in line and "LaMa" in line


def test_layers_rvm_segment_and_lama_plate(tmp_path: Path):
    """A bright square that never moves is foreground in every frame: its pixels are never
    seen, and the clean plate takes LaMa's 0.5 there instead of cv2.inpaint's guess."""
    import cv2

    from vidlab.layers import LayersConfig, run_layers

    yy, xx = np.mgrid[0:96, 0:128]
    images = []
    for _ in range(12):
        img = np.full((96, 128, 3), 20, np.uint8)
        img[..., 1] = (20 + (xx + yy) % 16).astype(np.uint8)  # a still background
        img[32:64, 48:80] = 235
        images.append(img)
    clip = _rgb_clip(tmp_path / "sq.nut", images)
    cfg = LayersConfig.from_dict(
        {
            "segment": {"backend": "rvm", "params": {"model": str(toy_rvm(tmp_path / "rvm.onnx"))}},
            "refine": {"enabled": False},
            "temporal": {"enabled": False},
            "annotate": {"enabled": False},
            "inpaint": {"params": {"fill": "lama", "model": str(toy_lama(tmp_path / "lama.onnx"))}},
        }
    )
    r = run_layers(clip, tmp_path / "L", cfg)
    assert r.status == {"segment": "ran", "inpaint": "ran"}
    assert r.report["stages"]["inpaint"]["quality"]["never_seen_share"] > 0.05
    plate = cv2.cvtColor(cv2.imread(str(tmp_path / "L" / "inpaint" / "plate_00000.png")), cv2.COLOR_BGR2RGB)
    assert np.abs(plate[40:56, 56:72].astype(int) - 128).max() <= 1
    seen = np.abs(plate[5:20, 5:30].astype(int) - images[0][5:20, 5:30].astype(int))
    assert seen.max() <= 6  # the seen background: the clip's 4:2:0 chroma costs up to 4 levels
    with pytest.raises(Exception, match="fill=lama needs model"):
        LayersConfig.from_dict({"inpaint": {"params": {"fill": "lama"}}})
