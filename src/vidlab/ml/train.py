"""The PyTorch trainer: one loop for every project network (enhancer now; interpolator and
style later), driven by a :class:`Task` (which network, which data) and a :class:`TrainConfig`.

What the loop does: AdamW; a linear warm-up then cosine decay as a ``LambdaLR`` (its state
restores exactly); gradient accumulation; mixed precision on CUDA (autocast + GradScaler);
validation in a fixed order every ``val_every`` steps; early stopping after ``patience``
evaluations without improvement; ``best.pt`` whenever validation improves and ``last.pt``
every ``checkpoint_every`` steps and when the run ends, stops or is cancelled; DDP under
``torchrun``; logs (``log.csv``, ``loss.png``, TensorBoard when installed, ``config.yaml``);
job events and a cancel token.

Resume is exact: the data order is a pure function of ``(seed, epoch)``, the position in an
epoch is a function of the step, and the RNG states travel in the checkpoint, so a run stopped
at step k and resumed ends with the same weights as one that never stopped (bit-identical on
the CPU with ``workers=0``; with worker processes, datasets that draw random numbers per item
may differ after a resume)."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from vidlab.core.errors import UsageError
from vidlab.core.events import Cancelled, CancelToken, Event
from vidlab.ml.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from vidlab.ml.losses import make_loss
from vidlab.ml.models import build_model
from vidlab.ml.torchdep import require_torch

torch, nn = require_torch()

log = logging.getLogger(__name__)

STATES = ("done", "early_stopped", "stopped", "cancelled")
DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "on", "off")
LOG_COLUMNS = ("step", "epoch", "lr", "train_loss", "val_loss", "seconds", "samples_per_s")


def _opt(default: Any, help: str, *, minimum: float | None = None, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "min": minimum, "choices": choices})


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. Read from YAML (:meth:`from_yaml`) and/or overrides
    (:meth:`from_sources`); each field's help is in its metadata (the CLI shows it)."""

    task: str = _opt("enhancer", "What is trained: enhancer or interpolator (later style).")
    output: str | None = _opt(None, "Run folder for checkpoints and logs (default: runs/TASK).")
    steps: int = _opt(2000, "Optimizer steps in the whole run.", minimum=1)
    batch_size: int = _opt(16, "Samples per micro-batch (per process under DDP).", minimum=1)
    grad_accum: int = _opt(1, "Micro-batches accumulated per optimizer step.", minimum=1)
    lr: float = _opt(1e-3, "Peak learning rate (AdamW), reached after the warm-up.", minimum=0)
    weight_decay: float = _opt(1e-4, "AdamW's decoupled weight decay.", minimum=0)
    warmup_steps: int = _opt(100, "Steps of linear warm-up from 0 to lr.", minimum=0)
    min_lr_ratio: float = _opt(0.05, "Where the cosine decay ends, as a fraction of lr.", minimum=0)
    loss: str = _opt("charbonnier", "Loss: l1, l2, charbonnier, ssim, or a sum like l1+0.2*ssim.")
    crop: int = _opt(96, "Training crop size in pixels (the task's datasets use it).", minimum=8)
    val_every: int = _opt(200, "Validate every this many steps (and at the end).", minimum=1)
    val_batches: int = _opt(8, "Validation batches per evaluation (0: the whole validation set).", minimum=0)
    patience: int = _opt(5, "Stop after this many evaluations without improvement (0: never).", minimum=0)
    min_delta: float = _opt(0.0, "Improvement in validation loss that counts as better.", minimum=0)
    seed: int = _opt(0, "Seed of weights, data order and augmentation (torch, numpy, random).")
    workers: int = _opt(
        0, "DataLoader worker processes (0: in the training process, exact resume).", minimum=0
    )
    device: str = _opt("auto", "auto (CUDA when present), cpu or cuda.", choices=DEVICES)
    amp: str = _opt(
        "auto", "Mixed precision: auto (on for CUDA), on or off (never on the CPU).", choices=AMP_MODES
    )
    checkpoint_every: int = _opt(500, "Write last.pt every this many steps.", minimum=1)
    log_every: int = _opt(10, "Log a row and report progress every this many steps.", minimum=1)
    threads: int = _opt(0, "torch CPU threads (0: torch's default).", minimum=0)
    max_minutes: float | None = _opt(
        None, "Stop (resumably) after this many minutes of wall-clock time.", minimum=0
    )
    init: str | None = _opt(
        None, "Start from this checkpoint's weights (fine-tuning; same architecture), new optimizer."
    )
    arch_config: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Overrides of the network's configuration (e.g. channels: 16).",
            "min": None,
            "choices": (),
        },
    )

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | os.PathLike[str] | None = None) -> TrainConfig:
        """A checked config from plain values; unknown keys and bad values are one-line errors
        naming ``path`` (the YAML file) and the parameter."""
        if not isinstance(data, dict):
            raise UsageError(f"a training config is a mapping of options, got {type(data).__name__}", path)
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise UsageError(
                f"unknown training option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(known: {', '.join(cls.field_names())})",
                path,
                param=tuple(unknown),
            )
        fields = [f for f in dataclasses.fields(cls) if f.name in data]
        return cls(**{f.name: _check_value(f, data[f.name], path) for f in fields})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a YAML file (``yaml.safe_load``) of TrainConfig fields."""
        return cls.from_dict(_read_yaml(Path(path)), path)

    @classmethod
    def from_sources(
        cls, config_file: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
    ) -> TrainConfig:
        """The file's options (if any) with ``overrides`` on top; an override of None is no override,
        and an ``arch_config`` override is merged key by key into the file's."""
        data = _read_yaml(Path(config_file)) if config_file is not None else {}
        if not isinstance(data, dict):
            raise UsageError("a training config is a mapping of options", config_file)
        base = cls.from_dict(data, config_file)
        extra = {k: v for k, v in (overrides or {}).items() if v is not None}
        if "arch_config" in extra:
            extra["arch_config"] = {**base.arch_config, **dict(extra["arch_config"])}
        return cls.from_dict({**base.to_dict(), **extra})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for YAML, and for a checkpoint's ``config``)."""
        d = dataclasses.asdict(self)
        d["arch_config"] = dict(self.arch_config)
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def run_dir(self) -> Path:
        return Path(self.output) if self.output else Path("runs") / self.task


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(
            f"cannot read training config: {exc.strerror or exc}", path, param="config"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise UsageError(f"not valid YAML{at}", path, param="config") from None
    return {} if data is None else data


def _check_value(f: dataclasses.Field[Any], value: Any, path: Any) -> Any:
    name, meta, kind = f.name, f.metadata, f.type
    bad = f"option {name} must be"
    if name == "arch_config":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise UsageError(f"{bad} a mapping of network options", path, param=name)
        return dict(value)
    if name == "amp" and isinstance(value, bool):
        value = "on" if value else "off"
    if value is None:
        if "None" in str(kind):
            return None
        raise UsageError(f"{bad} given (it has no 'none' value)", path, param=name)
    if str(kind).startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{bad} an integer, got {value!r}", path, param=name)
    elif str(kind).startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UsageError(f"{bad} a number, got {value!r}", path, param=name)
        value = float(value)
    elif not isinstance(value, str):
        raise UsageError(f"{bad} text, got {value!r}", path, param=name)
    if meta.get("choices") and value not in meta["choices"]:
        raise UsageError(f"{bad} one of {', '.join(meta['choices'])}, got {value!r}", path, param=name)
    if meta.get("min") is not None and value < meta["min"]:
        raise UsageError(f"{bad} >= {meta['min']:g}, got {value!r}", path, param=name)
    if name == "loss":
        try:
            make_loss(value)  # one-line UsageError(param="loss") for an unknown name
        except UsageError as exc:
            if path is not None:
                exc.set_path(path)
            raise
    return value


# -- the task protocol ------------------------------------------------------------------------


class Task(Protocol):
    """What to train: a network (``arch`` in :data:`vidlab.ml.models.ARCHS` with ``arch_config``)
    and its data. Items of both datasets are ``(input, target)`` float tensors C x H x W; the
    validation set must return the same items in the same order every time."""

    name: str  # "enhancer", later "interpolator", "style"
    arch: str
    arch_config: dict[str, Any]

    def datasets(self, config: TrainConfig) -> tuple[Any, Any]:
        """``(train, val)`` torch datasets."""
        ...

    def describe(self) -> dict[str, Any]:
        """Plain values describing the data (goes into the checkpoint's ``config["data"]``)."""
        ...

    # Optional: ``loss(config) -> torch module`` replaces ``config.loss`` (``pred, target -> loss``).


@dataclass
class TrainResult:
    """How a run ended. ``state`` is done, early_stopped, stopped (max_minutes: resumable) or
    cancelled (also carried by the :class:`Cancelled` raised); ``history`` is log.csv's rows;
    ``model`` the trained network (unwrapped from DDP) in this process."""

    state: str
    steps: int
    best_val: float | None
    best_step: int | None
    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    model: Any = field(default=None, repr=False)


def lr_factor(step: int, *, steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """The learning rate of optimizer step ``step`` (0-based) as a fraction of the peak: linear
    from 1/warmup to 1 over the warm-up, then a cosine from 1 down to ``min_lr_ratio`` at the
    last step."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, steps - 1 - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


# -- state that travels in a checkpoint -------------------------------------------------------


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [
            np_state[0],
            [int(x) for x in np_state[1]],
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError, IndexError):
            torch.cuda.set_rng_state_all(state["cuda"])


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_cpu(obj: Any) -> Any:
    """A copy with every tensor on the CPU (a checkpoint loads anywhere)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


# -- distributed ------------------------------------------------------------------------------


@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def _init_distributed(device_kind: str) -> _Dist:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1): gloo on the CPU,
    nccl on CUDA, rendezvous from the launcher's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo", init_method="env://")
        owns = True
    return _Dist(
        world=dist.get_world_size(),
        rank=dist.get_rank(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        owns_group=owns,
    )


def _all_reduce(values: list[float], dist_info: _Dist, device: Any, op: str = "sum") -> list[float]:
    if not dist_info.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return [float(x) for x in t.tolist()]


def _device(config: TrainConfig) -> Any:
    kind = config.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda asked for, but torch sees no CUDA device", param="device")
    return kind


# -- data -------------------------------------------------------------------------------------


class _Batches:
    """Training micro-batches forever, epoch after epoch. An epoch's order is a pure function of
    ``(seed, epoch)`` (a seeded DistributedSampler, which also shards it under DDP); starting
    at micro-batch ``offset`` of an epoch skips its indices without loading them."""

    def __init__(self, dataset: Any, config: TrainConfig, dist_info: _Dist, pin: bool) -> None:
        from torch.utils.data import DistributedSampler

        self.dataset, self.config, self.pin = dataset, config, pin
        self.sampler = DistributedSampler(
            dataset,
            num_replicas=dist_info.world,
            rank=dist_info.rank,
            shuffle=True,
            seed=config.seed,
            drop_last=True,
        )
        self.per_epoch = len(self.sampler) // config.batch_size
        if self.per_epoch == 0:
            raise UsageError(
                f"the training set has {len(dataset)} items: too few for batch_size {config.batch_size}"
                + (f" on {dist_info.world} processes" if dist_info.active else ""),
                param="batch_size",
            )

    def position(self, micro_batches: int) -> tuple[int, int]:
        return divmod(micro_batches, self.per_epoch)

    def iterate(self, micro_batches: int) -> Iterator[tuple[int, Any]]:
        from torch.utils.data import DataLoader

        epoch, offset = self.position(micro_batches)
        while True:
            self.sampler.set_epoch(epoch)
            indices = list(self.sampler)[offset * self.config.batch_size :]
            gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)  # worker seeds
            loader = DataLoader(
                self.dataset,
                batch_size=self.config.batch_size,
                sampler=indices,
                num_workers=self.config.workers,
                drop_last=True,
                pin_memory=self.pin,
                generator=gen,
            )
            for batch in loader:
                yield epoch, batch
            epoch, offset = epoch + 1, 0


def _val_indices(n: int, config: TrainConfig, dist_info: _Dist) -> list[int]:
    """The validation items this process evaluates: the first ``val_batches`` batches' worth, in
    order, dealt round-robin to the processes."""
    limit = n if config.val_batches == 0 else min(n, config.val_batches * config.batch_size)
    return list(range(dist_info.rank, limit, dist_info.world))


# -- logs -------------------------------------------------------------------------------------


def _write_log(path: Path, history: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
        w.writeheader()
        for row in history:
            w.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_COLUMNS})
    os.replace(tmp, path)


def _plot(path: Path, history: list[dict[str, Any]]) -> None:
    """loss.png: train and validation loss against the step, log y (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    train = [(r["step"], r["train_loss"]) for r in history if r.get("train_loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in history if r.get("val_loss") is not None]
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if train:
        ax.plot(*zip(*train, strict=True), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val, strict=True), label="validation", marker="o", markersize=3)
    if any(v > 0 for _, v in train + val):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, path)


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


# -- the loop ---------------------------------------------------------------------------------


def train(
    task: Task,
    config: TrainConfig,
    *,
    resume: bool = False,
    on_event: Callable[[Event], None] | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Train ``task``'s network with ``config`` in ``config.run_dir`` (``resume`` continues from
    its ``last.pt``). Returns how it ended; a cancel saves ``last.pt`` and raises
    :class:`Cancelled` (with ``.result``). Under ``torchrun`` every process calls this."""
    device_kind = _device(config)
    dist_info = _init_distributed(device_kind)
    try:
        return _train(task, config, dist_info, device_kind, resume=resume, on_event=on_event, cancel=cancel)
    finally:
        if dist_info.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _own_checkpoint(path: Path, arch: str, what: str = "", param: str | None = None) -> dict[str, Any]:
    """The checkpoint at ``path``, which must be this trainer's and of ``arch`` (else one line,
    led by ``what``, naming the file)."""
    ck = load_checkpoint(path)
    if ck.get("format") != CHECKPOINT_FORMAT or ck.get("arch") != arch:
        got = ck.get("arch")
        raise UsageError(f"{what}not a {arch} checkpoint of this trainer (arch {got!r})", path, param=param)
    return ck


def _init_weights(model: Any, path: Path, arch: str, arch_config: dict[str, Any]) -> None:
    """Load a checkpoint's weights into ``model`` to fine-tune it: the same architecture and
    configuration, or one clear line naming the file."""
    ck = _own_checkpoint(path, arch, param="init")
    theirs = ck.get("arch_config", {})
    if any(theirs.get(k) != v for k, v in arch_config.items()):
        raise UsageError(
            f"its network is {theirs}, this run's is {arch_config}: give the same arch_config",
            path,
            param="init",
        )
    model.load_state_dict(ck["model"])
    log.info("starting from the weights of %s (step %s)", path, ck.get("step"))


def _train(
    task: Task,
    config: TrainConfig,
    dist_info: _Dist,
    device_kind: str,
    *,
    resume: bool,
    on_event: Callable[[Event], None] | None,
    cancel: CancelToken | None,
) -> TrainResult:
    run_dir = config.run_dir
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    if resume and not last_path.is_file():
        raise UsageError("nothing to resume: no last.pt in the run folder", run_dir, param="resume")
    if not resume and last_path.is_file():
        raise UsageError(
            "the run folder already holds a run (last.pt): resume it or choose another output",
            run_dir,
            param=("resume", "output"),
        )
    device = torch.device(f"cuda:{dist_info.local_rank}" if device_kind == "cuda" else "cpu")
    if device_kind == "cuda":
        torch.cuda.set_device(device)
    amp = device_kind == "cuda" and config.amp != "off"
    if config.amp == "on" and device_kind != "cuda":
        log.info("amp is on only for CUDA: training in float32 on the CPU")
    task_loss = getattr(task, "loss", None)  # a task with a loss of its own (style) uses it
    loss_fn = task_loss(config).to(device) if callable(task_loss) else make_loss(config.loss)
    arch_config = {**task.arch_config, **config.arch_config}
    job = f"train {task.name}"

    _seed_all(config.seed)
    model = build_model(task.arch, **arch_config).to(device)
    train_set, val_set = task.datasets(config)
    batches = _Batches(train_set, config, dist_info, pin=device_kind == "cuda")
    val_idx = _val_indices(len(val_set), config, dist_info)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def factor(step: int) -> float:
        return lr_factor(
            step, steps=config.steps, warmup_steps=config.warmup_steps, min_lr_ratio=config.min_lr_ratio
        )

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    step, best_val, best_step, bad_evals, seconds_before = 0, None, None, 0, 0.0
    history: list[dict[str, Any]] = []
    if resume:
        ck = _own_checkpoint(last_path, task.arch, "last.pt is ")
        _warn_config_changes(ck.get("config", {}), config, last_path)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        if amp and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        step, best_val, bad_evals = int(ck["step"]), ck["best_val"], int(ck.get("bad_evals", 0))
        metrics = ck.get("metrics", {})
        best_step = metrics.get("best_step")
        seconds_before = float(metrics.get("seconds", 0.0))
        history = [dict(r) for r in metrics.get("history", [])]
        _set_rng_state(ck["rng"])
        log.info("resuming %s at step %d of %d", run_dir, step, config.steps)

    elif config.init:
        _init_weights(model, Path(config.init).expanduser(), task.arch, arch_config)

    if dist_info.active:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device_kind == "cuda" else None)
    else:
        net = model

    writer = None
    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(config.to_yaml())
        writer = _tensorboard(run_dir)

    describe = task.describe()

    def payload(epoch: int) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "arch": task.arch,
            "arch_config": dict(arch_config),
            "model": _to_cpu(model.state_dict()),
            "optimizer": _to_cpu(optimizer.state_dict()),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if amp else None,
            "step": step,
            "epoch": epoch,
            "best_val": best_val,
            "bad_evals": bad_evals,
            "config": {**config.to_dict(), "task": task.name, "data": describe},
            "rng": _rng_state(),
            "metrics": {
                "best_step": best_step,
                "seconds": seconds_before + (time.perf_counter() - t0),
                "history": [dict(r) for r in history],
            },
        }

    def save(path: Path, epoch: int) -> None:
        if dist_info.main:
            save_checkpoint(path, payload(epoch))

    def emit(state: str, message: str) -> None:
        if on_event is None or not dist_info.main:
            return
        elapsed = time.perf_counter() - t0
        rate = (step - start_step) / elapsed if elapsed > 0 else 0.0
        eta = 0.0 if state == "done" else ((config.steps - step) / rate if rate > 0 else None)
        on_event(
            Event(
                scope="job",
                state=state,
                job=job,
                frames_done=step,
                frames_total=config.steps,
                fps=rate,
                eta=eta,
                elapsed=elapsed,
                message=message,
            )
        )

    @torch.no_grad()
    def validate() -> float:
        """Mean validation loss over this run's fixed validation items (all processes); the
        RNG states are put back, so evaluating never changes what training draws."""
        rng = _rng_state()
        net.eval()
        total, count = 0.0, 0
        try:
            for i in range(0, len(val_idx), config.batch_size):
                items = [val_set[j] for j in val_idx[i : i + config.batch_size]]
                x = torch.stack([a for a, _ in items]).to(device)
                y = torch.stack([b for _, b in items]).to(device)
                with torch.autocast(device_type=device_kind, dtype=torch.float16, enabled=amp):
                    pred = model(x)
                total += float(loss_fn(pred.float(), y.float())) * len(items)
                count += len(items)
        finally:
            net.train()
            _set_rng_state(rng)
        total, count = _all_reduce([total, float(count)], dist_info, device)
        return total / max(count, 1.0)

    start_step = step
    t0 = time.perf_counter()
    stream = batches.iterate(step * config.grad_accum)
    epoch = batches.position(step * config.grad_accum)[0]
    window_loss, window_steps, window_t = 0.0, 0, time.perf_counter()
    state = "done"
    csv_path = run_dir / "log.csv"
    if dist_info.main and history:
        _write_log(csv_path, history)
    emit("running", f"resuming at step {step}" if resume else "starting")
    net.train()
    try:
        while step < config.steps:
            stop = _stop_requested(cancel, config, t0, moved=step > start_step)
            if dist_info.active:
                stop = int(_all_reduce([float(stop)], dist_info, device, op="max")[0])
            if stop:
                state = "cancelled" if stop == 2 else "stopped"
                break

            step_loss = torch.zeros((), device=device)
            for micro in range(config.grad_accum):
                epoch, (x, y) = next(stream)
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                sync = contextlib.nullcontext()
                if dist_info.active and micro < config.grad_accum - 1:
                    sync = net.no_sync()
                with sync:
                    with torch.autocast(device_type=device_kind, dtype=torch.float16, enabled=amp):
                        pred = net(x)
                    loss = loss_fn(pred.float(), y.float()) / config.grad_accum
                    scaler.scale(loss).backward()
                step_loss += loss.detach()
            lr = optimizer.param_groups[0]["lr"]
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            window_loss += float(step_loss)
            window_steps += 1

            val_loss = None
            if step % config.val_every == 0 or step == config.steps:
                val_loss = validate()
                if best_val is None or val_loss < best_val - config.min_delta:
                    best_val, best_step, bad_evals = val_loss, step, 0
                    save(best_path, epoch)
                else:
                    bad_evals += 1

            if step % config.log_every == 0 or val_loss is not None or step == config.steps:
                now = time.perf_counter()
                train_loss = _all_reduce([window_loss / window_steps], dist_info, device)[0] / dist_info.world
                samples = window_steps * config.batch_size * config.grad_accum * dist_info.world
                row = {
                    "step": step,
                    "epoch": epoch,
                    "lr": lr,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "seconds": round(seconds_before + now - t0, 3),
                    "samples_per_s": samples / (now - window_t) if now > window_t else 0.0,
                }
                history.append(row)
                window_loss, window_steps, window_t = 0.0, 0, now
                if dist_info.main:
                    _write_log(csv_path, history)
                    if writer is not None:
                        writer.add_scalar("loss/train", train_loss, step)
                        writer.add_scalar("lr", lr, step)
                        if val_loss is not None:
                            writer.add_scalar("loss/val", val_loss, step)
                    if val_loss is not None:
                        _plot(run_dir / "loss.png", history)
                message = f"loss {train_loss:.4g}" + (f" val {val_loss:.4g}" if val_loss is not None else "")
                if dist_info.main:
                    log.info("%s step %d/%d lr %.3g %s", job, step, config.steps, lr, message)
                emit("running", message)

            if step % config.checkpoint_every == 0 and step < config.steps:
                save(last_path, epoch)
            if val_loss is not None and config.patience and bad_evals >= config.patience:
                state = "early_stopped"
                log.info("early stop at step %d: %d evaluations without improvement", step, bad_evals)
                break
    except BaseException:
        if writer is not None:
            writer.close()
        raise

    save(last_path, epoch)
    if dist_info.main and history:
        _write_log(csv_path, history)
        _plot(run_dir / "loss.png", history)
    if writer is not None:
        writer.close()
    if dist_info.active:
        import torch.distributed as dist

        dist.barrier()
    result = TrainResult(
        state=state,
        steps=step,
        best_val=best_val,
        best_step=best_step,
        run_dir=run_dir,
        best_checkpoint=best_path if best_val is not None else None,
        last_checkpoint=last_path,
        history=history,
        model=model,
    )
    best = f"best val {best_val:.4g} at step {best_step}" if best_val is not None else "no validation yet"
    if state == "cancelled":
        reason = cancel.reason if cancel is not None else "cancelled"
        emit("paused" if reason == "paused" else "cancelled", f"{reason} at step {step}; {best}")
        exc = Cancelled(reason, reason=reason)
        exc.result = result  # type: ignore[attr-defined]
        raise exc
    if state == "stopped":
        emit("paused", f"stopped after max_minutes at step {step}; {best}")
    else:
        emit("done", ("early stopped: " if state == "early_stopped" else "") + best)
    return result


def _stop_requested(cancel: CancelToken | None, config: TrainConfig, t0: float, *, moved: bool) -> int:
    """2 for a cancel, 1 for max_minutes reached (after at least one step of this session, so
    every session makes progress), 0 to go on."""
    if cancel is not None and cancel.cancelled:
        return 2
    if moved and config.max_minutes is not None and time.perf_counter() - t0 >= config.max_minutes * 60:
        return 1
    return 0


#: Options that may change between a run and its resume without changing what it computes.
_RESUME_FREE = {
    "output",
    "max_minutes",
    "log_every",
    "checkpoint_every",
    "workers",
    "threads",
    "device",
    "steps",
}


def _warn_config_changes(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    now = config.to_dict()
    changed = sorted(k for k in now if k not in _RESUME_FREE and k in saved and saved[k] != now[k])
    if changed:
        log.warning(
            "%s: resuming with changed %s: the result will differ from an uninterrupted run",
            path,
            ", ".join(f"{k} ({saved[k]!r} -> {now[k]!r})" for k in changed),
        )
