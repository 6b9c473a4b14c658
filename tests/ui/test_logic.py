"""The UI's logic without Streamlit: uploads, confinement, settings, params, queue actions,
training run folders."""

# ruff: noqa: F811  (pytest fixtures imported from uikit are parameters here)
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from uikit import clip_bytes, queued, store, ws_root  # noqa: F401 (fixtures)

from vidlab.core.errors import UsageError
from vidlab.jobs.workspace import Workspace
from vidlab.ui import logic


@pytest.fixture
def ws(ws_root: Path) -> Workspace:
    return Workspace(ws_root)


# -- uploads --------------------------------------------------------------------------------------


def test_a_real_video_upload_is_saved_under_uploads(ws: Workspace, clip_bytes: bytes) -> None:
    path = logic.save_upload(ws, "../../My Clip!.MP4", clip_bytes, limit_bytes=1 << 30)
    assert path.parent == ws.root / logic.UPLOAD_DIR
    assert path.name == "My_Clip.mp4"
    assert path.read_bytes() == clip_bytes
    again = logic.save_upload(ws, "My Clip!.mp4", io.BytesIO(clip_bytes), limit_bytes=1 << 30)
    assert again.name == "My_Clip-1.mp4"
    assert "uploads/My_Clip.mp4" in logic.list_media(ws)


def test_an_image_upload_is_accepted(ws: Workspace) -> None:
    from vidlab.io.images import write_png

    tmp = ws.root / "x.png"
    write_png(tmp, np.zeros((8, 8, 3), np.uint8))
    assert logic.save_upload(ws, "pic.png", tmp.read_bytes(), limit_bytes=1 << 20).is_file()


def test_text_renamed_mp4_is_refused_and_nothing_is_left(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="not a readable video"):
        logic.save_upload(ws, "fake.mp4", b"hello, this is not a video\n" * 50, limit_bytes=1 << 20)
    assert list((ws.root / logic.UPLOAD_DIR).iterdir()) == []


def test_oversize_uploads_are_refused(ws: Workspace, clip_bytes: bytes) -> None:
    with pytest.raises(UsageError, match="over the limit"):
        logic.save_upload(ws, "big.mp4", clip_bytes, limit_bytes=100)
    with pytest.raises(UsageError, match="over the limit"):  # a stream of unknown size
        logic.save_upload(ws, "big.mp4", io.BytesIO(clip_bytes), limit_bytes=100)
    with pytest.raises(UsageError, match="over the limit"):  # the size the browser reported
        logic.save_upload(ws, "big.mp4", io.BytesIO(b""), limit_bytes=100, size=101)
    assert not any(p for p in (ws.root / logic.UPLOAD_DIR).iterdir())


def test_non_media_names_are_refused(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="not a video or image"):
        logic.save_upload(ws, "run.sh", b"#!/bin/sh\n", limit_bytes=1 << 20)


@pytest.mark.parametrize(
    ("name", "clean"),
    [("a/b/c.mp4", "c.mp4"), ("..\\..\\x.mov", "x.mov"), (".hidden.mp4", "hidden.mp4"), ("", "upload"),
     ("$(rm -rf).mp4", "rm_-rf.mp4")],
)  # fmt: skip
def test_sanitize_name(name: str, clean: str) -> None:
    assert logic.sanitize_name(name) == clean


# -- confinement ----------------------------------------------------------------------------------


def test_paths_outside_the_workspace_are_refused(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    os.symlink(outside, ws.root / "link")
    for bad in ("../outside/secret.mp4", str(outside / "secret.mp4"), "link/secret.mp4"):
        with pytest.raises(UsageError, match="outside the workspace"):
            logic.preview_frames(ws, bad, logic.step_recipe("identity", {}))
        with pytest.raises(UsageError, match="outside the workspace"):
            logic.scan_dataset(ws, str(Path(bad).parent))
    assert "link/secret.mp4" not in logic.list_media(ws)  # a symlink out is not listed


def test_submit_refuses_an_input_outside(store, tmp_path: Path) -> None:
    params = logic.build_render_params(recipe="denoise")
    with pytest.raises(UsageError, match="outside the workspace"):
        logic.submit_renders(store, ["../x.mp4"], params, "t")
    assert store.list() == []


def test_rollback_and_export_stay_in_the_run_folder(ws: Workspace, tmp_path: Path) -> None:
    run = ws.root / "run"
    run.mkdir()
    for bad in ("../clip.mp4", "/etc/passwd", "nothere.pt"):
        with pytest.raises(UsageError):
            logic.rollback(run, bad)


# -- settings -------------------------------------------------------------------------------------


def test_settings_round_trip(ws: Workspace) -> None:
    assert logic.load_settings(ws) == logic.Settings()
    s = logic.Settings(concurrency=3, workers=4, chunk_seconds=1.5, upload_limit_mb=10)
    path = logic.save_settings(ws, s)
    assert path == ws.state_dir / "settings.json"
    assert logic.load_settings(ws) == s
    assert s.upload_limit_bytes == 10 * 1024 * 1024
    with pytest.raises(UsageError, match="workers"):
        logic.save_settings(ws, logic.Settings(workers=0))
    assert logic.load_settings(ws) == s


# -- params ---------------------------------------------------------------------------------------


def test_render_params_from_a_style_and_a_recipe() -> None:
    p = logic.build_render_params(style="cartoon", level="Speed", codec="libx264", crf=20, chunk_seconds=1.0)
    assert p["style"] == "cartoon" and p["level"] == "Speed"
    assert p["settings"] == {"codec": "libx264", "crf": 20}
    assert p["chunk_seconds"] == 1.0
    q = logic.build_render_params(recipe="denoise | sharpen")
    assert q["recipe_text"].startswith("denoise")
    with pytest.raises(UsageError):
        logic.build_render_params(recipe="denoise nosuchparam=1")
    with pytest.raises(UsageError):
        logic.build_render_params(style="cartoon", chunk_seconds=-1)


def test_submit_renders_one_job_per_input(store, ws_root: Path) -> None:
    (ws_root / "b.mp4").write_bytes((ws_root / "clip.mp4").read_bytes())
    params = logic.build_render_params(style="cartoon", level="Speed")
    ids = logic.submit_renders(store, ["clip.mp4", "b.mp4"], params, "cartoon-Speed")
    jobs = [store.get(i) for i in ids]
    assert [Path(j.output).name for j in jobs] == ["clip.cartoon-Speed.mp4", "b.cartoon-Speed.mp4"]
    assert all(Path(j.output).parent == ws_root / "outputs" for j in jobs)


def test_param_specs_give_widgets_and_clean_params() -> None:
    specs = {s["name"]: s for s in logic.param_specs("cartoon")}
    assert logic.widget_kind(specs["colors"]) == "slider"
    assert logic.widget_kind(specs["edges"]) == "select"
    assert logic.clean_params("cartoon", {"colors": 8, "edges": "adaptive"}) == {"edges": "adaptive"}
    with pytest.raises(Exception, match="colors"):
        logic.clean_params("cartoon", {"colors": 99})


def test_train_and_tune_params(store) -> None:
    p = logic.train_params("enhancer", steps=5, batch_size=2, generate=2)
    job = store.get(store.submit("train", p))
    assert job.params["task"] == "enhancer" and job.params["options"] == {"generate": 2}
    (store.workspace.root / "photos").mkdir()
    p = logic.train_params("enhancer", generate=2, photos="photos", init="runs/best.pt")
    job = store.get(store.submit("train", p))
    assert Path(job.params["options"]["photos"]).name == "photos"
    assert Path(job.params["config"]["init"]).name == "best.pt"
    with pytest.raises(UsageError):  # a checkpoint outside the workspace is not read
        store.submit("train", logic.train_params("enhancer", generate=2, init="/etc/passwd"))
    t = logic.tune_params("clip.mp4", "cartoon", "sharpness", trials=3, space=["colors"])
    tj = store.get(logic.submit_tune(store, t))
    assert tj.kind == "tune" and Path(tj.params["input"]).name == "clip.mp4"
    with pytest.raises(UsageError):
        logic.tune_params("clip.mp4", "cartoon", "sharpness", trials=0)


# -- queue and previews ---------------------------------------------------------------------------


def test_actions_follow_the_state(store, queued: int) -> None:
    job = store.get(queued)
    assert logic.actions_for(job) == ["pause", "cancel", "rm"]
    assert logic.apply_action(store, "pause", [queued]) == []
    assert store.get(queued).state == "paused"
    assert logic.actions_for(store.get(queued)) == ["resume", "cancel", "rm"]
    errors = logic.apply_action(store, "retry", [queued])
    assert errors and "paused" in errors[0]
    row = logic.job_row(store.get(queued), store.workspace)
    assert row["input"] == "clip.mp4" and row["state"] == "paused"
    assert logic.format_eta(3725) == "1:02:05" and logic.format_eta(65) == "1:05"


def test_preview_and_ab_frames(ws: Workspace) -> None:
    before, after, clip = logic.preview_frames(ws, "clip.mp4", logic.step_recipe("identity", {}), seconds=0.5)
    assert before.shape == after.shape == (96, 160, 3)
    assert clip.is_file() and clip.is_relative_to(ws.state_dir)
    orig, a, b = logic.ab_frames(ws, "clip.mp4", "tone", {"shadows": -1.0}, {"shadows": 1.0}, seconds=0.5)
    assert a.mean() < orig.mean() < b.mean()
    wipe = logic.slider(a, b, 0.5)
    assert (wipe[:, :70] == a[:, :70]).all() and (wipe[:, 90:] == b[:, 90:]).all()


def test_training_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("step,train_loss,val_loss\n10,0.5,\n20,0.4,0.45\n")
    assert logic.loss_history(run) == [
        {"step": 10.0, "train_loss": 0.5, "val_loss": None},
        {"step": 20.0, "train_loss": 0.4, "val_loss": 0.45},
    ]
    (run / "best.pt").write_bytes(b"best")
    (run / "last.pt").write_bytes(b"last")
    assert {c["name"] for c in logic.checkpoints(run)} == {"best.pt", "last.pt"}
    logic.rollback(run, "best.pt")
    assert (run / "last.pt").read_bytes() == b"best"
    assert (run / "last.before-rollback.pt").read_bytes() == b"last"


def test_hardware_line() -> None:
    assert "not available" in logic.hardware_line(None)
    line = logic.hardware_line(
        {"cpu": {"model": "EPYC", "cores": 2}, "gpus": [{"name": "H200"}], "nvenc": {"h264_nvenc": True},
         "recommendation": {"codec": "h264_nvenc"}}
    )  # fmt: skip
    assert "H200" in line and "h264_nvenc" in line
