"""What ``sigmax run`` checks before it touches the store: every refusal here happens before a
migration, a lease or a replayed candle, so a bad configuration leaves nothing behind.

The trading mode, a writable SIGMAX_HOME, and whether an address can be bound (the API's, which
:mod:`sigmax.app.beside` checks with it).
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path

from sigmax.config import Settings
from sigmax.errors import InputError


def check_mode(chosen: str | None, settings: Settings | None, where: str | None = None) -> str:
    """The trading mode: ``--mode`` when given, else ``TRADING_MODE``: ``paper`` or ``live``."""
    configured = settings.trading.mode if settings is not None else "paper"
    mode = (chosen or configured).strip().lower()
    where = where or ("--mode" if chosen else "TRADING_MODE")
    if mode not in ("paper", "live"):
        raise InputError(f"{where}: must be paper or live (got {mode})")
    return mode


def check_live(settings: Settings, confirmed: bool) -> None:
    """A live run needs the exchange's keys; on the real exchange (``TESTNET=false``) also
    ``--confirm-live``."""
    missing = [
        name
        for name, value in (
            ("API_KEY", settings.credentials.api_key),
            ("API_SECRET (or API_SECRET_FILE)", settings.credentials.api_secret),
        )
        if value is None
    ]
    if missing:
        raise InputError(f"{' and '.join(missing)}: required for --mode live")
    if not settings.trading.testnet and not confirmed:
        raise InputError(
            f"--confirm-live: TESTNET=false sends real orders with real money to "
            f"{settings.trading.exchange}; read the limits printed above and pass --confirm-live"
        )


def live_limits(settings: Settings) -> list[str]:
    """The limits in force, printed before a live run starts."""
    profile = settings.profile
    safety = settings.safety
    lines = [
        f"exchange          {settings.trading.exchange} "
        f"({'TESTNET' if settings.trading.testnet else 'REAL MONEY'})",
        f"profile           {settings.profile_name}",
    ]
    lines += [
        f"max position      {profile.max_position_size} USD "
        f"(and {profile.max_position_pct_of_equity:g} % of equity)",
        f"max exposure      {profile.max_exposure} USD in {profile.max_open_positions} positions",
        f"daily loss limit  {safety.max_daily_loss_usd} USD",
        f"allowed symbols   {', '.join(profile.allowed_symbols)}",
        f"policies          assets {', '.join(safety.policy.allowed_assets)} against "
        f"{safety.policy.quote_asset}, blacklist {', '.join(safety.policy.blacklist) or 'none'}, "
        f"leverage {safety.policy.max_leverage}",
    ]
    return lines


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
