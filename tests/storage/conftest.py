"""Storage fixtures: every test runs against SQLite and against the real PostgreSQL.

PostgreSQL isolation: each test gets its own throwaway database (``sigmax_t_<uuid>``), created
through an AUTOCOMMIT connection to the server's test database and dropped ``WITH (FORCE)``
afterwards, so parallel and repeated runs never see each other's rows.
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


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database, disposed after the test."""
    database = Database.open(db_url)
    yield database
    database.dispose()
