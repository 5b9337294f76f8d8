"""Where things live, the user's defaults, and the project secret.

The config folder (`VPSLOG_CONFIG_DIR`, else the platform's user config dir)
holds `config.json` (defaults for `vpslog log`) and `secret` (the key of the
audit chain and of de-identification, kept outside the store, 0600).
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
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
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({exc}); fix or remove it") from None


def save(settings: dict[str, str]) -> Path:
    from vpslog.store import create_private_file

    path = config_dir() / "config.json"
    if not path.exists():
        create_private_file(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
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


def ensure_secret() -> bytes:
    """The project secret, created (0600) on first use by `init` or `demo`."""
    path = secret_path()
    if not path.exists():
        from vpslog.store import create_private_file

        create_private_file(path)
        path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    return read_secret()


def read_secret() -> bytes | None:
    try:
        return bytes.fromhex(secret_path().read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return None
    except ValueError:
        raise StoreError(f"{secret_path()}: the project secret is damaged (expected 64 hex digits)") from None
