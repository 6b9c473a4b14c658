"""Export a vidlab checkpoint to ONNX, check it against PyTorch on ONNX Runtime, and write its
model card beside it. Needs PyTorch (``vidlab[train]``)."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import ModelError, VidlabError
from vidlab.core.fsutil import remove_stale_temps, temp_path, write_atomic
from vidlab.ml.checkpoint import is_checkpoint, load_checkpoint
from vidlab.ml.registry import DEFAULT_INPUTS, ModelCard
from vidlab.ml.session import Session, TensorSpec, sha256_file
from vidlab.ml.torchdep import require_torch

log = logging.getLogger(__name__)

#: The largest difference between ONNX Runtime and PyTorch an export may show.
TOLERANCE = 1e-4
_AXES = {0: "batch", 2: "height", 3: "width"}


def onnx_bytes(
    net: Any,
    example: Any,
    names: tuple[str, str] = ("input", "output"),
    *,
    opset: int = 17,
    what: str = "ONNX export",
    source: str | os.PathLike[str] | None = None,
) -> bytes:
    """``net`` traced on ``example`` (one NCHW tensor) as ONNX, one named input and output with
    dynamic batch, height and width. A failure (an unsupported opset or operator) is one
    :class:`ModelError` line naming ``source``, with ``what`` leading it."""
    torch, _ = require_torch()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                net,
                (example,),
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=[names[0]],
                output_names=[names[1]],
                dynamic_axes={names[0]: _AXES, names[1]: _AXES},
            )
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise ModelError(f"{what} failed: {type(exc).__name__}: {text}", source) from None
    return buf.getvalue()


def write_checked(
    data: bytes,
    dest: Path,
    net: Any,
    inputs: list[np.ndarray],
    *,
    tolerance: float,
    source: str | os.PathLike[str] | None,
    what: str = "",
    relative: bool = False,
    threads: int = 0,
) -> tuple[float, Session]:
    """Write the ONNX ``data`` to ``dest`` only if ONNX Runtime matches ``net`` on every one of
    ``inputs`` within ``tolerance`` (``relative``: as a share of the largest output value).
    It is checked under a temporary name beside ``dest`` and renamed into place; on a mismatch
    nothing is left. The largest difference, and the session (on the temporary file) it ran in."""
    torch, _ = require_torch()
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dest.parent, f".{dest.name}")
    tmp = temp_path(dest.parent, f".{dest.name}")
    diff = 0.0
    try:
        tmp.write_bytes(data)
        session = Session.open(tmp, "cpu", threads=threads)
        for x in inputs:
            with torch.no_grad():
                want = net(torch.from_numpy(x)).numpy()
            got = session.run(x)
            if got.shape != want.shape:
                raise ModelError(
                    f"ONNX output shape {got.shape} differs from PyTorch's {want.shape} on input {x.shape}",
                    source,
                )
            d = float(np.max(np.abs(got - want)))
            diff = max(diff, d / max(1.0, float(np.max(np.abs(want)))) if relative else d)
        if not diff <= tolerance:
            raise ModelError(
                f"{what}ONNX Runtime differs from PyTorch by {diff:.3g} (more than {tolerance:g})", source
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return diff, session


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how closely ONNX Runtime reproduces PyTorch."""

    output: Path
    arch: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    max_abs_diff: float
    shapes_checked: list[tuple[int, ...]]
    card: Path | None = None


def _check_shapes(multiple: int, channels: int = 3) -> list[tuple[int, int, int, int]]:
    """Two batch sizes and two sizes, non-square, all multiples of the model's ``multiple``."""
    m = max(1, multiple)
    a = max(2, -(-32 // m)) * m
    b = max(3, -(-48 // m)) * m
    return [(1, channels, a, b), (2, channels, b + m, a)]


def export_onnx(
    checkpoint: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    opset: int = 17,
    check: bool = True,
    seed: int = 0,
) -> ExportReport:
    """Build the checkpoint's network, export it to ``output`` (dynamic batch, height and
    width), and, with ``check``, compare ONNX Runtime with PyTorch on random inputs of two
    shapes: a difference above :data:`TOLERANCE` is a :class:`ModelError` and nothing is left.
    A card (``output`` with ``.json``) is written beside the model."""
    torch, _ = require_torch()
    from vidlab.ml.models import build_model

    checkpoint = Path(checkpoint)
    output = Path(output)
    ckpt = load_checkpoint(checkpoint)
    if not is_checkpoint(ckpt):
        raise ModelError(
            "not a vidlab checkpoint (export needs its arch and arch_config; a bare state dict has none)",
            checkpoint,
        )
    arch = ckpt.get("arch")
    arch_config = ckpt.get("arch_config") or {}
    if not isinstance(arch, str) or not isinstance(arch_config, dict):
        raise ModelError("checkpoint's arch must be a string and arch_config a dict", checkpoint)
    model = build_model(arch, **arch_config)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise ModelError(
            f"checkpoint's weights do not fit {arch} {arch_config}: {first}", checkpoint
        ) from None
    model.eval()
    multiple = int(getattr(model, "multiple", 16) or 16)
    channels = int(getattr(model, "in_channels", 3))
    shapes = _check_shapes(multiple, channels)

    data = onnx_bytes(
        model, torch.zeros(shapes[0]), opset=opset, what=f"ONNX export (opset {opset})", source=checkpoint
    )
    value_range = str(getattr(model, "value_range", DEFAULT_INPUTS["range"]))
    top = 255.0 if value_range == "0..255" else 1.0  # style networks work in 0..255
    rng = np.random.default_rng(seed)
    inputs = [rng.random(shape, dtype=np.float32) * np.float32(top) for shape in shapes] if check else []
    max_diff, session = write_checked(
        data, output, model, inputs, tolerance=TOLERANCE, source=output, relative=top > 1
    )
    checked = [tuple(x.shape) for x in inputs]

    config = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    inputs = {**DEFAULT_INPUTS, "channels": channels, "multiple": max(multiple, 1), "range": value_range}
    training = {
        "command": config.get("command", ""),
        "data": config.get("data", ""),
        "config": _jsonable(config),
        "arch": arch,
        "arch_config": _jsonable(arch_config),
        "step": ckpt.get("step"),
        "epoch": ckpt.get("epoch"),
        "checkpoint": checkpoint.name,
    }
    card = ModelCard(
        name=output.stem,
        task=str(config.get("task") or "unknown"),
        file=output.name,
        sha256=sha256_file(output),
        inputs=inputs,
        license=str(config.get("license", "unknown")),
        training=training,
        metrics=_jsonable(ckpt.get("metrics") or {}),
        description=str(config.get("description", "")),
    )
    card_path = output.with_suffix(".json")
    write_atomic(card_path, card.to_json().encode())
    log.info("exported %s to %s (max difference %.3g)", checkpoint, output, max_diff)
    return ExportReport(output, arch, session.inputs, session.outputs, max_diff, checked, card_path)


@dataclasses.dataclass(frozen=True)
class QuantizeReport:
    """What :func:`quantize_int8` wrote and how far it is from the float model."""

    output: Path
    max_code_diff: float
    mean_code_diff: float
    samples: int


def quantize_int8(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    samples: list[np.ndarray],
    *,
    exclude_last: bool = True,
    card: ModelCard | None = None,
) -> QuantizeReport:
    """Quantize a float image model to int8 (ONNX Runtime's static QDQ quantization: per-channel
    int8 weights, uint8 activations with scales calibrated on ``samples``, NCHW float arrays in
    the model's input range). The residual's closing ``Add`` and the model's output stay float
    (``exclude_last``), so the int8 rounding lands on the small correction, not on the picture.
    CPUs with VNNI run the result about 2.4x faster. ``card`` (by default the one beside
    ``model``) is checked to take such frames, then copied beside ``output`` with the new sha256
    and the measured difference (in 8-bit code values, on the samples)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dest = Path(model), Path(output)
    if not samples:
        raise ModelError("int8 quantization needs calibration frames", src)
    card_src = src.with_suffix(".json")
    if card is None and card_src.is_file():
        card = ModelCard.from_json(card_src)
    if card is not None:  # the frames this takes are N x 3 x H x W RGB in 0..1
        spec = card.inputs or {}
        layout = (card.format, spec.get("layout", "NCHW"), spec.get("channels", 3), spec.get("range", "0..1"))
        if layout != ("onnx", "NCHW", 3, "0..1"):
            raise ModelError(
                "quantize takes ONNX image models with RGB input in 0..1 (N x 3 x H x W); this one is "
                f"{layout[0]}, {layout[1]}, {layout[2]} channels in {layout[3]}",
                src,
            )
    try:
        graph = onnx.load(str(src)).graph
    except Exception as exc:
        raise ModelError(f"not a readable ONNX model ({type(exc).__name__})", src) from None
    name = graph.input[0].name
    excluded = []
    if exclude_last:
        producers = {o: n for n in graph.node for o in n.output}
        last = producers.get(graph.output[0].name)
        excluded = [last.name] if last is not None and last.name else []

    class _Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {name: x}

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest.parent, f".{dest.name}")
    pre = temp_path(dest.parent, f".{dest.name}.pre")
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # the quantizer's advice goes to the root logger as warnings
        try:
            # shape inference and graph clean-up first (folds the exporter's constant biases)
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(tmp),
                _Frames(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=excluded,
            )
            root.setLevel(level)
            float_s, int8_s = Session.open(src, "cpu"), Session.open(tmp, "cpu")
            diffs = [np.abs(int8_s.run(x) - float_s.run(x)) * 255 for x in samples]
        except VidlabError:
            raise
        except Exception as exc:  # ONNX Runtime's quantizer and sessions raise their own types
            text = " ".join(str(exc).split())[:200]
            raise ModelError(f"int8 quantization failed: {type(exc).__name__}: {text}", src) from None
        os.replace(tmp, dest)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
        pre.unlink(missing_ok=True)
    worst = float(max(d.max() for d in diffs))
    mean = float(np.mean([d.mean() for d in diffs]))
    int8 = {"from": src.name, "max_code_diff": worst, "mean_code_diff": mean}
    if card is not None:
        card = dataclasses.replace(
            card,
            name=dest.stem,
            file=dest.name,
            sha256=sha256_file(dest),
            training=card.training | {"int8": int8},
        )
        write_atomic(dest.with_suffix(".json"), card.to_json().encode())
    log.info("quantized %s to %s (int8; vs float: max %.2f, mean %.3f code values)", src, dest, worst, mean)
    return QuantizeReport(dest, worst, mean, len(samples))


def calibration_frames(video: str | os.PathLike[str], count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over ``video`` as 1x3xHxW float32 arrays in 0..1 (what
    :func:`quantize_int8` calibrates on)."""
    from vidlab.io.probe import probe
    from vidlab.io.reader import VideoReader

    info = probe(video)
    total = max(1, info.frame_count or count)
    wanted = {round(i * (total - 1) / max(1, count - 1)) for i in range(count)}
    samples = []
    for frame in VideoReader(video, info=info):
        if frame.index in wanted:
            samples.append(np.ascontiguousarray(frame.image.transpose(2, 0, 1)[None], np.float32) / 255)
        if frame.index >= max(wanted):
            break
    return samples


def _jsonable(value: Any) -> Any:
    """``value`` with anything JSON cannot hold (tensors, paths) turned into text or numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "numel", lambda: 2)() == 1:
        return item()
    return str(value)
