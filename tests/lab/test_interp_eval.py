"""eval-interp on a folder: every video scored, an overall summary consistent with the per-clip
numbers, the JSON shape, and one-line errors for a folder without videos or a non-video file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from vidlab.core.errors import MediaError, UsageError
from vidlab.io.samples import Motion, generate
from vidlab.lab.interp import eval_interp, eval_interp_folder

METHODS = ["blend", "minterpolate", "flow"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny clips with different motion (and a text file that is not a video, skipped)."""
    d = tmp_path_factory.mktemp("interp-folder")
    generate(d / "b_fast.mp4", frames=9, size=(160, 96), fps=30, motion=Motion(pan_px_per_s=150.0))
    generate(d / "a_slow.mov", frames=9, size=(160, 96), fps=30, motion=Motion(pan_px_per_s=30.0))
    (d / "notes.txt").write_text("not a video")
    return d


def test_folder_scores_every_video_and_means_over_clips(clip_dir: Path):
    folder = eval_interp_folder(clip_dir, METHODS)
    assert [Path(c.video).name for c in folder.clips] == ["a_slow.mov", "b_fast.mp4"]  # sorted
    one = eval_interp(clip_dir / "a_slow.mov", METHODS)
    assert [s.psnr_y for s in folder.clips[0].scores] == [s.psnr_y for s in one.scores]
    overall = folder.overall()
    assert overall["clips"] == 2
    for m in METHODS:
        psnrs = [next(s for s in c.scores if s.method == m).psnr_y for c in folder.clips]
        ssims = [next(s for s in c.scores if s.method == m).ssim_y for c in folder.clips]
        got = overall["methods"][m]
        assert got["psnr_y"] == pytest.approx(sum(psnrs) / 2)
        assert got["ssim_y"] == pytest.approx(sum(ssims) / 2)
        assert got["psnr_y_min_clip"] == min(psnrs)
        assert got["frames"] == 8
    gains = overall["gain_over_minterpolate_db"]
    assert set(gains) == {"blend", "flow"}
    for m in ("blend", "flow"):
        per = [
            next(s for s in c.scores if s.method == m).psnr_y
            - next(s for s in c.scores if s.method == "minterpolate").psnr_y
            for c in folder.clips
        ]
        assert gains[m]["per_clip"] == pytest.approx(per)
        assert gains[m]["mean"] == pytest.approx(sum(per) / 2)
        assert gains[m]["min"] == pytest.approx(min(per))
    # Faster motion is harder to rebuild, for a blend above all.
    assert folder.per_clip("blend", "psnr_y")[1] < folder.per_clip("blend", "psnr_y")[0]


def test_no_gains_without_minterpolate(clip_dir: Path):
    overall = eval_interp_folder(clip_dir, ["blend"]).overall()
    assert "gain_over_minterpolate_db" not in overall
    assert set(overall["methods"]) == {"blend"}


def test_folder_errors(tmp_path: Path):
    (tmp_path / "readme.txt").write_text("no videos here")
    with pytest.raises(UsageError, match="no videos"):
        eval_interp_folder(tmp_path, ["blend"])
    with pytest.raises(MediaError):
        eval_interp(tmp_path / "readme.txt", ["blend"])


@pytest.mark.slow
def test_cli_folder_json_and_table(clip_dir: Path):
    r = run_cli("eval-interp", clip_dir, "-m", "blend,minterpolate", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"folder", "clips", "overall", "skipped"} and data["skipped"] == []
    assert [Path(c["video"]).name for c in data["clips"]] == ["a_slow.mov", "b_fast.mp4"]
    for c in data["clips"]:  # each clip as a single-file run prints it
        assert {"video", "width", "height", "source_fps", "factor", "frames_used", "scores"} <= set(c)
        assert [s["method"] for s in c["scores"]] == ["blend", "minterpolate"]
    overall = data["overall"]
    mean = sum(c["scores"][0]["psnr_y"] for c in data["clips"]) / 2
    assert overall["methods"]["blend"]["psnr_y"] == pytest.approx(mean, abs=1e-3)
    assert len(overall["gain_over_minterpolate_db"]["blend"]["per_clip"]) == 2

    r = run_cli("eval-interp", clip_dir / "a_slow.mov", "-m", "blend", "--json")
    assert r.returncode == 0, r.stderr
    single = json.loads(r.stdout)
    assert "scores" in single and "overall" not in single  # a single file: unchanged

    r = run_cli("eval-interp", clip_dir, "-m", "blend", "-m", "minterpolate")
    assert r.returncode == 0, r.stderr
    assert "a_slow.mov" in r.stdout and "b_fast.mp4" in r.stdout
    assert "overall: 2 clips" in r.stdout and "gain over minterpolate" in r.stdout


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("eval-interp", empty, "-m", "blend")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and str(empty) in r.stderr and "no videos" in r.stderr
    bad = tmp_path / "clip.mp4"
    bad.write_text("not a video")
    r = run_cli("eval-interp", bad, "-m", "blend")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0 and str(bad) in r.stderr


def test_matroska_millisecond_times_are_read_on_the_nominal_grid(clip_dir: Path, tmp_path: Path):
    """Matroska stores 1/30 s as 0.033 s: a constant-rate clip is still scored on its exact grid
    (before, no dropped frame's time was ever made exactly and the run failed)."""
    mkv = tmp_path / "b_fast.mkv"
    r = run_cli("run", clip_dir / "b_fast.mp4", "-o", mkv, "-r", "identity", "-q")
    assert r.returncode == 0, r.stderr
    b = eval_interp(mkv, ["flow", "blend"])
    assert [s.frames for s in b.scores] == [4, 4]
    flow, blend = b.scores
    assert 0 < blend.psnr_y < flow.psnr_y < 99


def test_a_broken_video_in_a_folder_is_skipped_and_named(clip_dir: Path, tmp_path: Path, caplog):
    import shutil

    shutil.copy(clip_dir / "b_fast.mp4", tmp_path / "good.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with caplog.at_level("WARNING"):
        folder = eval_interp_folder(tmp_path, ["blend"])
    assert [Path(c.video).name for c in folder.clips] == ["good.mp4"]
    assert len(folder.skipped) == 1 and "broken.mp4" in folder.skipped[0]
    assert folder.to_dict()["skipped"] == list(folder.skipped)
    (tmp_path / "good.mp4").unlink()
    with pytest.raises(MediaError, match="broken"):
        eval_interp_folder(tmp_path, ["blend"])
