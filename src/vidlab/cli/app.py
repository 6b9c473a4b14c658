"""``vidlab`` command line. Each command parses options, calls the library and reports; the
commands live by area in :mod:`vidlab.cli.run`, :mod:`~vidlab.cli.style`, :mod:`~vidlab.cli.lab`
and :mod:`~vidlab.cli.interp`, and share :mod:`vidlab.cli.common`.

User errors (:class:`vidlab.core.errors.VidlabError`) become one line on stderr and exit code 2
(usage), 1 (media) or 130 (cancelled); a traceback is shown only with ``VIDLAB_DEBUG=1``.
Click's own argument errors (a bad value, an unknown option, a missing argument) are one line
too, ``vidlab: error: MESSAGE (see vidlab CMD --help)``, exit 2; help (``--help``, or a
command given without its arguments) is shown as click shows it.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from vidlab.cli.common import CLICK_ERROR, app, click_message, invoked_command, user_message
from vidlab.core.errors import VidlabError
from vidlab.core.events import Cancelled

__all__ = ["app", "main"]

# Each area module registers its commands; --help lists them in this order.
for _area in ("run", "style", "interp", "layers", "lab", "train", "models", "jobs", "tune", "hardware", "ui"):
    importlib.import_module(f"vidlab.cli.{_area}")


def main() -> None:
    """Console entry point: one line and an exit code for every user error."""
    try:
        code = app(prog_name="vidlab", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)  # typer.Exit(code) / ctx.exit(code) from a command
    except CLICK_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # a command without its arguments: its help, as before
        else:
            print(f"vidlab: error: {click_message(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("vidlab: interrupted", file=sys.stderr)
        sys.exit(130)
    except Cancelled as exc:
        if exc.reason == "interrupted":
            print(
                "vidlab: interrupted: nothing was written; a chunked job keeps its finished chunks, "
                "so the same command resumes it",
                file=sys.stderr,
            )
        else:
            print(f"vidlab: {exc.reason}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except VidlabError as exc:
        print(f"vidlab: error: {user_message(exc, invoked_command(sys.argv))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("vidlab: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("VIDLAB_DEBUG"):
            raise
        print(
            f"vidlab: internal error: {type(exc).__name__}: {exc} (VIDLAB_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
