"""The parameter model: typed, introspectable parameters declared once with :func:`param`.

The CLI, recipes, presets, the UI's forms and the auto-tuner all read the same definition
(:class:`ParamSpec`, with a JSON form from :meth:`ParamSpec.to_dict`). Types: ``bool``,
``int``, ``float``, ``str``, a choice (a ``str`` with ``choices``), an exact ``Fraction``
(frame rates: ``30000/1001`` stays exact) and a file path (``Path``, checked to exist).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidlab.core.errors import RecipeError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001)}

#: JSON-schema type of each parameter kind.
_JSON_TYPES = {
    "bool": "boolean",
    "int": "integer",
    "float": "number",
    "str": "string",
    "choice": "string",
    "fraction": "string",
    "path": "string",
}


def fraction_text(value: Fraction) -> str:
    """``30000/1001``, or ``60`` for a whole number."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def parse_fraction(raw: Any) -> Fraction:
    """An exact Fraction from ``60``, ``"60000/1001"``, ``"29.97"`` (NTSC's 30000/1001) or a float."""
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(raw, Fraction):
        return raw
    if isinstance(raw, int):
        return Fraction(raw)
    text = str(raw).strip()
    return _NTSC.get(text) or Fraction(text)


@dataclasses.dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: what the CLI lists, what recipes are validated against, what the UI draws.

    A path parameter's value is the resolved absolute path (so a recipe stored in a job's
    manifest still finds its file from another folder); ``None`` means "no file" when that is
    the default."""

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""

    @property
    def kind(self) -> str:
        """``bool``, ``int``, ``float``, ``str``, ``choice``, ``fraction`` or ``path``."""
        if self.choices is not None:
            return "choice"
        if self.type is Fraction:
            return "fraction"
        if issubclass(self.type, Path):
            return "path"
        return self.type.__name__

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
            if raw is None and self.default is None:
                return None
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
            if self.type is Fraction:
                return parse_fraction(raw)
            if issubclass(self.type, Path):
                text = str(raw).strip()
                if not text and self.default is None:
                    return None
                if not text:
                    raise ValueError
                return Path(text).expanduser().resolve()
            return str(raw)
        except (TypeError, ValueError, ZeroDivisionError):
            raise RecipeError(f"op '{op}': {self.name}={raw!r} is not a valid {self.kind}") from None

    def check_type(self, op: str, value: Any) -> Any:
        """``value`` as stored on the op (ints widen to float and Fraction), or a RecipeError."""
        if value is None and self.default is None:
            return None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.type is Fraction and isinstance(value, int | str) and not isinstance(value, bool):
            return self.coerce(op, value)
        if issubclass(self.type, Path) and isinstance(value, str):
            return self.coerce(op, value)
        if not isinstance(value, self.type) or (self.type in (int, float) and isinstance(value, bool)):
            raise RecipeError(f"op '{op}': {self.name}={value!r} is not a valid {self.kind}")
        return value

    def validate(self, op: str, value: Any) -> None:
        if value is None:
            return
        if self.choices is not None and value not in self.choices:
            raise RecipeError(f"op '{op}': {self.name}={value!r} is not one of {', '.join(self.choices)}")
        if self.type in (int, float, Fraction) and not isinstance(value, bool):
            if value != value:  # NaN
                raise RecipeError(f"op '{op}': {self.name} must be a number, got NaN")
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                shown = fraction_text(value) if isinstance(value, Fraction) else f"{value:g}"
                raise RecipeError(f"op '{op}': {self.name}={shown} is out of range {self.range_text}")
        if self.kind == "path" and not value.is_file():
            what = "is a directory, not a file" if value.is_dir() else "does not exist"
            raise RecipeError(f"op '{op}': {self.name}: file {what}", value)

    def to_json(self, value: Any) -> Any:
        """A value in its JSON/YAML form (Fractions as ``num/den``, paths as strings)."""
        if isinstance(value, Fraction):
            return fraction_text(value)
        if isinstance(value, Path):
            return str(value)
        return value

    def to_dict(self) -> dict[str, Any]:
        """The parameter for forms and tools: name, kind, default, range, choices, help."""
        return {
            "name": self.name,
            "type": self.kind,
            "default": self.to_json(self.default),
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices else None,
            "help": self.help,
        }

    def json_schema(self) -> dict[str, Any]:
        """This parameter as a JSON-schema property."""
        kind = self.kind
        schema: dict[str, Any] = {"type": _JSON_TYPES[kind], "description": self.help}
        if self.default is not None:
            schema["default"] = self.to_json(self.default)
        else:
            schema["type"] = [schema["type"], "null"]
        if self.choices:
            schema["enum"] = list(self.choices)
        if kind in ("int", "float"):
            if self.min is not None:
                schema["minimum"] = self.min
            if self.max is not None:
                schema["maximum"] = self.max
        if kind == "fraction":
            schema["pattern"] = r"^\s*\d+(\.\d+)?(\s*/\s*\d+)?\s*$"
        if kind == "path":
            schema["format"] = "path"
        return schema


def param(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    help: str = "",
    type: type | None = None,
) -> Any:
    """Declare a parameter as a dataclass field carrying its :class:`ParamSpec` metadata. The
    type comes from the default unless given (``type=Path`` with ``default=None`` for an
    optional file; ``Fraction(0)`` for an exact rate)."""
    ptype = type or builtin_type(default)
    spec = {"default": default, "min": min, "max": max, "choices": choices, "help": help, "type": ptype}
    return dataclasses.field(default=default, metadata={"vidlab_param": spec})


def builtin_type(value: Any) -> type:
    for t in (bool, int, float, str, Fraction):
        if isinstance(value, t):
            return t
    if isinstance(value, Path):
        return Path
    raise TypeError(f"unsupported parameter default {value!r}")


def specs_of(cls: type) -> list[ParamSpec]:
    """The :class:`ParamSpec` of every ``param()`` field of a dataclass, in order."""
    specs = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("vidlab_param")
        if meta is not None:
            specs.append(ParamSpec(name=f.name, **meta))
    return specs
