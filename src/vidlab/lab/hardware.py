"""What this machine offers for video work: CPU, memory and OS; GPUs through NVML
(``nvidia-ml-py``) when a driver is present; whether NVENC really works (found by opening an
NVENC encoder and encoding one frame, not by the codec list, which names NVENC in every FFmpeg
build); ONNX Runtime's providers; torch's CUDA; and the codec to use, with a one-line why.

Every probe catches its own failure and says why in one line, so :func:`hardware_info` never
raises on a machine without a GPU, a driver or an optional package."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
from fractions import Fraction
from typing import Any


@dataclasses.dataclass
class GPU:
    index: int
    name: str
    driver: str | None = None
    cuda: str | None = None
    vram_total_mb: float | None = None
    vram_used_mb: float | None = None
    temperature_c: float | None = None
    utilization_pct: float | None = None


@dataclasses.dataclass
class HardwareInfo:
    """The facts :func:`hardware_info` found; ``*_reason`` says why something is absent."""

    cpu: dict[str, Any]
    memory: dict[str, Any]
    os: str
    gpus: list[GPU]
    gpu_reason: str | None
    nvenc: dict[str, bool]
    nvenc_reason: str | None
    onnx_providers: list[str]
    torch_cuda: bool | None
    torch_reason: str | None
    recommendation: dict[str, str]

    @property
    def nvenc_available(self) -> bool:
        return any(self.nvenc.values())

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["nvenc_available"] = self.nvenc_available
        return data


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _cpu() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model or platform.machine(), "cores": os.cpu_count(), "usable_cores": usable,
            "arch": platform.machine()}  # fmt: skip


def _memory() -> dict[str, Any]:
    total = available = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            fields = {k: v for k, _, v in (line.partition(":") for line in fh)}
        total = int(fields["MemTotal"].split()[0]) / 1024 / 1024
        available = int(fields["MemAvailable"].split()[0]) / 1024 / 1024
    except (OSError, KeyError, ValueError, IndexError):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"total_gb": None if total is None else round(total, 1),
            "available_gb": None if available is None else round(available, 1)}  # fmt: skip


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gpus() -> tuple[list[GPU], str | None]:
    try:
        import pynvml
    except ImportError:
        return [], "nvidia-ml-py (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return [], f"no NVIDIA driver (NVML: {_line(exc)})"
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            v = int(pynvml.nvmlSystemGetCudaDriverVersion())
            cuda: str | None = f"{v // 1000}.{v % 1000 // 10}"
        except Exception:
            cuda = None
        gpus = []
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpu = GPU(i, _text(pynvml.nvmlDeviceGetName(h)), driver, cuda)
            try:
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                gpu.vram_total_mb, gpu.vram_used_mb = mem.total / 2**20, mem.used / 2**20
            except Exception:
                pass
            with contextlib.suppress(Exception):
                gpu.temperature_c = float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
            with contextlib.suppress(Exception):
                gpu.utilization_pct = float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
            gpus.append(gpu)
        return gpus, None if gpus else "NVML reports no GPU"
    except Exception as exc:
        return [], f"NVML failed: {_line(exc)}"
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


NVENC_CODECS = ("h264_nvenc", "hevc_nvenc")


def probe_nvenc(codec: str) -> tuple[bool, str | None]:
    """Open ``codec`` and encode one tiny frame: (works, why not)."""
    try:
        import av
        import numpy as np

        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height = 256, 144
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.open()
        frame = av.VideoFrame.from_ndarray(np.zeros((144, 256, 3), np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
        return True, None
    except Exception as exc:
        return False, f"{codec}: {_line(exc)}"


def _nvenc() -> tuple[dict[str, bool], str | None]:
    found: dict[str, bool] = {}
    reasons = []
    for codec in NVENC_CODECS:
        ok, why = probe_nvenc(codec)
        found[codec] = ok
        if why:
            reasons.append(why)
    return found, None if all(found.values()) else "; ".join(reasons)


def _onnx() -> list[str]:
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception:
        return []


def _torch() -> tuple[bool | None, str | None]:
    try:
        import torch
    except Exception:
        return None, "torch is not installed"
    try:
        ok = bool(torch.cuda.is_available())
        return ok, None if ok else f"torch {torch.__version__} sees no CUDA device"
    except Exception as exc:
        return False, _line(exc)


def recommend(nvenc: dict[str, bool]) -> dict[str, str]:
    """The codec to use here and why: NVENC for speed when it works, else x264 (plays
    everywhere); ``size`` names the encoder for the smallest files (SVT-AV1 when present)."""
    size = _size_codec()
    if nvenc.get("hevc_nvenc"):
        why = "NVENC works: HEVC on the GPU is fast and smaller than H.264 (h264_nvenc plays wider)"
        return {"codec": "hevc_nvenc", "why": why, "size": size}
    if nvenc.get("h264_nvenc"):
        why = "NVENC works: H.264 on the GPU is fast and plays everywhere"
        return {"codec": "h264_nvenc", "why": why, "size": size}
    why = f"no working NVENC: libx264 on the CPU plays everywhere; {size} when file size matters more"
    return {"codec": "libx264", "why": why, "size": size}


def _size_codec() -> str:
    try:
        import av

        names = av.codecs_available
    except Exception:
        return "libx265"
    return next((c for c in ("libsvtav1", "libaom-av1", "libx265") if c in names), "libx264")


def hardware_info(*, nvenc: bool = True) -> HardwareInfo:
    """Probe this machine (``nvenc=False`` skips the encoder probe)."""
    gpus, gpu_reason = _gpus()
    if nvenc:
        found, nvenc_reason = _nvenc()
    else:
        found, nvenc_reason = dict.fromkeys(NVENC_CODECS, False), "not probed"
    torch_cuda, torch_reason = _torch()
    return HardwareInfo(
        cpu=_cpu(),
        memory=_memory(),
        os=f"{platform.system()} {platform.release()} ({platform.platform()})",
        gpus=gpus,
        gpu_reason=gpu_reason,
        nvenc=found,
        nvenc_reason=nvenc_reason,
        onnx_providers=_onnx(),
        torch_cuda=torch_cuda,
        torch_reason=torch_reason,
        recommendation=recommend(found),
    )
