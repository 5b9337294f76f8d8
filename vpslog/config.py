"""Where things live, the user's defaults, and the project secret.

The config folder (`VPSLOG_CONFIG_DIR`, else the platform's user config dir)
holds `config.json` (defaults for `vpslog log`) and `secret` (the key of the
audit chain and of de-identification, kept outside the store, 0600).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from vpslog.errors import StoreError, UsageError
from vpslog.parsing import did_you_mean

APP = "vpslog"
KEYS = {
    "specialist": "specialist id used by `log` when --specialist is not given (also the audit actor)",
    "mode": "default session mode for `log`",
    "type": "default session type for `log`",
}


def config_dir() -> Path:
    if override := os.environ.get("VPSLOG_CONFIG_DIR"):
        return Path(override)
    import platformdirs  # only when no override: it costs start-up time

    return Path(platformdirs.user_config_dir(APP))


def default_db() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP)) / "vpslog.db"


def db_path(option: Path | None) -> Path:
    """--db, else VPSLOG_DB, else the default store in the user's data folder."""
    if option is not None:
        return option
    if env := os.environ.get("VPSLOG_DB"):
        return Path(env)
    return default_db()


def load() -> dict[str, str]:
    path = config_dir() / "config.json"
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(settings, dict) or not all(isinstance(value, str) for value in settings.values()):
        raise StoreError(f"{path}: not vpslog settings (a JSON object of text values, as `vpslog config set` "
                         "writes); fix or remove it")
    return settings


def save(settings: dict[str, str]) -> Path:
    from vpslog.files import write_private

    path = config_dir() / "config.json"
    write_private(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")
    return path


def check_key(key: str) -> str:
    if key not in KEYS:
        raise UsageError(f"unknown config key {key!r}{did_you_mean(key, KEYS)}")
    return key


def actor(settings: dict[str, str]) -> str:
    """Who the audit trail names: the configured specialist, else the OS user."""
    return settings.get("specialist") or getpass.getuser()


def secret_path() -> Path:
    return config_dir() / "secret"


def witness_path(db: Path) -> Path:
    """The witness file of the store at `db`: its audit head, kept beside the secret (one per store
    path). Filed under the store's folder as the system resolves it and its name as given: a link
    swapped in for the store (`ln -s .old.db vpslog.db`) is not followed to where it points (filed
    there, an older copy found no witness and passed), while `..` after a linked folder goes where
    the system goes."""
    named = os.path.join(os.path.realpath(os.path.dirname(db) or "."), os.path.basename(db))  # `..` as the system reads it
    return _witness_file(named)


def earlier_witness_paths(db: Path) -> tuple[Path, ...]:
    """Where earlier versions filed the witness of `db` (the path with every link followed; the path
    as text): read, never moved, until the first write files it under `witness_path`."""
    current = witness_path(db)
    return tuple(dict.fromkeys(path for path in (_witness_file(str(Path(db).resolve())),
                                                 _witness_file(os.path.abspath(db))) if path != current))


def _witness_file(key: str) -> Path:
    import hashlib

    try:
        data = key.encode("utf-8")  # every name filed before: a path in another locale's encoding too
    except UnicodeEncodeError:  # a path that is not text (bytes no encoding reads): its own bytes
        data = os.fsencode(key)
    return config_dir() / "witness" / f"{hashlib.sha256(data).hexdigest()[:20]}.json"


def ensure_secret() -> bytes:
    """The project secret, created (0600) on first use by `init` or `demo`."""
    path = secret_path()
    if not path.exists():
        if path.is_symlink():  # write_private would find the link there and take it for another init's secret
            raise StoreError(f"{path} is a symbolic link to nothing: vpslog never writes the project secret "
                             "through a link; remove the link, or restore the file it points to")
        import secrets  # here, not at the top: quick entry never makes a secret

        from vpslog.files import write_private

        try:  # whole or not at all: a secret created empty and then killed before its write keyed the trail with nothing
            write_private(path, secrets.token_hex(SECRET_BYTES) + "\n", replace=False)
        except FileExistsError:
            pass  # another init made it meanwhile: that one is the secret
    return read_secret()


SECRET_BYTES = 32


def read_secret(path: Path | None = None) -> bytes | None:
    """The project secret (or the secret file at `path`, e.g. another store's for merge); None if absent."""
    path = path or secret_path()
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(secret) != SECRET_BYTES:  # an empty or short key would let anyone rewrite the trail
            raise ValueError
        return secret
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        raise StoreError(f"{path}: not a vpslog secret (expected {2 * SECRET_BYTES} hex digits)") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror})") from None


def demo_db() -> Path:
    """The demo's own store, beside the default one: `vpslog demo` never writes into real records."""
    return default_db().with_name("demo.db")
