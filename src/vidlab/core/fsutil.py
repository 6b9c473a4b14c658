"""Crash-safe file replacement, shared by job manifests and segments received from workers, and
the temporary names every output is written under first.

A temporary file or folder is named ``{prefix}.{pid}.{hex}.partial{suffix}`` beside what it
becomes, and its writer holds an exclusive ``flock`` on it while writing. A later writer of the
same target removes the ones whose writer is gone (:func:`remove_stale_temps`): both the pid in
the name no longer runs *and* the lock can be taken (the OS drops it when its holder dies, and
it also guards writers in another pid namespace or on another host sharing the folder). A live
writer's temporary file is never touched."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

# Targets whose folder write_atomic has already swept in this process (manifests are rewritten
# after every chunk; one look for a killed writer's leftovers is enough).
_swept: set[str] = set()


def temp_path(folder: Path, prefix: str, suffix: str = "") -> Path:
    """A fresh temporary name in ``folder`` naming its writer: ``{prefix}.{pid}.{hex}.partial{suffix}``."""
    return folder / f"{prefix}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial{suffix}"


def hold(fd: int) -> bool:
    """Take an exclusive lock on an open file or folder ``fd`` for as long as it stays open
    (False where the file system has no locks: the pid in the name then still protects it)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def open_held(path: Path) -> int | None:
    """Open an existing temporary file or folder and lock it; None when it cannot be opened or
    locked (held by a live writer, gone, or on a file system without locks)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    if hold(fd):
        return fd
    os.close(fd)
    return None


def release(fd: int | None) -> None:
    """Close (and so unlock) what :func:`hold` or :func:`open_held` locked."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return True  # ours (another writer in this process), or not a pid: never stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temps(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove the temporary files or folders of one target (named by :func:`temp_path` with this
    ``prefix`` and ``suffix``) that a killed writer left in ``folder``; log one line when any
    were removed. A temporary whose writer still runs (its pid is alive, or it holds its lock)
    stays. Never raises: a folder that cannot be read has nothing to clean."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.[0-9a-f]{8}\.partial" + re.escape(suffix))
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return []
    removed: list[Path] = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or _alive(int(m[1])):
            continue
        path = folder / name
        fd = open_held(path)
        if fd is None:
            continue
        try:
            if os.fstat(fd).st_ino != os.lstat(path).st_ino:
                continue  # replaced meanwhile: not the one we checked
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue
        finally:
            release(fd)
    if removed:
        log.info(
            "removed %d temporary file%s left by a killed run: %s",
            len(removed),
            "" if len(removed) == 1 else "s",
            ", ".join(map(str, removed)),
        )
    return removed


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` so that a crash leaves either the old file or the new one, never a mix:
    a temporary file beside it (locked while written, see the module), fsync, rename, then
    fsync of the folder. A failure is an ``OSError`` naming ``path``, not the temporary file."""
    path = Path(path)
    folder = path.parent
    key = os.path.abspath(path)
    if key not in _swept:
        _swept.add(key)
        remove_stale_temps(folder, f".{path.name}")
    tmp = temp_path(folder, f".{path.name}")
    try:
        with open(tmp, "xb") as f:
            hold(f.fileno())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # still locked: a sweeper never sees it unheld
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), os.fspath(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
