"""``sigmax backup`` and ``sigmax restore``: a consistent snapshot of the whole store plus the
configuration in force, with a manifest and checksums.

An archive is a ``.tar.gz`` holding ``manifest.json`` (format, version, creation time, SIGMAX
version, backend, schema revision, and each file's size and SHA-256), the store (SQLite: a copy
made with SQLite's online backup API, consistent while a run writes; PostgreSQL: ``pg_dump``'s
custom format, one consistent transaction) and ``config/``: the YAML files read from the
configuration folder and ``effective.json``, every effective setting with secrets masked (the
``.env`` file and its secrets are never archived).

Restore checks the archive before touching anything (a manifest of this format, every file
listed and matching its checksum, nothing else in it), refuses while an engine runs on the
store, keeps the current SQLite file aside as ``sigmax.db.before-restore-<time>``, and opens the
restored store through the same checks ``sigmax run`` makes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import make_url

from sigmax import __version__
from sigmax.config import Settings
from sigmax.config.loader import load_settings_with_sources
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.lease import engine_alive
from sigmax.errors import InputError, SigmaxError
from sigmax.storage.check import open_checked
from sigmax.storage.database import Database

FORMAT: Final = "sigmax-backup"
VERSION: Final = 1
MANIFEST: Final = "manifest.json"
SQLITE_MEMBER: Final = "store/sigmax.db"
PG_MEMBER: Final = "store/sigmax.pgdump"
_CONFIG_SUFFIXES: Final = (".yaml", ".yml", ".rego")


class BackupError(SigmaxError):
    """A backup could not be made (names what is missing or failed)."""


class ArchiveRefusedError(InputError):
    """The archive is not a SIGMAX backup, or is damaged, or does not fit this store (exit 2)."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"archive": str(self.path), "manifest": self.manifest}


@dataclass(frozen=True, slots=True)
class RestoreResult:
    archive: Path
    backend: str
    kept_aside: Path | None
    config_differs: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "backend": self.backend,
            "kept_aside": None if self.kept_aside is None else str(self.kept_aside),
            "config_differs": self.config_differs,
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")


def sqlite_file(db: Database) -> Path:
    path = make_url(db.engine.url).database
    if not path or path == ":memory:":
        raise BackupError("the store is an in-memory SQLite database: there is no file to back up")
    return Path(path)


def _sqlite_snapshot(db: Database, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while other connections write."""
    source = sqlite3.connect(str(sqlite_file(db)))
    try:
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed or not on PATH; the PostgreSQL store is backed up and "
            f"restored with it: install the PostgreSQL client of the server's major version or "
            f"newer (Debian: apt-get install postgresql-client)"
        )
    return found


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it, so
    the password never appears on a command line (where ``ps`` shows it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    clean = parsed.set(drivername="postgresql", password=None)
    return clean.render_as_string(hide_password=False), env


def _run_tool(command: list[str], env: Mapping[str, str], what: str) -> None:
    result = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{what} failed (exit {result.returncode}): {' '.join(detail[-3:])}")


def _config_files(settings: Settings) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    folder = settings.config_dir
    if folder is not None and folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in _CONFIG_SUFFIXES:
                files[f"config/files/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    effective = load_settings_with_sources(home=settings.home).as_json()
    files["config/effective.json"] = (
        json.dumps(effective, sort_keys=True, indent=1, default=str) + "\n"
    ).encode()
    return files


def create_backup(settings: Settings, db: Database, to: Path | None = None) -> BackupResult:
    """Write ``<to or SIGMAX_HOME/backups>/sigmax-backup-<time>.tar.gz``."""
    now = wall_clock_ms()
    folder = to if to is not None else settings.home / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="sigmax-backup-") as scratch:
        if db.backend == "sqlite":
            target = Path(scratch) / "sigmax.db"
            _sqlite_snapshot(db, target)
            members[SQLITE_MEMBER] = target.read_bytes()
        else:
            dump = pg_tool("pg_dump")
            target = Path(scratch) / "sigmax.pgdump"
            conninfo, env = libpq_target(settings.effective_database_url())
            _run_tool(
                [dump, "--format=custom", "--no-owner", "--no-privileges",
                 f"--file={target}", f"--dbname={conninfo}"],
                env,
                "pg_dump",
            )  # fmt: skip
            members[PG_MEMBER] = target.read_bytes()
    members.update(_config_files(settings))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.fromtimestamp(now / 1000, UTC).isoformat().replace("+00:00", "Z"),
        "sigmax_version": __version__,
        "backend": db.backend,
        "schema_revision": db.current_revision(),
        "database": settings.database_summary(),
        "files": {
            name: {"sha256": _sha256(data), "size": len(data)}
            for name, data in sorted(members.items())
        },
    }
    path = folder / f"sigmax-backup-{_stamp(now)}.tar.gz"
    partial = path.with_suffix(".partial")
    with tarfile.open(partial, "w:gz") as archive:
        for name, data in [(MANIFEST, _manifest_bytes(manifest)), *sorted(members.items())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = now // 1000
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
    partial.chmod(0o600)
    partial.replace(path)
    return BackupResult(path, manifest)


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()


_SAFE_NAME = re.compile(r"^(manifest\.json|store/sigmax\.(db|pgdump)|config/[A-Za-z0-9_./-]+)$")


def read_archive(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and files of a backup, every check passed; else why not."""
    if not path.is_file():
        raise ArchiveRefusedError(f"{path}: no such file")
    try:
        with tarfile.open(path, "r:gz") as archive:
            contents: dict[str, bytes] = {}
            for member in archive.getmembers():
                if not member.isfile() or not _SAFE_NAME.match(member.name) or ".." in member.name:
                    raise ArchiveRefusedError(
                        f"{path} is not a SIGMAX backup: it holds {member.name!r}, which a "
                        "backup never does"
                    )
                handle = archive.extractfile(member)
                assert handle is not None
                contents[member.name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArchiveRefusedError(
            f"{path} is not a readable .tar.gz archive ({error}); it is damaged or not a backup"
        ) from None
    raw = contents.pop(MANIFEST, None)
    if raw is None:
        raise ArchiveRefusedError(f"{path} is not a SIGMAX backup: it has no {MANIFEST}")
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ArchiveRefusedError(
            f"{path}: {MANIFEST} is not JSON; the archive is damaged"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveRefusedError(
            f"{path} is not a SIGMAX backup: its manifest format is "
            f"{manifest.get('format') if isinstance(manifest, dict) else None!r}, not {FORMAT!r}"
        )
    if manifest.get("version") != VERSION:
        raise ArchiveRefusedError(
            f"{path}: backup format version {manifest.get('version')!r}; this SIGMAX reads "
            f"version {VERSION}"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise ArchiveRefusedError(f"{path}: manifest.files must be an object")
    for name in sorted(set(listed) | set(contents)):
        if name not in contents:
            raise ArchiveRefusedError(f"{path} is damaged: {name} is listed but missing")
        if name not in listed:
            raise ArchiveRefusedError(f"{path} is damaged: {name} is in it but not listed")
        expected = listed[name].get("sha256") if isinstance(listed[name], dict) else None
        actual = _sha256(contents[name])
        if actual != expected:
            raise ArchiveRefusedError(
                f"{path} is damaged: {name} has SHA-256 {actual}, its manifest says {expected}"
            )
    return manifest, contents


def restore_backup(settings: Settings, archive: Path) -> RestoreResult:
    """Put the archive's store in place of the current one (see the module)."""
    manifest, contents = read_archive(archive)
    url = settings.effective_database_url()
    backend = make_url(url).get_backend_name()
    if manifest.get("backend") != backend:
        raise ArchiveRefusedError(
            f"{archive} holds a {manifest.get('backend')} store but this home's store is "
            f"{backend} ({settings.database_summary()}); restore it into a home of the same kind"
        )
    db = Database.open(url, migrate=False)
    try:
        lease = engine_alive(db) if _has_lease_table(db) else None
        if lease is not None:
            raise InputError(
                f"an engine is running on this store ({lease.describe()}); stop it (Ctrl-C, or "
                "SIGTERM to its pid) before restoring"
            )
        kept: Path | None = None
        if backend == "sqlite":
            target = sqlite_file(db)
            db.dispose()
            kept = _replace_sqlite(target, contents[SQLITE_MEMBER])
        else:
            db.dispose()
            _restore_postgres(url, contents[PG_MEMBER])
    finally:
        db.dispose()
    restored = open_checked(url, settings.home, new_account=True)
    restored.dispose()
    return RestoreResult(archive, backend, kept, _config_differences(settings, contents))


def _has_lease_table(db: Database) -> bool:
    from sqlalchemy import inspect

    with db.engine.connect() as connection:
        return "engine_lease" in inspect(connection).get_table_names()


def _replace_sqlite(target: Path, data: bytes) -> Path | None:
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".restoring")
    incoming.write_bytes(data)
    check = sqlite3.connect(str(incoming))
    try:
        verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if verdict != "ok":
        incoming.unlink()
        raise ArchiveRefusedError(f"the archived database fails PRAGMA integrity_check: {verdict}")
    kept = None
    if target.exists():
        kept = target.with_name(f"{target.name}.before-restore-{_stamp(wall_clock_ms())}")
        # Fold the write-ahead log into the file first, so the copy kept aside is whole.
        connection = sqlite3.connect(str(target))
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        target.replace(kept)
    for suffix in ("-wal", "-shm"):
        leftover = target.with_name(target.name + suffix)
        if leftover.exists():
            leftover.unlink()
    os.replace(incoming, target)
    return kept


def _restore_postgres(url: str, dump: bytes) -> None:
    restore = pg_tool("pg_restore")
    conninfo, env = libpq_target(url)
    with tempfile.NamedTemporaryFile(prefix="sigmax-restore-", suffix=".pgdump") as handle:
        handle.write(dump)
        handle.flush()
        _run_tool(
            [restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
             "--single-transaction", "--exit-on-error", f"--dbname={conninfo}", handle.name],
            env,
            "pg_restore",
        )  # fmt: skip


def _config_differences(settings: Settings, contents: Mapping[str, bytes]) -> list[str]:
    """Configuration files whose archived copy differs from the one now in force."""
    differs = []
    folder = settings.config_dir
    prefix = "config/files/"
    for name, data in sorted(contents.items()):
        if not name.startswith(prefix):
            continue
        current = None if folder is None else folder / name[len(prefix) :]
        if current is None or not current.is_file() or current.read_bytes() != data:
            differs.append(name[len(prefix) :])
    return differs
