"""Pause, timed pause, panic, resume (refused while a condition holds, forced and journalled),
what a pause blocks, and the status the CLI and API show."""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal
from typing import Any

import pytest

from sigmax.config.settings import SafetySettings
from sigmax.domain.orders import OrderSide
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.errors import InvalidSafetyInputError, ResumeRefusedError
from sigmax.safety.state import MAX_VIOLATIONS
from sigmax.storage.models import SafetyEventKind

T0 = 1_679_565_600_000  # 2023-03-23 10:00:00 UTC
NEXT_MIDNIGHT = 1_679_616_000_000  # 2023-03-24 00:00:00 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE
YEAR = 365 * 24 * HOUR


def enforcer(**overrides: Any) -> SafetyEnforcer:
    return SafetyEnforcer(SafetySettings.model_validate(overrides))


def kinds(safety: SafetyEnforcer) -> list[tuple[SafetyEventKind, str | None]]:
    return [(event.kind, event.trigger) for event in safety.take_events()]


def lose(safety: SafetyEnforcer, times: int, at_ms: int = T0) -> None:
    for i in range(times):
        safety.record_closed_trade("BTC/USDT", Decimal("-1"), at_ms + i, "signal")


# --- Manual and timed pauses ----------------------------------------------------------------------


def test_manual_pause_blocks_buys_but_not_sells_until_a_resume(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sigmax.safety")
    safety = enforcer()
    hold = safety.pause("operator checks the exchange", T0)

    assert (hold.trigger, hold.until_ms) == ("manual", None)
    refusal = safety.check_order("BTC/USDT", OrderSide.BUY, T0 + YEAR)
    assert refusal is not None
    assert refusal.reason == "operator checks the exchange"
    assert str(refusal) == (
        "no new entry on BTC/USDT: trading paused until a resume (operator checks the exchange)"
    )
    # A stop-loss or take-profit must still be able to close the position.
    assert safety.check_order("BTC/USDT", OrderSide.SELL, T0 + 1) is None
    assert safety.check_order("BTC/USDT", "SELL", T0 + 1) is None

    assert [h.trigger for h in safety.resume(T0 + 2)] == ["manual"]
    assert safety.check_entry("BTC/USDT", T0 + 3) is None
    assert kinds(safety) == [(SafetyEventKind.PAUSE, None), (SafetyEventKind.RESUME, None)]
    assert [r.getMessage() for r in caplog.records] == [
        "PAUSE: Trading paused (operator checks the exchange)",
        "RESUME: Trading resumed by resume (lifted: manual)",
    ]


def test_timed_pause_lifts_itself_at_until() -> None:
    safety = enforcer()
    hold = safety.pause("maintenance window", T0, duration_ms=HOUR)
    assert hold.until_ms == T0 + HOUR

    refusal = safety.check_entry("BTC/USDT", T0 + HOUR - 1)
    assert refusal is not None
    assert refusal.until_ms == T0 + HOUR
    status = safety.status(T0 + HOUR - 1)
    assert (status.paused, status.until, status.reason) == (True, T0 + HOUR, "maintenance window")

    assert safety.check_entry("BTC/USDT", T0 + HOUR) is None
    events = safety.take_events()
    assert [(e.kind, e.at_ms) for e in events] == [
        (SafetyEventKind.PAUSE, T0),
        (SafetyEventKind.RESUME, T0 + HOUR),
    ]
    assert events[1].details["automatic"] is True


W0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC: the wall clock, far from the candles'


def test_a_wall_clock_pause_lasts_its_duration_in_wall_time_however_fast_the_market_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An operator's 60 s pause in a replay that runs an hour of candles a second."""
    caplog.set_level(logging.WARNING, logger="sigmax.safety")
    safety = enforcer()
    hold = safety.pause("paused by the operator", T0, duration_ms=MINUTE, wall_ms=W0)
    assert (hold.clock, hold.since_ms, hold.until_ms) == ("wall", W0, W0 + MINUTE)

    # A day of market time and 30 s of wall time later: still paused.
    assert safety.tick(T0 + 24 * HOUR, wall_ms=W0 + 30_000) == ()
    refusal = safety.check_entry("BTC/USDT", T0 + 24 * HOUR)
    assert refusal is not None
    assert (refusal.until_ms, refusal.clock) == (W0 + MINUTE, "wall")
    assert str(refusal) == (
        "no new entry on BTC/USDT: trading paused until 2026-01-01T00:01:00.000Z (wall clock) "
        "(paused by the operator)"
    )
    status = safety.status(T0 + 24 * HOUR, wall_ms=W0 + 30_000)
    assert (status.paused, status.until, status.until_clock) == (True, W0 + MINUTE, "wall")
    data = status.to_dict()
    assert (data["until"], data["until_clock"]) == ("2026-01-01T00:01:00.000Z", "wall")
    assert data["holds"][0]["clock"] == "wall"
    # Market time alone never lifts it, however far it runs.
    assert safety.tick(T0 + YEAR) == ()
    assert safety.is_paused(T0 + YEAR)

    # 60 s of wall time: it lifts by itself, journalled at the market time it was noticed.
    safety.take_events()
    [lifted] = safety.tick(T0 + YEAR + 1, wall_ms=W0 + MINUTE)
    assert lifted.trigger == "manual"
    assert not safety.is_paused(T0 + YEAR + 1)
    [event] = safety.take_events()
    assert (event.kind, event.at_ms) == (SafetyEventKind.RESUME, T0 + YEAR + 1)
    assert (event.details["clock"], event.details["until_ms"]) == ("wall", W0 + MINUTE)
    assert [r.getMessage() for r in caplog.records] == [
        "PAUSE: Trading paused until 2026-01-01T00:01:00.000Z (wall clock) "
        "(paused by the operator)",
        "RESUME: manual pause lifted at 2026-01-01T00:01:00.000Z (wall clock)",
    ]


def test_a_market_time_pause_ignores_the_wall_clock() -> None:
    safety = enforcer()
    hold = safety.pause("policy check", T0, duration_ms=MINUTE)
    assert hold.clock == "market"
    assert safety.tick(T0 + 1, wall_ms=W0 + YEAR) == ()
    assert [h.trigger for h in safety.tick(T0 + MINUTE, wall_ms=W0)] == ["manual"]


def test_holds_in_both_clocks_have_no_single_until_and_each_shows_its_own() -> None:
    safety = enforcer(max_daily_loss_usd=10)
    safety.observe_account(Decimal(900), Decimal(-20), T0)  # daily loss: lifts at midnight
    safety.pause("paused by the operator", T0, duration_ms=HOUR, wall_ms=W0)

    status = safety.status(T0 + 1, wall_ms=W0 + 1)
    assert (status.paused, status.until, status.until_clock) == (True, None, "mixed")
    assert status.trigger == "manual"
    clocks = {hold.trigger: (hold.clock, hold.until_ms) for hold in status.holds}
    assert clocks == {"manual": ("wall", W0 + HOUR), "daily_loss": ("market", NEXT_MIDNIGHT)}
    refusal = safety.check_entry("BTC/USDT", T0 + 1)
    assert refusal is not None
    assert refusal.clock == "mixed"
    assert "until its holds in market time and in wall-clock time have lifted" in str(refusal)

    # The wall hold ends first here: what is left counts in market time alone.
    safety.tick(T0 + 2, wall_ms=W0 + HOUR)
    status = safety.status(T0 + 2, wall_ms=W0 + HOUR)
    assert (status.until, status.until_clock) == (NEXT_MIDNIGHT, "market")


def test_a_wall_clock_time_must_be_epoch_ms() -> None:
    safety = enforcer()
    with pytest.raises(InvalidSafetyInputError, match="wall_ms must be epoch milliseconds"):
        safety.tick(T0, wall_ms=1.5)  # type: ignore[arg-type]


def test_pausing_again_under_the_same_name_replaces_the_pause() -> None:
    safety = enforcer()
    safety.pause("short", T0, duration_ms=MINUTE)
    safety.pause("longer", T0 + 1, duration_ms=HOUR)
    assert safety.check_entry("BTC/USDT", T0 + 2 * MINUTE) is not None
    assert safety.status(T0 + 2 * MINUTE).reason == "longer"


def test_bad_pause_requests_are_refused() -> None:
    safety = enforcer()
    with pytest.raises(InvalidSafetyInputError, match="duration must be positive"):
        safety.pause("x", T0, duration_ms=0)
    with pytest.raises(InvalidSafetyInputError, match="panic"):
        safety.pause("x", T0, trigger="panic")
    with pytest.raises(InvalidSafetyInputError, match="reason"):
        safety.pause("  ", T0)
    assert not safety.status(T0).paused


def test_each_hold_lifts_on_its_own_terms() -> None:
    safety = enforcer()
    lose(safety, 3)
    safety.observe_account(Decimal("980"), Decimal("-20"), T0 + 10)
    status = safety.status(T0 + 11)
    assert status.until is None  # the loss streak waits for a resume
    assert status.trigger == "consecutive_losses"

    # Midnight lifts the daily-loss pause, not the consecutive-loss pause taken the same day.
    refusal = safety.check_entry("BTC/USDT", NEXT_MIDNIGHT)
    assert refusal is not None
    assert refusal.trigger == "consecutive_losses"
    assert set(safety.state.holds) == {"consecutive_losses"}


# --- Panic ----------------------------------------------------------------------------------------


def test_panic_pauses_until_a_resume_and_is_journalled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sigmax.safety")
    safety = enforcer()
    safety.pause("short break", T0, duration_ms=MINUTE)
    safety.panic(T0 + 1, "operator pressed panic")

    status = safety.status(T0 + 10 * YEAR)
    assert status.paused
    assert status.trigger == "panic"
    assert status.reason == "panic: operator pressed panic"
    assert status.until is None
    assert safety.check_order("BTC/USDT", "sell", T0 + 10 * YEAR) is None
    assert (SafetyEventKind.PANIC, "panic") in kinds(safety)
    assert "PAUSE: Panic, trading stopped until a resume (operator pressed panic)" in [
        r.getMessage() for r in caplog.records
    ]
    # Panic is an operator action with no condition behind it: a plain resume lifts it.
    assert [h.trigger for h in safety.resume(T0 + 10 * YEAR)] == ["panic"]
    assert not safety.status(T0 + 10 * YEAR).paused


# --- Resume rules per trigger ---------------------------------------------------------------------


def test_resume_is_refused_while_the_loss_streak_stands_and_allowed_after_a_win() -> None:
    safety = enforcer()
    lose(safety, 3)
    with pytest.raises(ResumeRefusedError) as refused:
        safety.resume(T0 + 10)
    assert [b.trigger for b in refused.value.blocks] == ["consecutive_losses"]
    assert "3 losing trades in a row (limit 3)" in str(refused.value)
    assert refused.value.exit_code == 2
    assert safety.check_entry("BTC/USDT", T0 + 11) is not None

    # An open position closing in profit while paused resets the streak.
    safety.record_closed_trade("BTC/USDT", Decimal("5"), T0 + 12, "take_profit")
    safety.resume(T0 + 13)
    assert safety.check_entry("BTC/USDT", T0 + 14) is None


def test_forced_resume_over_the_loss_streak_resets_it_and_is_audited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sigmax.safety")
    safety = enforcer()
    lose(safety, 3)
    safety.take_events()

    lifted = safety.resume(T0 + 10, force=True)

    assert [h.trigger for h in lifted] == ["consecutive_losses"]
    assert safety.state.loss_streak == 0
    [event] = safety.take_events()
    assert event.kind is SafetyEventKind.FORCE_RESUME
    assert event.at_ms == T0 + 10
    assert event.details["lifted"] == ["consecutive_losses"]
    overridden = event.details["overridden"]
    assert isinstance(overridden, dict)
    assert "3 losing trades in a row" in str(overridden["consecutive_losses"])
    assert event.details["reset"] == ["loss streak 3 -> 0"]
    assert caplog.records[-1].getMessage() == (
        "RESUME: Trading resumed by force (lifted: consecutive_losses)"
    )
    # The streak starts over: two more losses are not enough to pause again.
    lose(safety, 2, T0 + 20)
    assert safety.check_entry("BTC/USDT", T0 + 30) is None


def test_daily_loss_resume_refused_while_below_the_limit_allowed_after_recovery() -> None:
    safety = enforcer()
    safety.observe_account(Decimal("985"), Decimal("-15"), T0)
    with pytest.raises(ResumeRefusedError, match=re.escape("day PnL -$15.00 is below -$10.00")):
        safety.resume(T0 + 1)
    safety.observe_account(Decimal("992"), Decimal("-8"), T0 + 2)
    safety.resume(T0 + 3)
    assert safety.check_entry("BTC/USDT", T0 + 3) is None


def test_forced_daily_loss_resume_counts_the_limit_from_the_forced_point_until_midnight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sigmax.safety")
    safety = enforcer()
    safety.observe_account(Decimal("985"), Decimal("-12.5"), T0)
    safety.resume(T0 + 1, force=True)
    assert safety.state.daily_loss_baseline == Decimal("-12.5")
    assert safety.state.daily_loss_baseline_until_ms == NEXT_MIDNIGHT

    # Same loss: no new pause. Another full limit lost on top of it: pause again.
    assert safety.observe_account(Decimal("985"), Decimal("-12.5"), T0 + 2) == []
    assert safety.observe_account(Decimal("975"), Decimal("-22.5"), T0 + 3) == []
    assert safety.observe_account(Decimal("975"), Decimal("-22.51"), T0 + 4) != []
    assert caplog.records[-1].getMessage() == (
        "PAUSE: Daily loss limit exceeded (-$22.51 / -$22.50)"
    )
    # From midnight the plain limit applies again.
    assert safety.observe_account(Decimal("989"), Decimal("-10.01"), NEXT_MIDNIGHT + 1) != []
    assert safety.state.daily_loss_baseline is None


def test_api_error_burst_resume_refused_until_the_window_has_passed() -> None:
    safety = enforcer()
    for i in range(7):
        safety.record_api_error(T0 + i, "binance", "HTTP 503")
    with pytest.raises(ResumeRefusedError, match="7 API errors in the last 60s"):
        safety.resume(T0 + 59_999)
    safety.resume(T0 + 60_000)  # the first error has left the window
    assert not safety.status(T0 + 60_000).paused


def test_forced_api_error_resume_clears_the_recorded_errors() -> None:
    safety = enforcer()
    for i in range(7):
        safety.record_api_error(T0 + i, "binance", "HTTP 503")
    safety.resume(T0 + 10, force=True)
    assert safety.state.api_errors == []
    assert safety.record_api_error(T0 + 11, "binance", "HTTP 503") == []


def test_sentiment_resume_refused_while_low_and_forced_resume_disarms_until_recovery() -> None:
    safety = enforcer()
    safety.observe_sentiment(-0.5, T0)
    with pytest.raises(ResumeRefusedError, match=re.escape("last sentiment -0.5 is below -0.35")):
        safety.resume(T0 + 1)
    safety.resume(T0 + 2, force=True)
    assert not safety.state.sentiment_armed
    assert safety.observe_sentiment(-0.6, T0 + 3) == []  # disarmed: the operator overrode it
    assert safety.observe_sentiment(-0.35, T0 + 4) == []  # back at the threshold: re-armed
    assert safety.state.sentiment_armed
    assert safety.observe_sentiment(-0.4, T0 + 5) != []
    safety.observe_sentiment(0.1, T0 + 6)
    safety.resume(T0 + 7)
    assert not safety.status(T0 + 7).paused


def test_drawdown_resume_refused_until_equity_recovers_and_force_resets_the_peak() -> None:
    safety = enforcer()
    safety.observe_account(Decimal("1000"), Decimal("0"), T0)
    safety.observe_account(Decimal("880"), Decimal("0"), T0 + 1)
    with pytest.raises(ResumeRefusedError, match=re.escape("equity is 12.0% below its peak")):
        safety.resume(T0 + 2)
    safety.observe_account(Decimal("950"), Decimal("0"), T0 + 3)  # 5 % below the peak
    safety.resume(T0 + 4)

    safety.observe_account(Decimal("850"), Decimal("0"), T0 + 5)
    safety.resume(T0 + 6, force=True)
    assert safety.state.equity_peak == Decimal("850")
    assert safety.observe_account(Decimal("800"), Decimal("0"), T0 + 7) == []  # 5.9 %


@pytest.mark.parametrize(
    "incident",
    [
        lambda s: s.record_fill("BTC/USDT", Decimal("100"), Decimal("110"), T0),
        lambda s: s.record_privacy_violation("secret", "telegram", T0),
    ],
    ids=["slippage", "privacy"],
)
def test_incident_pauses_lift_with_a_plain_resume(incident: Any) -> None:
    safety = enforcer()
    assert incident(safety) != []
    safety.resume(T0 + 1)
    assert not safety.status(T0 + 1).paused


def test_a_refused_resume_lifts_nothing_and_names_every_blocking_trigger() -> None:
    safety = enforcer()
    lose(safety, 3)
    safety.observe_sentiment(-0.9, T0 + 5)
    safety.pause("manual too", T0 + 6)
    with pytest.raises(ResumeRefusedError) as refused:
        safety.resume(T0 + 7)
    assert sorted(b.trigger for b in refused.value.blocks) == [
        "consecutive_losses",
        "sentiment_drop",
    ]
    assert set(safety.state.holds) == {"consecutive_losses", "sentiment_drop", "manual"}


def test_resume_when_not_paused_lifts_nothing_and_journals_nothing() -> None:
    safety = enforcer()
    assert safety.resume(T0) == ()
    assert safety.resume(T0, force=True) == ()
    assert safety.take_events() == []


# --- Status ---------------------------------------------------------------------------------------


def test_status_reports_every_trigger_protection_and_is_json_ready() -> None:
    safety = enforcer()
    lose(safety, 2)
    safety.record_closed_trade("ETH/USDT", Decimal("-1"), T0 + 5, "stop_loss")
    safety.observe_account(Decimal("1000"), Decimal("-4.5"), T0 + 6)

    status = safety.status(T0 + 7)
    data: dict[str, Any] = status.to_dict()
    json.dumps(data, allow_nan=False)  # JSON-ready: no Decimal, no NaN

    assert data["paused"] is True
    assert data["trigger"] == "consecutive_losses"
    assert data["at"] == "2023-03-23T10:00:00.007Z"
    triggers = {t["name"]: t for t in data["triggers"]}
    assert list(triggers) == [
        "consecutive_losses",
        "daily_loss",
        "api_error_burst",
        "slippage",
        "sentiment_drop",
        "privacy_breach",
    ]
    assert triggers["consecutive_losses"] == {
        "name": "consecutive_losses",
        "enabled": True,
        "value": 3,
        "threshold": 3,
        "fired": True,
        "detail": "3 losing trades in a row (limit 3)",
        "shown_value": "3",
        "shown_threshold": "3",
    }
    assert (triggers["daily_loss"]["value"], triggers["daily_loss"]["threshold"]) == (
        "-4.5",
        "-10",
    )
    daily = triggers["daily_loss"]
    assert (daily["shown_value"], daily["shown_threshold"]) == ("-4.50", "-10.00")
    assert triggers["slippage"]["shown_value"] == "-"
    assert triggers["sentiment_drop"]["value"] is None
    assert triggers["privacy_breach"]["enabled"] is True
    protections = data["protections"]
    assert protections["cooldowns"] == [
        {"symbol": "ETH/USDT", "until": "2023-03-23T11:00:00.005Z", "until_ms": T0 + 5 + HOUR}
    ]
    assert protections["drawdown"] == {
        "value_pct": "0",
        "threshold_pct": "10.0",
        "equity": "1000",
        "equity_peak": "1000",
        "fired": False,
    }
    assert [v["trigger"] for v in data["violations"]] == [
        "stoploss_cooldown",
        "consecutive_losses",
    ]


def test_status_keeps_the_last_twenty_violations_newest_first() -> None:
    safety = enforcer(privacy_pause=False)
    for i in range(MAX_VIOLATIONS + 5):
        safety.record_privacy_violation("email", f"place{i}", T0 + i)
    violations = safety.status(T0 + 100).violations
    assert len(violations) == MAX_VIOLATIONS
    assert violations[0].at_ms == T0 + MAX_VIOLATIONS + 4
    assert violations[-1].at_ms == T0 + 5


# --- Input checks ---------------------------------------------------------------------------------


def test_invalid_observations_are_refused_with_a_typed_error() -> None:
    safety = enforcer()
    with pytest.raises(InvalidSafetyInputError, match="exit_reason"):
        safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0, "liquidated")  # type: ignore[arg-type]
    with pytest.raises(InvalidSafetyInputError, match="realized_pnl"):
        safety.record_closed_trade("BTC/USDT", Decimal("NaN"), T0, "signal")
    with pytest.raises(InvalidSafetyInputError, match="expected_price must be positive"):
        safety.record_fill("BTC/USDT", Decimal("0"), Decimal("1"), T0)
    with pytest.raises(InvalidSafetyInputError, match="sentiment"):
        safety.observe_sentiment(float("nan"), T0)
    with pytest.raises(InvalidSafetyInputError, match="sentiment"):
        safety.observe_sentiment(1.5, T0)
    with pytest.raises(InvalidSafetyInputError, match="at_ms"):
        safety.tick(True)
    with pytest.raises(InvalidSafetyInputError, match="side"):
        safety.check_order("BTC/USDT", "short", T0)
    assert safety.take_events() == []
    assert safety.state.loss_streak == 0
