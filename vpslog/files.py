"""Private files: created new, owner-only, never through a symbolic link.

Stores, backups, exports and the secret hold identified records, so vpslog
only ever creates a file that did not exist (O_EXCL), never writes through a
link someone placed at the name (O_NOFOLLOW), and builds anything larger than
a line under a temporary name that is moved into place only when complete.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from vpslog.errors import StoreError

PLAIN_HEADER = b"SQLite format 3\x00"
"""How a plain SQLite file begins (an encrypted one begins with a random salt)."""


def link_refusal(path: Path) -> str | None:
    """Why vpslog will not create `path` when it is a symbolic link (dangling or not); else None."""
    if not path.is_symlink():
        return None
    gone = "" if path.exists() else ", which does not exist"
    return f"{path} is a symbolic link to {os.readlink(path)}{gone}; vpslog does not create files through links"


def new_file_refusal(path: Path) -> str | None:
    """Why vpslog will not create `path` as a new file (a link, anything already there, or a name too
    long for the temp file it is built as); else None."""
    if str(path) == "-":  # what exports read as standard output: a file called `-` is never what was meant
        return "- is not taken as a file name (to an export's --out it means standard output)"
    if path.is_dir() and not path.is_symlink():  # `--out ""` reads as `.`
        return f"{path} is a folder ({path.resolve()}), not a new file"
    return link_refusal(path) or (f"{path} already exists" if path.exists() else None) or name_refusal(path)


TEMP_NAME_EXTRA = len(".") + len(".tmp-") + 7 + len("-") + 12 + len("-journal")
"""What a temp name (`.NAME.tmp-PID-…`, and SQLite's `-journal` beside a copy) adds to NAME."""


def name_refusal(path: Path) -> str | None:
    """Why `path`'s name is too long for vpslog to build it beside itself under a temp name; else None."""
    try:
        limit = os.pathconf(path.parent if path.parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len(os.fsencode(path.name)) + TEMP_NAME_EXTRA <= limit:
        return None
    return (f"{path}: the name is too long: at most {limit - TEMP_NAME_EXTRA} bytes here, since files are made "
            "beside it under longer names (a temp copy, SQLite's journal)")  # the path whole, as every file named is


def create_private_folders(folder: Path) -> None:
    """Create `folder` and any missing parent, each 0700 (mkdir's mode is filtered by the umask)."""
    for missing in [p for p in (*reversed(folder.parents), folder) if not p.exists()]:
        missing.mkdir(mode=0o700)
        os.chmod(missing, 0o700)


def open_new_private(path: Path) -> int:
    """A write descriptor on a new 0600 file at `path`; refused when anything, even a link, is there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise StoreError(new_file_refusal(path) or f"{path} already exists") from None
    os.fchmod(fd, 0o600)  # the umask may have taken bits away
    return fd


def create_private_file(path: Path) -> None:
    """Create `path` empty, readable by its owner only, and any missing folder 0700."""
    create_private_folders(path.parent)
    os.close(open_new_private(path))


def create_private_temp_file(beside: Path) -> Path:
    """A new empty private file in `beside`'s folder (`.NAME.tmp-PID-…`), for work that is moved to
    `beside` only when complete, so a killed process never leaves a partial file under that name.
    The process id in the name tells `sweep_temp_files` whether the work is still going on."""
    tmp = beside.with_name(f".{beside.name}.tmp-{os.getpid()}-{secrets.token_hex(6)}")
    create_private_file(tmp)
    return tmp


def create_private_temp_folder(beside: Path) -> Path:
    """A new private (0700) folder in `beside`'s folder (`.NAME.tmp-PID-…`), named as
    `create_private_temp_file` names files, so that `leftovers` finds it after a kill."""
    create_private_folders(beside.parent)
    folder = beside.with_name(f".{beside.name}.tmp-{os.getpid()}-{secrets.token_hex(6)}")
    os.mkdir(folder, 0o700)
    return folder


def leftovers(beside: Path) -> Iterator[tuple[Path, str]]:
    """(path, suffix) of each temp file or folder vpslog made beside `beside` (`.NAME.tmp-PID-…`, maybe
    with a suffix: `-old`, `-journal`, `-wal`, `-shm`, `.old`) whose process has ended: what a command
    killed mid-way (kill -9, a crash) left. A command still at work keeps its files; a folder that
    cannot be listed has none to find."""
    pattern = re.compile(
        rf"\.{re.escape(beside.name)}\.tmp-([1-9][0-9]{{0,6}})-[0-9a-f]{{12}}(-old|-journal|-wal|-shm|\.old)?")
    try:
        entries = sorted(beside.parent.iterdir())
    except OSError:  # no folder, or one we may write to but not list
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and not _running(int(match[1])):
            yield entry, match[2] or ""


def sweep_temp_files(beside: Path) -> list[tuple[Path, bool]]:
    """Remove the temp files of `leftovers` (a copy of the store, maybe in clear; a key; their journals):
    only regular files, never a link or a folder. (path, whether it was a plain SQLite file) each."""
    removed = []
    for entry, _ in leftovers(beside):
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone meanwhile, or a link
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder (an export's), a pipe: not ours to remove here
            os.close(fd)
            continue
        with os.fdopen(fd, "rb") as file:
            plain = file.read(len(PLAIN_HEADER)) == PLAIN_HEADER
        entry.unlink(missing_ok=True)
        removed.append((entry, plain))
    return removed


def _running(pid: int) -> bool:
    """Whether a process `pid` exists (one of another user's counts: its files are not ours to judge)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Write `path` whole with `text` (0600): to a temp file beside it, fsynced, then renamed over
    (a crash leaves the old content or the new, never half of it) or, with `replace=False`, linked
    into place, never over a file: FileExistsError if `path` appeared meanwhile."""
    tmp = create_private_temp_file(path)
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_NOFOLLOW), "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
