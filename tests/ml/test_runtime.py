"""The ML runtime: backends, sessions (errors in one line, CPU fallback, per-process reuse) and
tiled inference (seams invisible, block grid kept, memory bounded by the tile)."""

from __future__ import annotations

import itertools
import logging
import os
import warnings

import numpy as np
import pytest
from onnx_samples import scale_model

from vidlab.core.errors import ModelError, UsageError
from vidlab.ml import session as session_mod
from vidlab.ml.backends import CPU, CUDA, TensorRT, available, provider_names, select_backend
from vidlab.ml.session import CORRUPT, Session, TensorSpec, cached_session, open_count, sha256_file
from vidlab.ml.tiling import infer_tiled, pick_tile, tile_grid

pytest.importorskip("onnx")

HAS_CUDA = "CUDAExecutionProvider" in available()


@pytest.fixture
def scale2(tmp_path):
    return scale_model(tmp_path / "scale2.onnx")


# -- backends ---------------------------------------------------------------------------------------


def test_backends_provider_lists():
    assert CPU().providers() == ["CPUExecutionProvider"]
    assert CUDA(1).providers()[0] == ("CUDAExecutionProvider", {"device_id": 1})
    trt = TensorRT(fp16=True, workspace_gb=1.0).providers()
    assert provider_names(trt) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert trt[0][1]["trt_fp16_enable"] is True and trt[0][1]["trt_max_workspace_size"] == 1 << 30
    assert CPU().name == "cpu" and CUDA().name == "cuda" and TensorRT().name == "tensorrt"


def test_select_backend():
    assert select_backend("cpu", threads=2) == CPU(2)
    assert isinstance(select_backend("auto"), CUDA if HAS_CUDA else CPU)
    with pytest.raises(UsageError) as e:
        select_backend("gpu9")
    assert e.value.params == ("device",) and "auto, cpu, cuda, cuda:N, tensorrt" in str(e.value)
    assert "\n" not in str(e.value)
    if HAS_CUDA:
        assert select_backend("cuda:1") == CUDA(1)
    else:
        with pytest.raises(UsageError, match="CUDA provider"):
            select_backend("cuda:1")


# -- sessions ---------------------------------------------------------------------------------------


def test_session_introspects_and_runs(scale2):
    s = Session.open(scale2, "cpu", threads=1)
    assert s.backend == CPU(0) or s.backend.name == "cpu"
    assert s.inputs == [TensorSpec("input", (None, 3, None, None), "float32")]
    assert s.outputs[0].name == "output" and s.channels == 3
    s.check_input(3)
    x = np.random.default_rng(0).random((5, 3, 8, 12), dtype=np.float32)
    np.testing.assert_allclose(s.run(x), 2 * x, rtol=1e-6)
    np.testing.assert_allclose(s.run_batches(x, 2), 2 * x, rtol=1e-6)


def test_float16_model_is_fed_float16(tmp_path):
    s = Session.open(scale_model(tmp_path / "half.onnx", dtype="float16"), "cpu")
    assert s.inputs[0].dtype == "float16"
    y = s.run(np.full((1, 3, 4, 4), 0.25, dtype=np.float32))
    assert y.dtype == np.float32 and np.allclose(y, 0.5)


def one_line_model_error(call) -> ModelError:
    with pytest.raises(ModelError) as e:
        call()
    assert "\n" not in str(e.value) and len(str(e.value)) < 300, str(e.value)
    return e.value


def test_missing_corrupt_and_truncated_models(tmp_path, scale2):
    err = one_line_model_error(lambda: Session.open(tmp_path / "nope.onnx"))
    assert err.path.endswith("nope.onnx") and "no such model file" in err.message
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(os.urandom(777))
    assert one_line_model_error(lambda: Session.open(junk, "cpu")).message == CORRUPT
    data = scale2.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    err = one_line_model_error(lambda: Session.open(truncated, "cpu"))
    assert err.message == CORRUPT and err.path == str(truncated)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert one_line_model_error(lambda: Session.open(empty, "cpu")).message == CORRUPT


def test_sha256_mismatch_is_caught(scale2):
    good = sha256_file(scale2)
    Session.open(scale2, "cpu", sha256=good.upper())  # case does not matter
    err = one_line_model_error(lambda: Session.open(scale2, "cpu", sha256="0" * 64))
    assert err.message == f"sha256 is {good}, its card says {'0' * 64}"


def test_input_spec_mismatch_is_one_line(tmp_path):
    s = Session.open(scale_model(tmp_path / "gray.onnx", channels=1), "cpu")
    assert s.channels == 1
    err = one_line_model_error(lambda: s.check_input(channels=3))
    assert err.message == "the model takes 1-channel input, vidlab gives it 3"
    err = one_line_model_error(lambda: s.run(np.zeros((1, 3, 4, 4), np.float32)))
    assert "inference failed on an input of shape (1, 3, 4, 4)" in err.message


def test_cached_session_reuses_one_open(scale2, tmp_path):
    session_mod.clear_cache()
    before = open_count()
    a = cached_session(scale2, "cpu", 1)
    b = cached_session(scale2, "cpu", 1)
    assert a is b and open_count() - before == 1
    c = cached_session(scale2, "cpu", 2)  # another thread count is another session
    assert c is not a and open_count() - before == 2
    scale_model(scale2, factor=3.0)  # the file changes: a new session, never the stale one
    os.utime(scale2, ns=(1, 1))
    d = cached_session(scale2, "cpu", 1)
    assert d is not a and np.allclose(d.run(np.ones((1, 3, 2, 2), np.float32)), 3.0)
    session_mod.clear_cache()


class _Phantom:
    """A backend whose provider this ONNX Runtime does not have: ORT drops it, or we do."""

    name = "phantom"
    gpu = True

    def providers(self):
        return ["PhantomExecutionProvider", "CPUExecutionProvider"]


def test_missing_provider_falls_back_to_cpu_with_warning(scale2, caplog):
    with caplog.at_level(logging.WARNING, logger="vidlab"):
        s = Session.open(scale2, _Phantom())
    assert s.backend.name == "cpu" and s.requested.name == "phantom"
    assert any("PhantomExecutionProvider" in r.getMessage() for r in caplog.records)
    assert np.allclose(s.run(np.ones((1, 3, 2, 2), np.float32)), 2.0)


def test_provider_ort_drops_silently_is_reported(scale2, caplog, monkeypatch):
    """ORT listed as having CUDA but unable to start it: it drops the provider itself."""
    if HAS_CUDA:
        pytest.skip("this ONNX Runtime really has CUDA")
    monkeypatch.setattr(session_mod, "available", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with caplog.at_level(logging.WARNING, logger="vidlab"):
        s = Session.open(scale2, CUDA(0))
    assert s.backend == CPU(0) and s.requested == CUDA(0)
    assert any("did not start CUDAExecutionProvider" in r.getMessage() for r in caplog.records)


def test_failing_provider_falls_back_to_cpu_with_warning(scale2, caplog, monkeypatch):
    """A provider ORT has but that raises when the session is made (a broken CUDA install)."""
    import onnxruntime as ort

    real = ort.InferenceSession
    calls = []

    def flaky(path, sess_options=None, providers=None):
        calls.append(provider_names(providers))
        if "CUDAExecutionProvider" in calls[-1]:
            raise RuntimeError(
                "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 100: no CUDA-capable device\nmore"
            )
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(session_mod, "available", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", flaky)
    with caplog.at_level(logging.WARNING, logger="vidlab"):
        s = Session.open(scale2, CUDA(0))
    assert calls == [["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]]
    assert s.backend == CPU(0) and s.requested == CUDA(0)
    warning = next(r.getMessage() for r in caplog.records if "falling back" in r.getMessage())
    assert "cuda backend failed to start" in warning and "CUDA failure 100" in warning


# -- tiling -----------------------------------------------------------------------------------------


def box5(batch: np.ndarray) -> np.ndarray:
    """A 5x5 mean with zero padding: a local operator whose tile edges differ from the frame's."""
    h, w = batch.shape[2:]
    p = np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2)))
    out = np.zeros_like(batch)
    for dy in range(5):
        for dx in range(5):
            out += p[:, :, dy : dy + h, dx : dx + w]
    return out / 25


def whole(run, image: np.ndarray, multiple: int = 16, scale: int = 1) -> np.ndarray:
    """The reference: the frame padded (reflect) to the multiple, run once, cropped."""
    h, w = image.shape[1:]
    ph, pw = -h % multiple, -w % multiple
    x = np.pad(image[None], ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
    return run(x)[0, :, : h * scale, : w * scale]


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap", "multiple"), [(300, 500, 128, 32, 16), (97, 1001, 64, 16, 8)]
)
def test_tile_grid_covers_with_overlap_on_the_block_grid(h, w, tile, overlap, multiple):
    tiles = tile_grid(h, w, tile, overlap, multiple)
    covered = np.zeros((h, w), int)
    for t in tiles:
        assert t.y0 % multiple == 0 and t.x0 % multiple == 0
        assert t.y1 - t.y0 < tile + multiple and t.x1 - t.x0 < tile + multiple
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert covered.min() >= 1
    xs = sorted({(t.x0, t.x1) for t in tiles})
    assert all(a[1] - b[0] >= overlap for a, b in itertools.pairwise(xs))
    assert tile_grid(50, 70, 128, 32, 16) == [(0, 50, 0, 70)]


def test_bad_tiling_parameters():
    with pytest.raises(UsageError) as e:
        tile_grid(100, 100, tile=64, overlap=40)
    assert e.value.params == ("overlap",)
    with pytest.raises(UsageError):
        infer_tiled(box5, np.zeros((8, 8), np.float32))


def test_tiled_equals_whole_for_a_local_operator():
    rng = np.random.default_rng(1)
    image = rng.random((3, 173, 301), dtype=np.float32)
    ref = whole(box5, image)
    tiled = infer_tiled(box5, image, tile=64, overlap=16, multiple=16)
    assert tiled.shape == image.shape
    np.testing.assert_allclose(tiled, ref, atol=1e-5)
    batched = infer_tiled(box5, image, tile=64, overlap=16, multiple=16, batch=4)
    np.testing.assert_allclose(batched, tiled, atol=1e-6)
    hwc = infer_tiled(box5, image.transpose(1, 2, 0).copy(), tile=64, overlap=16, layout="HWC")
    np.testing.assert_allclose(hwc, ref.transpose(1, 2, 0), atol=1e-5)


def test_small_frame_runs_whole_padded_to_the_multiple():
    seen = []

    def run(x):
        seen.append(x.shape)
        return box5(x)

    image = np.random.default_rng(2).random((3, 37, 45), dtype=np.float32)
    out = infer_tiled(run, image, tile=128, overlap=32, multiple=16)
    assert seen == [(1, 3, 48, 48)]
    np.testing.assert_allclose(out, whole(box5, image), atol=1e-6)


def test_upscaler_tiles_with_scale():
    def nearest2(x):  # a 2x upscaler whose tiles must land on the doubled grid
        return box5(x).repeat(2, axis=2).repeat(2, axis=3)

    image = np.random.default_rng(3).random((3, 90, 150), dtype=np.float32)
    out = infer_tiled(nearest2, image, tile=64, overlap=16, scale=2)
    assert out.shape == (3, 180, 300)
    np.testing.assert_allclose(out, whole(nearest2, image, scale=2), atol=1e-5)
    with pytest.raises(ModelError, match="expected N x C x"):
        infer_tiled(box5, image, tile=64, overlap=16, scale=2)


def test_4k_frame_runs_tiled_through_a_model_with_bounded_tiles(scale2):
    s = Session.open(scale2, "cpu")
    shapes = []

    def run(x):
        shapes.append(x.shape)
        return s.run(x)

    image = np.full((3, 2160, 3840), 0.25, dtype=np.float32)
    out = infer_tiled(run, image, tile=512, overlap=32, multiple=16)
    assert out.shape == (3, 2160, 3840) and np.allclose(out, 0.5)
    assert len(shapes) == len(tile_grid(2160, 3840, 512, 32, 16)) == 40
    assert max(h * w for _, _, h, w in shapes) <= (512 + 16) ** 2  # memory bounded by the tile


def test_pick_tile():
    assert pick_tile(2160, 3840, 512 * 512) == 512
    assert pick_tile(2160, 3840, 300 * 300) == 288
    assert pick_tile(100, 60, 10**7) == 112


@pytest.mark.parametrize(
    ("arch", "tile", "overlap"),
    [
        ({"channels": 8, "layers": 2}, 128, 32),
        # the two-scale net reaches ~18 px: its overlap must be at least twice that
        ({"channels": 8, "layers": 1, "scales": 2}, 192, 64),
    ],
)
def test_enhancer_tiled_agrees_with_whole_frame(tmp_path, arch, tile, overlap):
    torch = pytest.importorskip("torch")
    from vidlab.ml.models import EnhancerNet

    torch.manual_seed(0)
    net = EnhancerNet(**arch).eval()
    last = (net.body if net.scales == 1 else net.tail)[-1]
    torch.nn.init.normal_(last.weight, std=0.2)  # the last conv starts at zero: randomise it
    torch.nn.init.normal_(last.bias, std=0.05)
    path = tmp_path / "enh.onnx"
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        torch.onnx.export(
            net, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False, input_names=["input"],
            output_names=["output"], dynamic_axes={"input": axes, "output": axes},
        )  # fmt: skip
    s = Session.open(path, "cpu")
    rng = np.random.default_rng(4)
    for h, w in [(300, 500), (257, 391)]:
        image = rng.random((3, h, w), dtype=np.float32)
        ref = whole(s.run, image)
        assert np.abs(ref - image).max() > 0.05  # the model does change the frame
        tiled = infer_tiled(s.run, image, tile=tile, overlap=overlap, multiple=16)
        assert tiled.shape == (3, h, w)
        assert np.abs(tiled - ref).max() * 255 <= 1.0
