"""What ``sigmax run`` checks before it touches the store: every refusal here happens before a
migration, a lease or a replayed candle, so a bad configuration leaves nothing behind.

The trading mode (live trading does not exist yet, so it is refused, never replaced by paper),
a writable SIGMAX_HOME, and, when the API is served, its token and its address.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sigmax.api import resolve_api_token
from sigmax.api.auth import ApiToken
from sigmax.config import Settings
from sigmax.errors import InputError


def check_mode(chosen: str | None, settings: Settings | None, where: str | None = None) -> str:
    """The trading mode: ``--mode`` when given, else ``TRADING_MODE``; only ``paper`` runs."""
    configured = settings.trading.mode if settings is not None else "paper"
    mode = (chosen or configured).strip().lower()
    where = where or ("--mode" if chosen else "TRADING_MODE")
    if mode == "live":
        raise InputError(
            f"{where}: live trading is not available in this version; SIGMAX trades on paper "
            "only (set TRADING_MODE=paper or pass --mode paper)"
        )
    if mode != "paper":
        raise InputError(f"{where}: must be paper (got {mode})")
    return mode


def check_home_writable(home: Path) -> None:
    """SIGMAX_HOME exists (or can be made) and a file can be written in it."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".sigmax-write-check-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            reason = "permission denied" if error.errno != errno.EROFS else "read-only file system"
        raise InputError(
            f"SIGMAX_HOME ({home}) is not writable: {reason}; SIGMAX keeps its database, logs "
            "and API token there, so choose a writable directory (SIGMAX_HOME=...)"
        ) from None


@dataclass(frozen=True, slots=True)
class ApiPlan:
    """The API's token and address, checked."""

    token: ApiToken
    host: str
    port: int


def check_api(settings: Settings, host: str | None, port: int | None) -> ApiPlan:
    """The token (SIGMAX_API_TOKEN, the .env, or the token file: created if missing) and the
    address: ``host`` must resolve and ``host:port`` be free to bind."""
    token = resolve_api_token(settings.home)
    chosen_host = host or settings.api.host
    chosen_port = port if port is not None else settings.api.port
    check_bindable(chosen_host, chosen_port)
    return ApiPlan(token, chosen_host, chosen_port)


def check_bindable(host: str, port: int) -> None:
    """Bind ``host:port`` once and let go, so a busy port or a foreign address is refused now
    rather than after the store was opened (the API binds for real later)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise InputError(f"api.host / --host: {host!r} does not resolve ({error})") from None
    family, kind, proto, _, address = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    except OSError as error:
        raise InputError(
            f"api.port / --port: cannot listen on {host}:{port}: "
            f"{error.strerror or error}; choose another port or stop what uses it"
        ) from None
    finally:
        probe.close()
