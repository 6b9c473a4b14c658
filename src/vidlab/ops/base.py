"""The op model: typed, introspectable parameters; spatial ops that map frames; temporal ops
that transform a stream and declare the pre-roll they need to reach steady state.

Ops are frozen dataclasses (MoviePy 2's shape): parameters are fields declared with
:func:`param`, so the CLI, presets, the UI and the auto-tuner all read one definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.io.probe import VideoInfo

#: Stylizer sizes in pixels (stroke, dot cell, line width) are given at this frame height and
#: scaled with the frame, so a look is the same at 720p and 4K.
REFERENCE_HEIGHT = 1080

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One op parameter: what the CLI lists and what recipes are validated against."""

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""

    @property
    def range_text(self) -> str:
        if self.choices:
            return "|".join(self.choices)
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            return f"[{lo}, {hi}]"
        return ""

    def coerce(self, op: str, raw: Any) -> Any:
        """Turn a recipe value (often a string from the CLI) into this parameter's type."""
        try:
            if self.type is bool:
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text in _TRUE:
                    return True
                if text in _FALSE:
                    return False
                raise ValueError
            if self.type is int:
                if isinstance(raw, bool):
                    raise ValueError
                if isinstance(raw, float):
                    if not raw.is_integer():
                        raise ValueError
                    return int(raw)
                return int(str(raw).strip())
            if self.type is float:
                if isinstance(raw, bool):
                    raise ValueError
                return float(raw)
            return str(raw)
        except (TypeError, ValueError):
            raise RecipeError(f"op '{op}': {self.name}={raw!r} is not a valid {self.type.__name__}") from None

    def validate(self, op: str, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise RecipeError(f"op '{op}': {self.name}={value!r} is not one of {', '.join(self.choices)}")
        if self.type in (int, float) and not isinstance(value, bool):
            if value != value:  # NaN
                raise RecipeError(f"op '{op}': {self.name} must be a number, got NaN")
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise RecipeError(f"op '{op}': {self.name}={value:g} is out of range {self.range_text}")


def param(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    help: str = "",
    type: type | None = None,
) -> Any:
    """Declare an op parameter as a dataclass field carrying its :class:`ParamSpec` metadata."""
    ptype = type or builtin_type(default)
    spec = {"default": default, "min": min, "max": max, "choices": choices, "help": help, "type": ptype}
    return dataclasses.field(default=default, metadata={"vidlab_param": spec})


def builtin_type(value: Any) -> type:
    for t in (bool, int, float, str):
        if isinstance(value, t):
            return t
    raise TypeError(f"unsupported parameter default {value!r}")


class Op:
    """Base of every op. Subclasses are frozen dataclasses registered by ``name``."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "spatial"
    #: False for an op that never reads or changes pixels (``identity``): a recipe of such ops
    #: passes decoded frames to the encoder with no RGB conversion at all.
    reads_pixels: ClassVar[bool] = True

    # -- introspection -------------------------------------------------------------------------

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def params(cls) -> list[ParamSpec]:
        specs = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            meta = f.metadata.get("vidlab_param")
            if meta is not None:
                specs.append(ParamSpec(name=f.name, **meta))
        return specs

    @classmethod
    def create(cls, **raw: Any) -> Op:
        """Build the op from raw (possibly string) values, with clear errors for bad names/values."""
        specs = {p.name: p for p in cls.params()}
        values = {}
        for key, value in raw.items():
            if key not in specs:
                known = ", ".join(specs) or "none"
                raise RecipeError(f"op '{cls.name}': unknown parameter '{key}' (parameters: {known})")
            values[key] = specs[key].coerce(cls.name, value)
        return cls(**values)

    def __post_init__(self) -> None:
        for spec in self.params():
            value = getattr(self, spec.name)
            if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, spec.name, float(value))
                value = float(value)
            elif not isinstance(value, spec.type) or (spec.type is int and isinstance(value, bool)):
                raise RecipeError(
                    f"op '{self.name}': {spec.name}={value!r} is not a valid {spec.type.__name__}"
                )
            spec.validate(self.name, value)
        self.validate()

    def validate(self) -> None:
        """Cross-parameter checks; raise :class:`RecipeError`."""

    def param_values(self) -> dict[str, Any]:
        return {p.name: getattr(self, p.name) for p in self.params()}

    def to_spec(self) -> dict[str, Any]:
        """The recipe entry for this op: ``{"op": name, "params": {...}}`` (non-defaults only)."""
        params = {p.name: getattr(self, p.name) for p in self.params() if getattr(self, p.name) != p.default}
        return {"op": self.name, "params": params}

    # -- behaviour -----------------------------------------------------------------------------

    def output_info(self, info: VideoInfo) -> VideoInfo:
        """How this op changes the stream's description (size, fps...). Default: not at all."""
        return info

    def bind(self, info: VideoInfo) -> Op:
        """This op made ready for a stream described by ``info`` (the stream it will see). Most
        ops need nothing; an interpolator takes its source rate and time origin from it."""
        return self

    def preroll(self) -> int:
        """Frames of history needed before the first output is exact (0 for spatial ops)."""
        return 0

    def postroll(self) -> int:
        """Frames of look-ahead needed to finish the last output before a chunk's end (an
        interpolator needs the next frame); chunks decode this many past their end."""
        return 0

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        raise NotImplementedError


class SpatialOp(Op):
    """An op that maps each frame independently: implement :meth:`apply`."""

    kind: ClassVar[str] = "spatial"

    def apply(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            yield frame.with_image(self.apply(frame.image))


class TemporalOp(Op):
    """An op over the stream: may keep state, look back (declared as :meth:`preroll`) and change
    the frame count and timestamps. Implement :meth:`process` as a generator."""

    kind: ClassVar[str] = "temporal"

    def preroll(self) -> int:
        raise NotImplementedError
