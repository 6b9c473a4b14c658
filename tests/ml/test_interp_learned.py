"""The learned interpolator's pieces: its training samples are exactly the flow method's warps,
an untrained refiner is exactly the flow method, and ``vidlab train interpolator`` learns."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import run_cli  # noqa: E402
from vidlab.ml import datasets as ds  # noqa: E402
from vidlab.ml.checkpoint import load_checkpoint  # noqa: E402
from vidlab.ml.models import build_model  # noqa: E402
from vidlab.ml.tasks import InterpCrops, InterpolatorTask  # noqa: E402
from vidlab.vision.interp import FlowPair  # noqa: E402

SIZE = (192, 112)


def sources(n: int = 2, frames: int = 9) -> list[ds.Source]:
    return ds.generated_sources(n, size=SIZE, frames=frames, seed=3)


def test_samples_are_the_flow_methods_warps_at_every_dropped_frame(tmp_path: Path):
    srcs = sources()
    cache = ds.build_interp_samples(srcs, tmp_path, factors=(2, 4), frames_per_clip=9, compress=False)
    # 9 frames: 2x rebuilds 4 frames (1, 3, 5, 7), 4x rebuilds 6 (1, 2, 3, 5, 6, 7), per clip
    assert len(cache.t) == 2 * (4 + 6)
    assert cache.warped.shape == (20, 2, SIZE[1], SIZE[0], 3)
    assert sorted(np.unique(cache.t).tolist()) == [0.25, 0.5, 0.75]
    assert np.bincount(cache.clip).tolist() == [10, 10]
    frames = list(srcs[0].decoded(9))
    assert np.array_equal(cache.truth[0], frames[1]) and np.array_equal(cache.truth[3], frames[7])
    assert np.array_equal(cache.truth[4], frames[1]) and np.array_equal(cache.truth[5], frames[2])
    # the stored warps blend into the flow method's own frame (up to the weight's 8-bit rounding)
    engine = FlowPair()
    engine.pair(frames[0], frames[2])
    want = engine.at(0.5)
    w0 = cache.weight[0].astype(np.float32) / 255
    got = cv2.blendLinear(cache.warped[0, 0], cache.warped[0, 1], w0, 1 - w0)
    assert np.abs(got.astype(int) - want).max() <= 1
    engine.close()
    again = ds.build_interp_samples(srcs, tmp_path, factors=(2, 4), frames_per_clip=9, compress=False)
    assert again.root == cache.root and len(list(tmp_path.iterdir())) == 1  # reused, not rebuilt


def test_an_untrained_refiner_is_exactly_the_flow_method(tmp_path: Path):
    cache = ds.build_interp_samples(sources(1), tmp_path, factors=(2,), frames_per_clip=5, compress=False)
    crops = InterpCrops(cache, np.arange(len(cache.t)), 64, seed=0, augment=False)
    x, _ = crops[0]
    net = build_model("interp_refine").eval()
    with torch.no_grad():
        y = net(x[None])[0]
    w0 = x[6:7].clamp(1e-4, 1 - 1e-4)
    flow_frame = w0 * x[0:3] + (1 - w0) * x[3:6]
    assert torch.allclose(y, flow_frame, atol=1e-5)


def test_time_reversal_augmentation_keeps_the_sample_consistent(tmp_path: Path):
    cache = ds.build_interp_samples(sources(1), tmp_path, factors=(4,), frames_per_clip=5, compress=False)
    plain = InterpCrops(cache, np.arange(len(cache.t)), 64, seed=1, augment=False)
    aug = InterpCrops(cache, np.arange(len(cache.t)), 64, seed=1, augment=True)
    ts = set()
    for i in range(len(cache.t)):
        x, y = aug[i]
        ts.add(round(float(x[7, 0, 0]), 3))
        # whatever the flips and the reversal, the flow blend of the input stays the same function
        w0 = x[6:7]
        assert torch.all((w0 >= 0) & (w0 <= 1))
        assert x.shape == (8, 64, 64) and y.shape == (3, 64, 64)
    assert ts <= {0.25, 0.5, 0.75} and len(plain) == 3


def test_train_interpolator_cli_lowers_the_loss(tmp_path: Path):
    """A few steps on one small sample (a 64x64 clip, so every crop is the whole frame: only
    flips and time reversal vary) fit it: the loss falls below the flow method's."""
    run = tmp_path / "run"
    args = ["--generate", "2", "--clip-size", "64x64", "--frames-per-clip", "3", "--factors", "2"]
    args += ["--steps", "80", "--crop", "64", "--batch-size", "4", "--lr", "0.002", "--warmup-steps", "5"]
    args += ["--val-every", "40", "--threads", "2", "--seed", "1", "-o", str(run), "-q"]
    r = run_cli("train", "interpolator", *args)
    assert r.returncode == 0, r.stderr
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["arch"] == "interp_refine" and ckpt["step"] == 80
    task = InterpolatorTask(
        generate=2, cache_dir=tmp_path / "cache", frames_per_clip=3, size=(64, 64), seed=1, factors=(2,)
    )
    train_set, _ = task.datasets(type("C", (), {"crop": 64})())
    assert len(task.caches()[0].t) == 1
    batch = torch.stack([train_set[i][0] for i in range(16)])
    target = torch.stack([train_set[i][1] for i in range(16)])
    fresh = build_model("interp_refine").eval()  # untrained: the flow method itself
    trained = build_model("interp_refine", **ckpt["arch_config"]).eval()
    trained.load_state_dict(ckpt["model"])
    with torch.no_grad():
        before = (fresh(batch) - target).abs().mean().item()
        after = (trained(batch) - target).abs().mean().item()
    assert after < 0.97 * before, (before, after)  # measured: 0.0073 -> 0.0066


def test_train_interpolator_refuses_bad_options(tmp_path: Path):
    r = run_cli("train", "interpolator", "--generate", "3", "--factors", "1,2", "-o", tmp_path / "r")
    assert r.returncode != 0 and "--factors" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("train", "interpolator", "-o", tmp_path / "r")
    assert r.returncode != 0 and "data" in r.stderr and "Traceback" not in r.stderr


def test_fps_fraction_is_kept_in_generated_sources():
    assert sources(1)[0].fps == Fraction(30)


def test_interpolator_task_learns_from_a_folder_of_videos(tmp_path: Path):
    """A UCF-101-style layout (a class per subfolder): split per class, the files used as decoded."""
    from vidlab.io.footage import FootageSpec, write_footage

    for cls in ("walk", "run"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for k in range(3):
            spec = FootageSpec(motion="pan", subjects=1, seed=10 * k + len(cls))
            write_footage(tmp_path / "data" / cls / f"{cls}{k}.mp4", spec, frames=5, size=(128, 80))
    task = InterpolatorTask(
        data=tmp_path / "data", cache_dir=tmp_path / "cache", factors=(2,), frames_per_clip=5
    )
    train, val = task.caches()
    # 3 videos a class: one each for train, val and test (the test split is left out)
    assert len(train.meta["clips"]) == len(val.meta["clips"]) == 2
    assert len(train.t) == len(val.t) == 2 * 2  # 5 frames: 2 rebuilt per clip at 2x
    names = [c["name"] for c in train.meta["clips"] + val.meta["clips"]]
    assert len(set(names)) == 4 and {n[:3] for n in names} == {"wal", "run"}
