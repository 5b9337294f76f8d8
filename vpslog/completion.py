"""Shell completion of participant ids and curriculum codes (typer's completion).

Completion must never fail loudly: any problem simply completes nothing.
"""

from __future__ import annotations


def complete_participant(incomplete: str) -> list[str]:
    try:
        from vpslog import config
        from vpslog.store import Store

        path = config.db_path(None)
        if not path.exists():
            return []
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
