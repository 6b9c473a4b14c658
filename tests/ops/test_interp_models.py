"""interpolate's model methods: ``learned`` (the shipped refinement network, or a user's ONNX
export of one) and ``rife`` (a user's Practical-RIFE flownet.pkl), through the op and the CLI."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import frame_times, run_cli
from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.io.footage import TEST_PHOTOS, FootageSpec, write_footage
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.reader import read_frames
from vidlab.ml.registry import get_model, model_path, sha256_file
from vidlab.ops.interpolate import Interpolate, LearnedPair
from vidlab.vision.interp import FlowPair

W, H = 320, 176


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    """A short camera-like clip (noise, blur, subjects) from held-out photographs."""
    path = tmp_path_factory.mktemp("interp-models") / "clip.mp4"
    spec = FootageSpec(photo="leaves", motion="pan", subjects=2, noise=2.0, seed=77, palette=TEST_PHOTOS)
    write_footage(path, spec, frames=9, size=(W, H), crf=18)
    return path


def _bound(n: int, fps: Fraction = Fraction(30), **params) -> Interpolate:
    return Interpolate.create(**params).bind(VideoInfo.constant_rate("mem", W, H, fps, n))


def test_the_shipped_model_matches_its_card():
    card = get_model("interpolate_learned")
    path = model_path(card)
    assert path.stat().st_size < 10 * 1024 * 1024
    assert sha256_file(path) == card.sha256
    assert card.task == "interpolator" and card.license
    assert card.training.get("command") and card.training.get("data")
    assert card.metrics, "the card records the benchmark"
    assert json.loads(path.with_suffix(".json").read_text())["inputs"]["channels"] == 8


def test_learned_tiles_equal_the_whole_frame(footage: Path):
    frames = [f.image for f in read_frames(footage)][:3]
    sess = _bound(3, method="learned").state("learned", _bound(3, method="learned")._open_learned)
    outs = []
    for tile in (1024, 128):
        engine = LearnedPair(sess, tile)
        engine.pair(frames[0], frames[2])
        outs.append(engine.at(0.5).astype(int))
        engine.close()
    assert np.abs(outs[0] - outs[1]).max() <= 1


def test_learned_runs_a_user_export_of_the_network(footage: Path, tmp_path: Path):
    """An untrained refiner (its last layer is zero) exported by the user is the flow method."""
    pytest.importorskip("torch")
    from vidlab.ml.export import export_onnx
    from vidlab.ml.models import build_model

    net = build_model("interp_refine", channels=8, depth=1)
    frames = [f.image for f in read_frames(footage)][:3]
    flow = FlowPair()
    flow.pair(frames[0], frames[2])
    want = flow.at(0.5).astype(int)
    flow.close()
    export = tmp_path / "fresh.onnx"
    _export_untrained(net, export, export_onnx)
    op = _bound(3, method="learned", model=str(export))
    engine = op.pair_interpolator()
    engine.pair(frames[0], frames[2])
    got = engine.at(0.5).astype(int)
    engine.close()
    assert np.abs(got - want).max() <= 1


def _export_untrained(net, path: Path, export_onnx) -> None:
    from vidlab.ml.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    ckpt = path.with_suffix(".pt")
    save_checkpoint(
        ckpt,
        {
            "format": CHECKPOINT_FORMAT,
            "arch": "interp_refine",
            "arch_config": {"channels": 8, "depth": 1},
            "model": net.state_dict(),
            "config": {"task": "interpolator"},
            "step": 0,
        },
    )
    export_onnx(ckpt, path)


def test_learned_on_a_file_keeps_the_grid_and_the_originals(footage: Path, tmp_path: Path):
    out = tmp_path / "x2.mkv"
    r = run_cli("interpolate", footage, "-o", out, "-x", "2", "--method", "learned", "--codec", "ffv1", "-q")
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info.fps == 60 and info.frame_count == 18
    # (Matroska keeps milliseconds)
    assert [round(float(t), 3) for t in frame_times(out)] == [round(k / 60, 3) for k in range(18)]
    import av

    with av.open(str(footage)) as a, av.open(str(out)) as b:  # originals: the decoded planes, bit-exact
        src = [f.to_ndarray(format="yuv420p") for f in a.decode(video=0)]
        made = [f.to_ndarray(format="yuv420p") for f in b.decode(video=0)]
    assert all(np.array_equal(made[2 * i], plane) for i, plane in enumerate(src))
    assert not np.array_equal(made[1], made[0]) and not np.array_equal(made[1], made[2])


@pytest.fixture(scope="module")
def rife_pkl(tmp_path_factory) -> Path:
    """Random weights in Practical-RIFE v4.6's exact layout, saved as its flownet.pkl is."""
    torch = pytest.importorskip("torch")
    from vidlab.ml.rife import build_ifnet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rife") / "flownet.pkl"
    torch.save({"module." + k: v for k, v in build_ifnet("4.6").state_dict().items()}, path)
    return path


@pytest.mark.slow
def test_rife_through_the_op_keeps_the_grid_and_the_originals(rife_pkl: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VIDLAB_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    frames = [Frame(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), Fraction(i, 30), i) for i in range(4)]
    out = list(_bound(4, method="rife", model=str(rife_pkl), factor=2).process(iter(frames)))
    assert [f.pts for f in out] == [Fraction(k, 60) for k in range(8)]
    for f in frames:
        assert np.array_equal(out[2 * f.index].image, f.image)
    assert all(o.image.shape == (H, W, 3) and o.image.dtype == np.uint8 for o in out)


def test_rife_needs_a_model_and_refuses_other_files(tmp_path: Path, footage: Path):
    with pytest.raises(RecipeError, match=r"flownet\.pkl"):
        _bound(3, method="rife").pair_interpolator()
    r = run_cli(
        "interpolate", footage, "-o", tmp_path / "o.mp4", "-x", "2", "--method", "rife", "--model", footage
    )
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(footage) in r.stderr and not (tmp_path / "o.mp4").exists()
    r = run_cli("interpolate", footage, "-o", tmp_path / "o.mp4", "-x", "2", "--model", "x.onnx")
    assert r.returncode != 0 and "--model is for" in r.stderr
