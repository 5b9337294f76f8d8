"""The one exception hierarchy of the core, and the exit codes it maps to.

Deep code raises; ``cli.py`` prints the message once and exits with the code.
Messages are written for the user and never carry a session note.
"""

import errno
import re

EXIT_OK = 0
EXIT_REFUSED = 1  # the input was understood and refused (bad date, unknown code, ...)
EXIT_USAGE = 2  # the command line itself was wrong (typer/click usage errors)
EXIT_STORE = 3  # the store is missing, newer than this vpslog, locked or corrupt
EXIT_FIDELITY = 4  # `fidelity --strict` found a failing rule
EXIT_INTERNAL = 70  # a bug: rerun with --debug for the traceback
EXIT_IO = 74  # the system refused a read or a write (a full disk, an I/O error), as sysexits.h has it


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


class SavedUnwitnessed(VpslogError):
    """A write committed whose witness file the system would not let be updated (a full disk)."""

    exit_code = EXIT_IO


_SYSTEM_REFUSED = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EIO", "EFBIG", "EROFS")
                            if hasattr(errno, name))
"""An OSError with one of these is the machine's (a full disk or quota, a failing device, a file too
big, a read-only file system), not a bug: said in one line, exit 74."""
_PATH_REFUSED = frozenset(getattr(errno, name) for name in ("EACCES", "EPERM", "ENOENT", "ENOTDIR", "EISDIR",
                                                            "ENAMETOOLONG", "ELOOP") if hasattr(errno, name))
"""An OSError with one of these names a path that cannot be used (a folder like /proc or /sys, one
without permission, a name too long): said with the path, exit 1, as the input it is."""
SQLITE_IOERR, SQLITE_FULL = 10, 13
"""SQLite's own codes for the same (the extended codes' low byte): its file's disk is full, or failing."""
_UNDECODABLE = re.compile(r"Could not decode to UTF-8 column '(.*?)' with text ")
"""Python's sqlite3 says so of a stored value that is not UTF-8, quoting the value (a note, or a
whole batch of an export's lines): the column is said, never the text."""


def system_refused(exc: Exception) -> bool:
    """Whether a SQLite error is the system's refusal (its disk full or failing), not the store's fault."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF in (SQLITE_FULL, SQLITE_IOERR)


def describe_failure(exc: Exception) -> tuple[str, int]:
    """The one-line message and exit code of an error raised by a command (the typer CLI and quick
    entry report errors alike)."""
    import sqlite3
    import sys

    if isinstance(exc, VpslogError):
        return str(exc), exc.exit_code
    cipher = sys.modules.get("sqlcipher3.dbapi2")  # loaded only for an encrypted store
    if isinstance(exc, (sqlite3.Error, *([cipher.Error] if cipher else []))):
        if system_refused(exc):
            return f"the system refused a read or write (SQLite: {exc})", EXIT_IO
        if undecodable := _UNDECODABLE.match(str(exc)):
            where = f" in column {undecodable[1]}" if undecodable[1].isidentifier() else ""  # an export's is SQL
            return (f"store problem: a stored value{where} is not UTF-8 text, which vpslog never writes: the "
                    "store was changed outside vpslog (the value is not shown)"), EXIT_STORE
        return f"store problem: {exc}", EXIT_STORE
    if isinstance(exc, OSError) and exc.errno in _SYSTEM_REFUSED:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"the system refused a read or write{where}: {exc.strerror}", EXIT_IO
    if isinstance(exc, OSError) and exc.filename and exc.errno in _PATH_REFUSED:
        return f"{exc.filename} cannot be used: {exc.strerror}", EXIT_REFUSED
    return f"internal error ({type(exc).__name__}); rerun with --debug for the traceback", EXIT_INTERNAL


def printable(text: str) -> str:
    """Control and other invisible characters as escapes (`\\x1b`, `\\n`, `\\u202e`), the rest as is:
    how stored or typed text reaches a terminal (listings, reports, messages), never run or reordered."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def shown(text: str) -> str:
    """A line as vpslog prints it (errors, warnings, notes, what a command did): `printable`, its
    line breaks kept (an import's refusal lists a bad row a line)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def error_line(message: str) -> str:
    """An error as printed on stderr, on both paths."""
    return "error: " + shown(message)
