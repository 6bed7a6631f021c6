"""Storage errors, all :class:`~sigmax.errors.StorageError` so callers can catch one type.

Messages never contain a database password: URLs are rendered with the password hidden and
driver messages are scrubbed before they are wrapped.
"""

from __future__ import annotations

from sigmax.errors import InputError, StorageError


class InvalidDatabaseUrlError(StorageError, InputError):
    """The configured database URL is malformed or names an unsupported backend."""

    exit_code = 2


class DatabaseUnreachableError(StorageError):
    """No connection could be made (server down, wrong host or port, bad credentials)."""


class MigrationError(StorageError):
    """Bringing the schema to the current revision failed."""


class IntegrityViolationError(StorageError):
    """A write broke a constraint (foreign key, CHECK, NOT NULL, unique).

    ``detail`` is the database's own description, password-free.
    """

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class DuplicateRecordError(IntegrityViolationError):
    """A write repeated a unique key, such as an order's ``client_order_id``."""


class ReadOnlySessionError(StorageError):
    """Something tried to write through a read session; writes go through ``transaction()``."""
