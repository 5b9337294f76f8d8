"""The one exception hierarchy of the core, and the exit codes it maps to.

Deep code raises; ``cli.py`` prints the message once and exits with the code.
Messages are written for the user and never carry a session note.
"""

import re

EXIT_OK = 0
EXIT_REFUSED = 1  # the input was understood and refused (bad date, unknown code, ...)
EXIT_USAGE = 2  # the command line itself was wrong (typer/click usage errors)
EXIT_STORE = 3  # the store is missing, newer than this vpslog, locked or corrupt
EXIT_FIDELITY = 4  # `fidelity --strict` found a failing rule
EXIT_INTERNAL = 70  # a bug: rerun with --debug for the traceback


class VpslogError(Exception):
    """A problem to report to the user in one line."""

    exit_code = EXIT_REFUSED


class InputError(VpslogError):
    """Input that was understood and refused; nothing was written."""


class NotFoundError(InputError):
    """An id or code that names nothing in the store or the curriculum."""


class DataFileError(InputError):
    """A malformed file under schemas/ (curriculum, eligibility, rules)."""


class UsageError(VpslogError):
    exit_code = EXIT_USAGE


class StoreError(VpslogError):
    exit_code = EXIT_STORE


def describe_failure(exc: Exception) -> tuple[str, int]:
    """The one-line message and exit code of an error raised by a command (the typer CLI and quick
    entry report errors alike)."""
    import sqlite3
    import sys

    if isinstance(exc, VpslogError):
        return str(exc), exc.exit_code
    cipher = sys.modules.get("sqlcipher3.dbapi2")  # loaded only for an encrypted store
    if isinstance(exc, (sqlite3.Error, *([cipher.Error] if cipher else []))):
        return f"store problem: {exc}", EXIT_STORE
    return f"internal error ({type(exc).__name__}); rerun with --debug for the traceback", EXIT_INTERNAL


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters but the line break, and the bidirectional marks that reorder what a line shows."""


def shown(text: str) -> str:
    """A line as vpslog prints it, every control character but the line break escaped (and the
    bidirectional marks): a file name or a stored text in it (an escape sequence, a right-to-left
    override) is shown as it is, never run or reordered by the terminal."""
    return _CONTROL.sub(lambda found: repr(found[0])[1:-1], text)


def error_line(message: str) -> str:
    """An error as printed on stderr, on both paths."""
    return "error: " + shown(message)
