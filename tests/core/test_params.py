"""The parameter model: every kind coerces, validates and serializes; the schema drives forms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import pytest

from vidlab.core.errors import RecipeError
from vidlab.ops.base import Op, param
from vidlab.pipeline.recipe import Recipe


@dataclass(frozen=True)
class Sample(Op):
    """A test op with one parameter of each kind."""

    name: ClassVar[str] = "sample"
    flag: bool = param(False, help="a switch")
    count: int = param(3, min=1, max=9, help="a count")
    gain: float = param(0.5, min=0.0, max=1.0, help="a gain")
    label: str = param("x", help="free text")
    mode: str = param("a", choices=("a", "b"), help="a choice")
    rate: Fraction = param(Fraction(0), min=0, help="an exact rate")
    file: Path | None = param(None, type=Path, help="an optional file")


def test_kinds_and_coercion(tmp_path):
    kinds = {p.name: p.kind for p in Sample.params()}
    assert kinds == {"flag": "bool", "count": "int", "gain": "float", "label": "str", "mode": "choice",
                     "rate": "fraction", "file": "path"}  # fmt: skip
    f = tmp_path / "look.cube"
    f.write_text("x")
    op = Sample.create(flag="yes", count="4", gain="1", rate="30000/1001", file=str(f))
    assert (op.flag, op.count, op.gain, op.rate) == (True, 4, 1.0, Fraction(30000, 1001))
    assert op.file == f.resolve() and op.file.is_absolute()
    assert Sample.create(rate="29.97").rate == Fraction(30000, 1001)
    assert Sample(rate=60).rate == Fraction(60) and isinstance(Sample(rate=60).rate, Fraction)
    spec = op.to_spec()["params"]
    assert spec["rate"] == "30000/1001" and spec["file"] == str(f.resolve())
    json.dumps(op.to_spec())  # JSON-friendly


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"count": "0"}, "count=0 is out of range"),
        ({"count": "2.5"}, "not a valid int"),
        ({"mode": "c"}, "is not one of a, b"),
        ({"rate": "-1"}, "rate=-1 is out of range"),
        ({"rate": "fast"}, "not a valid fraction"),
        ({"flag": "maybe"}, "not a valid bool"),
        ({"nope": "1"}, "unknown parameter 'nope'"),
    ],
)
def test_bad_values_are_one_line_recipe_errors(raw, message):
    with pytest.raises(RecipeError, match=message) as info:
        Sample.create(**raw)
    assert "\n" not in str(info.value)


def test_a_path_must_exist_and_the_error_names_the_file(tmp_path):
    missing = tmp_path / "no_such.cube"
    with pytest.raises(RecipeError, match="file does not exist") as info:
        Sample.create(file=str(missing))
    assert info.value.path == str(missing)
    with pytest.raises(RecipeError, match="is a directory"):
        Sample.create(file=str(tmp_path))
    assert Sample.create(file="").file is None


def test_param_dicts_and_json_schema():
    d = {p["name"]: p for p in Sample.describe()["params"]}
    assert d["rate"] == {"name": "rate", "type": "fraction", "default": "0", "min": 0, "max": None,
                         "choices": None, "help": "an exact rate"}  # fmt: skip
    assert d["mode"]["choices"] == ["a", "b"] and d["file"]["default"] is None
    props = Sample.json_schema()["properties"]["params"]["properties"]
    assert props["count"] == {
        "type": "integer",
        "description": "a count",
        "default": 3,
        "minimum": 1,
        "maximum": 9,
    }
    assert props["file"]["type"] == ["string", "null"] and props["mode"]["enum"] == ["a", "b"]
    schema = Recipe.json_schema()
    names = {s["properties"]["op"]["const"] for s in schema["properties"]["ops"]["items"]["oneOf"]}
    assert {"identity", "interpolate", "lut", "pencil"} <= names


def test_ops_json_comes_from_the_library(tmp_path):
    from conftest import run_cli

    res = run_cli("ops", "interpolate", "--json")
    assert res.returncode == 0, res.stderr
    (op,) = json.loads(res.stdout)
    fps = next(p for p in op["params"] if p["name"] == "fps")
    assert fps["type"] == "fraction" and fps["default"] == "0"
    schema = json.loads(run_cli("ops", "--schema").stdout)
    assert schema["title"] == "vidlab recipe"
