"""The store layer: the only package that speaks SQL.

`base` opens, migrates, writes (with the audit trail) and reads; `research`
holds the many-row queries (fidelity, reports, import, export); `schema` the
versioned DDL; `sql` the fragments queries are built from.
"""

from vpslog.store.base import BUSY_TIMEOUT_MS, Store, create_private_file, to_row
from vpslog.store.schema import SCHEMA_VERSION, TABLES

__all__ = ["BUSY_TIMEOUT_MS", "SCHEMA_VERSION", "TABLES", "Store", "create_private_file", "to_row"]
