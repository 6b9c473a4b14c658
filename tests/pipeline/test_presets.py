"""Presets: every shipped style and level runs on real video; user presets, export/import and
the --stabilize override behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import frame_times
from vidlab.core.errors import RecipeError, UsageError
from vidlab.io.probe import probe
from vidlab.pipeline import execute, presets
from vidlab.pipeline.recipe import Recipe


@pytest.fixture(autouse=True)
def _user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDLAB_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def test_each_style_ships_three_levels():
    found = {(p.style, p.level) for p in presets.builtin_presets()}
    for style in ("pencil", "cartoon", "comic", "cinematic"):
        for level in presets.LEVELS:
            assert (style, level) in found


@pytest.mark.parametrize("preset", presets.builtin_presets(), ids=lambda p: p.name)
def test_every_preset_keeps_size_frames_and_timestamps(
    preset: presets.Preset, sample_mp4: Path, tmp_path: Path
):
    out = tmp_path / "out.mp4"
    result = execute(sample_mp4, out, preset.recipe())
    src, dst = probe(sample_mp4), probe(out)
    assert (dst.width, dst.height) == (src.width, src.height)
    assert result.frames == dst.frame_count == src.frame_count
    assert frame_times(out) == frame_times(sample_mp4)


def test_find_by_style_and_level():
    assert presets.find("cartoon").name == "cartoon/Balanced"
    assert presets.find("Cartoon/quality").name == "cartoon/Quality"
    assert presets.find("comic", "speed").level == "Speed"
    with pytest.raises(UsageError, match="unknown style 'watercolour'"):
        presets.find("watercolour")
    with pytest.raises(RecipeError, match="must be one of Speed, Balanced, Quality"):
        presets.find("cartoon/Ultra")


def test_stabilizer_override():
    base = presets.find("cartoon/Balanced").recipe()
    assert [op.name for op in base.ops] == ["cartoon", "flow_stabilize"]
    assert [op.name for op in presets.with_stabilizer(base, "ema").ops] == ["cartoon", "ema"]
    assert [op.name for op in presets.with_stabilizer(base, "none").ops] == ["cartoon"]
    assert presets.with_stabilizer(base, "preset") is base
    # A stabilizer placed before the style (comic smooths its input) is swapped in place.
    comic = presets.find("comic/Quality").recipe()
    assert [op.name for op in presets.with_stabilizer(comic, "edge").ops] == ["edge_stabilize", "comic"]
    # No stabilizer in the preset: the chosen one goes after the style.
    speed = presets.find("pencil/Speed").recipe()
    assert [op.name for op in presets.with_stabilizer(speed, "flow").ops] == ["pencil", "flow_stabilize"]
    with pytest.raises(UsageError, match="stabilize must be"):
        presets.with_stabilizer(base, "wobble")


def test_export_import_round_trip_and_user_override(tmp_path: Path, _user_config: Path):
    exported = presets.export_preset(presets.find("cartoon/Quality"), tmp_path)
    assert exported.name == "cartoon-quality.yaml"
    text = exported.read_text().replace("colors: 10", "colors: 5")
    exported.write_text(text)
    imported = presets.import_preset(exported)
    assert imported.source == "user" and imported.path.parent == _user_config / "presets"
    mine = presets.find("cartoon/Quality")
    assert mine.source == "user" and mine.recipe().ops[0].colors == 5  # the user's copy wins
    with pytest.raises(UsageError, match="exists"):
        presets.import_preset(exported)
    presets.import_preset(exported, force=True)


def test_import_a_plain_recipe_as_a_new_style(tmp_path: Path):
    recipe = tmp_path / "look.yaml"
    Recipe.parse("lut file=bleach_bypass | grain amount=0.05").dump(recipe)
    with pytest.raises(UsageError, match="give a style name"):
        presets.import_preset(recipe)
    p = presets.import_preset(recipe, style="gritty", level="Quality")
    assert p.name == "gritty/Quality"
    assert "gritty" in presets.styles()
    assert [op.name for op in presets.find("gritty/Quality").recipe().ops] == ["lut", "grain"]


def test_bad_presets_are_refused_with_the_file_named(tmp_path: Path, _user_config: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("style: x\nlevel: Balanced\nops:\n  - cartoon: {colors: 99}\n")
    with pytest.raises(RecipeError, match=r"bad\.yaml.*colors=99 is out of range"):
        presets.import_preset(bad)
    assert not (_user_config / "presets").exists()  # nothing half-written
    bad.write_text("style: [unclosed\n")
    with pytest.raises(RecipeError, match=r"bad\.yaml"):
        presets.import_preset(bad)
    with pytest.raises(UsageError, match="not found"):
        presets.import_preset(tmp_path / "missing.yaml")
