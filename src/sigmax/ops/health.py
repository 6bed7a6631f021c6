"""``sigmax health`` and ``GET /api/health``: one function, the same checks.

Checks: the run's process (its engine lease: heartbeat recent and, on this host, the process
there), the API answering, recent errors in the log, free disk space, memory (the machine's and
the engine process's), the age of the last committed step, and the paused state. Each is ``ok``,
``degraded`` or ``unhealthy``; the worst is the status, and the exit code a cron job acts on:
0 healthy, 1 degraded, 2 unhealthy.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from sigmax.config import Settings
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import AccountHome, newest_run
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.lease import read_lease
from sigmax.engine.safety_service import safety_report
from sigmax.errors import SigmaxError
from sigmax.storage.models import DecisionRow, RunStatus

Level = Literal["ok", "degraded", "unhealthy"]
_RANK: Final = {"ok": 0, "degraded": 1, "unhealthy": 2}
Status = Literal["healthy", "degraded", "unhealthy"]
STATUS_OF: Final[dict[int, Status]] = {0: "healthy", 1: "degraded", 2: "unhealthy"}
#: ERROR lines newer than this (minutes) make the log check degraded.
ERROR_WINDOW_MIN: Final = 15
#: Disk: degraded below either figure, unhealthy below 100 MiB.
DISK_MIN_FREE_BYTES: Final = 1024**3
DISK_MIN_FREE_FRACTION: Final = 0.05
DISK_CRITICAL_BYTES: Final = 100 * 1024**2
#: The engine process's resident memory above this is degraded (the runbook's 6 GB alert).
PROCESS_MEMORY_LIMIT: Final = 6 * 1000**3
MACHINE_MIN_AVAILABLE_FRACTION: Final = 0.05
#: How far the log is read back for recent errors.
_LOG_TAIL_BYTES: Final = 2 * 1024**2


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    level: Level
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "level": self.level, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: list[Check]
    last_decision_ms: int | None

    @property
    def exit_code(self) -> int:
        return max((_RANK[c.level] for c in self.checks), default=0)

    @property
    def status(self) -> Status:
        return STATUS_OF[self.exit_code]

    @property
    def problems(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.level != "ok"]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "last_decision": None
            if self.last_decision_ms is None
            else ms_to_iso(self.last_decision_ms),
            "checks": [c.as_json() for c in self.checks],
        }


def collect_health(
    home: AccountHome,
    *,
    api_check: Callable[[Settings], Check] | None = None,
    safety: dict[str, Any] | None = None,
) -> HealthReport:
    """Every check. ``api_check``: how the API is checked (the API itself passes one that says
    it answers; the CLI asks it over HTTP). ``safety``: the safety report, when already read."""
    settings = home.settings
    checks: list[Check] = []
    last_decision: int | None = None
    now = wall_clock_ms()
    try:
        with home.db.session() as session:
            run = newest_run(session)
            lease = read_lease(session)
            last_decision = session.scalar(select(func.max(DecisionRow.decided_at_ms)))
        report = safety if safety is not None else safety_report(home)
    except (SigmaxError, SQLAlchemyError) as error:
        checks.append(Check("store", "unhealthy", f"the stored state cannot be read: {error}"))
        return HealthReport(checks, None)
    alive = lease is not None and lease.alive(now)
    if run is None:
        checks.append(Check("process", "degraded", "no run yet: start one with 'sigmax run'"))
    elif run.info.status is RunStatus.RUNNING and not alive:
        checks.append(
            Check(
                "process",
                "unhealthy",
                f"run {run.info.id} is stale: its engine stopped"
                + ("" if lease is None else f" ({lease.describe()})")
                + "; nothing applies commands or protects positions until it is run again",
            )
        )
    elif run.info.status is not RunStatus.RUNNING:
        checks.append(
            Check(
                "process",
                "degraded",
                f"run {run.info.id} is {run.info.status.value}: no engine runs",
            )
        )
    else:
        assert lease is not None
        checks.append(Check("process", "ok", f"run {run.info.id}: {lease.describe()}"))
    if alive:
        checks.append((api_check or http_api_check)(settings))
    checks.append(_log_check(settings.home / "logs" / "sigmax.log", now))
    checks.append(_disk_check(settings.home))
    checks.append(
        _memory_check(
            None if not alive or lease is None or lease.host != socket.gethostname() else lease.pid
        )
    )
    if alive and lease is not None:
        age_s = (now - lease.heartbeat_ms) / 1000
        checks.append(Check("heartbeat", "ok", f"last heartbeat {age_s:.1f} s ago"))
    if last_decision is not None:
        checks.append(
            Check(
                "last_decision",
                "ok",
                f"newest decision at {ms_to_iso(last_decision)} (market time)",
            )
        )
    if report.get("paused"):
        checks.append(Check("paused", "degraded", f"trading is paused: {report.get('reason')}"))
    else:
        checks.append(Check("paused", "ok", "trading is not paused"))
    return HealthReport(checks, last_decision)


def api_base_url(settings: Settings) -> str:
    """The configured API's address as a client reaches it."""
    host = settings.api.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.api.port}"


def http_api_check(
    settings: Settings, base_url: str | None = None, timeout_s: float = 3.0
) -> Check:
    """Ask the API's ``/api/health`` (any HTTP answer means it answers)."""
    url = f"{(base_url or api_base_url(settings)).rstrip('/')}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            code = response.status
    except urllib.error.HTTPError as error:
        code = error.code
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Check(
            "api",
            "degraded",
            f"{url} does not answer ({reason}); a run started with --no-api has none",
        )
    return Check("api", "ok", f"{url} answers (HTTP {code})")


def _log_check(path: Path, now_ms: int) -> Check:
    if not path.is_file():
        return Check("log", "ok", f"no log yet at {path}")
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _LOG_TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError as error:
        return Check("log", "degraded", f"{path} cannot be read: {error}")
    since = now_ms - ERROR_WINDOW_MIN * 60_000
    recent = [line for line in lines if _is_error(line) and (_line_ms(line) or 0) >= since]
    if recent:
        return Check(
            "log",
            "degraded",
            f"{len(recent)} ERROR lines in the last {ERROR_WINDOW_MIN} min of {path}; newest: "
            f"{recent[-1][:200]}",
        )
    return Check("log", "ok", f"no ERROR line in the last {ERROR_WINDOW_MIN} min")


def _is_error(line: str) -> bool:
    if line.startswith("{"):
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        return isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL")
    parts = line.split(maxsplit=2)
    return len(parts) >= 2 and parts[1] in ("ERROR", "CRITICAL")


def _line_ms(line: str) -> int | None:
    text = line[:24]
    if line.startswith("{"):
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        text = str(entry.get("time", ""))
    try:
        moment = datetime.strptime(text.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (ValueError, IndexError):
        return None
    return int(moment.timestamp() * 1000)


def _disk_check(home: Path) -> Check:
    try:
        usage = shutil.disk_usage(home)
    except OSError as error:
        return Check("disk", "unhealthy", f"{home}: {error}")
    free_gib = usage.free / 1024**3
    detail = f"{free_gib:.1f} GiB free of {usage.total / 1024**3:.1f} GiB at {home}"
    if usage.free < DISK_CRITICAL_BYTES:
        return Check("disk", "unhealthy", detail)
    if usage.free < DISK_MIN_FREE_BYTES or usage.free < usage.total * DISK_MIN_FREE_FRACTION:
        return Check("disk", "degraded", detail)
    return Check("disk", "ok", detail)


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            number = rest.split()
            if number and number[0].isdigit():
                values[key] = int(number[0]) * 1024
    except OSError:
        return {}
    return values


def _process_rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _memory_check(pid: int | None) -> Check:
    info = _meminfo()
    total, available = info.get("MemTotal"), info.get("MemAvailable")
    parts = []
    level: Level = "ok"
    if total and available is not None:
        parts.append(f"{available / 1024**3:.1f} GiB available of {total / 1024**3:.1f} GiB")
        if available < total * MACHINE_MIN_AVAILABLE_FRACTION:
            level = "degraded"
    if pid is not None:
        rss = _process_rss(pid)
        if rss is not None:
            parts.append(f"engine pid {pid} uses {rss / 1000**3:.2f} GB")
            if rss > PROCESS_MEMORY_LIMIT:
                level = "degraded"
    return Check("memory", level, "; ".join(parts) or "not measurable on this system")
