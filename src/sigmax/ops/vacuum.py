"""``sigmax db vacuum``: VACUUM ANALYZE on PostgreSQL (online), VACUUM on SQLite (which locks
the whole file while it runs, so it is refused while an engine writes to it)."""

from __future__ import annotations

import os
import sqlite3

from sigmax.engine.lease import engine_alive
from sigmax.errors import InputError
from sigmax.ops.backup import sqlite_file
from sigmax.storage.database import Database


def vacuum(db: Database) -> str:
    if db.backend == "sqlite":
        lease = engine_alive(db)
        if lease is not None:
            raise InputError(
                f"an engine is running on this SQLite store ({lease.describe()}); VACUUM "
                "would lock it out for the whole time: stop the run first"
            )
        path = sqlite_file(db)
        before = os.path.getsize(path)
        # VACUUM cannot run inside a transaction: a plain autocommit connection of its own.
        plain = sqlite3.connect(str(path), isolation_level=None)
        try:
            plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            plain.execute("VACUUM")
        finally:
            plain.close()
        after = os.path.getsize(path)
        return f"VACUUM on {path}: {before} -> {after} bytes"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    return f"VACUUM ANALYZE on {db.url}"
