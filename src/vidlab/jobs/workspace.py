"""The workspace: the one folder a job store, its jobs and every path they name live in.

Relative paths are taken in the workspace; a path that leaves it (``..``, an absolute path
elsewhere, a symlink pointing out) is refused with one line. The CLI and the UI both confine
user paths through :func:`confine` before they reach the store."""

from __future__ import annotations

import os
from pathlib import Path

from vidlab.core.errors import UsageError

STATE_DIR = ".vidlab"
DB_NAME = "jobs.db"


class Workspace:
    """A folder that holds ``.vidlab/jobs.db`` and the per-job folders ``.vidlab/jobs/<id>``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        base = Path(root) if root is not None else Path.cwd()
        if not base.is_dir():
            raise UsageError("the workspace is not a folder", base, param="workspace")
        self.root = base.resolve()

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_NAME

    def job_dir(self, job_id: int) -> Path:
        """The folder a job keeps its manifest and chunk segments in."""
        return self.state_dir / "jobs" / str(int(job_id))

    def confine(self, path: str | os.PathLike[str], *, param: str | None = None) -> Path:
        """``path`` resolved in the workspace (see :func:`confine`)."""
        return confine(self.root, path, param=param)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` as shown to a user: relative to the workspace when it is inside."""
        p = Path(path)
        try:
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p)


def confine(root: str | os.PathLike[str], path: str | os.PathLike[str], *, param: str | None = None) -> Path:
    """Resolve ``path`` (relative ones in ``root``), following symlinks, and refuse it with a
    one-line :class:`UsageError` unless the result lies inside ``root``. Paths that do not
    exist yet (outputs) are resolved through their nearest existing parent."""
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise UsageError("empty or invalid path", param=param)
    base = Path(root).resolve()
    p = Path(text).expanduser() if text.startswith("~") else Path(text)
    candidate = p if p.is_absolute() else base / p
    resolved = candidate.resolve(strict=False)  # follows every symlink that exists
    if resolved != base and not resolved.is_relative_to(base):
        why = " (through a symlink)" if _has_symlink(candidate, base) else ""
        raise UsageError(f"path is outside the workspace {base}{why}", text, param=param)
    return resolved


def _has_symlink(candidate: Path, base: Path) -> bool:
    p = candidate
    while p != p.parent:
        if p.is_symlink():
            return True
        p = p.parent
    return False
