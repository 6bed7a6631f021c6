"""Storage fixtures: every test runs against SQLite and against the real PostgreSQL.

PostgreSQL isolation: databases are throwaway (``sigmax_t_<uuid>``), created through an
AUTOCOMMIT connection to the server's test database and dropped ``WITH (FORCE)`` afterwards, so
parallel and repeated runs never see each other's rows. ``db`` shares one migrated database per
test module and empties every table before each test; ``make_db_url`` / ``db_url`` give a new
empty database per call, for tests of migrations and of opening.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from sigmax.storage.database import Database, normalise_database_url
from sigmax.storage.models import Base


@contextmanager
def throwaway_postgres_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the server behind ``server_url``; yield its URL; drop it."""
    name = f"sigmax_t_{uuid.uuid4().hex}"
    server_url = normalise_database_url(server_url)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    name: str = request.param
    return name


@pytest.fixture
def make_db_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """A factory of URLs of fresh, empty databases on ``backend``; all are removed afterwards."""
    counter = itertools.count()
    with ExitStack() as cleanup:

        def make() -> str:
            if backend == "sqlite":
                directory = tmp_path / f"db{next(counter)}"
                directory.mkdir()
                return f"sqlite+pysqlite:///{directory / 'sigmax.db'}"
            server_url: str = request.getfixturevalue("postgres_url")
            return cleanup.enter_context(throwaway_postgres_database(server_url))

        yield make


@pytest.fixture
def db_url(make_db_url: Callable[[], str]) -> str:
    """URL of a fresh, empty database."""
    return make_db_url()


class SharedPostgres:
    """Migrated throwaway PostgreSQL databases shared by the tests of one module.

    Creating and migrating a database costs about half a second; emptying its tables costs a
    few milliseconds, so tests that only need *a* migrated database share one per module.
    """

    def __init__(self, cleanup: ExitStack) -> None:
        self._cleanup = cleanup
        self._opened: dict[str, Database] = {}

    def get(self, server_url: str) -> Database:
        """The module's migrated database on ``server_url``, created on first use."""
        if server_url not in self._opened:
            url = self._cleanup.enter_context(throwaway_postgres_database(server_url))
            database = Database.open(url)
            self._cleanup.callback(database.dispose)  # runs before the database is dropped
            self._opened[server_url] = database
        return self._opened[server_url]


@pytest.fixture(scope="module")
def shared_postgres() -> Iterator[SharedPostgres]:
    """Per-module PostgreSQL databases, dropped when the module's tests are done."""
    with ExitStack() as cleanup:
        yield SharedPostgres(cleanup)


@pytest.fixture
def db(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    shared_postgres: SharedPostgres,
) -> Iterator[Database]:
    """A migrated database with every table empty."""
    if backend == "sqlite":
        database = Database.open(f"sqlite+pysqlite:///{tmp_path / 'sigmax.db'}")
        yield database
        database.dispose()
        return
    database = shared_postgres.get(request.getfixturevalue("postgres_url"))
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE")
    yield database
