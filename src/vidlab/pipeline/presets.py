"""Presets: named recipes. Each style ships Speed, Balanced and Quality presets as YAML inside
the package (``vidlab/data/presets``); users add their own in their config folder
(``vidlab presets import``), where a preset of the same name overrides the shipped one.

A preset file is a recipe with a header::

    style: cartoon
    level: Balanced
    description: Flat colours, bold lines, flow-stabilized.
    ops:
      - cartoon: {colors: 8}
      - flow_stabilize: {}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vidlab.core.errors import RecipeError, UsageError
from vidlab.core.fsutil import write_atomic
from vidlab.pipeline.recipe import Recipe

LEVELS = ("Speed", "Balanced", "Quality")
DEFAULT_LEVEL = "Balanced"
# --stabilize choices and the op each one appends; "preset" keeps whatever the preset has.
STABILIZERS: dict[str, str | None] = {
    "flow": "flow_stabilize",
    "edge": "edge_stabilize",
    "ema": "ema",
    "none": None,
}
_STABILIZER_OPS = {"flow_stabilize", "edge_stabilize", "ema"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Preset:
    style: str
    level: str
    description: str
    ops: list[Any] = field(repr=False)
    source: str  # "builtin" or "user"
    path: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.style}/{self.level}"

    def recipe(self) -> Recipe:
        try:
            return Recipe.from_data(self.ops)
        except RecipeError as exc:
            raise RecipeError(f"preset {self.name}: {exc.message}", self.path) from None

    def to_data(self) -> dict[str, Any]:
        return {"style": self.style, "level": self.level, "description": self.description, "ops": self.ops}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_data(), sort_keys=False, default_flow_style=None)


def user_dir() -> Path:
    """Where user presets live: ``$VIDLAB_CONFIG_DIR/presets``, else the platform's config folder
    (``~/.config/vidlab/presets`` on Linux)."""
    base = os.environ.get("VIDLAB_CONFIG_DIR")
    if base:
        return Path(base) / "presets"
    from platformdirs import user_config_dir

    return Path(user_config_dir("vidlab")) / "presets"


def parse_preset(data: Any, source: str, path: Path | None = None) -> Preset:
    """Validate a preset's header and recipe; errors name the file."""
    if not isinstance(data, dict) or "ops" not in data:
        raise RecipeError("a preset is a mapping with style, level, description and ops", path)
    style = str(data.get("style", "")).strip().lower()
    if not _NAME.match(style):
        raise RecipeError(f"preset style {style!r} must be a short lowercase name (a-z, 0-9, - or _)", path)
    level = _level(str(data.get("level", DEFAULT_LEVEL)), path)
    preset = Preset(style, level, str(data.get("description", "")).strip(), data["ops"], source, path)
    preset.recipe()  # validate now, with the file in the message
    return preset


def _level(text: str, path: Path | None = None) -> str:
    for level in LEVELS:
        if text.strip().lower() == level.lower():
            return level
    raise RecipeError(f"preset level {text!r} must be one of {', '.join(LEVELS)}", path)


def _load_file(path: Path, source: str) -> Preset:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read preset: {exc.strerror or exc}", path) from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"not valid YAML: {str(exc).splitlines()[0]}", path) from None
    return parse_preset(data, source, path)


def builtin_presets() -> list[Preset]:
    folder = resources.files("vidlab.data") / "presets"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            with resources.as_file(entry) as p:
                out.append(_load_file(Path(p), "builtin"))
    return out


def user_presets() -> list[Preset]:
    folder = user_dir()
    if not folder.is_dir():
        return []
    return [_load_file(p, "user") for p in sorted(folder.glob("*.y*ml"))]


def all_presets() -> list[Preset]:
    """Shipped presets, with user presets of the same name taking their place."""
    merged = {p.name: p for p in builtin_presets()}
    merged.update({p.name: p for p in user_presets()})
    return sorted(merged.values(), key=lambda p: (p.style, LEVELS.index(p.level)))


def styles() -> list[str]:
    return sorted({p.style for p in all_presets()})


def find(name: str, level: str | None = None) -> Preset:
    """A preset by ``style`` (with ``level``, default Balanced) or ``style/Level``."""
    style, _, lvl = name.strip().partition("/")
    style = style.lower()
    wanted = _level(lvl or level or DEFAULT_LEVEL)
    presets = all_presets()
    for p in presets:
        if p.style == style and p.level == wanted:
            return p
    if any(p.style == style for p in presets):
        have = ", ".join(p.level for p in presets if p.style == style)
        raise UsageError(f"style '{style}' has no {wanted} preset (it has {have})")
    raise UsageError(f"unknown style '{style}' (styles: {', '.join(styles())}; see 'vidlab presets list')")


_PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[A-Za-z]+)?$")


def recipe_or_preset(text: str | Recipe) -> Recipe:
    """A recipe from its text (see :meth:`Recipe.parse`), or the recipe of the preset it names
    (``combined``, ``cartoon/Quality``) when it is one word that is not an op."""
    if isinstance(text, Recipe):
        return text
    word = text.strip()
    if _PRESET_NAME.match(word):
        style = word.partition("/")[0]
        if (word != style or not _is_op(style)) and any(p.style == style for p in all_presets()):
            return find(word).recipe()
    return Recipe.parse(text)


def _is_op(name: str) -> bool:
    from vidlab.ops.registry import get_op

    try:
        get_op(name)
    except RecipeError:
        return False
    return True


def with_stabilizer(recipe: Recipe, mode: str) -> Recipe:
    """Apply ``--stabilize``: 'preset' keeps the recipe; otherwise the preset's own stabilizer
    is replaced in place (a stabilizer placed before a style stays before it), or the chosen one
    is appended after the style; 'none' removes it."""
    if mode == "preset":
        return recipe
    if mode not in STABILIZERS:
        raise UsageError(
            f"stabilize must be one of preset, {', '.join(STABILIZERS)}; got '{mode}'", param="stabilize"
        )
    from vidlab.ops.registry import get_op

    chosen = STABILIZERS[mode]
    new = get_op(chosen)() if chosen else None
    ops, placed = [], False
    for op in recipe.ops:
        if op.name in _STABILIZER_OPS:
            if new is not None and not placed:
                ops.append(new)
            placed = True
            continue
        ops.append(op)
    if new is not None and not placed:
        ops.append(new)
    if not ops:
        raise UsageError("the recipe would be empty without its stabilizer")
    return Recipe(tuple(ops))


def export_preset(preset: Preset, dest: Path) -> Path:
    """Write a preset as YAML (a file, or ``STYLE-LEVEL.yaml`` inside a folder)."""
    if dest.is_dir():
        dest = dest / f"{preset.style}-{preset.level.lower()}.yaml"
    write_atomic(dest, preset.to_yaml().encode())
    return dest


def import_preset(
    path: Path, *, style: str | None = None, level: str | None = None, force: bool = False
) -> Preset:
    """Validate a preset (or a plain recipe, given ``style``) and copy it to the user folder."""
    if not path.is_file():
        raise UsageError("preset file not found", path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RecipeError(f"cannot read preset: {str(exc).splitlines()[0]}", path) from None
    if isinstance(data, list):  # a bare recipe: the header comes from the options
        data = {"ops": data}
    if not isinstance(data, dict):
        raise RecipeError("a preset is a mapping with style, level, description and ops", path)
    data = dict(data)
    if style:
        data["style"] = style
    if level:
        data["level"] = level
    if "style" not in data:
        raise UsageError("the file names no style: give a style name", path, param="style")
    preset = parse_preset(data, "user", path)
    dest = user_dir() / f"{preset.style}-{preset.level.lower()}.yaml"
    if dest.exists() and not force:
        raise UsageError(f"user preset {preset.name} exists (replace it with force)", dest, param="force")
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(dest, preset.to_yaml().encode())
    return Preset(preset.style, preset.level, preset.description, preset.ops, "user", dest)
