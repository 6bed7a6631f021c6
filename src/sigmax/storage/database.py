"""Database URL resolution, the engine, sessions and schema migrations.

Usage::

    db = Database.open(resolve_database_url(home, postgres_url, database_url))
    with db.transaction() as session:        # commits on success, rolls back on any error
        OrderRepository(session).add(order)
    with db.session() as session:            # reads only; a write raises ReadOnlySessionError
        latest = DecisionRepository(session).latest_for_symbol("BTC/USDT")
    db.dispose()

SQLite is the default (one file in SIGMAX_HOME); PostgreSQL is used when configured. Every
database error leaves this module as a :class:`~sigmax.errors.StorageError` whose message never
contains the password.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.orm import Session, sessionmaker

from sigmax.errors import StorageError
from sigmax.storage.errors import (
    DatabaseUnreachableError,
    DuplicateRecordError,
    IntegrityViolationError,
    InvalidDatabaseUrlError,
    MigrationError,
    ReadOnlySessionError,
)
from sigmax.url_secrets import mask_url, mask_urls_in, url_secrets

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
"""Alembic scripts ship inside the package, so an installed SIGMAX can migrate itself."""

SQLITE_FILENAME: Final = "sigmax.db"
SQLITE_DRIVER: Final = "sqlite+pysqlite"
POSTGRES_DRIVER: Final = "postgresql+psycopg"

SQLITE_BUSY_TIMEOUT_MS: Final = 5_000
"""How long a writer waits for another writer's lock before failing."""
POSTGRES_CONNECT_TIMEOUT_S: Final = 10

_WRITE_OPTION: Final = "sigmax_write"
"""Execution option marking connections used for writes (SQLite then takes the lock upfront)."""

_POSTGRES_ALIASES: Final = ("postgres", "postgresql")
_PASSWORD_IN_URL: Final = re.compile(r"(?P<head>://[^:/@\s]*:)[^@\s]*(?P<tail>@)")


def resolve_database_url(
    home: Path, postgres_url: str | None = None, database_url: str | None = None
) -> str:
    """Choose the database: ``database_url`` wins, then ``postgres_url``, else SQLite in ``home``.

    Blank values count as unset. ``postgres://`` and ``postgresql://`` become
    ``postgresql+psycopg://`` (the installed driver, psycopg 3).
    """
    for candidate in (database_url, postgres_url):
        if candidate is not None and candidate.strip():
            return normalise_database_url(candidate.strip())
    return f"{SQLITE_DRIVER}:///{(home / SQLITE_FILENAME).resolve()}"


def normalise_database_url(url: str) -> str:
    """Pin the driver of a SQLite or PostgreSQL URL; reject anything else with a clear error."""
    parsed = _parse_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name() if "+" in parsed.drivername else None
    if backend in _POSTGRES_ALIASES and driver in (None, "psycopg"):
        parsed = parsed.set(drivername=POSTGRES_DRIVER)
    elif backend == "sqlite" and driver in (None, "pysqlite"):
        parsed = parsed.set(drivername=SQLITE_DRIVER)
    else:
        raise InvalidDatabaseUrlError(
            f"database URL {redact_url(url)}: SIGMAX supports sqlite:// (driver pysqlite) and "
            "postgresql:// (driver psycopg); "
            f"got backend {backend!r}" + (f" with driver {driver!r}" if driver else "")
        )
    return parsed.render_as_string(hide_password=False)


def redact_url(url: str | URL) -> str:
    """Render ``url`` with every secret in it (password, ``?password=``, tokens in the query or
    fragment) replaced by ``***``; safe for logs and messages."""
    if isinstance(url, URL):
        return mask_url(url.render_as_string(hide_password=False))
    return mask_url(url)


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise InvalidDatabaseUrlError(
            f"database URL {redact_url(url)!r} is not a valid URL; expected e.g. "
            "sqlite:///path/to/sigmax.db or postgresql://user:password@host:5432/dbname"
        ) from None


class Database:
    """An open database: engine, session factories and migrations.

    Create it with :meth:`open`; it is safe to share between threads (sessions are not).
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine built by :meth:`open`; prefer :meth:`open`, which also configures it."""
        self._engine = engine
        # Every secret of the URL, the password and any in its query, as the driver may quote them.
        rendered = engine.url.render_as_string(hide_password=False)
        self._secrets = tuple(url_secrets(rendered)) + (
            (engine.url.password,) if engine.url.password else ()
        )
        # Writes take SQLite's write lock at BEGIN (see _install_sqlite_hooks); reads do not.
        self._write_engine = engine.execution_options(**{_WRITE_OPTION: True})
        self._write_sessions = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(bind=engine, expire_on_commit=False)
        event.listen(self._read_sessions, "before_flush", _refuse_writes)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect to ``url``, check that it answers and (by default) migrate to the newest schema.

        Raises :class:`InvalidDatabaseUrlError` for a malformed or unsupported URL,
        :class:`DatabaseUnreachableError` when no connection can be made and
        :class:`MigrationError` when the schema cannot be brought up to date.
        """
        parsed = make_url(normalise_database_url(url))
        engine = _create_engine(parsed)
        database = cls(engine)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except StorageError:
            engine.dispose()
            raise
        except (SQLAlchemyError, sqlite3.Error) as exc:
            engine.dispose()
            raise DatabaseUnreachableError(
                f"cannot connect to database {database.url}: {database._scrub(_reason(exc))}"
            ) from None
        if migrate:
            try:
                database.migrate()
            except BaseException:
                engine.dispose()
                raise
        return database

    @property
    def url(self) -> str:
        """The database URL with the password hidden."""
        return redact_url(self._engine.url)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for code that needs Core (migrations, bulk reads)."""
        return self._engine

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision; a no-op when it is already there."""
        self._run_migration(lambda config: command.upgrade(config, "head"))

    def downgrade(self, revision: str) -> None:
        """Downgrade the schema to ``revision`` (``base`` drops every table). Destroys data."""
        self._run_migration(lambda config: command.downgrade(config, revision))

    def current_revision(self) -> str | None:
        """The schema revision stored in the database, ``None`` when it was never migrated."""
        try:
            with self._engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        except SQLAlchemyError as exc:
            raise self._translate(exc) from None

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this version of SIGMAX knows."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if head is None:
            raise MigrationError(f"no migration scripts found in {MIGRATIONS_DIR}")
        return head

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose writes commit together on success and roll back on any exception."""
        session = self._write_sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            self._rollback_quietly(session)
            raise self._translate(exc) from exc
        except BaseException:
            self._rollback_quietly(session)
            raise
        finally:
            session.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading; any attempt to write raises :class:`ReadOnlySessionError`."""
        session = self._read_sessions()
        try:
            yield session
        except SQLAlchemyError as exc:
            raise self._translate(exc) from exc
        finally:
            self._rollback_quietly(session)
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection. The object must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url})"

    def _run_migration(self, step: Callable[[Config], None]) -> None:
        try:
            # One connection and one transaction for the whole step: on PostgreSQL and SQLite
            # alike DDL is transactional, so a failed migration leaves the old schema intact.
            with self._write_engine.begin() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                step(config)
        except (SQLAlchemyError, CommandError) as exc:
            raise MigrationError(
                f"migrating database {self.url} failed: {self._scrub(_reason(exc))}"
            ) from None
        except Exception as exc:
            # A bug in a migration script: the transaction was rolled back, the schema is as
            # it was. Keep the cause chained; it comes from our own code, not the driver.
            raise MigrationError(
                f"migrating database {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _translate(self, exc: SQLAlchemyError) -> StorageError:
        """Turn a SQLAlchemy error into the matching password-free :class:`StorageError`."""
        reason = self._scrub(_reason(exc))
        if isinstance(exc, IntegrityError):
            if _is_unique_violation(exc.orig):
                return DuplicateRecordError(f"duplicate record rejected: {reason}", reason)
            return IntegrityViolationError(f"constraint violated: {reason}", reason)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return DatabaseUnreachableError(f"lost the connection to {self.url}: {reason}")
        if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
            # Raised before the database saw anything, e.g. a money value that cannot be exact.
            return StorageError(f"cannot write value: {reason}")
        return StorageError(f"database error on {self.url}: {reason}")

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_urls_in(_PASSWORD_IN_URL.sub(r"\g<head>***\g<tail>", text))

    @staticmethod
    def _rollback_quietly(session: Session) -> None:
        try:
            session.rollback()
        except SQLAlchemyError:
            # The connection is already gone; the database discards the open transaction itself.
            log.warning("rollback failed; the connection was lost", exc_info=True)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _create_engine(url: URL) -> Engine:
    # allow_nan=False: PostgreSQL's JSONB refuses NaN, so SQLite must refuse it too.
    serializer = functools.partial(json.dumps, allow_nan=False)
    try:
        if url.get_backend_name() == "sqlite":
            _ensure_sqlite_directory(url)
            engine = create_engine(url, json_serializer=serializer)
            _install_sqlite_hooks(engine)
            return engine
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        # pool_pre_ping: a connection the server dropped (restart, idle timeout) is replaced
        # before use instead of failing the next write.
        return create_engine(
            url, pool_pre_ping=True, connect_args=connect_args, json_serializer=serializer
        )
    except (NoSuchModuleError, ImportError) as exc:
        raise InvalidDatabaseUrlError(
            f"database URL {redact_url(url)}: driver not installed ({exc}); "
            "for PostgreSQL install sigmax[postgres]"
        ) from None


def _ensure_sqlite_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = Path(database).expanduser().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnreachableError(
            f"cannot create the directory {directory} for the SQLite database: {exc.strerror}"
        ) from None


def _install_sqlite_hooks(engine: Engine) -> None:
    """Make SQLite safe for a ledger: real transactions, WAL, foreign keys, durable commits."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module (Python < 3.16) does not BEGIN before DDL or SELECT, which breaks
        # transactional migrations and repeatable reads. Take over: the driver never begins on
        # its own and _begin below emits BEGIN for every SQLAlchemy transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() not in ("wal", "memory"):
                raise StorageError(
                    f"SQLite refused write-ahead logging (journal mode stayed {mode!r}); "
                    "the database file must be on a local file system"
                )
            # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss
            # (the database stays consistent, but a recorded fill or order can vanish). For a
            # trading ledger a committed write must survive, so every commit syncs the WAL.
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock at BEGIN (IMMEDIATE) so busy_timeout applies; a deferred
        # transaction that reads and then writes fails at once with "database is locked" when
        # another writer got there first. Readers stay deferred and never block writers (WAL).
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _refuse_writes(session: Session, _flush_context: Any, _instances: Any) -> None:
    raise ReadOnlySessionError(
        "this session is read-only; write inside Database.transaction() so the change commits"
    )


def _reason(exc: BaseException) -> str:
    """The driver's own message without SQLAlchemy's statement and parameter dump."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc)
    return " ".join(text.split())


def _is_unique_violation(original: BaseException | None) -> bool:
    if isinstance(original, sqlite3.IntegrityError):
        return original.sqlite_errorname in (
            "SQLITE_CONSTRAINT_UNIQUE",
            "SQLITE_CONSTRAINT_PRIMARYKEY",
        )
    # psycopg exposes the SQLSTATE; 23505 is unique_violation.
    return getattr(original, "sqlstate", None) == "23505"
