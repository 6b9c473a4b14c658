"""Practical-RIFE flownet.pkl weights: the layouts match the public model key for key, the loader
detects the version and refuses anything else in one line (pickled code never runs), the ONNX
export matches PyTorch, is cached once, and RifePair interpolates through it.

The weights here are random (real flownet.pkl files are user-supplied), so the tests check what
holds for any weights: shapes, dtypes, determinism, that t reaches the model, and that a flat
frame stays flat."""

from __future__ import annotations

import os
import pathlib
import pickle

import numpy as np
import pytest

from vidlab.core.errors import ModelError
from vidlab.ml.checkpoint import REFUSED_PICKLE

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("two_torch_threads")

from vidlab.ml import rife  # noqa: E402
from vidlab.ml.models import EnhancerNet  # noqa: E402
from vidlab.ml.session import Session  # noqa: E402

VERSIONS = ["4.6", "4.22", "4.24", "4.25"]

# -- the public layouts, written out independently of vidlab's implementation ---------------------
# From Practical-RIFE's train_log/IFNet_HDv3.py of each release (and the per-version copies in
# HolyWu/vs-rife, vsrife/IFNet_HDv3_v4_{6,21,22,23,24,25,26}.py): every IFBlock has conv0 (two
# stride-2 conv + LeakyReLU pairs), 8 ResConv (conv + beta) and lastconv (ConvTranspose2d +
# PixelShuffle); the 4.7+ Head is encode.cnn0..cnn3.

PUBLIC = {
    "4.6": {"blocks": 4, "encoder": False, "keys": 120},
    "4.22": {"blocks": 4, "encoder": True, "keys": 128},
    "4.24": {"blocks": 4, "encoder": True, "keys": 128},
    # A real v4.25 flownet.pkl holds 198 tensors: these 158 plus 40 of the training-only
    # teacher block (30) and caltime net (10).
    "4.25": {"blocks": 5, "encoder": True, "keys": 158},
}

SHAPES = {
    "4.6": {
        "block0.conv0.0.0.weight": (96, 7, 3, 3),
        "block0.conv0.0.0.bias": (96,),
        "block0.conv0.1.0.weight": (192, 96, 3, 3),
        "block0.convblock.0.beta": (1, 192, 1, 1),
        "block0.convblock.7.conv.weight": (192, 192, 3, 3),
        "block0.lastconv.0.weight": (192, 24, 4, 4),
        "block0.lastconv.0.bias": (24,),
        "block1.conv0.0.0.weight": (64, 12, 3, 3),
        "block1.convblock.3.conv.bias": (128,),
        "block2.conv0.1.0.weight": (96, 48, 3, 3),
        "block3.conv0.0.0.weight": (32, 12, 3, 3),
        "block3.convblock.7.beta": (1, 64, 1, 1),
        "block3.lastconv.0.weight": (64, 24, 4, 4),
    },
    "4.22": {
        "encode.cnn0.weight": (32, 3, 3, 3),
        "encode.cnn1.weight": (32, 32, 3, 3),
        "encode.cnn3.weight": (32, 8, 4, 4),
        "encode.cnn3.bias": (8,),
        "block0.conv0.0.0.weight": (128, 23, 3, 3),
        "block0.conv0.1.0.weight": (256, 128, 3, 3),
        "block0.convblock.2.beta": (1, 256, 1, 1),
        "block0.lastconv.0.weight": (256, 52, 4, 4),
        "block1.conv0.0.0.weight": (96, 36, 3, 3),
        "block1.convblock.0.beta": (1, 192, 1, 1),
        "block2.conv0.1.0.weight": (96, 48, 3, 3),
        "block3.conv0.0.0.weight": (24, 36, 3, 3),
        "block3.lastconv.0.bias": (52,),
    },
    "4.24": {
        "encode.cnn0.weight": (32, 3, 3, 3),
        "encode.cnn3.weight": (32, 8, 4, 4),
        "block0.conv0.0.0.weight": (96, 23, 3, 3),
        "block0.conv0.1.0.weight": (192, 96, 3, 3),
        "block0.lastconv.0.weight": (192, 24, 4, 4),
        "block1.conv0.0.0.weight": (64, 28, 3, 3),
        "block1.convblock.4.conv.weight": (128, 128, 3, 3),
        "block2.convblock.5.beta": (1, 96, 1, 1),
        "block3.conv0.0.0.weight": (32, 28, 3, 3),
        "block3.conv0.1.0.bias": (64,),
        "block3.lastconv.0.weight": (64, 24, 4, 4),
        "block3.lastconv.0.bias": (24,),
    },
    "4.25": {
        "encode.cnn0.weight": (16, 3, 3, 3),
        "encode.cnn2.bias": (16,),
        "encode.cnn3.weight": (16, 4, 4, 4),
        "encode.cnn3.bias": (4,),
        "block0.conv0.0.0.weight": (96, 15, 3, 3),
        "block0.conv0.1.0.weight": (192, 96, 3, 3),
        "block0.lastconv.0.weight": (192, 52, 4, 4),
        "block1.conv0.0.0.weight": (64, 28, 3, 3),
        "block3.convblock.6.conv.weight": (64, 64, 3, 3),
        "block4.conv0.0.0.weight": (16, 28, 3, 3),
        "block4.conv0.1.0.weight": (32, 16, 3, 3),
        "block4.convblock.7.beta": (1, 32, 1, 1),
        "block4.lastconv.0.weight": (32, 52, 4, 4),
        "block4.lastconv.0.bias": (52,),
    },
}

PADS = {"4.6": 32, "4.22": 32, "4.24": 32, "4.25": 64}


def public_keys(version: str) -> set[str]:
    spec = PUBLIC[version]
    keys: set[str] = set()
    for b in range(spec["blocks"]):
        p = f"block{b}."
        keys |= {f"{p}conv0.{i}.0.{w}" for i in (0, 1) for w in ("weight", "bias")}
        keys |= {f"{p}convblock.{i}.{w}" for i in range(8) for w in ("beta", "conv.weight", "conv.bias")}
        keys |= {f"{p}lastconv.0.weight", f"{p}lastconv.0.bias"}
    if spec["encoder"]:
        keys |= {f"encode.cnn{i}.{w}" for i in range(4) for w in ("weight", "bias")}
    return keys


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, pathlib.Path]:
    """A random flownet.pkl per version, saved as Practical-RIFE saves one (module. prefix)."""
    folder = tmp_path_factory.mktemp("rife")
    out = {}
    for i, version in enumerate(VERSIONS):
        torch.manual_seed(i)
        net = rife.build_ifnet(version)
        path = folder / f"flownet-{version}.pkl"
        torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
        out[version] = path
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """VIDLAB_HOME for the module, so the ONNX cache lands in a temporary folder."""
    h = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDLAB_HOME", str(h))
        yield h


@pytest.fixture(scope="module")
def exported(weights, home) -> dict[str, pathlib.Path]:
    """Each version's cached ONNX export (made once for the module)."""
    torch.set_num_threads(2)
    return {v: rife.cached_rife_onnx(p) for v, p in weights.items()}


# -- layouts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_layout_matches_the_public_model(version):
    state = rife.build_ifnet(version).state_dict()
    assert len(state) == PUBLIC[version]["keys"]
    assert set(state) == public_keys(version)
    for key, shape in SHAPES[version].items():
        assert tuple(state[key].shape) == shape, key
    assert rife.expected_shapes(version) == {k: tuple(v.shape) for k, v in state.items()}
    assert rife.PAD[version] == PADS[version]
    assert rife.pad_multiple(version, 0.5) == 2 * PADS[version]


# -- loading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["module.", ""])
@pytest.mark.parametrize("version", VERSIONS)
def test_loader_detects_the_version_with_and_without_prefix(tmp_path, version, prefix):
    torch.manual_seed(7)
    state = rife.build_ifnet(version).state_dict()
    path = tmp_path / "flownet.pkl"
    torch.save({prefix + k: v for k, v in state.items()}, path)
    net, detected = rife.load_rife(path)
    assert detected == version
    assert not net.training
    loaded = net.state_dict()
    assert set(loaded) == set(state)
    assert torch.equal(loaded["block0.conv0.0.0.weight"], state["block0.conv0.0.0.weight"])
    assert torch.equal(loaded["block1.convblock.3.beta"], state["block1.convblock.3.beta"])


def test_training_only_keys_are_dropped_other_extras_refused(tmp_path):
    state = {f"module.{k}": v for k, v in rife.build_ifnet("4.25").state_dict().items()}
    teacher = rife.build_ifnet("4.6").block3.state_dict()  # any IFBlock-shaped tensors
    aux = {f"module.teacher.{k}": v for k, v in teacher.items()}
    aux |= {f"module.caltime.{i}.{w}": torch.zeros(4) for i in (0, 2, 4, 6, 8) for w in ("weight", "bias")}
    assert len(aux) == 40  # as in a real v4.25 file (198 = 158 + 40)
    path = tmp_path / "flownet.pkl"
    torch.save(state | aux, path)
    assert rife.load_rife(path)[1] == "4.25"

    torch.save(state | {"module.refine.0.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError) as e:
        rife.load_rife(path)
    assert "unexpected refine.0.weight" in e.value.message and e.value.path == str(path)


def _refused(tmp_path, payload) -> ModelError:
    path = tmp_path / "flownet.pkl"
    torch.save(payload, path)
    with pytest.raises(ModelError) as e:
        rife.load_rife(path)
    assert e.value.path == str(path)
    assert "\n" not in str(e.value)
    assert e.value.message.startswith("not a Practical-RIFE flownet.pkl (v4.6 / v4.22 / v4.24 / v4.25)")
    return e.value


def test_other_layouts_are_refused_in_one_line(tmp_path):
    err = _refused(tmp_path, EnhancerNet().state_dict())
    assert "missing block0.conv0.0.0.weight" in err.message and "body.0" in err.message

    full = rife.build_ifnet("4.25").state_dict()
    truncated = {k: v for k, v in full.items() if not k.startswith("block4.")}
    err = _refused(tmp_path, truncated)
    assert "closest is v4.25" in err.message and "missing block4." in err.message

    reshaped = rife.build_ifnet("4.6").state_dict()
    reshaped["block1.conv0.0.0.weight"] = torch.zeros(64, 13, 3, 3)
    err = _refused(tmp_path, reshaped)
    assert "block1.conv0.0.0.weight is (64, 13, 3, 3), v4.6 has (64, 12, 3, 3)" in err.message

    err = _refused(tmp_path, {"block0.conv0.0.0.weight": torch.zeros(1), "epoch": 3})
    assert "epoch not tensors" in err.message

    assert "missing block0" in _refused(tmp_path, {}).message


def test_detect_version_works_on_a_bare_state_dict():
    for version in VERSIONS:
        state = rife.build_ifnet(version).state_dict()
        assert rife.detect_version(state) == version
        assert rife.detect_version({f"module.{k}": v for k, v in state.items()}) == version
    with pytest.raises(ModelError, match=r"appears with and without the module\. prefix"):
        rife.detect_version({"a": torch.zeros(1), "module.a": torch.zeros(1)})


class _TouchesMarker:
    """Unpickling this calls ``Path.touch`` on the marker: proof that a loader ran pickled code."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_pickled_code_is_refused_not_run(tmp_path, home, how):
    marker = tmp_path / "marker"
    evil = tmp_path / "flownet.pkl"
    payload = dict(rife.build_ifnet("4.6").state_dict())
    payload["module.extra"] = _TouchesMarker(marker)
    if how == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    for call in (rife.load_rife, rife.cached_rife_onnx):
        with pytest.raises(ModelError) as e:
            call(evil)
        assert e.value.message == REFUSED_PICKLE and e.value.path == str(evil)
    assert not marker.exists()


def test_scale_is_checked():
    with pytest.raises(ModelError, match="scale must be"):
        rife.export_rife_onnx("x.pkl", "x.onnx", scale=0.3)


# -- ONNX -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_onnx_export_matches_torch(exported, weights, version):
    path = exported[version]
    assert path.parent == rife.cache_folder()
    assert path.name.endswith(f"-{version}.onnx") and rife.version_of(path) == version
    session = Session.open(path, "cpu", threads=2)
    assert [s.name for s in session.inputs] == ["x"]
    assert session.inputs[0].shape == (None, 7, None, None)
    assert session.outputs[0].shape == (None, 3, None, None)
    m = PADS[version]
    rng = np.random.default_rng(3)
    x = rng.random((1, 7, m * 2, m * 3), dtype=np.float32)  # neither the traced nor checked shape
    x[:, 6] = 0.3
    net, _ = rife.load_rife(weights[version])
    with torch.no_grad():
        want = net(*(torch.from_numpy(x[:, s]) for s in (slice(0, 3), slice(3, 6), slice(6, 7)))).numpy()
    got = session.run(x)
    assert got.shape == (1, 3, m * 2, m * 3)
    assert float(np.max(np.abs(got - want))) < 1e-3


@pytest.mark.slow
def test_onnx_is_cached_once(exported, weights, monkeypatch):
    path = exported["4.25"]
    before = path.stat().st_mtime_ns

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(rife, "export_rife_onnx", no_export)
    monkeypatch.setattr(rife, "load_rife", no_export)
    assert rife.cached_rife_onnx(weights["4.25"]) == path
    assert path.stat().st_mtime_ns == before
    assert not [p for p in path.parent.iterdir() if ".partial" in p.name]


# -- RifePair -------------------------------------------------------------------------------------


def _frames(h: int = 90, w: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([xx * 2, yy * 2, xx + yy], axis=-1) + rng.integers(0, 20, (h, w, 3))
    a = np.clip(a, 0, 255).astype(np.uint8)
    return a, np.roll(a, 6, axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_rife_pair_interpolates(exported, weights, version):
    pair = rife.RifePair(weights[version], device="cpu", threads=2)
    assert pair.version == version and pair.multiple == PADS[version]
    assert pair.onnx_path == exported[version]
    a, b = _frames()  # 90 x 120: a multiple of neither 32 nor 64
    pair.pair(a, b)
    mid = pair.at(0.5)
    assert mid.shape == (90, 120, 3) and mid.dtype == np.uint8
    assert np.array_equal(pair.at(0.5), mid)  # deterministic
    assert not np.array_equal(pair.at(0.2), pair.at(0.8))  # t reaches the model
    assert np.array_equal(pair.at(0.0), a) and np.array_equal(pair.at(1.0), b)

    flat = np.full((90, 120, 3), (200, 40, 90), np.uint8)  # any warp of a flat frame is flat
    pair.pair(flat, flat.copy())
    out = pair.at(0.4)
    assert int(np.max(np.abs(out.astype(int) - flat))) <= 1


@pytest.mark.slow
def test_rife_pair_refuses_bad_frames(exported, weights):
    pair = rife.RifePair(weights["4.6"], device="cpu", threads=1)
    with pytest.raises(ModelError, match="before pair"):
        pair.at(0.5)
    a, b = _frames()
    with pytest.raises(ModelError, match="differ in size"):
        pair.pair(a, b[:80])
    with pytest.raises(ModelError, match="uint8"):
        pair.pair(a.astype(np.float32), b)
    pair.pair(a, b)
    with pytest.raises(ModelError, match=r"within 0\.\.1"):
        pair.at(1.5)


def test_no_torch_needed_to_import():
    # The module defines its torch classes on first use (vidlab imports it without torch).
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; import vidlab.ml.rife as r; print(r.PAD['4.25'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "64"
