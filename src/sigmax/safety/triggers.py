"""The safety enforcer's vocabulary: trigger names, the log lines and honest number formatting.

Pure functions only; :mod:`sigmax.safety.enforcer` decides *when* a line is written, this module
decides *what* it says. The PAUSE lines are part of the operator's contract (the runbook greps
for them), so each has exactly one builder here and a test pins its text.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Final, Literal

MS_PER_MINUTE: Final = 60_000
MS_PER_DAY: Final = 86_400_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_PLACES: Final = 28
"""Most decimal places a figure is ever printed with; far beyond any real difference."""


class TriggerName(StrEnum):
    """Why trading may pause; each name is also the key of the hold it creates.

    The first six are the runbook's auto-pause triggers; ``max_drawdown`` and
    ``stoploss_cooldown`` are the protections; ``manual`` and ``panic`` are operator actions.
    """

    CONSECUTIVE_LOSSES = "consecutive_losses"
    DAILY_LOSS = "daily_loss"
    API_ERROR_BURST = "api_error_burst"
    SLIPPAGE = "slippage"
    SENTIMENT_DROP = "sentiment_drop"
    PRIVACY_BREACH = "privacy_breach"
    MAX_DRAWDOWN = "max_drawdown"
    STOPLOSS_COOLDOWN = "stoploss_cooldown"
    MANUAL = "manual"
    PANIC = "panic"


#: The six auto-pause triggers, in the runbook's order.
AUTO_PAUSE_TRIGGERS: Final = (
    TriggerName.CONSECUTIVE_LOSSES,
    TriggerName.DAILY_LOSS,
    TriggerName.API_ERROR_BURST,
    TriggerName.SLIPPAGE,
    TriggerName.SENTIMENT_DROP,
    TriggerName.PRIVACY_BREACH,
)


def to_decimal(value: float | int | Decimal) -> Decimal:
    """A threshold from the settings as an exact Decimal: ``2.5`` becomes ``Decimal('2.5')``.

    ``repr`` of a float is the shortest text that reads back as the same float, which is what
    the operator wrote in the YAML; ``Decimal(float)`` would carry the binary expansion instead.
    """
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value))


def decimal_places(value: Decimal) -> int:
    """How many fractional digits ``value`` is written with (``7.125`` -> 3, ``10`` -> 0)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only; callers validate
    return max(0, -exponent)


def honest_figure(
    value: Decimal, threshold: Decimal, compare: Callable[[Decimal, Decimal], bool], places: int
) -> str:
    """``value`` rounded for reading, but never so far that the figure hides why it fired.

    At least ``places`` decimals and at least as many as the threshold has; more when rounding
    would change whether ``compare(figure, threshold)`` holds: 2.5004 % against a 2.5 % limit
    prints as ``2.5004``, never as ``2.5``.
    """
    for digits in range(max(places, decimal_places(threshold)), _MAX_PLACES + 1):
        shown = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
        if compare(shown, threshold) == compare(value, threshold):
            return f"{shown:f}"
    return f"{value:f}"


def plain_figure(value: Decimal, places: int) -> str:
    """``value`` with at least ``places`` decimals and every decimal it really has."""
    digits = max(places, decimal_places(value))
    return f"{value.quantize(Decimal(1).scaleb(-digits)):f}"


def usd(figure: str) -> str:
    """``-12.50`` as ``-$12.50``."""
    return f"-${figure[1:]}" if figure.startswith("-") else f"${figure}"


def iso_ms(at_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds and a ``Z`` (integer arithmetic)."""
    moment = _EPOCH + timedelta(milliseconds=at_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: What each clock is called wherever a time is shown (see :mod:`sigmax.safety.state`).
CLOCK_LABELS: Final = {"market": "market time", "wall": "wall clock"}


def until_text(at_ms: int, clock: Literal["market", "wall"]) -> str:
    """A hold's end with the clock it counts in: ``2023-10-03T13:00:00.000Z (market time)``."""
    return f"{iso_ms(at_ms)} ({CLOCK_LABELS[clock]})"


def next_utc_midnight(at_ms: int) -> int:
    """The first 00:00 UTC strictly after ``at_ms``."""
    return (at_ms // MS_PER_DAY + 1) * MS_PER_DAY


# --- The log lines ------------------------------------------------------------------------------


def consecutive_losses_line(limit: int) -> str:
    return f"PAUSE: Consecutive loss limit reached ({limit})"


def daily_loss_line(day_pnl: Decimal, floor: Decimal) -> str:
    """``floor`` is ``-max_daily_loss_usd`` (moved by a forced resume, see the enforcer)."""
    shown = honest_figure(day_pnl, floor, operator.lt, 2)
    return f"PAUSE: Daily loss limit exceeded ({usd(shown)} / {usd(plain_figure(floor, 2))})"


def api_error_burst_line(errors: int, window_seconds: int) -> str:
    return f"PAUSE: API error burst detected ({errors} errors in {window_seconds}s)"


def slippage_line(slippage_pct: Decimal, limit_pct: Decimal) -> str:
    shown = honest_figure(slippage_pct, limit_pct, operator.gt, 1)
    return f"PAUSE: High slippage detected ({shown}%)"


def sentiment_line(threshold: Decimal) -> str:
    # The runbook's line names the threshold that was crossed; the reading itself is in the
    # event's details and in the status.
    return f"PAUSE: Market sentiment dropped below threshold ({plain_figure(threshold, 2)})"


def privacy_line(kind: str, where: str) -> str:
    return f"PAUSE: Privacy breach detected ({kind} in {where})"


def privacy_observed_line(kind: str, where: str) -> str:
    return (
        f"Privacy violation detected ({kind} in {where}); "
        "safety.privacy_pause is off, so trading continues"
    )


def drawdown_line(drawdown_pct: Decimal, limit_pct: Decimal) -> str:
    shown = honest_figure(drawdown_pct, limit_pct, operator.ge, 1)
    return f"PAUSE: Max drawdown reached ({shown}% / {plain_figure(limit_pct, 1)}%)"


def cooldown_line(symbol: str, minutes: int, until_ms: int) -> str:
    return (
        f"COOLDOWN: {symbol} stop-loss cooldown for {minutes} min, "
        f"no new entry until {iso_ms(until_ms)}"
    )


def manual_pause_line(
    reason: str, until_ms: int | None, clock: Literal["market", "wall"] = "market"
) -> str:
    until = f" until {until_text(until_ms, clock)}" if until_ms is not None else ""
    return f"PAUSE: Trading paused{until} ({reason})"


def panic_line(reason: str) -> str:
    return f"PAUSE: Panic, trading stopped until a resume ({reason})"


def resume_line(lifted: list[str], *, forced: bool) -> str:
    how = "by force" if forced else "by resume"
    return f"RESUME: Trading resumed {how} (lifted: {', '.join(lifted)})"


def expiry_line(trigger: str, until_ms: int, clock: Literal["market", "wall"]) -> str:
    return f"RESUME: {trigger} pause lifted at {until_text(until_ms, clock)}"
