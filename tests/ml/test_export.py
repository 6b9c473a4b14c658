"""Checkpoints loaded safely (pickled code refused, never run) and ONNX export checked against
PyTorch, with its card, and nothing left behind when it fails."""

from __future__ import annotations

import json
import pathlib
import pickle

import numpy as np
import pytest

from vidlab.core.errors import ModelError
from vidlab.ml.checkpoint import (
    CHECKPOINT_FORMAT,
    REFUSED_PICKLE,
    load_checkpoint,
    load_state_dict_file,
    save_checkpoint,
)
from vidlab.ml.session import Session, sha256_file

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from vidlab.ml import export as export_mod  # noqa: E402  (needs torch)
from vidlab.ml.export import export_onnx  # noqa: E402
from vidlab.ml.models import EnhancerNet  # noqa: E402


class _TouchesMarker:
    """Unpickling this calls ``Path.touch`` on the marker: proof that a loader ran pickled code."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def checkpoint(tmp_path, arch_config=None, **extra) -> pathlib.Path:
    torch.manual_seed(0)
    config = arch_config or {"channels": 8, "layers": 1}
    net = EnhancerNet(**config)
    torch.nn.init.normal_((net.body if net.scales == 1 else net.tail)[-1].weight, std=0.1)
    payload = {
        "format": CHECKPOINT_FORMAT, "arch": "enhancer", "arch_config": config, "model": net.state_dict(),
        "optimizer": None, "scheduler": None, "step": 120, "epoch": 3, "best_val": 0.01,
        "config": {"task": "enhance", "data": "generated clips", "command": "vidlab train enhance"},
        "rng": {}, "metrics": {"psnr_gain_db": torch.tensor(1.25)}, **extra,
    }  # fmt: skip
    return save_checkpoint(tmp_path / "enh.pth", payload)


# -- checkpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_pickled_code_is_refused_not_executed(tmp_path, how):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pth"
    payload = {"weight": torch.zeros(2), "extra": _TouchesMarker(marker)}
    if how == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()
    for load in (load_checkpoint, load_state_dict_file):
        with pytest.raises(ModelError) as e:
            load(evil)
        assert e.value.message == REFUSED_PICKLE and e.value.path == str(evil)
    assert not marker.exists()  # the payload never ran


def test_truncated_and_foreign_files_are_one_line(tmp_path):
    good = checkpoint(tmp_path)
    data = good.read_bytes()
    cases = {
        "truncated.pth": data[: len(data) // 3],
        "text.pth": b"hello, not a checkpoint\n",
        "empty.pth": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelError) as e:
            load_checkpoint(tmp_path / name)
        assert "\n" not in str(e.value) and "PyTorch checkpoint" in e.value.message, name
    with pytest.raises(ModelError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pth")


def test_state_dict_file_takes_a_checkpoint_or_a_plain_state_dict(tmp_path):
    ckpt = checkpoint(tmp_path)
    state, meta = load_state_dict_file(ckpt)
    assert set(state) == set(EnhancerNet(channels=8, layers=1).state_dict())
    assert meta["arch"] == "enhancer" and meta["step"] == 120 and "model" not in meta
    plain = tmp_path / "plain.pth"
    torch.save({"w": torch.ones(2, 2)}, plain)
    state, meta = load_state_dict_file(plain)
    assert torch.equal(state["w"], torch.ones(2, 2)) and meta == {}
    other = tmp_path / "other.pth"
    torch.save({"w": [1, 2, 3]}, other)
    with pytest.raises(ModelError, match="neither a vidlab checkpoint nor a plain state dict"):
        load_state_dict_file(other)
    listed = tmp_path / "list.pth"
    torch.save([torch.ones(1)], listed)
    with pytest.raises(ModelError, match="holds a list"):
        load_state_dict_file(listed)


def test_save_checkpoint_replaces_atomically(tmp_path):
    path = save_checkpoint(tmp_path / "c.pth", {"step": 1, "w": torch.zeros(1)})
    save_checkpoint(path, {"step": 2, "w": torch.zeros(1)})
    assert load_checkpoint(path)["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth"]


# -- export -----------------------------------------------------------------------------------------


def test_export_matches_torch_and_writes_its_card(tmp_path):
    ckpt = checkpoint(tmp_path)
    out = tmp_path / "models" / "enh.onnx"
    report = export_onnx(ckpt, out)
    assert report.output == out and out.is_file() and report.arch == "enhancer"
    assert report.max_abs_diff <= 1e-4
    assert (
        len({s[0] for s in report.shapes_checked}) == 2 and len({s[2:] for s in report.shapes_checked}) == 2
    )
    assert all(s[2] % 2 == 0 and s[3] % 2 == 0 for s in report.shapes_checked)  # EnhancerNet.multiple
    assert report.inputs[0].name == "input" and report.inputs[0].shape == (None, 3, None, None)

    # independently of the report: ORT on a new shape agrees with torch
    net = EnhancerNet(channels=8, layers=1)
    net.load_state_dict(load_checkpoint(ckpt)["model"])
    x = np.random.default_rng(9).random((3, 3, 40, 24), dtype=np.float32)
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(want - x).max() > 1e-3  # the exported net is not the identity
    assert np.abs(Session.open(out, "cpu").run(x) - want).max() <= 1e-4

    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "enh" and card["task"] == "enhance" and card["sha256"] == sha256_file(out)
    assert card["inputs"]["channels"] == 3 and card["inputs"]["multiple"] == 2
    assert (
        card["training"]["command"] == "vidlab train enhance"
        and card["training"]["data"] == "generated clips"
    )
    assert card["metrics"] == {"psnr_gain_db": 1.25}
    assert sorted(p.name for p in out.parent.iterdir()) == ["enh.json", "enh.onnx"]


def test_export_that_disagrees_leaves_nothing(tmp_path, monkeypatch):
    ckpt = checkpoint(tmp_path)
    monkeypatch.setattr(export_mod, "TOLERANCE", -1.0)  # any difference is too much
    out = tmp_path / "out" / "enh.onnx"
    with pytest.raises(ModelError, match="differs from PyTorch"):
        export_onnx(ckpt, out)
    assert list(out.parent.iterdir()) == []


def test_export_with_an_unsupported_opset_is_one_line(tmp_path):
    ckpt = checkpoint(tmp_path)
    (tmp_path / "o").mkdir()
    with pytest.raises(ModelError) as e:
        export_onnx(ckpt, tmp_path / "o" / "x.onnx", opset=999)
    assert "ONNX export (opset 999) failed" in e.value.message and "\n" not in str(e.value)
    assert list((tmp_path / "o").iterdir()) == []


def test_export_refuses_a_bare_state_dict_and_bad_arch(tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save(EnhancerNet(channels=8, layers=1).state_dict(), plain)
    with pytest.raises(ModelError, match="not a vidlab checkpoint"):
        export_onnx(plain, tmp_path / "x.onnx")
    bad = checkpoint(tmp_path, arch_config={"channels": 8, "layers": 1})
    payload = load_checkpoint(bad)
    payload["arch_config"] = {"channels": 16, "layers": 1}  # weights of another size
    save_checkpoint(bad, payload)
    with pytest.raises(ModelError, match="do not fit enhancer"):
        export_onnx(bad, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def _frames(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    """Smooth pictures with a little texture, 1x3xHxW in 0..1, as calibration and test input."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for k in range(n):
        base = np.stack([np.sin(3 * xx + k), np.cos(4 * yy - k), xx * yy]) * 0.35 + 0.5
        out.append((base + rng.normal(0, 0.03, base.shape)).clip(0, 1).astype(np.float32)[None])
    return out


def test_int8_quantization_keeps_the_picture_within_code_values(tmp_path):
    onnx = pytest.importorskip("onnx")
    ckpt = checkpoint(tmp_path, {"channels": 8, "layers": 1, "scales": 2})
    src = export_onnx(ckpt, tmp_path / "f" / "enh.onnx").output
    report = export_mod.quantize_int8(src, tmp_path / "q" / "enh_int8.onnx", _frames(4))
    out = report.output
    graph = onnx.load(str(out)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") >= 4 and ops.count("DequantizeLinear") >= 8  # really int8
    assert ops[-1] == "Add"  # the residual's closing Add and the output stay float
    # held-out input (not the calibration frames): close to the float model, not the identity
    x = _frames(6)[5]
    f, q = Session.open(src, "cpu").run(x), Session.open(out, "cpu").run(x)
    assert np.abs(f - x).max() * 255 > 3  # the float net changes the picture
    # int8 rounds the residual, not the picture: a random net's residual is large (mean ~20 code
    # values; a trained one's is a few), and the int8 error stays a small share of it
    residual, err = np.abs(f - x), np.abs(q - f)
    assert err.mean() <= 0.1 * residual.mean() and err.max() <= 0.1 * residual.max()
    assert report.samples == 4 and 0 < report.mean_code_diff <= 0.1 * residual.mean() * 255
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "enh_int8" and card["file"] == "enh_int8.onnx"
    assert card["sha256"] == sha256_file(out)
    assert card["training"]["int8"]["from"] == "enh.onnx" and card["inputs"]["multiple"] == 4
    with pytest.raises(ModelError, match="calibration frames"):
        export_mod.quantize_int8(src, tmp_path / "q" / "none.onnx", [])
    wrong = [np.zeros((1, 4, 32, 32), np.float32)]  # not what the model takes: one line, no file
    with pytest.raises(ModelError, match="int8 quantization failed"):
        export_mod.quantize_int8(src, tmp_path / "q" / "wrong.onnx", wrong)
    assert sorted(p.name for p in out.parent.iterdir()) == ["enh_int8.json", "enh_int8.onnx"]
