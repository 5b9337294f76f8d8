"""The key of an encrypted store: where it comes from, and where a new one is kept.

Each source is tried until one opens the store: `$VPSLOG_KEY_FILE` when it is set (the path of a
file only its owner can read; one that others can read is refused), the OS keyring when it has a
real backend (one entry per store path), and a prompt without echo when neither offers a key.
Since a key either opens the store or does not, the order changes only the cost: the key file goes
first because looking for a keyring backend costs 150-250 ms at every command.
Never argv, never an environment variable holding the key itself; a key is never printed, written
to the audit trail or named in an error message.

Keys vpslog makes are 32 random bytes (64 hex digits), given to SQLCipher as a raw key, so opening
the store skips the key derivation (about 100 ms) and quick entry stays quick; a typed passphrase
goes through SQLCipher's PBKDF2.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vpslog.errors import InputError, StoreError
from vpslog.files import fsync_path, link_refusal, new_file_refusal, write_private

KEY_FILE_VARIABLE = "VPSLOG_KEY_FILE"
SERVICE = "vpslog"
MIN_PASSPHRASE = 12
RAW = re.compile(r"[0-9a-f]{64}")

_typed: dict[Path, Key] = {}
"""Keys typed at the prompt in this process, by store path: a person is asked once per store."""


class Key:
    """A store key and where it came from (`key file`, `keyring`, `prompt`); `new_file`: made by vpslog
    for a key file that does not exist yet. Its repr hides the key.
    (A plain class: a dataclass would cost an encrypted store's quick entry 6 ms of imports.)"""

    __slots__ = ("text", "source", "key_file", "new_file")

    def __init__(self, text: str, source: str, key_file: Path | None = None, *, new_file: bool = False):
        self.text, self.source, self.key_file, self.new_file = text, source, key_file, new_file

    def __repr__(self) -> str:
        return f"Key(source={self.source!r}, key_file={self.key_file!r})"

    @property
    def value(self) -> str:
        """The key as SQLCipher takes it (ATTACH … KEY): a raw key as x'…', else the passphrase."""
        return f"x'{self.text}'" if RAW.fullmatch(self.text) else self.text

    @property
    def pragma(self) -> str:
        """The key as a quoted literal for `PRAGMA key`."""
        return "'" + self.value.replace("'", "''") + "'"

    def describe(self) -> str:
        """Where the key is, for messages (never the key)."""
        if self.source == "key file":
            return f"the key file {self.key_file}"
        return "the OS keyring" if self.source == "keyring" else "typed; vpslog keeps no copy of a typed key"


def key_file_path() -> Path | None:
    value = os.environ.get(KEY_FILE_VARIABLE)
    return Path(value) if value else None


def key_file_problem(path: Path) -> str | None:
    """Why the key file at `path` may not be used: others can read it, or it is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"the key file {path} does not exist"
    if not stat.S_ISREG(mode):
        return f"the key file {path} is not a regular file"
    if mode & 0o077:
        return f"the key file {path} can be read by other users; fix with: chmod 600 {path}"
    return None


def read_key_file(path: Path) -> Key:
    if problem := key_file_problem(path):
        raise StoreError(problem)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"the key file {path} cannot be read ({getattr(exc, 'strerror', None) or 'not text'})") from None
    if not text:
        raise StoreError(f"the key file {path} is empty")
    return Key(text, "key file", path)


def _keyring():
    """The OS keyring, or None when only keyring's fail/null backends (or no keyring package) are there."""
    try:
        import keyring
    except ImportError:
        return None
    backend = keyring.get_keyring()
    return backend if backend.priority > 0 else None


class KeyringFailed(Exception):
    """The OS keyring could not be read (locked, its service gone): it offers no key."""


def _keyring_entry(entry: str) -> str | None:
    """A key kept in the OS keyring; None without a keyring or without the entry. KeyringFailed when
    the keyring fails to give it: then it offers no key and the other sources decide (a wrong key
    stays one line, exit 3; a prompt says why it asks)."""
    try:
        backend = _keyring()
        return backend.get_password(SERVICE, entry) if backend is not None else None
    except Exception as exc:  # keyring backends raise their own errors (KeyringError, D-Bus, ...)
        raise KeyringFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None


def _rekeying(path: Path) -> str:
    """The keyring entry of the key a rekey is replacing, for as long as the swap is under way: if the
    rekey is killed after the store's entry got the new key but before the store file was swapped,
    the store still opens (with this key, tried after the store's entry)."""
    return f"{_entry(path)} (previous key, rekey under way)"


def _entry(path: Path) -> str:
    return f"store {Path(path).resolve()}"


def store_keys(path: Path, key_file: Path | None = None) -> Iterator[Key]:
    """The keys offered for the encrypted store at `path`, to be tried in this order until one opens
    it: `key_file` alone when given (merge's other store); else the key file of `$VPSLOG_KEY_FILE`,
    the store's keyring entry (looked for only when the key file's key did not open the store), and
    a prompt only when neither offered a key. Lazy, so a store whose key file opens it never pays
    for the keyring; and a key file set for one store does not shut out another store's keyring key."""
    path = Path(path).resolve()
    if key_file is not None:
        yield read_key_file(key_file)
        return
    offered = False
    if (file := key_file_path()) is not None:
        offered = True
        yield read_key_file(file)
    failed = None
    for entry in (_entry(path), _rekeying(path)):  # the second only while a killed rekey left it
        try:
            text = _keyring_entry(entry)
        except KeyringFailed as exc:
            failed = exc
            break
        if text:
            offered = True
            yield Key(text, "keyring")
    if not offered:
        if failed is not None:  # the key may well be there: say why it is asked for
            sys.stderr.write(f"note: the OS keyring could not be read ({failed}); unlock it and run this "
                             "again, or type the key\n")
        if path not in _typed:
            _typed[path] = Key(_ask(f"Key for {path}"), "prompt")
        yield _typed[path]


def _random_key() -> str:
    import secrets

    return secrets.token_hex(32)


def new_key(path: Path, like: Key | None = None, new_key_file: Path | None = None) -> Key:
    """A key for a store about to be encrypted at `path` (`like` None) or rekeyed from `like`: kept
    where the current one is (rekey), else in the first source there is. A key file that already
    holds a key gives it to a new store (one agency key file can serve several stores), so a rekey
    never writes over it: its new key goes to `new_key_file`, a file that must not exist yet."""
    source = like.source if like else None
    if source == "key file":
        if new_key_file is None:
            raise InputError(f"the key of {Path(path).resolve()} is in the key file {like.key_file}, which other "
                             "stores and earlier backups may use: give a new file for the new key with "
                             "--new-key-file FILE (nothing was changed)")
        if refusal := new_file_refusal(new_key_file):
            raise InputError(f"{refusal}; choose a new file for the new key (nothing was changed)")
        return Key(_random_key(), "key file", Path(new_key_file).absolute(), new_file=True)
    if new_key_file is not None:
        where = "typed" if source == "prompt" else "in the OS keyring"
        raise InputError(f"--new-key-file is for a store whose key is in a key file; this store's key is {where} "
                         "(nothing was changed)")
    if source is None and (file := key_file_path()) is not None:
        return read_key_file(file) if file.exists() else Key(_random_key(), "key file", file, new_file=True)
    if source == "keyring" or (source is None and _keyring() is not None):
        return Key(_random_key(), "keyring")
    text = _ask(f"New key for {Path(path).resolve()} (at least {MIN_PASSPHRASE} characters)")
    if len(text) < MIN_PASSPHRASE:
        raise InputError(f"a key typed at the prompt needs at least {MIN_PASSPHRASE} characters; nothing was changed")
    if _ask("The same key again") != text:
        raise InputError("the two keys typed differ; nothing was changed")
    if like is not None and text == like.text:
        raise InputError("the new key is the one in use; nothing was changed")
    return Key(text, "prompt")


def previous_entry(path: Path) -> str:
    """A keyring entry, not used yet, for the key a rekey replaces now (backups made before it open with
    that key): named by the time, and numbered after a rekey in the same second, so no later rekey
    writes over it."""
    from itertools import count

    from vpslog.parsing import utc_stamp

    backend, name = _keyring(), f"{_entry(path)} (previous key, replaced {utc_stamp()}"
    entries = (f"{name})" if n == 1 else f"{name}, {n})" for n in count(1))
    return next(entry for entry in entries if backend.get_password(SERVICE, entry) is None)


@contextmanager
def kept(path: Path, key: Key, previous: Key | None = None, aside: str | None = None) -> Iterator[None]:
    """Keep `key` in its source for the store at `path` while the block swaps the store over to it;
    when the block fails (an interrupt too) with the old store file in place, the source is put back
    as it was. Once the new file is at `path` the new key is final, whatever failed after.

    A key file vpslog made (`new_file`) is created now, new (O_EXCL, 0600, its folder flushed): one
    that appeared meanwhile is refused, never written over nor taken. In the keyring a rekey's
    `previous` key is first kept under the entry `aside` (`previous_entry`, refused if it was taken
    meanwhile), which stays afterwards for the backups made before it. A typed key is kept by the
    person."""
    from vpslog.store.base import file_identity

    path = Path(path).resolve()
    before = file_identity(path)
    undo = _put(path, key, previous, aside)
    try:
        yield
    except BaseException:
        if file_identity(path) == before:
            undo()
        raise
    if key.source == "keyring" and previous:
        try:  # the swap is done and the store's entry opens it: a stale entry would only be tried after it
            _forget(_keyring(), _rekeying(path))
        except Exception:  # a keyring failing now must not turn a finished rekey into an error
            pass


def _put(path: Path, key: Key, previous: Key | None, aside: str | None):
    """Put `key` in its source for the store at `path`; what puts the source back as it was."""
    if key.source == "key file":
        if not key.new_file:  # a key file there already (encrypt, init): it stays as it was
            return lambda: None
        _create_key_file(key, rekey=previous is not None)
        return lambda: key.key_file.unlink(missing_ok=True)
    if key.source == "keyring":
        backend = _keyring()
        if previous:
            if backend.get_password(SERVICE, aside) is not None:
                raise InputError(f"the keyring entry '{aside}' was made meanwhile; run this again (nothing was changed)")
            backend.set_password(SERVICE, aside, previous.text)
            backend.set_password(SERVICE, _rekeying(path), previous.text)

        def undo() -> None:
            if previous:
                backend.set_password(SERVICE, _entry(path), previous.text)
                _forget(backend, aside)
                _forget(backend, _rekeying(path))
            else:
                _forget(backend, _entry(path))

        try:
            backend.set_password(SERVICE, _entry(path), key.text)
        except BaseException:
            undo()
            raise
        return undo
    _typed[path] = key

    def forget_typed() -> None:
        if previous:
            _typed[path] = previous
        else:
            _typed.pop(path, None)

    return forget_typed


def keep(path: Path, key: Key) -> None:
    """Keep the key of a store about to be made (init): in its source, for good."""
    with kept(path, key):
        pass


def _create_key_file(key: Key, *, rekey: bool) -> None:
    """Create the key file of a key vpslog made; refused when a file appeared at its name since
    (another `encrypt` or `init` sharing the key file made it: run again to use the key it holds)."""
    if refusal := link_refusal(key.key_file):  # a dangling link: "appeared meanwhile" at every run
        raise InputError(f"{refusal}; name a new file for the key (nothing was changed)")
    try:
        write_private(key.key_file, key.text + "\n", replace=False)
    except FileExistsError:
        advice = ("choose a new file for the new key" if rekey else
                  "run this again to use the key it holds (another vpslog command made it)")
        raise InputError(f"{key.key_file} appeared meanwhile; {advice} (nothing was changed)") from None
    fsync_path(key.key_file.parent)


def _forget(backend, entry: str) -> None:
    from keyring.errors import PasswordDeleteError

    try:
        backend.delete_password(SERVICE, entry)
    except PasswordDeleteError:
        pass


_asking = [True]
"""False while keys are never asked for (shell completion, which has no terminal to ask on)."""


@contextmanager
def never_asked() -> Iterator[None]:
    """A store whose key file or keyring has no key is refused, not asked for its key."""
    _asking[0] = False
    try:
        yield
    finally:
        _asking[0] = True


def _ask(prompt: str) -> str:
    """A key typed without echo, the prompt on stderr; refused (exit 3) at the end of input or where
    no terminal can hide it (getpass would fall back to echoing it)."""
    import getpass
    import warnings

    import typer

    if not _asking[0]:
        raise StoreError("no key offered, and none is asked for here")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", getpass.GetPassWarning)
            return typer.prompt(prompt, hide_input=True, err=True)
    except (typer.Abort, getpass.GetPassWarning):
        raise StoreError(f"no key given: set {KEY_FILE_VARIABLE} to a key file (0600), keep the key in the OS "
                         "keyring, or run the command in a terminal to type it") from None
