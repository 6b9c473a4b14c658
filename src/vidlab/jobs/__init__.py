"""The job queue: a SQLite :class:`~vidlab.jobs.store.Store` (jobs, events, logs, ratings,
presets, tuning runs), :class:`~vidlab.jobs.worker.Worker` that runs jobs through
:func:`vidlab.pipeline.execute`, and the :class:`~vidlab.jobs.workspace.Workspace` that confines
every path. The CLI and the UI read and write jobs only through the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidlab.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from vidlab.jobs.params import render_params
    from vidlab.jobs.store import Job, Store
    from vidlab.jobs.worker import Worker
    from vidlab.jobs.workspace import Workspace, confine

_LAZY = {
    "Job": "vidlab.jobs.store",
    "Store": "vidlab.jobs.store",
    "Worker": "vidlab.jobs.worker",
    "Workspace": "vidlab.jobs.workspace",
    "confine": "vidlab.jobs.workspace",
    "render_params": "vidlab.jobs.params",
}
__all__ = ["Job", "Store", "Worker", "Workspace", "confine", "render_params"]

__getattr__ = lazy_getattr(__name__, _LAZY)
