"""Lazy package attributes: a package names what it offers, and the submodule that holds each
name is imported on first use (so ``vidlab metrics`` does not load optical flow or the runner)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` resolving ``names`` (attribute -> module) on demand."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
