"""``vidlab hardware``: the machine's facts for video work (CPU, memory, OS, GPUs through NVML,
whether NVENC really encodes, ONNX Runtime providers, torch CUDA) and a codec recommendation."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vidlab.cli.common import app, out, table


@app.command("hardware")
def hardware_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show CPU, memory, GPUs (NVML), NVENC (by encoding a frame), ONNX/torch devices and the
    codec to use here."""
    from vidlab.lab.hardware import hardware_info

    info = hardware_info()
    if as_json:
        print(json.dumps(info.to_dict(), indent=2))
        return
    from rich.text import Text

    t = table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()

    def row(key: str, value: str) -> None:
        t.add_row(key, Text(value))  # Text: a reason such as "[Errno 1] ..." is not markup

    cpu, mem = info.cpu, info.memory
    row("CPU", f"{cpu['model']} ({cpu['cores']} cores, {cpu['usable_cores']} usable)")
    row("memory", f"{mem['total_gb']} GB ({mem['available_gb']} GB available)")
    row("OS", info.os)
    if info.gpus:
        for g in info.gpus:
            vram = (
                f"{g.vram_used_mb / 1024:.1f}/{g.vram_total_mb / 1024:.1f} GB"
                if g.vram_total_mb is not None and g.vram_used_mb is not None
                else "?"
            )
            temp = "?" if g.temperature_c is None else f"{g.temperature_c:.0f} °C"
            util = "?" if g.utilization_pct is None else f"{g.utilization_pct:.0f}%"
            row(
                f"GPU {g.index}",
                f"{g.name}, driver {g.driver}, CUDA {g.cuda}, VRAM {vram}, {temp}, {util} busy",
            )
    else:
        row("GPU", f"none ({info.gpu_reason})")
    nvenc = ", ".join(c for c, ok in info.nvenc.items() if ok)
    row("NVENC", nvenc if nvenc else f"no ({info.nvenc_reason})")
    row("ONNX Runtime", ", ".join(info.onnx_providers) or "not available")
    torch = {True: "CUDA available", False: f"no CUDA ({info.torch_reason})", None: info.torch_reason}
    row("torch", str(torch[info.torch_cuda]))
    rec = info.recommendation
    row("recommended codec", f"{rec['codec']}: {rec['why']}")
    out.print(t, highlight=False, markup=False)
