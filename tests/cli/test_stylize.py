"""`vidlab stylize`, `vidlab preview` and `vidlab presets` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from conftest import frame_times, packets, run_cli
from vidlab.io.probe import probe


@pytest.fixture(autouse=True)
def _user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDLAB_CONFIG_DIR", str(tmp_path / "config"))


def test_stylize_writes_one_output_per_style(sample_mp4: Path, tmp_path: Path):
    outdir = tmp_path / "styled"
    res = run_cli(
        "stylize", sample_mp4, "-o", outdir, "--style", "pencil,cartoon,comic,cinematic", "--preset", "Speed"
    )
    assert res.returncode == 0, res.stderr
    src = probe(sample_mp4)
    for style in ("pencil", "cartoon", "comic", "cinematic"):
        out = outdir / f"{sample_mp4.stem}.{style}.mp4"
        info = probe(out)
        assert (info.width, info.height, info.frame_count) == (src.width, src.height, src.frame_count)
        assert frame_times(out) == frame_times(sample_mp4)
        assert packets(out) == packets(sample_mp4)  # audio copied untouched
        assert f"{style}/Speed" in res.stdout
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        f"{sample_mp4.stem}.{s}.mp4" for s in ("pencil", "cartoon", "comic", "cinematic")
    )  # nothing else left behind


def test_stylize_stabilize_override_is_reported(sample_mp4: Path, tmp_path: Path):
    res = run_cli("stylize", sample_mp4, "-o", tmp_path, "-s", "cartoon", "--stabilize", "ema")
    assert res.returncode == 0, res.stderr
    assert "cartoon | ema" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--style", "watercolour"], "unknown style 'watercolour'"),
        (["--style", "cartoon", "--preset", "Ultra"], "must be one of Speed, Balanced, Quality"),
        (["--style", "cartoon", "--stabilize", "wobble"], "--stabilize must be one of"),
    ],
)
def test_stylize_bad_arguments_give_one_line(sample_mp4: Path, tmp_path: Path, args: list[str], message: str):
    res = run_cli("stylize", sample_mp4, "-o", tmp_path / "o", *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_stylize_checks_every_input_first(sample_mp4: Path, tmp_path: Path):
    res = run_cli("stylize", sample_mp4, tmp_path / "nope.mp4", "-o", tmp_path / "o", "-s", "pencil")
    assert res.returncode == 2 and "input not found" in res.stderr and "nope.mp4" in res.stderr
    assert "Traceback" not in res.stderr
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    res = run_cli("stylize", sample_mp4, text, "-o", tmp_path / "o", "-s", "pencil")
    assert res.returncode == 1 and "notes.mp4" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # no output made for the good input either


def test_preview_writes_clip_and_before_after(sample_mp4: Path, tmp_path: Path):
    res = run_cli(
        "preview", sample_mp4, "--style", "comic", "--start", "0.2", "--duration", "0.4", "-o", tmp_path
    )
    assert res.returncode == 0, res.stderr
    clip = tmp_path / f"{sample_mp4.stem}.comic.preview.mp4"
    png = tmp_path / f"{sample_mp4.stem}.comic.before_after.png"
    info, src = probe(clip), probe(sample_mp4)
    assert info.frame_count == 12  # 0.4 s at 30 fps
    image = cv2.imread(str(png))
    assert image.shape == (src.height, 2 * src.width + 8, 3)
    left, right = image[:, : src.width], image[:, src.width + 8 :]
    assert cv2.absdiff(left, right).mean() > 10  # the style changed the picture


def test_presets_commands(tmp_path: Path):
    listed = run_cli("presets", "list")
    assert listed.returncode == 0
    for name in ("pencil/Speed", "cartoon/Balanced", "comic/Quality", "cinematic/Balanced"):
        assert name in listed.stdout
    shown = run_cli("presets", "show", "cinematic/Quality")
    assert shown.returncode == 0 and "lut" in shown.stdout and "vidlab run IN -o OUT -r" in shown.stdout
    exported = run_cli("presets", "export", "pencil", "-o", tmp_path / "mine.yaml")
    assert exported.returncode == 0
    text = (tmp_path / "mine.yaml").read_text().replace("style: pencil", "style: sketchy")
    (tmp_path / "mine.yaml").write_text(text)
    imported = run_cli("presets", "import", tmp_path / "mine.yaml")
    assert imported.returncode == 0, imported.stderr
    assert (tmp_path / "config" / "presets" / "sketchy-balanced.yaml").is_file()
    assert "sketchy/Balanced" in run_cli("presets", "list").stdout
    again = run_cli("presets", "import", tmp_path / "mine.yaml")
    assert again.returncode == 2 and "--force" in again.stderr
