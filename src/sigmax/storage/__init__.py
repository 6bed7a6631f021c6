"""Persistence: SQLAlchemy models, repositories and Alembic migrations on SQLite or PostgreSQL.

SQLite (a file in SIGMAX_HOME) is the default; PostgreSQL is used when DATABASE_URL or
POSTGRES_URL is set. :meth:`Database.open` migrates the schema to the newest revision.

Names are imported from their module when first used (PEP 562): importing a submodule such as
``sigmax.storage.models`` (a backtest reads its enums) does not import the database layer and
Alembic with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigmax.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sigmax.storage.database import Database, normalise_database_url, resolve_database_url
    from sigmax.storage.errors import (
        DatabaseUnreachableError,
        DuplicateRecordError,
        IntegrityViolationError,
        InvalidDatabaseUrlError,
        MigrationError,
        ReadOnlySessionError,
    )

_HOMES = {
    "Database": "database",
    "normalise_database_url": "database",
    "resolve_database_url": "database",
    "DatabaseUnreachableError": "errors",
    "DuplicateRecordError": "errors",
    "IntegrityViolationError": "errors",
    "InvalidDatabaseUrlError": "errors",
    "MigrationError": "errors",
    "ReadOnlySessionError": "errors",
}


__all__ = [
    "Database",
    "DatabaseUnreachableError",
    "DuplicateRecordError",
    "IntegrityViolationError",
    "InvalidDatabaseUrlError",
    "MigrationError",
    "ReadOnlySessionError",
    "normalise_database_url",
    "resolve_database_url",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
