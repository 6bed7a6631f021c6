"""Alembic environment for SIGMAX's schema.

Two ways in:

* programmatically, from :meth:`sigmax.storage.database.Database.migrate`, which passes an open
  connection in ``config.attributes["connection"]`` (one transaction for the whole upgrade);
* from the ``alembic`` command line with the repository's ``alembic.ini``. The database is then
  ``-x url=...`` if given, else ``DATABASE_URL``, else ``POSTGRES_URL``, else
  ``$SIGMAX_HOME/sigmax.db`` (the current directory when ``SIGMAX_HOME`` is unset), the same
  order SIGMAX itself uses.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from pathlib import Path
from typing import Final

from alembic import context
from sqlalchemy import Connection

from sigmax.storage.database import Database, resolve_database_url
from sigmax.storage.models import Base

MIGRATION_LOCK_KEY: Final = 0x5319_0A11
"""PostgreSQL advisory lock held while migrating, so two processes starting together take turns
instead of both trying to create the same tables."""

config = context.config
target_metadata = Base.metadata


def _command_line_url() -> str:
    given = context.get_x_argument(as_dictionary=True).get("url")
    return resolve_database_url(
        Path(os.environ.get("SIGMAX_HOME", ".")),
        postgres_url=os.environ.get("POSTGRES_URL"),
        database_url=given or os.environ.get("DATABASE_URL"),
    )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # Alembic assumes SQLite DDL is not transactional because the sqlite3 module does not
        # BEGIN before DDL; Database's connection hooks do, so one failed step undoes them all.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


def _run_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``) for review by a DBA."""
    context.configure(
        url=_command_line_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    # Only the command line configures logging; an embedded run must not reset SIGMAX's logging.
    if config.config_file_name is not None and config.file_config.has_section("loggers"):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        _run_offline()
        return
    database = Database.open(_command_line_url(), migrate=False)
    try:
        with database.engine.begin() as connection:
            _run(connection)
    finally:
        database.dispose()


_main()
