"""Ops registered by name; third-party ops arrive through the ``vidlab.ops`` entry-point group."""

from __future__ import annotations

import difflib
import importlib
import logging
from importlib.metadata import entry_points

from vidlab.core.errors import RecipeError
from vidlab.ops.base import Op

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vidlab.ops"
_BUILTIN_MODULES = (
    "vidlab.ops.basic",
    "vidlab.ops.temporal",
    "vidlab.ops.pencil",
    "vidlab.ops.comic",
    "vidlab.ops.cartoon",
    "vidlab.ops.grade",
    "vidlab.ops.stabilize",
    "vidlab.ops.enhance",
    "vidlab.ops.interpolate",
    "vidlab.ops.key",
    "vidlab.ops.neural",
    "vidlab.ops.neural_style",
    "vidlab.ops.matte",
)

# Where each built-in op lives, so a recipe loads only the modules it uses (and never scans
# installed packages for entry points unless it names an op that is not built in). A test
# checks this table against the modules.
BUILTIN_OPS = {
    "identity": "vidlab.ops.basic",
    "resize": "vidlab.ops.basic",
    "denoise": "vidlab.ops.basic",
    "sharpen": "vidlab.ops.basic",
    "ema": "vidlab.ops.temporal",
    "pencil": "vidlab.ops.pencil",
    "comic": "vidlab.ops.comic",
    "cartoon": "vidlab.ops.cartoon",
    "lut": "vidlab.ops.grade",
    "tone": "vidlab.ops.grade",
    "bloom": "vidlab.ops.grade",
    "grain": "vidlab.ops.grade",
    "vignette": "vidlab.ops.grade",
    "flow_stabilize": "vidlab.ops.stabilize",
    "edge_stabilize": "vidlab.ops.stabilize",
    "bilateral": "vidlab.ops.enhance",
    "deblock": "vidlab.ops.enhance",
    "neural_enhance": "vidlab.ops.neural",
    "neural_style": "vidlab.ops.neural_style",
    "interpolate": "vidlab.ops.interpolate",
    "chromakey": "vidlab.ops.key",
    "segment_background": "vidlab.ops.matte",
    "segment_person": "vidlab.ops.matte",
    "segment_onnx": "vidlab.ops.matte",
    "segment_rvm": "vidlab.ops.matte",
    "matte_refine": "vidlab.ops.matte",
    "matte_temporal": "vidlab.ops.matte",
}

_OPS: dict[str, type[Op]] = {}
_loaded = False


def register_op(cls: type[Op]) -> type[Op]:
    """Class decorator: make ``cls`` available to recipes under ``cls.name``."""
    if not cls.name or not cls.name.replace("_", "").isalnum() or cls.name != cls.name.lower():
        raise ValueError(f"op name must be a lowercase identifier, got {cls.name!r}")
    existing = _OPS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"op '{cls.name}' is already registered by {existing.__module__}")
    _OPS[cls.name] = cls
    return cls


def load_plugins() -> None:
    """Import built-in ops, then every ``vidlab.ops`` entry point (an Op class or a module that
    registers ops). A broken plugin is logged and skipped, never fatal."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            log.warning("skipping op plugin %s (%s): %s", ep.name, ep.value, exc)
            continue
        if isinstance(obj, type) and issubclass(obj, Op) and obj.name not in _OPS:
            register_op(obj)


def reload_plugins() -> None:
    """Forget which entry points were seen and load them again (after installing a plugin)."""
    global _loaded
    _loaded = False
    load_plugins()


def get_op(name: str) -> type[Op]:
    if name in _OPS:
        return _OPS[name]
    if name in BUILTIN_OPS:
        importlib.import_module(BUILTIN_OPS[name])
        if name in _OPS:
            return _OPS[name]
    load_plugins()
    try:
        return _OPS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _OPS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise RecipeError(f"unknown op '{name}'{hint} (run 'vidlab ops' to list them)") from None


def list_ops() -> list[type[Op]]:
    load_plugins()
    return [_OPS[k] for k in sorted(_OPS)]
