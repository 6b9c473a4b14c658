"""What every page shares: the workspace, its job store and a one-line error display."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from vidlab.core.errors import VidlabError
from vidlab.jobs.store import Store
from vidlab.jobs.workspace import Workspace
from vidlab.ui import logic

T = TypeVar("T")


def workspace() -> Workspace:
    return logic.workspace_from_args()


@st.cache_resource(show_spinner=False)
def _store(root: str) -> Store:
    return Store.open(root)


def store() -> Store:
    """The workspace's store (one per workspace per server process; it is thread-safe)."""
    return _store(str(workspace().root))


def attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call ``fn``; a vidlab error is shown as one line (and None returned)."""
    try:
        return fn(*args, **kwargs)
    except VidlabError as exc:
        st.error(str(exc))
        return None


def header(title: str) -> tuple[Workspace, Store]:
    ws = workspace()
    st.title(title)
    st.caption(f"workspace: {ws.root}")
    return ws, store()


def param_widgets(op: str, prefix: str, initial: dict[str, Any] | None = None) -> dict[str, Any]:
    """One widget per parameter of ``op``, built from its ParamSpec schema; returns the values
    (only those the user can set; the op checks them again when the recipe is built)."""
    values: dict[str, Any] = {}
    initial = initial or {}
    for spec in logic.param_specs(op):
        name, key = spec["name"], f"{prefix}-{op}-{spec['name']}"
        default = initial.get(name, spec.get("default"))
        kind = logic.widget_kind(spec)
        help_ = spec.get("help") or None
        if kind == "checkbox":
            values[name] = st.checkbox(name, value=bool(default), key=key, help=help_)
        elif kind == "select":
            choices = list(spec.get("choices") or [])
            index = choices.index(default) if default in choices else 0
            values[name] = st.selectbox(name, choices, index=index, key=key, help=help_)
        elif kind == "slider":
            lo, hi = spec["min"], spec["max"]
            if spec["type"] == "int":
                value = int(default) if default is not None else int(lo)
                values[name] = st.slider(name, int(lo), int(hi), value, key=key, help=help_)
            else:
                value = float(default) if default is not None else float(lo)
                step = (float(hi) - float(lo)) / 100 or 0.01
                values[name] = st.slider(name, float(lo), float(hi), value, step=step, key=key, help=help_)
        elif kind == "number":
            if default is None:
                text = st.text_input(name, "", key=key, help=help_)
                if text.strip():
                    values[name] = text.strip()
            elif spec["type"] == "int":
                values[name] = st.number_input(name, value=int(default), step=1, key=key, help=help_)
            else:
                values[name] = st.number_input(name, value=float(default), key=key, help=help_)
        else:
            text = st.text_input(name, "" if default is None else str(default), key=key, help=help_)
            if text.strip():
                values[name] = text.strip()
    return values
