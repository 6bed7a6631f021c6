"""The markets a run trades, as the operator names them (``--symbols`` or ``trading.symbols``).

Kept apart from :mod:`sigmax.engine.runner` so that a backtest can check them without importing
the live run's stack (API server, Telegram, exchange feeds).
"""

from __future__ import annotations

from collections.abc import Sequence

from sigmax.config import Settings
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError


def parse_symbols(chosen: Sequence[str] | None, settings: Settings) -> list[str]:
    """``--symbols`` (default: ``trading.symbols``) in canonical spelling: each a market the
    profile allows, none twice, at least one."""
    parsed: list[str] = []
    for text in list(chosen) if chosen else list(settings.trading.symbols):
        try:
            symbol = str(Symbol.parse(text))
        except ValueError as error:
            raise InputError(f"--symbols: {error}") from None
        if symbol not in settings.profile.allowed_symbols:
            raise InputError(
                f"--symbols: {symbol} is not allowed by the {settings.profile_name} profile "
                f"(allowed: {', '.join(settings.profile.allowed_symbols)})"
            )
        if symbol in parsed:
            raise InputError(f"--symbols: {symbol} is listed twice")
        parsed.append(symbol)
    if not parsed:
        raise InputError("--symbols: name at least one market, e.g. BTC/USDT")
    return parsed
