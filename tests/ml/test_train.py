"""The trainer on a toy task: loss goes down, exact resume, early stopping, schedule, config."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path
from typing import ClassVar

import pytest

torch = pytest.importorskip("torch")

from vidlab.core.errors import ModelError, UsageError  # noqa: E402
from vidlab.core.events import Cancelled, CancelToken, Event  # noqa: E402
from vidlab.ml.checkpoint import load_checkpoint  # noqa: E402
from vidlab.ml.train import TrainConfig, TrainResult, lr_factor, train  # noqa: E402


class PairSet(torch.utils.data.Dataset):
    """(degraded, clean) pairs: clean random images, degraded by fixed noise. With ``augment``
    each item draws a random flip from torch's global RNG (so resume must restore it)."""

    def __init__(self, n: int, seed: int, size: int = 8, augment: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.clean = torch.rand(n, 3, size, size, generator=g)
        self.noisy = (self.clean + 0.1 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int):
        x, y = self.noisy[i], self.clean[i]
        if self.augment and torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x, y


class ToyTask:
    name = "toy"
    arch = "enhancer"
    arch_config: ClassVar[dict] = {"channels": 8, "layers": 1}

    def __init__(self, n_train: int = 24, n_val: int = 8, augment: bool = True, val_equals_train=False):
        self.n_train, self.n_val, self.augment, self.same = n_train, n_val, augment, val_equals_train

    def datasets(self, config: TrainConfig):
        train_set = PairSet(self.n_train, 1, augment=self.augment)
        val_set = PairSet(self.n_train, 1) if self.same else PairSet(self.n_val, 2)
        return train_set, val_set

    def describe(self) -> dict:
        return {"kind": "toy", "train": self.n_train, "val": self.n_val}


def config(tmp_path: Path, name: str = "run", **kw) -> TrainConfig:
    base = dict(
        output=str(tmp_path / name),
        steps=12,
        batch_size=4,
        grad_accum=2,
        lr=3e-3,
        warmup_steps=3,
        val_every=4,
        val_batches=2,
        patience=0,
        checkpoint_every=5,
        log_every=2,
        threads=1,
        loss="l1",
    )
    base.update(kw)
    return TrainConfig(**base)


def weights(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def assert_same_state(a, b, where: str = "") -> None:
    """Equal nested states: tensors exactly, everything else by value."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_training_lowers_the_loss_on_a_fixed_batch(tmp_path: Path) -> None:
    task = ToyTask(n_train=8, augment=False, val_equals_train=True)
    cfg = config(tmp_path, steps=40, batch_size=8, grad_accum=1, val_every=40, val_batches=1, lr=5e-3)
    batch = task.datasets(cfg)[0]
    x = torch.stack([batch[i][0] for i in range(8)])
    y = torch.stack([batch[i][1] for i in range(8)])
    before = float((x - y).abs().mean())  # the net starts as the identity
    res = train(task, cfg)
    assert res.state == "done" and res.steps == 40
    with torch.no_grad():
        after = float((res.model(x) - y).abs().mean())
    assert after < 0.8 * before
    assert res.best_val == pytest.approx(after, rel=1e-5)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_run_folder_has_checkpoints_logs_and_config(tmp_path: Path) -> None:
    events: list[Event] = []
    res = train(ToyTask(), config(tmp_path), on_event=events.append)
    run = tmp_path / "run"
    assert isinstance(res, TrainResult) and res.run_dir == run
    assert res.best_checkpoint == run / "best.pt" and res.last_checkpoint == run / "last.pt"
    ck = load_checkpoint(run / "last.pt")
    for key in (
        "format",
        "arch",
        "arch_config",
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "step",
        "epoch",
        "best_val",
        "bad_evals",
        "config",
        "rng",
        "metrics",
    ):
        assert key in ck, key
    assert ck["format"] == "vidlab-checkpoint/1" and ck["arch"] == "enhancer"
    assert ck["arch_config"] == {"channels": 8, "layers": 1} and ck["step"] == 12
    assert ck["config"]["task"] == "toy" and ck["config"]["data"]["kind"] == "toy"
    assert ck["scaler"] is None  # no AMP on the CPU
    best = load_checkpoint(run / "best.pt")
    assert best["step"] == res.best_step and best["best_val"] == res.best_val
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "epoch", "lr", "train_loss", "val_loss", "seconds", "samples_per_s"]
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12]
    assert [r["val_loss"] != "" for r in rows] == [False, True, False, True, False, True]
    assert (run / "loss.png").stat().st_size > 1000
    assert TrainConfig.from_yaml(run / "config.yaml") == config(tmp_path)
    assert events[0].state == "running" and events[0].frames_done == 0 and events[0].frames_total == 12
    assert events[-1].state == "done" and events[-1].frames_done == 12 and events[-1].job == "train toy"
    assert any(e.message.startswith("loss ") and " val " in e.message for e in events)
    with pytest.raises(UsageError, match="already holds a run"):
        train(ToyTask(), config(tmp_path))


def test_resume_after_cancel_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    full = train(ToyTask(), config(tmp_path, "full"))
    token = CancelToken()

    def stop_at_7(e: Event) -> None:  # log_every=1: an event after every step
        if e.frames_done == 7:
            token.cancel("interrupted")

    with pytest.raises(Cancelled) as info:
        train(ToyTask(), config(tmp_path, "cut", log_every=1), on_event=stop_at_7, cancel=token)
    assert info.value.result.state == "cancelled" and info.value.result.steps == 7
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert cut["step"] == 7 and cut["scheduler"]["last_epoch"] == 7
    assert cut["optimizer"]["state"][0]["step"] == 7

    resumed = train(ToyTask(), config(tmp_path, "cut"), resume=True)
    assert resumed.state == "done" and resumed.steps == 12
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    for key in ("model", "optimizer", "scheduler", "step", "epoch", "best_val", "bad_evals", "rng"):
        assert_same_state(a[key], b[key], key)
    assert resumed.best_step == full.best_step and resumed.best_val == full.best_val
    assert [r["step"] for r in resumed.history if r["val_loss"] is not None] == [4, 8, 12]


def test_max_minutes_stops_resumably_and_resume_matches(tmp_path: Path) -> None:
    train(ToyTask(), config(tmp_path, "full"))
    stopped = train(ToyTask(), config(tmp_path, "cut", max_minutes=1e-9))
    assert stopped.state == "stopped" and stopped.steps == 1
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 1
    done = train(ToyTask(), config(tmp_path, "cut"), resume=True)
    assert done.state == "done" and done.steps == 12
    assert_same_state(weights(tmp_path / "full" / "last.pt"), weights(tmp_path / "cut" / "last.pt"))


def test_resume_needs_a_last_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nothing to resume") as info:
        train(ToyTask(), config(tmp_path), resume=True)
    assert info.value.params == ("resume",)


def test_early_stopping_on_a_flat_validation_loss(tmp_path: Path) -> None:
    res = train(ToyTask(), config(tmp_path, lr=0.0, steps=100, val_every=2, patience=2))
    assert res.state == "early_stopped"
    assert res.steps == 6 and res.best_step == 2  # evals at 2 (best), 4 and 6 (no better)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["bad_evals"] == 2


def test_lr_schedule_warms_up_then_follows_a_cosine_to_min_ratio(tmp_path: Path) -> None:
    kw = dict(steps=20, warmup_steps=4, min_lr_ratio=0.1)
    f = [lr_factor(s, **kw) for s in range(20)]
    assert f[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f[4] == pytest.approx(1.0) and f[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(f[4:]))
    assert f[4 + 7] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 15)))
    # and the loop uses it: log.csv's lr is lr * factor(step - 1)
    res = train(ToyTask(), config(tmp_path, steps=20, warmup_steps=4, min_lr_ratio=0.1, log_every=1, lr=1e-3))
    assert [r["lr"] for r in res.history] == pytest.approx([1e-3 * x for x in f])


def test_config_from_yaml_with_overrides(tmp_path: Path) -> None:
    p = tmp_path / "train.yaml"
    p.write_text(
        "steps: 300\nlr: 0.002\nloss: l1+0.2*ssim\namp: false\narch_config: {channels: 16, layers: 2}\n"
    )
    cfg = TrainConfig.from_sources(p, {"steps": 50, "batch_size": None, "arch_config": {"layers": 3}})
    assert cfg.steps == 50 and cfg.lr == 0.002 and cfg.batch_size == TrainConfig().batch_size
    assert cfg.amp == "off" and cfg.loss == "l1+0.2*ssim"
    assert cfg.arch_config == {"channels": 16, "layers": 3}
    assert TrainConfig.from_sources(None, {"steps": 7}).steps == 7


def test_config_refuses_unknown_keys_and_bad_values_in_one_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("steps: 10\nlearning_rate: 0.1\n")
    with pytest.raises(UsageError) as info:
        TrainConfig.from_yaml(p)
    msg = str(info.value)
    assert "\n" not in msg and str(p) in msg and "learning_rate" in msg
    p.write_text("loss: l3\n")
    with pytest.raises(UsageError, match="unknown loss 'l3'") as info:
        TrainConfig.from_yaml(p)
    assert str(p) in str(info.value) and info.value.params == ("loss",)
    p.write_text("steps: ten\n")
    with pytest.raises(UsageError, match="steps must be an integer") as info:
        TrainConfig.from_yaml(p)
    assert info.value.params == ("steps",)
    with pytest.raises(UsageError, match="device must be one of"):
        TrainConfig.from_sources(None, {"device": "tpu"})
    p.write_text("steps: [1\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        TrainConfig.from_yaml(p)


def test_too_small_a_training_set_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="too few for batch_size 32") as info:
        train(ToyTask(n_train=8), config(tmp_path, batch_size=32))
    assert info.value.params == ("batch_size",)


def test_every_config_option_is_a_cli_flag_and_resume_reads_the_run_config(tmp_path: Path) -> None:
    import inspect

    from vidlab.cli.train import enhancer_cmd, load_config

    params = set(inspect.signature(enhancer_cmd).parameters)
    assert set(TrainConfig.field_names()) - {"task"} <= params
    cfg = load_config("enhancer", None, {"steps": 30, "lr": 0.01}, False, tmp_path / "run")
    assert cfg.task == "enhancer" and cfg.run_dir == tmp_path / "run" and cfg.steps == 30
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(cfg.to_yaml())
    again = load_config("enhancer", None, {"steps": 60, "lr": None}, True, tmp_path / "run")
    assert again.steps == 60 and again.lr == 0.01  # the run's own options, the flags on top


def test_init_fine_tunes_from_a_checkpoints_weights(tmp_path: Path) -> None:
    first = train(ToyTask(), config(tmp_path, "first", steps=6))
    start = weights(tmp_path / "first" / "best.pt")
    # lr 0: the fine-tuning run keeps exactly the weights it started from
    init = str(tmp_path / "first" / "best.pt")
    res = train(ToyTask(), config(tmp_path, "tuned", steps=2, lr=0.0, init=init))
    assert res.state == "done" and first.state == "done"
    assert_same_state(weights(tmp_path / "tuned" / "last.pt"), start)
    # without init the same run keeps its own fresh weights, which are not the checkpoint's
    train(ToyTask(), config(tmp_path, "fresh", steps=2, lr=0.0))
    fresh = weights(tmp_path / "fresh" / "last.pt")
    assert any(not torch.equal(fresh[k], start[k]) for k in start)


def test_init_refuses_another_network_in_one_line(tmp_path: Path) -> None:
    train(ToyTask(), config(tmp_path, "first", steps=2))
    other = ToyTask()
    other.arch_config = {"channels": 4, "layers": 1}
    with pytest.raises(UsageError, match="give the same arch_config"):
        train(other, config(tmp_path, "tuned", steps=2, init=str(tmp_path / "first" / "best.pt")))
    with pytest.raises(ModelError, match="no such checkpoint"):
        train(ToyTask(), config(tmp_path, "tuned2", steps=2, init=str(tmp_path / "missing.pt")))
