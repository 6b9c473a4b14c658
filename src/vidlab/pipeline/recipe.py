"""Recipes: an ordered list of ops with parameters. Written as YAML/JSON, or compactly on the
command line as ``"denoise strength=5 | sharpen amount=0.6"``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vidlab.core.errors import RecipeError, UsageError
from vidlab.core.frame import Frame
from vidlab.io.probe import VideoInfo
from vidlab.ops.base import Op, Resources, SpatialOp
from vidlab.ops.registry import get_op

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Recipe:
    """An immutable, validated chain of ops."""

    ops: tuple[Op, ...]

    def __post_init__(self) -> None:
        temporal = sum(not _is_spatial(op) for op in self.ops)
        if temporal > MAX_TEMPORAL_OPS:
            raise RecipeError(
                f"a recipe holds at most {MAX_TEMPORAL_OPS} temporal ops (this one has {temporal}); "
                "spatial ops are not limited"
            )

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """Accept a path to a .yaml/.json recipe, inline JSON, or the compact ``a k=v | b`` form."""
        stripped = text.strip()
        if not stripped:
            raise RecipeError("empty recipe (use 'identity' to pass frames through)")
        if stripped.lower().endswith(RECIPE_SUFFIXES) and "|" not in stripped and "=" not in stripped:
            return cls.load(stripped)
        if stripped[0] in "[{":
            try:
                return cls.from_data(json.loads(stripped))
            except json.JSONDecodeError as exc:
                raise RecipeError(f"recipe is not valid JSON: {exc.msg} at column {exc.colno}") from None
        return cls.from_compact(stripped)

    @classmethod
    def from_compact(cls, text: str) -> Recipe:
        ops = []
        for segment in _split_pipes(text):
            try:
                words = shlex.split(segment)
            except ValueError as exc:
                raise RecipeError(f"cannot parse recipe step '{segment.strip()}': {exc}") from None
            if not words:
                raise RecipeError(f"empty step in recipe '{text}'")
            name, *assignments = words
            params: dict[str, str] = {}
            for item in assignments:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise RecipeError(f"op '{name}': expected key=value, got '{item}'")
                params[key] = value
            ops.append(get_op(name).create(**params))
        return cls(tuple(ops))

    @classmethod
    def from_data(cls, data: Any) -> Recipe:
        """From parsed YAML/JSON: a list of steps, or a mapping with an ``ops`` list. A step is
        ``{op: name, params: {...}}`` or the short ``{name: {...}}``."""
        steps = data.get("ops") if isinstance(data, dict) else data
        if not isinstance(steps, list) or not steps:
            raise RecipeError("a recipe must be a non-empty list of ops (or a mapping with an 'ops' list)")
        ops = []
        for i, step in enumerate(steps, 1):
            if isinstance(step, str):
                name, params = step, {}
            elif isinstance(step, dict) and "op" in step:
                name, params = step["op"], step.get("params") or {}
                extra = set(step) - {"op", "params"}
                if extra:
                    raise RecipeError(f"recipe step {i}: unexpected keys {sorted(extra)}")
            elif isinstance(step, dict) and len(step) == 1:
                name, params = next(iter(step.items()))
                params = params or {}
            else:
                raise RecipeError(
                    f"recipe step {i} must be 'name', {{op: name, params: ...}} or {{name: params}}"
                )
            if not isinstance(params, dict):
                raise RecipeError(f"recipe step {i} ({name}): params must be a mapping")
            ops.append(get_op(str(name)).create(**params))
        return cls(tuple(ops))

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        p = Path(path)
        if not p.is_file():
            raise UsageError("recipe file not found", p)
        try:
            text = p.read_text(encoding="utf-8")
            data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise RecipeError(f"cannot parse recipe: {str(exc).splitlines()[0]}", p) from None
        try:
            return cls.from_data(data)
        except RecipeError as exc:
            raise RecipeError(exc.message, p) from None

    # -- serialization -------------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        return {"ops": [op.to_spec() for op in self.ops]}

    def to_compact(self) -> str:
        parts = []
        for op in self.ops:
            spec = op.to_spec()
            args = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in spec["params"].items())
            parts.append(f"{spec['op']} {args}".strip())
        return " | ".join(parts)

    def dump(self, path: str | Path) -> None:
        p = Path(path)
        data = self.to_data()
        text = json.dumps(data, indent=2) if p.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
        p.write_text(text, encoding="utf-8")

    def __str__(self) -> str:
        return self.to_compact()

    def with_params(self, op_name: str, **changes: Any) -> Recipe:
        """The recipe with ``changes`` applied to every step that is op ``op_name`` (each
        checked like any parameter); other steps are kept as they are."""
        return Recipe(
            tuple(
                type(op).create(**{**op.param_values(), **changes}) if op.name == op_name else op
                for op in self.ops
            )
        )

    # -- behaviour -----------------------------------------------------------------------------

    def output_info(self, info: VideoInfo) -> VideoInfo:
        for op in self.ops:
            info = _produced(op, op.output_info(info))
        return info

    def bind(self, info: VideoInfo) -> Recipe:
        """The recipe made ready for an input described by ``info``: each op is bound to the
        stream the ops before it make (see :meth:`Op.bind`)."""
        ops = []
        for op in self.ops:
            op = op.bind(info)
            info = _produced(op, op.output_info(info))
            ops.append(op)
        return Recipe(tuple(ops))

    @property
    def reads_pixels(self) -> bool:
        """Whether any op reads pixels; if none does, frames never leave their decoded form."""
        return any(op.reads_pixels for op in self.ops)

    def resources(self) -> Resources:
        """What the recipe needs while it runs (see :meth:`Op.resources`)."""
        total = Resources()
        for op in self.ops:
            total = total.combine(op.resources())
        return total

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """A JSON schema of a recipe (``{"ops": [steps]}``) over every registered op, for forms,
        validation in other tools and the auto-tuner."""
        from vidlab.ops.registry import list_ops

        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "vidlab recipe",
            "type": "object",
            "properties": {
                "ops": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"oneOf": [op.json_schema() for op in list_ops()]},
                }
            },
            "required": ["ops"],
        }

    def preroll(self) -> int:
        """Frames of history the whole chain needs: temporal pre-rolls add up along the chain."""
        return sum(op.preroll() for op in self.ops)

    def postroll(self) -> int:
        """Frames of look-ahead the whole chain needs (they add up like pre-rolls)."""
        return sum(op.postroll() for op in self.ops)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """The frames through every op, without one nested generator per op: each run of
        consecutive spatial ops is driven frame by frame in one loop (:func:`_spatial_run`), and
        only temporal ops chain generators, so a recipe of thousands of ops does not recurse."""
        stream = frames
        run: list[Op] = []
        for op in self.ops:
            if _is_spatial(op):
                run.append(op)
                continue
            if run:
                stream = _spatial_run(tuple(run), stream)
                run = []
            stream = op.process(stream)
        if run:
            stream = _spatial_run(tuple(run), stream)
        return stream


#: Temporal ops chain generators (each may hold frames back), so their number is bounded.
MAX_TEMPORAL_OPS = 200


def _is_spatial(op: Op) -> bool:
    """A spatial op maps each frame to one frame on its own: it can run in a flat loop."""
    return isinstance(op, SpatialOp) and op.kind == "spatial"


class _Feed:
    """The input of one spatial op's :meth:`~vidlab.ops.base.Op.process` generator, handed one
    frame at a time: the op maps each frame to one, so it never reads ahead."""

    __slots__ = ("done", "frame", "op")

    def __init__(self, op: Op) -> None:
        self.frame: Frame | None = None
        self.done = False
        self.op = op

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> Frame:
        frame, self.frame = self.frame, None
        if frame is None:
            if self.done:
                raise StopIteration
            raise RuntimeError(f"spatial op '{self.op.name}' read past the frame it was given")
        return frame


def _spatial_run(ops: tuple[Op, ...], frames: Iterator[Frame]) -> Iterator[Frame]:
    """Consecutive spatial ops over ``frames``, one frame through all of them at a time. Each op
    still runs its own ``process`` generator (per-stream state such as a keyer's colour stays),
    fed one frame before each pull; the generators sit side by side, not inside each other."""
    feeds = [_Feed(op) for op in ops]
    gens = [op.process(feed) for op, feed in zip(ops, feeds, strict=True)]
    try:
        for frame in frames:
            for feed, gen in zip(feeds, gens, strict=True):
                feed.frame = frame
                frame = next(gen)
            yield frame
        # end of stream: let each generator finish (its finally blocks), in order
        for i, (feed, gen) in enumerate(zip(feeds, gens, strict=True)):
            feed.done = True
            for extra in gen:  # a spatial op emits nothing here; pass anything on regardless
                yield from _spatial_tail(feeds[i + 1 :], gens[i + 1 :], extra)
    finally:
        for gen in gens:
            gen.close()


def _spatial_tail(feeds: list[_Feed], gens: list[Iterator[Frame]], frame: Frame) -> Iterator[Frame]:
    for feed, gen in zip(feeds, gens, strict=True):
        feed.frame = frame
        frame = next(gen)
    yield frame


def _produced(op: Op, info: VideoInfo) -> VideoInfo:
    """The stream after ``op``: one that gains an alpha plane has alpha from then on."""
    if "alpha" in op.produces_planes and not info.has_alpha:
        return info.with_changes(has_alpha=True)
    return info


def _split_pipes(text: str) -> list[str]:
    """Split on '|' outside quotes."""
    parts, buf, quote = [], [], ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "|":
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts
