"""One exception hierarchy for vidlab; the CLI turns each into one line and an exit code."""

from __future__ import annotations

import os


class VidlabError(Exception):
    """Base of every error vidlab raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class UsageError(VidlabError):
    """The request cannot be carried out as asked (bad option, unknown op, unwritable output): exit 2."""

    exit_code = 2


class MediaError(VidlabError):
    """The media itself is unreadable, truncated, corrupt or unsupported: exit 1."""

    exit_code = 1


class RecipeError(UsageError):
    """A recipe names an unknown op or parameter, or a value outside its range."""
