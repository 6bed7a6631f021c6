"""Persistence: SQLAlchemy models, repositories and Alembic migrations on SQLite or PostgreSQL.

SQLite (a file in SIGMAX_HOME) is the default; PostgreSQL is used when DATABASE_URL or
POSTGRES_URL is set. :meth:`Database.open` migrates the schema to the newest revision.
"""

from sigmax.storage.database import Database, normalise_database_url, resolve_database_url
from sigmax.storage.errors import (
    DatabaseUnreachableError,
    DuplicateRecordError,
    IntegrityViolationError,
    InvalidDatabaseUrlError,
    MigrationError,
    ReadOnlySessionError,
)

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
