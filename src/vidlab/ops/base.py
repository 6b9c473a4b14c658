"""The op model: typed, introspectable parameters; spatial ops that map frames; temporal ops
that transform a stream and declare the pre-roll they need to reach steady state.

Ops are frozen dataclasses (MoviePy 2's shape): parameters are fields declared with
:func:`param`, so the CLI, presets, the UI and the auto-tuner all read one definition.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.core.params import ParamSpec, builtin_type, param, specs_of
from vidlab.io.probe import VideoInfo

__all__ = [
    "REFERENCE_HEIGHT",
    "Op",
    "ParamSpec",
    "Resources",
    "SpatialOp",
    "TemporalOp",
    "builtin_type",
    "param",
    "process_state",
]

T = TypeVar("T")

#: Stylizer sizes in pixels (stroke, dot cell, line width) are given at this frame height and
#: scaled with the frame, so a look is the same at 720p and 4K.
REFERENCE_HEIGHT = 1080


@dataclass(frozen=True, slots=True)
class Resources:
    """What one running instance of an op needs: CPU threads it keeps busy and whether it
    wants a GPU. Executors size their workers from the recipe's total (see
    :meth:`vidlab.pipeline.recipe.Recipe.resources`)."""

    threads: int = 1
    gpu: bool = False

    def combine(self, other: Resources) -> Resources:
        """A recipe's ops run one after the other on the ops stage's thread, so the recipe needs
        the most threads any op needs, and a GPU if any op wants one."""
        return Resources(max(self.threads, other.threads), self.gpu or other.gpu)


class ProcessState:
    """Heavy state (a model session, a baked table, a thread pool) opened once per process and
    shared by every chunk and every equal op that runs in it. Keyed by the op's name, its
    parameters and what is opened; thread-safe; each open is counted, so a worker that ran
    many chunks can show it opened a model once."""

    def __init__(self) -> None:
        self._items: dict[tuple[Any, ...], Any] = {}
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._guard = threading.Lock()
        self.opened: list[str] = []

    def get(self, key: tuple[Any, ...], open_: Callable[[], T]) -> T:
        try:
            return self._items[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._items:
                self._items[key] = open_()
                self.opened.append(_key_text(key))
        return self._items[key]  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self._guard:
            self._items.clear()
            self._locks.clear()


def _key_text(key: tuple[Any, ...]) -> str:
    name, params, what = key
    args = " ".join(f"{k}={v}" for k, v in params)
    return f"{name}[{what}] {args}".strip()


_STATE = ProcessState()


def process_state() -> ProcessState:
    """This process's :class:`ProcessState` (pid-aware: a forked child starts empty)."""
    global _STATE, _STATE_PID
    if os.getpid() != _STATE_PID:
        _STATE, _STATE_PID = ProcessState(), os.getpid()
    return _STATE


_STATE_PID = os.getpid()


class Op:
    """Base of every op. Subclasses are frozen dataclasses registered by ``name``."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "spatial"
    #: False for an op that never reads or changes pixels (``identity``): a recipe of such ops
    #: passes decoded frames to the encoder with no RGB conversion at all.
    reads_pixels: ClassVar[bool] = True
    #: The planes this op adds to its frames (``("alpha",)`` for a keyer or a matting model);
    #: a recipe's output then carries them, and the writer encodes alpha where it can.
    produces_planes: ClassVar[tuple[str, ...]] = ()

    # -- introspection -------------------------------------------------------------------------

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def params(cls) -> list[ParamSpec]:
        return specs_of(cls)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The op for tools and forms: name, kind, summary and every parameter's spec."""
        return {
            "name": cls.name,
            "kind": cls.kind,
            "help": cls.summary(),
            "params": [p.to_dict() for p in cls.params()],
        }

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """A JSON schema of this op's recipe step ``{"op": name, "params": {...}}``."""
        return {
            "type": "object",
            "description": cls.summary(),
            "properties": {
                "op": {"const": cls.name},
                "params": {
                    "type": "object",
                    "properties": {p.name: p.json_schema() for p in cls.params()},
                    "additionalProperties": False,
                },
            },
            "required": ["op"],
            "additionalProperties": False,
        }

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
            raw = getattr(self, spec.name)
            value = spec.check_type(self.name, raw)
            if value is not raw:
                object.__setattr__(self, spec.name, value)
            spec.validate(self.name, value)
        self.validate()

    def validate(self) -> None:
        """Cross-parameter checks; raise :class:`RecipeError`."""

    def param_values(self) -> dict[str, Any]:
        return {p.name: getattr(self, p.name) for p in self.params()}

    def to_spec(self) -> dict[str, Any]:
        """The recipe entry for this op: ``{"op": name, "params": {...}}`` (non-defaults only,
        in their JSON form)."""
        params = {
            p.name: p.to_json(getattr(self, p.name))
            for p in self.params()
            if getattr(self, p.name) != p.default
        }
        return {"op": self.name, "params": params}

    # -- heavy state and resources -------------------------------------------------------------

    def state(self, what: str, open_: Callable[[], T]) -> T:
        """``open_()``'s result, made once per process for these parameters and reused by every
        chunk the process runs (a model session, a palette, a baked table, a thread pool). The
        op itself stays a frozen set of parameters."""
        params = tuple((p.name, getattr(self, p.name)) for p in self.params())
        return process_state().get((self.name, params, what), open_)

    def resources(self) -> Resources:
        """What one instance needs while it runs (default: one thread, no GPU)."""
        return Resources()

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
