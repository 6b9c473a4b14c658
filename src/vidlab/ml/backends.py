"""ONNX Runtime backends as small frozen dataclasses (as vs-mlrt has them): each names itself
and gives the provider list, with options, that a session is opened with."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Any, ClassVar

from vidlab.core.errors import UsageError

log = logging.getLogger(__name__)

ProviderList = list[str | tuple[str, dict[str, Any]]]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "tensorrt")


@dataclasses.dataclass(frozen=True, slots=True)
class CPU:
    """ONNX Runtime's CPU provider; ``threads`` 0 lets ORT choose (one per core)."""

    threads: int = 0
    name: ClassVar[str] = "cpu"
    gpu: ClassVar[bool] = False

    def providers(self) -> ProviderList:
        return ["CPUExecutionProvider"]


@dataclasses.dataclass(frozen=True, slots=True)
class CUDA:
    """ORT's CUDA provider on GPU ``device_id`` (CPU stays in the list for unsupported nodes)."""

    device_id: int = 0
    fp16: bool = False
    name: ClassVar[str] = "cuda"
    gpu: ClassVar[bool] = True

    def providers(self) -> ProviderList:
        return [("CUDAExecutionProvider", {"device_id": self.device_id}), "CPUExecutionProvider"]


@dataclasses.dataclass(frozen=True, slots=True)
class TensorRT:
    """ORT's TensorRT provider, falling back to CUDA then CPU for what TensorRT cannot run."""

    device_id: int = 0
    fp16: bool = True
    workspace_gb: float = 2.0
    name: ClassVar[str] = "tensorrt"
    gpu: ClassVar[bool] = True

    def providers(self) -> ProviderList:
        trt = {
            "device_id": self.device_id,
            "trt_fp16_enable": self.fp16,
            "trt_max_workspace_size": int(self.workspace_gb * (1 << 30)),
        }
        return [
            ("TensorrtExecutionProvider", trt),
            ("CUDAExecutionProvider", {"device_id": self.device_id}),
            "CPUExecutionProvider",
        ]


Backend = CPU | CUDA | TensorRT

#: What ``auto`` means in this process and the workers it starts (set by the CLI's ``--device``).
DEVICE_ENV = "VIDLAB_DEVICE"


def available() -> list[str]:
    """The execution providers this ONNX Runtime build offers (``CPUExecutionProvider``, ...)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def provider_names(providers: ProviderList) -> list[str]:
    """The names in a provider list (dropping their options)."""
    return [p if isinstance(p, str) else p[0] for p in providers]


def select_backend(device: str = "auto", threads: int = 0) -> Any:
    """The backend for ``device``: ``auto`` (``$VIDLAB_DEVICE`` when set, else CUDA when ORT has
    its provider, else CPU), ``cpu``,
    ``cuda``, ``cuda:N`` or ``tensorrt``. A GPU asked for where ORT has no provider for it is
    a :class:`UsageError` rather than a silent CPU run."""
    text = (device or "auto").strip().lower()
    if text == "auto":  # the CLI's --device (and a user's environment) chooses for "auto"
        text = os.environ.get(DEVICE_ENV, "auto").strip().lower() or "auto"
    have = available()
    if text == "auto":
        return CUDA() if "CUDAExecutionProvider" in have else CPU(threads)
    if text == "cpu":
        return CPU(threads)
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if m:
        if "CUDAExecutionProvider" not in have:
            raise UsageError(
                f"device {device!r} needs ONNX Runtime's CUDA provider, and this onnxruntime has only "
                f"{', '.join(have)} (install onnxruntime-gpu, or use device 'cpu')",
                param="device",
            )
        return CUDA(int(m[1] or 0))
    if text == "tensorrt":
        if "TensorrtExecutionProvider" not in have:
            raise UsageError(
                f"device {device!r} needs ONNX Runtime's TensorRT provider, and this onnxruntime has only "
                f"{', '.join(have)} (use device 'cuda' or 'cpu')",
                param="device",
            )
        return TensorRT()
    raise UsageError(f"unknown device {device!r} (choices: {', '.join(DEVICES)})", param="device")
