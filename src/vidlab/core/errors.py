"""One exception hierarchy for vidlab; the CLI turns each into one line and an exit code."""

from __future__ import annotations

import os


class VidlabError(Exception):
    """Base of every error vidlab raises on purpose. ``exit_code`` is what the CLI returns.

    Messages name the file (``path``) and the library's parameters, never a CLI flag;
    ``params`` lists the parameter names the message mentions, so a face (the CLI, the UI) can
    show them in its own terms (``start`` becomes ``--start``)."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        path: str | os.PathLike[str] | None = None,
        *,
        param: str | tuple[str, ...] | None = None,
    ) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())
        super().__init__(f"{self.path}: {message}" if self.path else message)

    def set_path(self, path: str | os.PathLike[str]) -> None:
        """Name the file the error is about (for an error raised where the file was unknown)."""
        self.path = os.fspath(path)
        self.args = (f"{self.path}: {self.message}",)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __reduce__(self) -> tuple[object, ...]:  # survives pickling between processes
        return (_rebuild, (type(self), self.message, self.path, self.params))


def _rebuild(cls: type[VidlabError], message: str, path: str | None, params: tuple[str, ...]) -> VidlabError:
    err = cls.__new__(cls)
    VidlabError.__init__(err, message, path, param=params)
    return err


class UsageError(VidlabError):
    """The request cannot be carried out as asked (bad option, unknown op, unwritable output): exit 2."""

    exit_code = 2


class MediaError(VidlabError):
    """The media itself is unreadable, truncated, corrupt or unsupported: exit 1."""

    exit_code = 1


class RecipeError(UsageError):
    """A recipe names an unknown op or parameter, or a value outside its range."""


class ModelError(MediaError):
    """A model file is unreadable, corrupt, of the wrong layout or fails its hash check: exit 1."""


class MissingDependencyError(UsageError):
    """An optional dependency a feature needs is not installed (the message says which extra)."""
