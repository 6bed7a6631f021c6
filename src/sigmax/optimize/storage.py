"""Where a study's trials live: Optuna storage chosen by ``--storage``.

* default: an SQLite file beside the study's results, ``SIGMAX_HOME/studies/<id>/optuna.db``,
  so a study stopped for any reason resumes when the same command runs again;
* ``memory``: in this process only (nothing survives it);
* ``sqlite:///PATH`` or ``postgresql://...``: a database several machines can share.
  ``postgresql://`` uses the psycopg 3 driver SIGMAX already installs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sigmax.errors import InputError
from sigmax.url_secrets import mask_url

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


def storage_url(option: str | None, study_dir: Path) -> str:
    """The SQLAlchemy URL (or ``memory``) of ``--storage``."""
    if option is None or option.strip() == "":
        return f"sqlite:///{study_dir / 'optuna.db'}"
    text = option.strip()
    if text == "memory":
        return text
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InputError(
            f"--storage: must be memory, sqlite:///PATH or postgresql://... (got {mask_url(text)})"
        )
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("postgresql+psycopg", "sqlite"):
        return text
    raise InputError(
        f"--storage: the scheme {scheme} is not supported (memory, sqlite:///PATH or "
        "postgresql://...)"
    )


def open_storage(url: str) -> BaseStorage:
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    if url == "memory":
        return optuna.storages.InMemoryStorage()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except (SQLAlchemyError, OSError) as error:
        reason = type(error).__name__
        raise InputError(f"--storage: cannot open {mask_url(url)} ({reason})") from None


def shown(url: str) -> str:
    """``url`` as it may be printed or stored: passwords and tokens masked."""
    return url if url == "memory" else mask_url(url)
