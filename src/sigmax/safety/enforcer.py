"""The safety enforcer: capital preservation in front of every new position.

The engine tells the enforcer what happens (closed trades, account marks, API errors, fills,
sentiment readings, privacy findings) and asks it before every order. The enforcer answers from
:class:`~sigmax.safety.state.SafetyState` alone: it does no I/O and reads no clock. Every time is
epoch ms given by the caller, candle time in a replay and wall time live, so a replay pauses
exactly where live trading would have.

Two clocks
    Every call takes ``at_ms``, the *market* clock (the close of the newest candle: candle time
    in a replay, about wall time live). The triggers, the stop-loss cooldowns and the daily
    reset count in it, so a replay or a backtest decides the same whenever it runs. An
    operator's pause counts in the *wall* clock instead (``pause(..., wall_ms=now)``): 60
    seconds are 60 real seconds in a paced replay too, where an hour of market time may pass
    in 50 ms. A wall hold lifts at a call that passes ``wall_ms`` at or after its end
    (:meth:`SafetyEnforcer.tick`, :meth:`~SafetyEnforcer.status`, ...); calls without
    ``wall_ms`` leave wall holds as they are. A run at full speed or a backtest has no operator,
    but a wall hold found in its stored state still counts in wall time: the run stays paused
    for what is left of it, never less than the operator asked.

Holds
    Trading is paused while at least one *hold* is active. Each trigger, ``pause()`` and
    ``panic()`` add a hold under their own name, so a daily-loss pause that lifts at midnight
    does not lift a consecutive-loss pause taken the same day. A hold with ``until_ms`` lifts by
    itself when a call is made at or after that time in its clock (``tick()``, every check,
    every observation).

What a pause blocks
    New entries (buys) only. Exits (sells) are always allowed: a stop-loss, a take-profit and the
    panic close-out must still be able to reduce risk while trading is paused.

When triggers fire
    Level triggers (consecutive losses, daily loss, API error burst, sentiment, drawdown) fire
    when their condition becomes true while they hold no pause; they do not fire again for as
    long as their hold lasts. Incident triggers (slippage, privacy) fire on every incident,
    because each bad fill or leaked text is its own event the operator must see.

Thresholds (equal to the limit does not fire unless stated)
    consecutive losses: the streak reaches ``max_consecutive_losses`` (a winning trade, PnL > 0,
    resets it; a break-even trade leaves it as it is). Daily loss: day PnL strictly below
    ``-max_daily_loss_usd``. API errors: ``max_api_errors`` errors with times in
    ``(t - window, t]``. Slippage: strictly above ``max_slippage_pct``. Sentiment: strictly below
    ``min_sentiment``. Drawdown: reaches ``max_drawdown_pct`` below the running equity peak.

Resume rules (:meth:`SafetyEnforcer.resume`)
    A resume lifts every hold at once. Without ``force`` it is refused with
    :class:`ResumeRefusedError` while a hold's condition still holds:

    * ``consecutive_losses``: holds while the loss streak is at the limit or above (a winning
      trade closing while paused resets it). Force resets the streak to 0.
    * ``daily_loss``: holds while the last day PnL is below the floor. Force moves the floor:
      until the next daily reset the limit counts from the day PnL at the forced resume, so a
      further full limit lost the same day pauses again.
    * ``api_error_burst``: holds while the window ending at the resume still contains the limit
      of errors. Force forgets the recorded errors.
    * ``sentiment_drop``: holds while the last real reading is below the threshold. Force
      disarms the trigger until a reading at or above the threshold re-arms it.
    * ``max_drawdown``: holds while equity is the limit or more below its peak. Force resets the
      peak to the current equity.
    * ``slippage``, ``privacy_breach``: never; the incident is over and the resume is the
      operator's acknowledgement. ``manual``, ``panic`` and other names: never.

    Every resume is journalled (``resume`` or ``force_resume`` with what was overridden and
    reset). Automatic lifts are journalled as ``resume`` with ``"automatic": true``.

Daily reset
    With ``daily_loss_resets_at_utc_midnight`` the daily-loss hold lifts at the next 00:00 UTC.
    Otherwise the caller's day PnL is a rolling 24 h figure and the hold lifts 24 h after it was
    taken, when every loss that caused it has left the window. The caller passes the PnL for the
    day (or window) that contains ``at_ms``; the enforcer does not compute it.
"""

from __future__ import annotations

import bisect
import logging
import math
import operator
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, get_args

from sigmax.config.settings import SafetySettings
from sigmax.domain.orders import OrderSide
from sigmax.logging_setup import log_pause
from sigmax.safety import triggers as lines
from sigmax.safety.errors import InvalidSafetyInputError, ResumeBlock, ResumeRefusedError
from sigmax.safety.state import (
    MAX_VIOLATIONS,
    ApiErrorMark,
    Hold,
    HoldClock,
    JsonValue,
    SafetyEvent,
    SafetyState,
    Violation,
)
from sigmax.safety.status import (
    CooldownStatus,
    DrawdownStatus,
    Figure,
    SafetyStatus,
    TriggerStatus,
    UntilClock,
)
from sigmax.safety.triggers import (
    MS_PER_DAY,
    MS_PER_MINUTE,
    TriggerName,
    honest_figure,
    next_utc_midnight,
    plain_figure,
    to_decimal,
    usd,
)
from sigmax.storage.models import SafetyEventKind

__all__ = [
    "EXIT_REASONS",
    "ExitReason",
    "Firing",
    "Hold",
    "InvalidSafetyInputError",
    "Refusal",
    "ResumeBlock",
    "ResumeRefusedError",
    "SafetyEnforcer",
    "SafetyEvent",
    "SafetyState",
    "SafetyStatus",
    "TriggerName",
]

log = logging.getLogger("sigmax.safety")

ExitReason = Literal["stop_loss", "take_profit", "signal", "manual", "panic"]
EXIT_REASONS: Final[frozenset[str]] = frozenset(get_args(ExitReason))
MAX_MESSAGE_CHARS: Final = 200
"""How much of an API error's message the journal keeps."""
_HUNDRED: Final = Decimal(100)
_NO_READING: Final = "-"
"""What the status shows for a figure not observed yet."""


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger or protection that fired; ``message`` is the line it logged.

    A firing pauses trading (``pauses``) except a stop-loss cooldown, which blocks new entries on
    ``symbol`` only.
    """

    trigger: TriggerName
    message: str
    value: Figure
    threshold: Figure
    at_ms: int
    until_ms: int | None
    symbol: str | None = None

    @property
    def pauses(self) -> bool:
        return self.trigger is not TriggerName.STOPLOSS_COOLDOWN


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a new entry on ``symbol`` may not be placed now."""

    symbol: str
    trigger: str
    """The hold that lasts longest, or ``stoploss_cooldown``."""
    reason: str
    until_ms: int | None
    """When the entry becomes possible again by itself, in ``clock``; ``None``: only after a
    resume (or, with ``clock`` ``mixed``, when holds in both clocks have lifted)."""
    clock: UntilClock | None = "market"

    @property
    def cooldown(self) -> bool:
        return self.trigger == TriggerName.STOPLOSS_COOLDOWN

    def __str__(self) -> str:
        if self.clock == "mixed":
            until = " until its holds in market time and in wall-clock time have lifted"
        elif self.until_ms is not None and self.clock is not None:
            until = f" until {lines.until_text(self.until_ms, self.clock)}"
        else:
            until = " until a resume"
        what = "cooling down" if self.cooldown else "trading paused"
        return f"no new entry on {self.symbol}: {what}{until} ({self.reason})"


class SafetyEnforcer:
    """The six auto-pause triggers, the two protections, pause / resume / panic.

    ``state`` resumes a saved enforcer (see :class:`~sigmax.safety.store.SafetyStore`); without
    it the enforcer starts unpaused with empty counters. Every method that takes ``at_ms`` first
    lifts holds and cooldowns that expired by then. Journal events accumulate until
    :meth:`take_events`; the caller persists them with the state.
    """

    def __init__(self, settings: SafetySettings, state: SafetyState | None = None) -> None:
        self._settings = settings
        self._state = state if state is not None else SafetyState()
        self._events: list[SafetyEvent] = []
        self._daily_limit = settings.max_daily_loss_usd
        self._slippage_limit = to_decimal(settings.max_slippage_pct)
        self._min_sentiment = to_decimal(settings.min_sentiment)
        self._drawdown_limit = to_decimal(settings.protections.max_drawdown_pct)
        self._window_ms = settings.api_error_window_seconds * 1000
        # A saved state may come from a run with a larger error limit; only the newest
        # max_api_errors marks can ever matter.
        del self._state.api_errors[: -settings.max_api_errors]

    @property
    def state(self) -> SafetyState:
        """The live state (mutated by every call); save it with :class:`SafetyStore`."""
        return self._state

    @property
    def settings(self) -> SafetySettings:
        return self._settings

    @property
    def pending_events(self) -> tuple[SafetyEvent, ...]:
        """Journal events not yet taken."""
        return tuple(self._events)

    def take_events(self) -> list[SafetyEvent]:
        """Hand over the journal events recorded since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    # --- Observations ---------------------------------------------------------------------------

    def record_closed_trade(
        self, symbol: str, realized_pnl: Decimal, at_ms: int, exit_reason: ExitReason
    ) -> list[Firing]:
        """A position closed with ``realized_pnl``: counts the loss streak, starts a cooldown
        after a stop-loss exit."""
        _require_text("symbol", symbol)
        _require_finite("realized_pnl", realized_pnl)
        if exit_reason not in EXIT_REASONS:
            raise InvalidSafetyInputError(
                f"exit_reason must be one of {', '.join(sorted(EXIT_REASONS))} "
                f"(got {exit_reason!r})"
            )
        self._advance(at_ms)
        state = self._state
        fired: list[Firing] = []
        if realized_pnl < 0:
            state.loss_streak += 1
        elif realized_pnl > 0:
            state.loss_streak = 0
        limit = self._settings.max_consecutive_losses
        if state.loss_streak >= limit and TriggerName.CONSECUTIVE_LOSSES not in state.holds:
            fired.append(
                self._fire(
                    TriggerName.CONSECUTIVE_LOSSES,
                    lines.consecutive_losses_line(limit),
                    value=state.loss_streak,
                    threshold=limit,
                    at_ms=at_ms,
                    until_ms=None,
                    details={"symbol": symbol, "last_pnl": str(realized_pnl)},
                )
            )
        minutes = self._settings.protections.stoploss_cooldown_minutes
        if exit_reason == "stop_loss" and minutes > 0:
            fired.append(self._start_cooldown(symbol, minutes, at_ms))
        return fired

    def observe_account(self, equity: Decimal, day_pnl: Decimal, at_ms: int) -> list[Firing]:
        """The account marked to market: checks the daily loss and the drawdown from the peak.

        ``day_pnl`` is realised + unrealised PnL of the UTC day containing ``at_ms`` (or of the
        24 h before it when the daily loss does not reset at midnight).
        """
        _require_finite("equity", equity)
        _require_finite("day_pnl", day_pnl)
        self._advance(at_ms)
        state = self._state
        fired: list[Firing] = []
        state.equity = equity
        if state.equity_peak is None or equity > state.equity_peak:
            state.equity_peak = equity
        state.day_pnl = day_pnl
        state.day_pnl_at_ms = at_ms

        floor = self._daily_floor()
        if day_pnl < floor and TriggerName.DAILY_LOSS not in state.holds:
            fired.append(
                self._fire(
                    TriggerName.DAILY_LOSS,
                    lines.daily_loss_line(day_pnl, floor),
                    value=day_pnl,
                    threshold=floor,
                    at_ms=at_ms,
                    until_ms=self._next_daily_reset(at_ms),
                    details={"equity": str(equity)},
                )
            )
        drawdown = self._drawdown_pct()
        if (
            drawdown is not None
            and drawdown >= self._drawdown_limit
            and TriggerName.MAX_DRAWDOWN not in state.holds
        ):
            fired.append(
                self._fire(
                    TriggerName.MAX_DRAWDOWN,
                    lines.drawdown_line(drawdown, self._drawdown_limit),
                    value=drawdown,
                    threshold=self._drawdown_limit,
                    at_ms=at_ms,
                    until_ms=None,
                    details={"equity": str(equity), "equity_peak": str(state.equity_peak)},
                )
            )
        return fired

    def record_api_error(self, at_ms: int, source: str, message: str) -> list[Firing]:
        """A venue or feed call failed. ``message`` should already be free of credentials; the
        journal keeps its first 200 characters, the state keeps only time and source."""
        _require_text("source", source)
        self._advance(at_ms)
        state = self._state
        bisect.insort(state.api_errors, ApiErrorMark(at_ms, source), key=lambda mark: mark.at_ms)
        del state.api_errors[: -self._settings.max_api_errors]
        in_window = self._errors_in_window(at_ms)
        limit = self._settings.max_api_errors
        if len(in_window) >= limit and TriggerName.API_ERROR_BURST not in state.holds:
            window_s = self._settings.api_error_window_seconds
            sources: dict[str, JsonValue] = dict(Counter(mark.source for mark in in_window))
            return [
                self._fire(
                    TriggerName.API_ERROR_BURST,
                    lines.api_error_burst_line(len(in_window), window_s),
                    value=len(in_window),
                    threshold=limit,
                    at_ms=at_ms,
                    until_ms=None,
                    details={
                        "window_seconds": window_s,
                        "sources": sources,
                        "last_message": message[:MAX_MESSAGE_CHARS],
                    },
                )
            ]
        return []

    def record_fill(
        self, symbol: str, expected_price: Decimal, fill_price: Decimal, at_ms: int
    ) -> list[Firing]:
        """A fill at ``fill_price`` where ``expected_price`` was expected; either direction
        counts, since an unexpectedly good price is as much a sign of a broken market."""
        _require_text("symbol", symbol)
        for name, price in (("expected_price", expected_price), ("fill_price", fill_price)):
            _require_finite(name, price)
            if price <= 0:
                raise InvalidSafetyInputError(f"{name} must be positive (got {price})")
        self._advance(at_ms)
        slippage = abs(fill_price - expected_price) / expected_price * _HUNDRED
        self._state.last_slippage_pct = slippage
        if slippage <= self._slippage_limit:
            return []
        return [
            self._fire(
                TriggerName.SLIPPAGE,
                lines.slippage_line(slippage, self._slippage_limit),
                value=slippage,
                threshold=self._slippage_limit,
                at_ms=at_ms,
                until_ms=None,
                details={
                    "symbol": symbol,
                    "expected_price": str(expected_price),
                    "fill_price": str(fill_price),
                },
            )
        ]

    def observe_sentiment(self, value: float | None, at_ms: int) -> list[Firing]:
        """The aggregate market sentiment (-1..1); ``None`` means no source, which never fires
        and leaves the last real reading in place."""
        self._advance(at_ms)
        if value is None:
            return []
        if not math.isfinite(value) or not -1.0 <= value <= 1.0:
            raise InvalidSafetyInputError(f"sentiment must be a number in -1..1 (got {value!r})")
        state = self._state
        state.sentiment = value
        state.sentiment_at_ms = at_ms
        if to_decimal(value) >= self._min_sentiment:
            state.sentiment_armed = True
            return []
        if not state.sentiment_armed or TriggerName.SENTIMENT_DROP in state.holds:
            return []
        return [
            self._fire(
                TriggerName.SENTIMENT_DROP,
                lines.sentiment_line(self._min_sentiment),
                value=value,
                threshold=self._min_sentiment,
                at_ms=at_ms,
                until_ms=None,
                details={},
            )
        ]

    def record_privacy_violation(self, kind: str, where: str, at_ms: int) -> list[Firing]:
        """The privacy screen found ``kind`` (``email``, ``secret``, ``PII``…) in text bound for
        ``where`` (``logs``, ``telegram``…). Never pass the finding itself."""
        _require_text("kind", kind)
        _require_text("where", where)
        self._advance(at_ms)
        self._state.last_privacy_finding = f"{kind} in {where}"
        if self._settings.privacy_pause:
            return [
                self._fire(
                    TriggerName.PRIVACY_BREACH,
                    lines.privacy_line(kind, where),
                    value=f"{kind} in {where}",
                    threshold="any finding",
                    at_ms=at_ms,
                    until_ms=None,
                    details={"kind": kind, "where": where},
                )
            ]
        message = lines.privacy_observed_line(kind, where)
        log.warning(message)
        self._violation(at_ms, TriggerName.PRIVACY_BREACH, message)
        self._event(
            SafetyEventKind.VIOLATION,
            TriggerName.PRIVACY_BREACH,
            message,
            {"kind": kind, "where": where, "paused": False},
            at_ms,
        )
        return []

    # --- Checks ---------------------------------------------------------------------------------

    def tick(self, at_ms: int, wall_ms: int | None = None) -> tuple[Hold, ...]:
        """Lift the holds and cooldowns that expired by ``at_ms`` (market clock) and, given
        ``wall_ms``, the wall-clock holds that expired by then; returns the lifted holds."""
        return self._advance(at_ms, wall_ms)

    def is_paused(self, at_ms: int) -> bool:
        self._advance(at_ms)
        return bool(self._state.holds)

    def check_entry(self, symbol: str, at_ms: int) -> Refusal | None:
        """Why a new entry (buy) on ``symbol`` may not be placed at ``at_ms``, or ``None``."""
        self._advance(at_ms)
        holds = self._ordered_holds()
        if holds:
            until, clock = _overall_until(holds)
            return Refusal(
                symbol=symbol,
                trigger=holds[0].trigger,
                reason="; ".join(hold.reason for hold in self._newest_first(holds)),
                until_ms=until,
                clock=clock,
            )
        until = self._state.cooldowns.get(symbol)
        if until is not None:
            minutes = self._settings.protections.stoploss_cooldown_minutes
            return Refusal(
                symbol=symbol,
                trigger=TriggerName.STOPLOSS_COOLDOWN.value,
                reason=f"stop-loss cooldown ({minutes} min after a stop-loss exit)",
                until_ms=until,
            )
        return None

    def check_order(self, symbol: str, side: OrderSide | str, at_ms: int) -> Refusal | None:
        """Like :meth:`check_entry` for buys; sells are always allowed (see the module notes)."""
        order_side = _order_side(side)
        if order_side is OrderSide.SELL:
            self._advance(at_ms)
            return None
        return self.check_entry(symbol, at_ms)

    # --- Commands -------------------------------------------------------------------------------

    def pause(
        self,
        reason: str,
        at_ms: int,
        duration_ms: int | None = None,
        trigger: str | None = None,
        *,
        wall_ms: int | None = None,
    ) -> Hold:
        """Pause new entries for ``duration_ms`` (``None``: until a resume).

        The hold is named ``trigger`` (default ``manual``); pausing again under the same name
        replaces it. A hold named after a trigger obeys that trigger's resume rule. With
        ``wall_ms`` (the wall clock now: an operator's pause) the hold counts in wall time and
        lasts ``duration_ms`` of it whatever pace the market clock keeps; without, it counts
        in market time from ``at_ms``. It is journalled at ``at_ms`` either way.
        """
        _require_text("reason", reason)
        if duration_ms is not None and duration_ms <= 0:
            raise InvalidSafetyInputError(f"pause duration must be positive (got {duration_ms} ms)")
        name = TriggerName.MANUAL.value if trigger is None else trigger
        _require_text("trigger", name)
        if name == TriggerName.PANIC:
            raise InvalidSafetyInputError("a panic pause is taken with panic(), not pause()")
        self._advance(at_ms, wall_ms)
        clock: HoldClock = "market" if wall_ms is None else "wall"
        since = at_ms if wall_ms is None else wall_ms
        until = None if duration_ms is None else since + duration_ms
        hold = Hold(trigger=name, reason=reason, since_ms=since, until_ms=until, clock=clock)
        self._state.holds[name] = hold
        message = lines.manual_pause_line(reason, until, clock)
        log_pause(log, message)
        self._event(
            SafetyEventKind.PAUSE,
            None if trigger is None else name,
            reason,
            {"until_ms": until, "duration_ms": duration_ms, "clock": clock},
            at_ms,
        )
        return hold

    def panic(self, at_ms: int, reason: str) -> Hold:
        """Pause with reason ``panic`` until a resume (never by time) and journal it.

        The caller cancels open orders and closes positions; the enforcer keeps new entries out.
        """
        _require_text("reason", reason)
        self._advance(at_ms)
        name = TriggerName.PANIC.value
        hold = Hold(trigger=name, reason=f"panic: {reason}", since_ms=at_ms, until_ms=None)
        self._state.holds[name] = hold
        message = lines.panic_line(reason)
        log_pause(log, message)
        self._event(SafetyEventKind.PANIC, TriggerName.PANIC, reason, {}, at_ms)
        return hold

    def resume(
        self, at_ms: int, force: bool = False, *, wall_ms: int | None = None
    ) -> tuple[Hold, ...]:
        """Lift every hold; returns what was lifted (empty when trading was not paused).

        Without ``force``, raises :class:`ResumeRefusedError` while any hold's condition still
        holds (rules in the module notes). ``force`` lifts anyway, resets the counters behind the
        lifted holds and journals a ``force_resume`` naming what it overrode. ``wall_ms`` first
        lifts the wall-clock holds that ended by then, as :meth:`tick`.
        """
        self._advance(at_ms, wall_ms)
        state = self._state
        holds = self._ordered_holds()
        if not holds:
            return ()
        blocks = tuple(
            ResumeBlock(hold.trigger, condition)
            for hold in holds
            if (condition := self._still_holds(hold.trigger, at_ms)) is not None
        )
        if blocks and not force:
            error = ResumeRefusedError(blocks)
            log.warning("RESUME refused: %s", "; ".join(str(block) for block in blocks))
            raise error
        state.holds.clear()
        lifted = [hold.trigger for hold in holds]
        lifted_json: list[JsonValue] = list(lifted)
        if force:
            reset = [self._reset(hold.trigger, at_ms) for hold in holds]
            self._event(
                SafetyEventKind.FORCE_RESUME,
                None,
                "forced resume",
                {
                    "lifted": lifted_json,
                    "overridden": {block.trigger: block.condition for block in blocks},
                    "reset": [note for note in reset if note is not None],
                },
                at_ms,
            )
        else:
            self._event(
                SafetyEventKind.RESUME,
                None,
                "resume",
                {"lifted": lifted_json, "automatic": False},
                at_ms,
            )
        log_pause(log, lines.resume_line(lifted, forced=force))
        return tuple(holds)

    # --- Status ---------------------------------------------------------------------------------

    def status(self, at_ms: int, wall_ms: int | None = None) -> SafetyStatus:
        """Pause state, every trigger with value and threshold, protections, recent violations,
        at ``at_ms`` in market time and (lifting the wall-clock holds that ended) ``wall_ms``."""
        self._advance(at_ms, wall_ms)
        state = self._state
        settings = self._settings
        holds = self._ordered_holds()
        floor = self._daily_floor()
        in_window = len(self._errors_in_window(at_ms))
        drawdown = self._drawdown_pct()
        day_pnl_text = (
            "no account observed yet"
            if state.day_pnl is None
            else usd(plain_figure(state.day_pnl, 2))
        )
        sentiment_text = (
            "no reading yet" if state.sentiment is None else f"last reading {state.sentiment}"
        )
        if not state.sentiment_armed:
            sentiment_text += " (disarmed by a forced resume until a reading at the threshold)"
        last_slippage = state.last_slippage_pct
        slippage_text = (
            "no fill yet"
            if last_slippage is None
            else f"last fill {honest_figure(last_slippage, self._slippage_limit, operator.gt, 2)}%"
        )
        triggers = (
            TriggerStatus(
                name=TriggerName.CONSECUTIVE_LOSSES,
                enabled=True,
                value=state.loss_streak,
                threshold=settings.max_consecutive_losses,
                fired=TriggerName.CONSECUTIVE_LOSSES in state.holds,
                detail=f"{state.loss_streak} losing trades in a row "
                f"(limit {settings.max_consecutive_losses})",
                shown_value=str(state.loss_streak),
                shown_threshold=str(settings.max_consecutive_losses),
            ),
            TriggerStatus(
                name=TriggerName.DAILY_LOSS,
                enabled=True,
                value=state.day_pnl,
                threshold=floor,
                fired=TriggerName.DAILY_LOSS in state.holds,
                detail=f"day PnL {day_pnl_text} (pauses below {usd(plain_figure(floor, 2))})",
                shown_value=_NO_READING
                if state.day_pnl is None
                else honest_figure(state.day_pnl, floor, operator.lt, 2),
                shown_threshold=plain_figure(floor, 2),
            ),
            TriggerStatus(
                name=TriggerName.API_ERROR_BURST,
                enabled=True,
                value=in_window,
                threshold=settings.max_api_errors,
                fired=TriggerName.API_ERROR_BURST in state.holds,
                detail=f"{in_window} errors in the last {settings.api_error_window_seconds}s "
                f"(limit {settings.max_api_errors})",
                shown_value=str(in_window),
                shown_threshold=str(settings.max_api_errors),
            ),
            TriggerStatus(
                name=TriggerName.SLIPPAGE,
                enabled=True,
                value=last_slippage,
                threshold=self._slippage_limit,
                fired=TriggerName.SLIPPAGE in state.holds,
                detail=f"{slippage_text} (pauses above {self._slippage_limit}%)",
                shown_value=_NO_READING
                if last_slippage is None
                else honest_figure(last_slippage, self._slippage_limit, operator.gt, 2) + " %",
                shown_threshold=plain_figure(self._slippage_limit, 2) + " %",
            ),
            TriggerStatus(
                name=TriggerName.SENTIMENT_DROP,
                enabled=True,
                value=state.sentiment,
                threshold=self._min_sentiment,
                fired=TriggerName.SENTIMENT_DROP in state.holds,
                detail=f"{sentiment_text} (pauses below {self._min_sentiment})",
                shown_value=_NO_READING
                if state.sentiment is None
                else honest_figure(
                    to_decimal(state.sentiment), self._min_sentiment, operator.lt, 2
                ),
                shown_threshold=plain_figure(self._min_sentiment, 2),
            ),
            TriggerStatus(
                name=TriggerName.PRIVACY_BREACH,
                enabled=settings.privacy_pause,
                value=state.last_privacy_finding,
                threshold="any finding",
                fired=TriggerName.PRIVACY_BREACH in state.holds,
                detail="pauses on any finding"
                if settings.privacy_pause
                else "off: findings are journalled, trading continues",
                shown_value=state.last_privacy_finding or "none",
                shown_threshold="any finding",
            ),
        )
        until, until_clock = _overall_until(holds) if holds else (None, None)
        return SafetyStatus(
            at_ms=at_ms,
            paused=bool(holds),
            reason="; ".join(hold.reason for hold in self._newest_first(holds)) or None,
            trigger=holds[0].trigger if holds else None,
            until=until,
            until_clock=until_clock,
            holds=holds,
            triggers=triggers,
            cooldowns=tuple(
                CooldownStatus(symbol, until) for symbol, until in sorted(state.cooldowns.items())
            ),
            drawdown=DrawdownStatus(
                value_pct=drawdown,
                threshold_pct=self._drawdown_limit,
                equity=state.equity,
                equity_peak=state.equity_peak,
                fired=TriggerName.MAX_DRAWDOWN in state.holds,
            ),
            violations=tuple(reversed(state.violations)),
        )

    # --- Internals ------------------------------------------------------------------------------

    def _advance(self, at_ms: int, wall_ms: int | None = None) -> tuple[Hold, ...]:
        """Note the time and lift what expired by ``at_ms`` (and by ``wall_ms``, if given)."""
        if isinstance(at_ms, bool) or not isinstance(at_ms, int):
            raise InvalidSafetyInputError(f"at_ms must be epoch milliseconds (got {at_ms!r})")
        if wall_ms is not None and (isinstance(wall_ms, bool) or not isinstance(wall_ms, int)):
            raise InvalidSafetyInputError(f"wall_ms must be epoch milliseconds (got {wall_ms!r})")
        state = self._state
        if state.updated_at_ms is None or at_ms > state.updated_at_ms:
            state.updated_at_ms = at_ms
        # Called at every candle: with no hold, cooldown or baseline (the usual state) it only
        # notes the time, without building the clocks or sorting an empty selection.
        expired: list[Hold] = []
        if state.holds:
            now: dict[HoldClock, int | None] = {"market": at_ms, "wall": wall_ms}
            expired = sorted(
                (
                    hold
                    for hold in state.holds.values()
                    if hold.until_ms is not None
                    and (clock_now := now[hold.clock]) is not None
                    and hold.until_ms <= clock_now
                ),
                key=lambda hold: (hold.clock != "market", hold.until_ms or 0, hold.trigger),
            )
        for hold in expired:
            del state.holds[hold.trigger]
            assert hold.until_ms is not None  # selected above
            log_pause(log, lines.expiry_line(hold.trigger, hold.until_ms, hold.clock))
            # A market hold is journalled at the moment it lifted, not at the call that noticed
            # it; a wall hold's end is no moment of the market clock, so it is journalled at the
            # market time it was noticed, its wall-clock end in the details.
            self._event(
                SafetyEventKind.RESUME,
                hold.trigger,
                f"{hold.trigger} pause lifted by time",
                {
                    "lifted": [hold.trigger],
                    "automatic": True,
                    "until_ms": hold.until_ms,
                    "clock": hold.clock,
                },
                hold.until_ms if hold.clock == "market" else at_ms,
            )
        if state.cooldowns:
            for symbol in [s for s, until in state.cooldowns.items() if until <= at_ms]:
                del state.cooldowns[symbol]
        baseline_until = state.daily_loss_baseline_until_ms
        if baseline_until is not None and baseline_until <= at_ms:
            state.daily_loss_baseline = None
            state.daily_loss_baseline_until_ms = None
        return tuple(expired)

    def _fire(
        self,
        trigger: TriggerName,
        message: str,
        *,
        value: Figure,
        threshold: Figure,
        at_ms: int,
        until_ms: int | None,
        details: dict[str, JsonValue],
    ) -> Firing:
        """Log the PAUSE line, take the hold, record the violation and journal the trigger."""
        reason = message.removeprefix("PAUSE: ")
        self._state.holds[trigger.value] = Hold(
            trigger=trigger.value, reason=reason, since_ms=at_ms, until_ms=until_ms
        )
        log_pause(log, message)
        self._violation(at_ms, trigger, message)
        self._event(
            SafetyEventKind.TRIGGER,
            trigger,
            reason,
            {
                **details,
                "value": _json_figure(value),
                "threshold": _json_figure(threshold),
                "until_ms": until_ms,
            },
            at_ms,
        )
        return Firing(trigger, message, value, threshold, at_ms, until_ms)

    def _start_cooldown(self, symbol: str, minutes: int, at_ms: int) -> Firing:
        state = self._state
        until = max(at_ms + minutes * MS_PER_MINUTE, state.cooldowns.get(symbol, 0))
        state.cooldowns[symbol] = until
        message = lines.cooldown_line(symbol, minutes, until)
        log.warning(message)
        self._violation(at_ms, TriggerName.STOPLOSS_COOLDOWN, message)
        self._event(
            SafetyEventKind.COOLDOWN,
            TriggerName.STOPLOSS_COOLDOWN,
            message.removeprefix("COOLDOWN: "),
            {"symbol": symbol, "minutes": minutes, "until_ms": until},
            at_ms,
        )
        return Firing(
            TriggerName.STOPLOSS_COOLDOWN, message, minutes, minutes, at_ms, until, symbol
        )

    def _violation(self, at_ms: int, trigger: str, message: str) -> None:
        violations = self._state.violations
        violations.append(Violation(at_ms, str(trigger), message))
        del violations[:-MAX_VIOLATIONS]

    def _event(
        self,
        kind: SafetyEventKind,
        trigger: str | None,
        reason: str,
        details: dict[str, JsonValue],
        at_ms: int,
    ) -> None:
        self._events.append(
            SafetyEvent(
                kind=kind,
                trigger=None if trigger is None else str(trigger),
                reason=reason,
                details=details,
                at_ms=at_ms,
            )
        )

    def _daily_floor(self) -> Decimal:
        """The day PnL below which the daily-loss trigger fires (moved by a forced resume)."""
        baseline = self._state.daily_loss_baseline
        return (baseline if baseline is not None else Decimal(0)) - self._daily_limit

    def _next_daily_reset(self, at_ms: int) -> int:
        if self._settings.daily_loss_resets_at_utc_midnight:
            return next_utc_midnight(at_ms)
        return at_ms + MS_PER_DAY

    def _drawdown_pct(self) -> Decimal | None:
        peak, equity = self._state.equity_peak, self._state.equity
        if peak is None or equity is None or peak <= 0:
            return None
        return (peak - equity) / peak * _HUNDRED

    def _errors_in_window(self, at_ms: int) -> list[ApiErrorMark]:
        start = at_ms - self._window_ms
        return [mark for mark in self._state.api_errors if start < mark.at_ms <= at_ms]

    def _still_holds(self, trigger: str, at_ms: int) -> str | None:
        """The condition that keeps ``trigger``'s hold from a plain resume, or ``None``."""
        state = self._state
        settings = self._settings
        if trigger == TriggerName.CONSECUTIVE_LOSSES:
            limit = settings.max_consecutive_losses
            if state.loss_streak >= limit:
                return (
                    f"{state.loss_streak} losing trades in a row (limit {limit}); "
                    "a winning trade or a forced resume resets the streak"
                )
        elif trigger == TriggerName.DAILY_LOSS:
            floor = self._daily_floor()
            if state.day_pnl is not None and state.day_pnl < floor:
                shown = honest_figure(state.day_pnl, floor, operator.lt, 2)
                hold = state.holds.get(trigger)
                lifts = (
                    f"; the pause lifts at {lines.iso_ms(hold.until_ms)}"
                    if hold is not None and hold.until_ms is not None
                    else ""
                )
                return f"day PnL {usd(shown)} is below {usd(plain_figure(floor, 2))}{lifts}"
        elif trigger == TriggerName.API_ERROR_BURST:
            count = len(self._errors_in_window(at_ms))
            if count >= settings.max_api_errors:
                return (
                    f"{count} API errors in the last {settings.api_error_window_seconds}s "
                    f"(limit {settings.max_api_errors})"
                )
        elif trigger == TriggerName.SENTIMENT_DROP:
            sentiment = state.sentiment
            if (
                state.sentiment_armed
                and sentiment is not None
                and to_decimal(sentiment) < self._min_sentiment
            ):
                return f"last sentiment {sentiment} is below {self._min_sentiment}"
        elif trigger == TriggerName.MAX_DRAWDOWN:
            drawdown = self._drawdown_pct()
            if drawdown is not None and drawdown >= self._drawdown_limit:
                shown = honest_figure(drawdown, self._drawdown_limit, operator.ge, 1)
                return (
                    f"equity is {shown}% below its peak "
                    f"(limit {plain_figure(self._drawdown_limit, 1)}%)"
                )
        return None

    def _reset(self, trigger: str, at_ms: int) -> str | None:
        """Reset the counter behind ``trigger`` after a forced resume; describe what changed."""
        state = self._state
        if trigger == TriggerName.CONSECUTIVE_LOSSES:
            streak, state.loss_streak = state.loss_streak, 0
            return f"loss streak {streak} -> 0"
        if trigger == TriggerName.DAILY_LOSS:
            if state.day_pnl is None or state.day_pnl >= self._daily_floor():
                return None
            state.daily_loss_baseline = state.day_pnl
            state.daily_loss_baseline_until_ms = self._next_daily_reset(at_ms)
            return (
                f"daily loss counted from day PnL {usd(plain_figure(state.day_pnl, 2))} until "
                f"{lines.iso_ms(state.daily_loss_baseline_until_ms)}"
            )
        if trigger == TriggerName.API_ERROR_BURST:
            cleared = len(state.api_errors)
            state.api_errors.clear()
            return f"{cleared} recorded API errors cleared"
        if trigger == TriggerName.SENTIMENT_DROP:
            state.sentiment_armed = False
            return "sentiment trigger disarmed until a reading at or above the threshold"
        if trigger == TriggerName.MAX_DRAWDOWN and state.equity is not None:
            old_peak, state.equity_peak = state.equity_peak, state.equity
            return f"equity peak {old_peak} -> {state.equity}"
        return None

    def _ordered_holds(self) -> tuple[Hold, ...]:
        """Holds, the longest-lasting first: indefinite ones, then the wall-clock ones, then the
        market-time ones, each by ``until`` descending.

        Times in different clocks do not compare; wall holds come first because a watched
        replay runs its market clock far faster than the wall clock, and live the two agree.
        """
        return tuple(
            sorted(
                self._state.holds.values(),
                key=lambda hold: (
                    hold.until_ms is not None,
                    hold.clock != "wall",
                    -(hold.until_ms or 0),
                    -hold.since_ms,
                    hold.trigger,
                ),
            )
        )

    @staticmethod
    def _newest_first(holds: tuple[Hold, ...]) -> list[Hold]:
        return sorted(holds, key=lambda hold: (-hold.since_ms, hold.trigger))


def _overall_until(holds: tuple[Hold, ...]) -> tuple[int | None, UntilClock | None]:
    """When the last timed hold lifts and in which clock; ``(None, None)`` if any hold waits
    for a resume; ``(None, "mixed")`` when the timed holds count in both clocks, whose times do
    not compare (each hold then shows its own)."""
    if any(hold.until_ms is None for hold in holds):
        return None, None
    clocks = {hold.clock for hold in holds}
    if len(clocks) > 1:
        return None, "mixed"
    return max(hold.until_ms for hold in holds if hold.until_ms is not None), holds[0].clock


def _json_figure(value: Figure) -> JsonValue:
    return str(value) if isinstance(value, Decimal) else value


def _order_side(side: OrderSide | str) -> OrderSide:
    try:
        return OrderSide(side.lower() if isinstance(side, str) else side)
    except ValueError:
        raise InvalidSafetyInputError(f"side must be buy or sell (got {side!r})") from None


def _require_finite(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidSafetyInputError(f"{name} must be a finite Decimal (got {value!r})")


def _require_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSafetyInputError(f"{name} must be a non-empty string (got {value!r})")
