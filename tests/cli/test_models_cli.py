"""``vidlab models`` and ``vidlab export-onnx`` as a user meets them: tables and JSON, and one
line on stderr (no traceback) for a corrupt model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import run_cli

pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from onnx_samples import scale_model


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("VIDLAB_HOME", str(h))  # the subprocess inherits it
    return h


def test_add_a_corrupt_model_is_one_line(tmp_path, home):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf at all" * 20)
    res = run_cli("models", "add", bad)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0] == f"vidlab: error: {bad}: not a valid ONNX model (truncated or corrupt)"
    assert not (home / "models.json").exists()


def test_add_list_and_info(tmp_path):
    model = scale_model(tmp_path / "twice.onnx")
    res = run_cli("models", "add", model, "--task", "enhance")
    assert res.returncode == 0, res.stderr
    assert "added twice (enhance" in res.stdout
    listed = json.loads(run_cli("models", "list", "--json").stdout)
    rows = [(m["name"], m["task"], m["source"]) for m in listed]
    assert rows == [
        ("interpolate_learned", "interpolator", "builtin"),
        ("neural_enhance", "enhance", "builtin"),
        ("style_brush", "style", "builtin"),
        ("style_mosaic", "style", "builtin"),
        ("style_multi26", "style", "builtin"),
        ("style_predict", "style", "builtin"),
        ("style_transform", "style", "builtin"),
        ("twice", "enhance", "user"),
    ]
    table = run_cli("models", "list").stdout
    assert "twice" in table and listed[7]["sha256"][:12] in table and "user" in table
    info = json.loads(run_cli("models", "info", "twice", "--json").stdout)
    assert info["file"] == str(model.resolve()) and info["inputs"]["layout"] == "NCHW"
    res = run_cli("models", "info", "nosuch")
    builtins = ", ".join(name for name, _, source in rows if source == "builtin")
    known = f"(known: {builtins}, twice)"
    assert res.returncode == 2 and f"unknown model 'nosuch' {known}" in res.stderr


def test_export_onnx_prints_the_difference(tmp_path):
    pytest.importorskip("torch")
    from vidlab.ml.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    from vidlab.ml.models import EnhancerNet

    net = EnhancerNet(channels=4, layers=0)
    ckpt = save_checkpoint(
        tmp_path / "e.pth",
        {
            "format": CHECKPOINT_FORMAT, "arch": "enhancer", "arch_config": {"channels": 4, "layers": 0},
            "model": net.state_dict(), "optimizer": None, "scheduler": None, "step": 0, "epoch": 0,
            "best_val": None, "config": {"task": "enhance"}, "rng": {},
        },
    )  # fmt: skip
    out = tmp_path / "e.onnx"
    res = run_cli("export-onnx", ckpt, "-o", out)
    assert res.returncode == 0, res.stderr
    assert "max difference" in res.stdout and out.is_file() and out.with_suffix(".json").is_file()
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "e" and card["task"] == "enhance"
    res = run_cli("export-onnx", tmp_path / "missing.pth", "-o", tmp_path / "m.onnx")
    assert res.returncode == 1 and res.stderr.strip().endswith("missing.pth: no such checkpoint file")


def test_export_onnx_int8_calibrates_on_a_video(tmp_path, sample_mp4):
    pytest.importorskip("torch")
    from vidlab.ml.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    from vidlab.ml.models import EnhancerNet

    arch = {"channels": 4, "layers": 1, "scales": 2}
    ckpt = save_checkpoint(
        tmp_path / "e.pth",
        {
            "format": CHECKPOINT_FORMAT, "arch": "enhancer", "arch_config": arch,
            "model": EnhancerNet(**arch).state_dict(), "optimizer": None, "scheduler": None, "step": 0,
            "epoch": 0, "best_val": None, "config": {"task": "enhance"}, "rng": {},
        },
    )  # fmt: skip
    out = tmp_path / "e8.onnx"
    res = run_cli("export-onnx", ckpt, "-o", out, "--int8", sample_mp4, "--calibration-frames", "3")
    assert res.returncode == 0, res.stderr
    assert "int8: calibrated on 3 frames" in res.stdout
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "e8" and card["training"]["int8"]["mean_code_diff"] >= 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.stem.startswith("e8")) == ["e8.json", "e8.onnx"]
    res = run_cli("export-onnx", ckpt, "-o", tmp_path / "x.onnx", "--int8", tmp_path / "nope.mp4")
    assert res.returncode != 0 and "nope.mp4" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_models_quantize_a_builtin_and_refuse_what_it_cannot(tmp_path, sample_mp4):
    out = tmp_path / "ne8.onnx"
    res = run_cli(
        "models", "quantize", "neural_enhance", "-o", out, "--calibrate", sample_mp4, "--frames", "2"
    )
    assert res.returncode == 0, res.stderr
    assert "int8, calibrated on 2 frames" in res.stdout
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "ne8" and card["task"] == "enhance" and card["training"]["int8"]["from"]
    # the quantized model runs through the op like any user model
    res = run_cli("models", "info", out)
    assert res.returncode == 0, res.stderr
    res = run_cli("models", "quantize", "style_predict", "-o", tmp_path / "s.onnx", "--calibrate", sample_mp4)
    assert res.returncode == 1 and "NHWC" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file" * 8)
    res = run_cli("models", "quantize", bad, "-o", tmp_path / "b8.onnx", "--calibrate", sample_mp4)
    assert res.returncode == 1 and res.stderr.strip().endswith(
        "bad.onnx: not a readable ONNX model (DecodeError)"
    )
    assert not (tmp_path / "s.onnx").exists() and not (tmp_path / "b8.onnx").exists()
