"""neural_enhance: the shipped model through ONNX Runtime, tiled, as an op and an enhancer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.ml.onnx_samples import scale_model

from vidlab.core.errors import RecipeError
from vidlab.io.footage import held_out_specs, write_footage
from vidlab.io.reader import read_frames
from vidlab.metrics.image import psnr
from vidlab.ml.registry import get_model, model_path, sha256_file
from vidlab.ops import get_op
from vidlab.pipeline.recipe import Recipe


def _op(**kw):
    return get_op("neural_enhance").create(**kw)


def test_strength_blends_the_model_with_the_input(tmp_path: Path):
    half = scale_model(tmp_path / "half.onnx", factor=0.5)
    image = np.full((40, 56, 3), 200, np.uint8)
    assert np.array_equal(_op(model=str(half), strength=0).apply(image), image)
    assert np.all(_op(model=str(half)).apply(image) == 100)
    assert np.all(_op(model=str(half), strength=0.5).apply(image) == 150)  # 200 + 0.5 (100 - 200)


def test_the_session_is_opened_once_per_process(tmp_path: Path):
    from vidlab.ml import session

    model = scale_model(tmp_path / "one.onnx", factor=1.0)
    before = session.open_count()
    op = _op(model=str(model))
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for _ in range(5):
        assert np.array_equal(op.apply(image), image)
    assert _op(model=str(model), strength=0.7).apply(image).shape == image.shape  # other params, same file
    assert session.open_count() - before == 1


def test_a_wrong_model_is_one_clear_line(tmp_path: Path):
    gray = scale_model(tmp_path / "gray.onnx", channels=1)
    with pytest.raises(RecipeError, match=r"1-channel") as ei:
        _op(model=str(gray)).apply(np.zeros((32, 32, 3), np.uint8))
    assert "\n" not in str(ei.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(RecipeError, match=r"bad\.onnx") as ei:
        _op(model=str(bad)).apply(np.zeros((32, 32, 3), np.uint8))
    assert "\n" not in str(ei.value)
    with pytest.raises(RecipeError, match="overlap"):
        _op(tile=64, overlap=40)


def test_the_shipped_model_matches_its_card():
    card = get_model("neural_enhance")
    path = model_path(card)
    assert path.stat().st_size < 5 * 1024 * 1024
    assert sha256_file(path) == card.sha256
    assert card.task == "enhance" and card.license
    for key in ("command", "data"):
        assert card.training.get(key), key
    assert card.metrics, "the card records the benchmark"
    data = json.loads(path.with_suffix(".json").read_text())
    assert data["inputs"]["channels"] == 3


@pytest.mark.slow
def test_neural_enhance_undoes_h264_artifacts_on_held_out_footage(tmp_path: Path):
    """On footage from photographs the model never saw, H.264 at a low bitrate: the enhanced
    frames are closer to the source than the decoded ones (tiled and whole alike)."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline import execute

    spec = held_out_specs()[1]  # coffee, zoom: held out from training
    src = write_footage(tmp_path / "src.mkv", spec, frames=6, size=(320, 192), codec="ffv1", crf=None).path
    enc = tmp_path / "enc.mp4"
    execute(src, enc, Recipe(()), EncodeSettings(codec="libx264", bitrate_kbps=60, preset="medium"))
    out = tmp_path / "enh.mkv"
    result = execute(enc, out, Recipe((_op(tile=192, overlap=64),)), EncodeSettings(codec="ffv1"))
    ref, dec, enh = read_frames(src), read_frames(enc), read_frames(out)
    assert len(ref) == len(dec) == len(enh) == 6
    before = np.mean([psnr(a.image, b.image) for a, b in zip(ref, dec, strict=True)])
    after = np.mean([psnr(a.image, b.image) for a, b in zip(ref, enh, strict=True)])
    assert after > before + 0.05, (before, after)
    assert sum("neural_enhance" in s for _, s in result.states_opened) == 1
    whole = _op(tile=4096).apply(dec[0].image)
    tiled = _op(tile=192, overlap=64).apply(dec[0].image)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
