"""The staged layers pipeline on small generated clips with exact ground truth (320x180)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import psnr, run_cli
from vidlab.core.errors import ModelError, RecipeError, UsageError
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.matte_clips import matte_clip, write_mattes
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.reader import VideoReader
from vidlab.io.writer import VideoWriter
from vidlab.layers import LayersConfig, run_layers

W, H = 320, 180
MATTES = ["segment", "refine", "temporal"]


@pytest.fixture(scope="module")
def static_clip(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("static")
    clip = matte_clip(
        d / "s.mp4", width=W, height=H, frames=32, kind="shape", camera="static", alpha_dir=d / "truth"
    )
    return clip, d / "truth"


@pytest.fixture(scope="module")
def static_run(static_clip, tmp_path_factory: pytest.TempPathFactory):
    clip, truth = static_clip
    out = tmp_path_factory.mktemp("static_out") / "L"
    result = run_layers(clip.path, out, truth=truth)
    return clip, out, result


def _write(path: Path, images: list[np.ndarray], fps: int = 30) -> Path:
    h, w = images[0].shape[:2]
    info = VideoInfo.constant_rate(path, w, h, Fraction(fps), len(images), codec="libx264")
    with VideoWriter(path, info, EncodeSettings(codec="libx264", crf=18, pix_fmt="yuv420p")) as wr:
        for i, img in enumerate(images):
            wr.write(Frame(img, Fraction(i, fps), i))
    return path


def test_background_segment_refine_within_bounds(static_run):
    _, _, result = static_run
    stages = result.report["stages"]
    assert all(stages[s]["status"] == "ran" for s in stages)
    refine = stages["refine"]["quality"]["truth"]
    # measured at 320x180, 32 frames: MAD 18.5, Grad 1.75 (segment alone: MAD 15.7, Grad 3.9)
    assert refine["mad"] <= 27.7
    assert refine["grad"] <= 2.6
    assert refine["grad"] < stages["segment"]["quality"]["truth"]["grad"]


def test_temporal_lowers_dtssd(static_run):
    _, _, result = static_run
    q = result.report["stages"]["temporal"]["quality"]
    # measured: refine dtSSD 9.33 -> temporal 9.09 (MAD 18.47 -> 18.53)
    assert q["truth"]["dtssd"] < q["upstream_truth"]["dtssd"]
    assert q["temporal_change"] < q["upstream_temporal_change"]


def test_clean_plate_psnr(static_run):
    clip, out, _ = static_run
    plates = [f.image for f in VideoReader(out / "inpaint" / "clean_plate.mp4")]
    assert len(plates) == len(clip.alphas)
    seen = (clip.alphas < 13).any(axis=0)
    for i in (0, len(plates) // 2, len(plates) - 1):
        p = psnr(plates[i][seen].astype(np.float64), clip.backgrounds[i][seen].astype(np.float64))
        assert p >= 30.0  # measured 33.7 dB (the PNG plate: 35.0 dB)


def test_outputs_written(static_run):
    _, out, result = static_run
    n = 32
    assert len(list((out / "segment" / "masks").glob("*.png"))) == n
    for s in ("refine", "temporal"):
        assert len(list((out / s / "alphas").glob("*.png"))) == n
        assert len(list((out / s / "rgba").glob("*.png"))) == n
    assert probe(out / "temporal" / "layer.mkv").has_alpha
    assert (out / "contact_sheet.png").stat().st_size > 0
    assert (out / "preview.mp4").is_file()
    shots = json.loads((out / "annotate" / "shots.json").read_text())
    assert len(shots["shots"]) == 1 and len(shots["shots"][0]["palette"]) == 5
    assert (out / "annotate" / "shots.csv").read_text().startswith("shot,")
    assert not (out / ".work").exists()
    assert result.report_path.is_file()


def test_chromakey_backend(tmp_path: Path):
    from vidlab.io import samples

    _, truth = samples.greenscreen(tmp_path / "g.mp4", frames=24, size=(W, H))
    write_mattes(tmp_path / "truth", [truth(i) for i in range(24)])
    cfg = LayersConfig.from_dict({"segment": {"backend": "chromakey"}})
    r = run_layers(tmp_path / "g.mp4", tmp_path / "L", cfg, stages=MATTES, truth=tmp_path / "truth")
    q = r.report["stages"]["refine"]["quality"]["truth"]
    # measured: MAD 12.6, Grad 1.04
    assert q["mad"] <= 18.9
    assert q["grad"] <= 1.57
    t = r.report["stages"]["temporal"]["quality"]
    assert t["truth"]["dtssd"] < t["upstream_truth"]["dtssd"]  # measured 3.77 -> 3.64


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_rerun_one_stage_and_config_change(static_clip, tmp_path: Path):
    clip, _ = static_clip
    out = tmp_path / "L"
    run_layers(clip.path, out, stages=["segment", "refine", "temporal", "inpaint"])
    before = {s: _mtimes(out / s) for s in ("segment", "refine", "temporal", "inpaint")}
    r = run_layers(clip.path, out, stages=["refine"], force=True)
    assert r.status == {"refine": "ran"}
    for s in ("segment", "temporal", "inpaint"):
        assert _mtimes(out / s) == before[s]
    assert _mtimes(out / "refine") != before["refine"]
    # same config again: everything reused
    r = run_layers(clip.path, out, stages=["segment", "refine", "temporal", "inpaint"])
    assert set(r.status.values()) == {"reused"}
    # a changed temporal config redoes temporal and its downstream (inpaint) only
    seg, ref = _mtimes(out / "segment"), _mtimes(out / "refine")
    cfg = LayersConfig.from_dict({"temporal": {"params": {"strength": 0.3}}})
    r = run_layers(clip.path, out, cfg, stages=["segment", "refine", "temporal", "inpaint"])
    assert r.status == {"segment": "reused", "refine": "reused", "temporal": "ran", "inpaint": "ran"}
    assert _mtimes(out / "segment") == seg and _mtimes(out / "refine") == ref
    # a changed refine config makes temporal's input stale: running temporal alone refuses
    cfg2 = LayersConfig.from_dict(
        {"refine": {"params": {"radius": 3}}, "temporal": {"params": {"strength": 0.3}}}
    )
    with pytest.raises(UsageError, match="needs the refine stage"):
        run_layers(clip.path, out, cfg2, stages=["temporal"])


def test_config_validation(tmp_path: Path):
    with pytest.raises(RecipeError, match="unknown parameter 'radiu'"):
        LayersConfig.from_dict({"refine": {"params": {"radiu": 3}}})
    with pytest.raises(RecipeError, match="unknown key 'foo'"):
        LayersConfig.from_dict({"segment": {"foo": 1}})
    with pytest.raises(RecipeError, match="backend="):
        LayersConfig.from_dict({"segment": {"backend": "magic"}})
    with pytest.raises(RecipeError, match="unknown stage"):
        LayersConfig.from_dict({"colour": {}})
    y = tmp_path / "c.yaml"
    y.write_text(
        "segment:\n  backend: background\n  params: {method: mog2}\ninpaint:\n  params: {window: 0}\n"
    )
    assert LayersConfig.load(y).segment.params == {"method": "mog2"}


def test_one_frame_video(static_clip, tmp_path: Path):
    clip, _ = static_clip
    src = _write(tmp_path / "one.mp4", [clip.backgrounds[0]])
    r = run_layers(src, tmp_path / "L")
    assert r.report["stages"]["temporal"]["frames"] == 1
    assert len(list((tmp_path / "L" / "temporal" / "alphas").glob("*.png"))) == 1
    assert r.report["stages"]["annotate"]["quality"]["shots"] == 1


def test_video_without_subject(static_clip, tmp_path: Path):
    clip, _ = static_clip
    rng = np.random.default_rng(0)
    frames = [
        np.clip(
            clip.backgrounds[i].astype(np.float32) + rng.normal(0, 1.5, clip.backgrounds[i].shape), 0, 255
        ).astype(np.uint8)
        for i in range(24)
    ]
    src = _write(tmp_path / "empty.mp4", frames)
    run_layers(src, tmp_path / "L", stages=["segment", "refine"])
    alphas = [a for a in (tmp_path / "L" / "refine" / "alphas").glob("*.png")]
    from vidlab.io.matte_clips import read_matte_png

    mean = float(np.mean([read_matte_png(a).mean() for a in alphas]))
    assert mean < 3.0  # an empty matte (0..255), not noise


def _one_line_error(proc, out: Path, stage: str = "segment") -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / stage).exists()
    return lines[0]


def test_missing_mediapipe_model(static_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    clip, _ = static_clip
    monkeypatch.setenv("VIDLAB_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"segment": {"backend": "mediapipe"}}))
    out = tmp_path / "L"
    proc = run_cli("layers", clip.path, "-o", out, "--config", cfg, "--stages", "segment", "-q")
    line = _one_line_error(proc, out)
    assert proc.returncode == ModelError.exit_code
    assert "vidlab models install mediapipe" in line


def _tiny_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("matte", TensorProto.FLOAT, [1, 1, "h", "w"])
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["m"], ["matte"]),
    ]
    graph = helper.make_graph(nodes, "tiny_matte", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_user_onnx_and_corrupt_onnx(static_clip, tmp_path: Path):
    clip, _ = static_clip
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    cfg = LayersConfig.from_dict(
        {"segment": {"backend": "onnx", "params": {"model": str(model), "size": 64}}}
    )
    r = run_layers(clip.path, tmp_path / "L", cfg, stages=["segment"])
    assert r.report["stages"]["segment"]["frames"] == 32
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all" * 10)
    c = tmp_path / "c.yaml"
    c.write_text(f"segment:\n  backend: onnx\n  params: {{model: {bad}}}\n")
    out = tmp_path / "L2"
    proc = run_cli("layers", clip.path, "-o", out, "--config", c, "--stages", "segment", "-q")
    line = _one_line_error(proc, out)
    assert "bad.onnx" in line


def test_cli_end_to_end_and_bad_config(static_clip, tmp_path: Path):
    clip, truth = static_clip
    out = tmp_path / "L"
    proc = run_cli("layers", clip.path, "-o", out, "--truth", truth, "--layer-format", "webm")
    assert proc.returncode == 0, proc.stderr
    assert probe(out / "layer.webm").has_alpha
    report = json.loads((out / "report.json").read_text())
    assert set(report["stages"]) == {"segment", "refine", "temporal", "inpaint", "annotate"}
    assert probe(out / report["layer_video"]).has_alpha
    assert (out / "contact_sheet.png").is_file()
    proc = run_cli("layers", clip.path, "-o", out, "-q")
    assert proc.returncode == 0 and "reused" not in proc.stdout  # quiet
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"refine": {"params": {"mode": "magic"}}}))
    proc = run_cli("layers", clip.path, "-o", tmp_path / "L3", "--config", bad)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "mode" in proc.stderr


def test_cancelled_stage_leaves_nothing(static_clip, tmp_path: Path):
    from contextlib import contextmanager

    from vidlab.core.events import Cancelled, CancelToken

    clip, _ = static_clip
    out = tmp_path / "L"
    run_layers(clip.path, out, stages=["segment"])
    token = CancelToken()

    @contextmanager
    def events(name: str):
        def cb(event) -> None:
            if name == "refine" and event.frames_done >= 3:
                token.cancel()

        yield cb

    with pytest.raises(Cancelled):
        run_layers(clip.path, out, stages=["refine"], events=events, cancel=token)
    assert not (out / "refine").exists() and not (out / ".work").exists()
    assert (out / "segment" / "stage.json").is_file()


def test_mediapipe_backend_when_installed(tmp_path: Path):
    import cv2
    import skimage.data

    from vidlab.core.errors import VidlabError
    from vidlab.ml.mediapipe import PersonSegmenter

    try:
        PersonSegmenter()
    except VidlabError as exc:
        pytest.skip(f"MediaPipe person segmentation not installed: {exc.message}")
    img = cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    src = _write(tmp_path / "astro.mp4", [img, img, img])
    cfg = LayersConfig.from_dict({"segment": {"backend": "mediapipe"}})
    run_layers(src, tmp_path / "L", cfg, stages=["segment", "refine", "annotate"])
    from vidlab.io.matte_clips import read_matte_png

    shots = json.loads((tmp_path / "L" / "annotate" / "shots.json").read_text())
    assert shots["faces_note"] is None and shots["shots"][0]["faces_max"] == 1

    a = read_matte_png(tmp_path / "L" / "refine" / "alphas" / "00001.png")
    assert 0.3 < a.mean() / 255 < 0.8  # the astronaut fills about half the picture


def test_chunked_stage_resumes_after_cancel(static_run, tmp_path: Path):
    from contextlib import contextmanager

    from vidlab.core.events import Cancelled, CancelToken
    from vidlab.io.matte_clips import MatteSource
    from vidlab.pipeline.job import JobOptions

    clip, one_stream, _ = static_run
    out = tmp_path / "L"
    run_layers(clip.path, out, stages=["segment"])
    token = CancelToken()

    @contextmanager
    def events(name: str):
        def cb(event) -> None:
            if event.frames_done >= 12:
                token.cancel()

        yield cb

    opts = JobOptions(chunk_seconds=0.3, workers=1)
    with pytest.raises(Cancelled):
        run_layers(clip.path, out, stages=["refine"], events=events, cancel=token, resume=True, options=opts)
    manifest = out / ".work" / "refine" / ".layer.mkv.vidlab-job" / "manifest.json"
    assert json.loads(manifest.read_text())["status"] == "cancelled"
    assert not (out / "refine").exists()
    r = run_layers(clip.path, out, stages=["refine"], resume=True, options=opts)
    assert r.status == {"refine": "ran"}
    got = [a for _, a in MatteSource(out / "refine" / "alphas")]
    want = [a for _, a in MatteSource(one_stream / "refine" / "alphas")]
    assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_disabled_stage_is_bypassed(static_clip, tmp_path: Path):
    clip, _ = static_clip
    cfg = LayersConfig.from_dict({"refine": {"enabled": False}, "annotate": {"enabled": False}})
    r = run_layers(clip.path, tmp_path / "L", cfg, stages=None)
    assert list(r.status) == ["segment", "temporal", "inpaint"]
    assert r.report["stages"]["temporal"]["quality"]["upstream"] == "segment"
    with pytest.raises(UsageError, match="disabled"):
        run_layers(clip.path, tmp_path / "L", cfg, stages=["refine"])
