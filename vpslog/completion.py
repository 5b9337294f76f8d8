"""Shell completion of participant ids and curriculum codes (typer's completion).

Completion must never fail loudly: any problem simply completes nothing.
"""

from __future__ import annotations

import typer


def complete_participant(ctx: typer.Context, incomplete: str) -> list[str]:
    """Active study codes of the store the command line names (its --db, else as every command finds
    it); an encrypted store only when its key file or keyring opens it: completion never asks for a
    key (a prompt there hung the shell until killed)."""
    try:
        from vpslog import config, keys
        from vpslog.store import Store

        path = config.db_path(ctx.find_root().params.get("db"))
        if not path.exists():
            return []
        with keys.never_asked():
            store = Store.open(path)
        try:
            return [row["id"] for row in store.participants(status="active") if row["id"].startswith(incomplete.upper())]
        finally:
            store.close()
    except Exception:
        return []


def complete_component(incomplete: str) -> list[str]:
    """Completes the last code of a comma list: `career,jo` offers `career,job-search`..."""
    try:
        from vpslog.curriculum import Catalog

        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        return [prefix + code for code in Catalog().components if code.startswith(last.lower())]
    except Exception:
        return []
