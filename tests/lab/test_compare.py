"""vidlab compare: layout and size, timestamp sync, labels and PSNR overlays, the diff heatmap,
the grid PNG, and the one-line errors (with nothing left at the --save path)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import vidlab.lab.compare as compare_mod
from conftest import decode_rgb, frame_times, psnr, run_cli
from vidlab.core.errors import MediaError, UsageError
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.colors import ColorInfo
from vidlab.io.probe import VideoInfo, probe
from vidlab.io.reader import read_frames
from vidlab.io.writer import VideoWriter
from vidlab.lab.compare import compare, compose, compose_frames, draw_legend, grid_picks, zero_color
from vidlab.pipeline import execute

W, H = 320, 180


@pytest.fixture(scope="module")
def views(sample_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample, a CRF 40 encode of it, that encode denoised, and a 0.5 s cut of the encode."""
    d = tmp_path_factory.mktemp("compare")
    test = d / "test.mp4"
    execute(sample_mp4, test, "identity", EncodeSettings(codec="libx264", crf=40))
    enhanced = d / "enhanced.mp4"
    execute(test, enhanced, "denoise method=bilateral")
    short = d / "short.mp4"
    execute(test, short, "identity", EncodeSettings(codec="libx264", crf=40), duration=Fraction(1, 2))
    return {"original": sample_mp4, "test": test, "enhanced": enhanced, "short": short}


def _gray_clip(path: Path, values: list[int], times: list[Fraction], fps: Fraction) -> Path:
    """A clip whose frame k is flat gray ``values[k]`` at ``times[k]`` (near-lossless H.264)."""
    info = VideoInfo(
        path=str(path),
        container="",
        codec="libx264",
        width=W,
        height=H,
        fps=fps,
        time_base=Fraction(1, 90000),
        frame_count=len(values),
        duration=times[-1] + 1 / fps,
        start_time=times[0],
        pix_fmt="yuv420p",
        bit_depth=8,
        color=ColorInfo(1, 1, 1, 1),
    )
    with VideoWriter(path, info, EncodeSettings(crf=1)) as w:
        for k, (v, t) in enumerate(zip(values, times, strict=True)):
            w.write(Frame(np.full((H, W, 3), v, np.uint8), t, k))
    return path


def _center(image: np.ndarray, slot: int) -> float:
    """Mean of a patch in the middle of view ``slot`` (away from the label and legend)."""
    x = slot * W + W // 2
    return float(image[H // 2 - 10 : H // 2 + 10, x - 10 : x + 10].mean())


def _no_partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial" in p.name]


# -- layout, length, fps ---------------------------------------------------------------------------


def test_two_views_saved_side_by_side(views: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp.mp4"
    res = compare(views["original"], views["test"], save=out)
    info = probe(out)
    assert (res.width, res.height) == (2 * W, H)
    assert (info.width, info.height) == (2 * W, H)
    assert info.fps == 30 and info.frame_count == 24 == res.frames
    assert frame_times(out) == [Fraction(i, 30) for i in range(24)]
    # The left half is the original (labels aside); the right half the degraded test view.
    first = decode_rgb(out)[0]
    orig = decode_rgb(views["original"])[0]
    assert psnr(first[H // 2 :, :W], orig[H // 2 :]) > 30
    assert psnr(first[H // 2 :, W:], orig[H // 2 :]) < psnr(first[H // 2 :, :W], orig[H // 2 :]) - 5
    assert 15 < res.psnr_test < 40 and res.psnr_enhanced is None
    assert _no_partials(tmp_path) == []


@pytest.mark.parametrize(
    ("enhanced", "diff", "width"),
    [(False, False, 2 * W), (True, False, 3 * W), (False, True, 3 * W), (True, True, 4 * W)],
)
def test_width_is_views_times_original(
    views: dict[str, Path], enhanced: bool, diff: bool, width: int
) -> None:
    frames = compose_frames(
        views["original"], views["test"], views["enhanced"] if enhanced else None, diff=diff
    )
    first = next(frames)
    frames.close()  # type: ignore[attr-defined]
    assert first.image.shape == (H, width, 3) and first.image.dtype == np.uint8
    assert (first.psnr_enhanced is not None) == enhanced


def test_length_is_the_shortest_input(views: dict[str, Path], tmp_path: Path) -> None:
    assert probe(views["short"]).frame_count == 15
    res = compare(views["original"], views["short"], views["enhanced"], save=tmp_path / "a.mp4")
    assert res.frames == 15 and probe(tmp_path / "a.mp4").frame_count == 15
    # A short original: the others are cut to it.
    res = compare(views["short"], views["original"], save=tmp_path / "b.mp4")
    assert res.frames == 15 and probe(tmp_path / "b.mp4").frame_count == 15


def test_other_size_is_scaled_to_the_original_height(views: dict[str, Path], tmp_path: Path) -> None:
    small = tmp_path / "small.mp4"
    execute(views["test"], small, "resize width=160 height=90")
    first = next(compose_frames(views["original"], small))
    assert first.image.shape == (H, 2 * W, 3)
    # Upscaled from half size: close to the original, nothing black or cropped.
    orig = decode_rgb(views["original"])[0]
    assert psnr(first.image[H // 2 :, W:], orig[H // 2 :]) > 18


# -- sync ------------------------------------------------------------------------------------------


def test_half_fps_test_view_stays_in_sync(tmp_path: Path) -> None:
    """Original frame i is gray 10*i at i/30; the test view has only the even instants, at 15 fps.
    Composite i must show the test frame at floor(i/2)*2/30 (the latest at or before i/30)."""
    orig = _gray_clip(
        tmp_path / "o.mp4", [10 * i for i in range(24)], [Fraction(i, 30) for i in range(24)], 30
    )
    half = _gray_clip(
        tmp_path / "h.mp4", [20 * k for k in range(12)], [Fraction(k, 15) for k in range(12)], 15
    )
    frames = list(compose_frames(orig, half))
    assert len(frames) == 24  # both last 0.8 s
    for i, f in enumerate(frames):
        assert f.pts == Fraction(i, 30)
        assert _center(f.image, 0) == pytest.approx(10 * i, abs=2)
        assert _center(f.image, 1) == pytest.approx(10 * (i - i % 2), abs=2), i
        # Odd frames: the test view is one step (10 code values) behind: PSNR 20*log10(255/10).
        assert f.psnr_test > 40 if i % 2 == 0 else f.psnr_test == pytest.approx(28.1, abs=1)


def test_dropped_frames_and_late_start_stay_in_sync(tmp_path: Path) -> None:
    """A test view that starts at 1 s (own clock) and lost frames 5, 6 and 13: the composite holds
    the last frame it has."""
    values = [10 * i for i in range(24)]
    orig = _gray_clip(tmp_path / "o.mp4", values, [Fraction(i, 30) for i in range(24)], 30)
    kept = [i for i in range(24) if i not in (5, 6, 13)]
    test = _gray_clip(
        tmp_path / "t.mkv", [values[i] for i in kept], [1 + Fraction(i, 30) for i in kept], Fraction(30)
    )
    assert probe(test).start_time == 1
    frames = list(compose_frames(orig, test))
    assert len(frames) == 24
    for i, f in enumerate(frames):
        shown = max(k for k in kept if k <= i)
        assert _center(f.image, 1) == pytest.approx(10 * shown, abs=2), i


# -- labels and overlays ---------------------------------------------------------------------------


def test_labels_and_psnr_overlay_are_drawn(views: dict[str, Path]) -> None:
    raw = [read_frames(views[k])[0].image for k in ("original", "test", "enhanced")]
    first = next(compose_frames(views["original"], views["test"], views["enhanced"]))
    box = (slice(3, 16), slice(3, 40))
    for slot, plain in enumerate(raw):
        shown = first.image[:, slot * W : (slot + 1) * W].astype(int)
        # The dark translucent box: most pixels are the picture at about a third of its level.
        darkened = np.abs(shown[box] - plain[box] * 0.35).max(axis=2) <= 2
        assert darkened.mean() > 0.5 and (plain[box] > 40).mean() > 0.5
        # Away from the overlays the view is the plain picture.
        assert np.array_equal(shown[H // 2 : H - 20, W // 2 :], plain[H // 2 : H - 20, W // 2 :])
    # Below the label line the test and enhanced views have the PSNR line; the original has none.
    line2 = (slice(20, 30), slice(6, 60))
    for slot in (1, 2):
        assert (first.image[line2[0], slot * W + 6 : slot * W + 60] > 200).all(axis=2).sum() > 20
    assert np.array_equal(first.image[line2], raw[0][line2])


def test_psnr_digits_follow_the_psnr() -> None:
    """Same test-view pixels under the overlay, different PSNR: the overlay itself changes, and
    the PSNR is the RGB one."""
    rng = np.random.default_rng(1)
    original = np.full((H, W, 3), 128, np.uint8)
    out = []
    for amp in (4, 40):
        test = original.copy()
        noise = rng.integers(-amp, amp + 1, (H // 2, W, 3))
        test[H // 2 :] = np.clip(128 + noise, 0, 255).astype(np.uint8)
        image, p, _ = compose(original, test)
        assert p == pytest.approx(psnr(original, test))
        out.append(image)
    overlay = (slice(0, H // 2 - 10), slice(W, W + 120))
    assert not np.array_equal(out[0][overlay], out[1][overlay])
    # The label lines and the original view are identical in both.
    assert np.array_equal(out[0][:, :W], out[1][:, :W])
    assert np.array_equal(out[0][:16, W:], out[1][:16, W:])
    image, p, _ = compose(original, original)
    assert math.isinf(p)
    assert not np.array_equal(image[overlay], out[0][overlay])  # "PSNR inf"


def test_custom_labels_change_the_label_box(views: dict[str, Path]) -> None:
    a = next(compose_frames(views["original"], views["test"]))
    b = next(compose_frames(views["original"], views["test"], labels=["Source", "x264 CRF 40 long label"]))
    assert not np.array_equal(a.image[:16, :W], b.image[:16, :W])
    assert not np.array_equal(a.image[:16, W:], b.image[:16, W:])
    with pytest.raises(UsageError, match="labels"):
        compose_frames(views["original"], views["test"], labels=["only one"])


# -- diff heatmap ----------------------------------------------------------------------------------


def _diff_body(image: np.ndarray, slot: int) -> np.ndarray:
    """The diff view without its label (top-left) and legend (bottom-right)."""
    view = image[:, slot * W : (slot + 1) * W]
    return np.concatenate([view[40:H, : W // 2].reshape(-1, 3), view[40 : H - 40, W // 2 :].reshape(-1, 3)])


def test_diff_of_identical_inputs_is_the_zero_color(views: dict[str, Path]) -> None:
    zero = zero_color("inferno")
    frames = list(compose_frames(views["original"], views["original"], diff=True))
    assert len(frames) == 24
    for f in frames:
        assert (_diff_body(f.image, 2) == zero).all()
        assert math.isinf(f.psnr_test)
    legend = frames[0].image[H - 30 :, 3 * W - 110 :]
    assert not (legend == zero).all(axis=2).all()  # the color bar is there


def test_diff_of_different_inputs_has_a_fixed_scale(views: dict[str, Path]) -> None:
    zero = zero_color("inferno")
    frames = list(compose_frames(views["original"], views["test"], diff=True))
    body = _diff_body(frames[0].image, 2)
    assert (body != zero).any(axis=1).mean() > 0.3
    # The legend (a fixed 0..64 scale) is the same in every frame.
    x0, y0, x1, y1 = draw_legend(np.zeros((H, W, 3), np.uint8), 64)
    legend = (slice(y0, y1), slice(2 * W + x0, 2 * W + x1))
    assert (frames[0].image[legend] > 200).any(axis=2).sum() > 20  # bar and ticks
    assert all(np.array_equal(f.image[legend], frames[0].image[legend]) for f in frames)
    # A smaller --diff-max saturates sooner: brighter heatmap.
    tight = next(compose_frames(views["original"], views["test"], diff=True, diff_max=8))
    assert _diff_body(tight.image, 2).mean() > body.mean() + 20


# -- grid PNG and CLI ------------------------------------------------------------------------------


def test_grid_picks_are_even() -> None:
    assert grid_picks(24, 4) == [0, 8, 15, 23]
    assert grid_picks(3, 6) == [0, 1, 2]
    assert grid_picks(24, 1) == [11]


def test_cli_save_and_grid(views: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp.mp4"
    r = run_cli(
        "compare", "--original", views["original"], "--test", views["test"],
        "--enhanced", views["enhanced"], "--save", out, "--grid-png", "4", "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert probe(out).width == 3 * W and probe(out).frame_count == 24
    grid = cv2.cvtColor(cv2.imread(str(tmp_path / "cmp.grid.png")), cv2.COLOR_BGR2RGB)
    assert grid.shape == (4 * H, 3 * W, 3)
    frames = list(compose_frames(views["original"], views["test"], views["enhanced"]))
    for row, k in enumerate(grid_picks(24, 4)):
        # The rows are the composites themselves (lossless), bar the caption at the bottom left.
        assert np.array_equal(grid[row * H : row * H + H // 2], frames[k].image[: H // 2])
    assert _no_partials(tmp_path) == []


def test_cli_grid_path_and_diff(views: dict[str, Path], tmp_path: Path) -> None:
    png = tmp_path / "sheet.png"
    r = run_cli(
        "compare", "--original", views["original"], "--test", views["test"], "--diff",
        "--grid-png", "2", "--grid-png-path", png, "--labels", "A,B,C",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(png)).shape == (2 * H, 3 * W, 3)
    assert "mean PSNR test" in r.stdout


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_show_without_a_display_fails_first(views: dict[str, Path], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = tmp_path / "x.mp4"
    # The inputs do not even exist: the display is checked before anything is opened.
    args = ["--original", tmp_path / "nope.mp4", "--test", views["test"], "--show", "--save", out]
    r = subprocess.run(
        [sys.executable, "-m", "vidlab", "compare", *map(str, args)], capture_output=True, text=True, env=env
    )
    assert r.returncode != 0
    line = _one_line(r)
    assert "--show" in line and ("DISPLAY" in line or "GUI" in line)
    assert list(tmp_path.iterdir()) == []


def test_display_problem_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare_mod.cv2, "getBuildInformation", lambda: "  GUI:  NONE\n")
    assert "GUI support" in (compare_mod.display_problem() or "")
    monkeypatch.setattr(compare_mod.cv2, "getBuildInformation", lambda: "  GUI:  GTK3\n")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert "DISPLAY" in (compare_mod.display_problem() or "")
        with pytest.raises(UsageError, match="show needs a display"):
            compare(Path("nope.mp4"), Path("nope.mp4"), show=True)


def test_missing_and_non_video_files(views: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    missing = tmp_path / "missing.mp4"
    r = run_cli("compare", "--original", views["original"], "--test", missing, "--save", out)
    assert r.returncode != 0 and str(missing) in _one_line(r) and "no such file" in _one_line(r)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    r = run_cli("compare", "--original", text, "--test", views["test"], "--save", out, "--grid-png", "2")
    assert r.returncode != 0 and str(text) in _one_line(r)
    assert not out.exists() and not (tmp_path / "out.grid.png").exists()
    assert _no_partials(tmp_path) == []
    with pytest.raises(MediaError):
        compare(views["original"], text, save=out)
    assert not out.exists() and _no_partials(tmp_path) == []


def test_usage_errors(views: dict[str, Path], tmp_path: Path) -> None:
    base = ["compare", "--original", views["original"], "--test", views["test"]]
    r = run_cli(*base)
    assert r.returncode == 2 and "--save" in _one_line(r)
    r = run_cli(*base, "--grid-png", "3")
    assert r.returncode == 2 and "--grid-png-path" in _one_line(r)
    r = run_cli(*base, "--save", tmp_path / "o.mp4", "--labels", "a,b,c")
    assert r.returncode == 2 and "labels" in _one_line(r)
    r = run_cli(*base, "--save", tmp_path / "o.mp4", "--diff", "--diff-max", "0")
    assert r.returncode == 2 and "--diff-max" in _one_line(r)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="overwrite"):
        compare(views["original"], views["test"], save=views["test"])
