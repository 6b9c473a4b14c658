"""`vidlab hardware`: the machine's facts, never a traceback; absent GPUs and NVENC say why."""

from __future__ import annotations

import json

from conftest import run_cli
from vidlab.lab.hardware import hardware_info, probe_nvenc, recommend


def test_hardware_json_has_the_facts() -> None:
    r = run_cli("hardware", "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    data = json.loads(r.stdout)
    for key in ("cpu", "memory", "os", "gpus", "gpu_reason", "nvenc", "nvenc_reason", "onnx_providers",
                "torch_cuda", "recommendation"):  # fmt: skip
        assert key in data
    assert data["cpu"]["cores"] >= 1
    assert "CPUExecutionProvider" in data["onnx_providers"]
    assert data["recommendation"]["codec"] and data["recommendation"]["why"]
    if not data["gpus"]:  # this machine: no GPU, and the reason is one line
        assert data["gpu_reason"] and "\n" not in data["gpu_reason"]
    if not data["nvenc_available"]:
        assert set(data["nvenc"].values()) == {False}
        assert data["nvenc_reason"] and "\n" not in data["nvenc_reason"]
        assert data["recommendation"]["codec"] == "libx264"


def test_hardware_table_prints() -> None:
    r = run_cli("hardware")
    assert r.returncode == 0, r.stderr
    assert "recommended codec" in r.stdout and "Traceback" not in r.stderr


def test_an_encoder_that_cannot_open_is_false_with_a_reason() -> None:
    ok, why = probe_nvenc("no_such_encoder")
    assert ok is False and why and "no_such_encoder" in why
    assert probe_nvenc("libx264") == (True, None)  # the probe itself works


def test_the_recommendation_follows_nvenc() -> None:
    assert recommend({"h264_nvenc": True, "hevc_nvenc": True})["codec"] == "hevc_nvenc"
    assert recommend({"h264_nvenc": True, "hevc_nvenc": False})["codec"] == "h264_nvenc"
    assert recommend({"h264_nvenc": False, "hevc_nvenc": False})["codec"] == "libx264"
    info = hardware_info(nvenc=False)
    assert info.nvenc_reason == "not probed" and isinstance(info.to_dict()["gpus"], list)
