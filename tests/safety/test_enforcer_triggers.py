"""Each auto-pause trigger and each protection: fires at its threshold, not short of it, logs its
exact line on ``sigmax.safety`` at WARNING and leaves the state that explains it."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from sigmax.config.settings import SafetySettings
from sigmax.domain.orders import OrderSide
from sigmax.safety.enforcer import ExitReason, SafetyEnforcer
from sigmax.safety.triggers import TriggerName
from sigmax.storage.models import SafetyEventKind

T0 = 1_679_565_600_000  # 2023-03-23 10:00:00 UTC
NEXT_MIDNIGHT = 1_679_616_000_000  # 2023-03-24 00:00:00 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE


def enforcer(**overrides: Any) -> SafetyEnforcer:
    return SafetyEnforcer(SafetySettings.model_validate(overrides))


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="sigmax.safety")
    return caplog


def safety_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages the enforcer logged, each checked to be a WARNING on ``sigmax.safety``."""
    found = [record for record in caplog.records if record.name == "sigmax.safety"]
    assert all(record.levelno == logging.WARNING for record in found)
    return [record.getMessage() for record in found]


def reading(safety: SafetyEnforcer) -> tuple[float | None, int | None]:
    """The last sentiment reading the state keeps, and when it came."""
    return safety.state.sentiment, safety.state.sentiment_at_ms


# --- 1. Consecutive losses ------------------------------------------------------------------------


def test_consecutive_losses_fire_at_the_third_loss_and_not_before(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()
    assert safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0, "signal") == []
    assert safety.record_closed_trade("ETH/USDT", Decimal("-0.01"), T0 + 1, "take_profit") == []
    assert safety.state.loss_streak == 2
    assert safety.check_entry("BTC/USDT", T0 + 2) is None
    assert safety_lines(warnings) == []

    fired = safety.record_closed_trade("BTC/USDT", Decimal("-3"), T0 + 3, "signal")

    assert [f.trigger for f in fired] == [TriggerName.CONSECUTIVE_LOSSES]
    assert safety_lines(warnings) == ["PAUSE: Consecutive loss limit reached (3)"]
    assert safety.state.loss_streak == 3
    hold = safety.state.holds["consecutive_losses"]
    assert (hold.reason, hold.since_ms, hold.until_ms) == (
        "Consecutive loss limit reached (3)",
        T0 + 3,
        None,
    )
    refusal = safety.check_entry("SOL/USDT", T0 + 4)
    assert refusal is not None
    assert refusal.trigger == "consecutive_losses"
    assert refusal.until_ms is None
    [event] = safety.take_events()
    assert (event.kind, event.trigger, event.at_ms) == (
        SafetyEventKind.TRIGGER,
        "consecutive_losses",
        T0 + 3,
    )
    assert event.details["value"] == 3
    assert event.details["threshold"] == 3


def test_a_winning_trade_resets_the_streak_and_break_even_does_not() -> None:
    safety = enforcer()
    for pnl in ("-1", "-1", "0.01", "-1", "-1"):
        assert safety.record_closed_trade("BTC/USDT", Decimal(pnl), T0, "signal") == []
    assert safety.state.loss_streak == 2
    assert safety.record_closed_trade("BTC/USDT", Decimal("0"), T0, "signal") == []
    assert safety.state.loss_streak == 2
    fired = safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0, "signal")
    assert [f.trigger for f in fired] == [TriggerName.CONSECUTIVE_LOSSES]


def test_consecutive_loss_limit_comes_from_the_settings_and_fires_once_while_paused(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer(max_consecutive_losses=5)
    for i in range(4):
        safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0 + i, "manual")
    assert safety_lines(warnings) == []
    assert safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0 + 5, "panic") != []
    # A sixth loss while the pause holds (exits still happen) does not fire again.
    assert safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0 + 6, "signal") == []
    assert safety_lines(warnings) == ["PAUSE: Consecutive loss limit reached (5)"]
    assert safety.state.loss_streak == 6


# --- 2. Daily loss --------------------------------------------------------------------------------


def test_daily_loss_fires_below_the_limit_not_at_it(warnings: pytest.LogCaptureFixture) -> None:
    safety = enforcer()  # max_daily_loss_usd 10
    assert safety.observe_account(Decimal("990"), Decimal("-10.00"), T0) == []
    assert safety.check_entry("BTC/USDT", T0) is None
    assert safety_lines(warnings) == []

    fired = safety.observe_account(Decimal("989.99"), Decimal("-10.01"), T0 + MINUTE)

    assert [f.trigger for f in fired] == [TriggerName.DAILY_LOSS]
    assert fired[0].until_ms == NEXT_MIDNIGHT
    assert safety_lines(warnings) == ["PAUSE: Daily loss limit exceeded (-$10.01 / -$10.00)"]
    assert safety.state.day_pnl == Decimal("-10.01")
    assert safety.state.holds["daily_loss"].until_ms == NEXT_MIDNIGHT
    # Still below the limit a minute later: the pause already holds, nothing new is logged.
    assert safety.observe_account(Decimal("985"), Decimal("-15"), T0 + 2 * MINUTE) == []
    assert len(safety_lines(warnings)) == 1


def test_daily_loss_log_line_of_the_runbook(warnings: pytest.LogCaptureFixture) -> None:
    safety = enforcer()
    safety.observe_account(Decimal("987.5"), Decimal("-12.5"), T0)
    assert safety_lines(warnings) == ["PAUSE: Daily loss limit exceeded (-$12.50 / -$10.00)"]


def test_daily_loss_line_never_rounds_the_loss_onto_the_limit(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer(max_daily_loss_usd="7.125")
    safety.observe_account(Decimal("990"), Decimal("-7.1251"), T0)
    assert safety_lines(warnings) == ["PAUSE: Daily loss limit exceeded (-$7.1251 / -$7.125)"]


def test_daily_loss_pause_lifts_by_itself_at_the_next_utc_midnight(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()
    safety.observe_account(Decimal("980"), Decimal("-20"), T0)
    safety.take_events()

    assert safety.tick(NEXT_MIDNIGHT - 1) == ()
    assert safety.check_entry("BTC/USDT", NEXT_MIDNIGHT - 1) is not None
    lifted = safety.tick(NEXT_MIDNIGHT)

    assert [hold.trigger for hold in lifted] == ["daily_loss"]
    assert safety.check_entry("BTC/USDT", NEXT_MIDNIGHT) is None
    assert (
        safety_lines(warnings)[-1]
        == "RESUME: daily_loss pause lifted at 2023-03-24T00:00:00.000Z (market time)"
    )
    [event] = safety.take_events()
    assert (event.kind, event.trigger, event.at_ms) == (
        SafetyEventKind.RESUME,
        "daily_loss",
        NEXT_MIDNIGHT,
    )
    assert event.details["automatic"] is True


def test_rolling_daily_loss_pause_lifts_24_hours_after_it_was_taken() -> None:
    safety = enforcer(daily_loss_resets_at_utc_midnight=False)
    [fired] = safety.observe_account(Decimal("980"), Decimal("-20"), T0)
    assert fired.until_ms == T0 + 24 * HOUR
    assert safety.check_entry("BTC/USDT", NEXT_MIDNIGHT) is not None
    assert safety.check_entry("BTC/USDT", T0 + 24 * HOUR) is None


# --- 3. API error burst ---------------------------------------------------------------------------


def test_api_error_burst_fires_at_the_seventh_error_within_60_seconds(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()  # 7 errors in 60 s
    for i in range(6):
        assert safety.record_api_error(T0 + i * 9_000, "binance", "HTTP 503") == []
    assert safety_lines(warnings) == []

    fired = safety.record_api_error(T0 + 59_999, "feed", "timeout")

    assert [f.trigger for f in fired] == [TriggerName.API_ERROR_BURST]
    assert safety_lines(warnings) == ["PAUSE: API error burst detected (7 errors in 60s)"]
    assert len(safety.state.api_errors) == 7
    [event] = safety.take_events()
    assert event.details["sources"] == {"binance": 6, "feed": 1}
    assert event.details["last_message"] == "timeout"


def test_errors_spread_over_more_than_the_window_do_not_fire() -> None:
    safety = enforcer()
    for i in range(6):
        safety.record_api_error(T0 + i * 10_000, "binance", "HTTP 503")
    # The first error is exactly 60 s old: it has left the window (t - 60 s, t].
    assert safety.record_api_error(T0 + 60_000, "binance", "HTTP 503") == []
    assert safety.check_entry("BTC/USDT", T0 + 60_000) is None
    # One more inside the window makes seven again.
    assert safety.record_api_error(T0 + 60_001, "binance", "HTTP 503") != []


def test_api_error_limit_and_window_come_from_the_settings(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer(max_api_errors=3, api_error_window_seconds=10)
    safety.record_api_error(T0, "binance", "x")
    safety.record_api_error(T0 + 5_000, "binance", "x")
    assert safety_lines(warnings) == []
    safety.record_api_error(T0 + 9_000, "binance", "x")
    assert safety_lines(warnings) == ["PAUSE: API error burst detected (3 errors in 10s)"]
    assert len(safety.state.api_errors) == 3


# --- 4. Slippage / MEV ----------------------------------------------------------------------------


def test_slippage_fires_above_the_limit_not_at_it(warnings: pytest.LogCaptureFixture) -> None:
    safety = enforcer()  # 2.5 %
    assert safety.record_fill("BTC/USDT", Decimal("100"), Decimal("102.5"), T0) == []
    assert safety.state.last_slippage_pct == Decimal("2.5")
    assert safety.check_entry("BTC/USDT", T0) is None
    assert safety_lines(warnings) == []

    fired = safety.record_fill("BTC/USDT", Decimal("100"), Decimal("102.7"), T0 + 1)

    assert [f.trigger for f in fired] == [TriggerName.SLIPPAGE]
    assert safety_lines(warnings) == ["PAUSE: High slippage detected (2.7%)"]
    assert safety.state.last_slippage_pct == Decimal("2.7")
    assert "slippage" in safety.state.holds


def test_slippage_counts_both_directions_and_prints_enough_decimals(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()
    safety.record_fill("ETH/USDT", Decimal("2000"), Decimal("1946"), T0)
    safety.record_fill("ETH/USDT", Decimal("100"), Decimal("102.5004"), T0 + 1)
    safety.record_fill("ETH/USDT", Decimal("3"), Decimal("3.1"), T0 + 2)
    # Every bad fill is its own incident, so each is logged even while paused.
    assert safety_lines(warnings) == [
        "PAUSE: High slippage detected (2.7%)",
        "PAUSE: High slippage detected (2.5004%)",
        "PAUSE: High slippage detected (3.3%)",
    ]


# --- 5. Sentiment drop ----------------------------------------------------------------------------


def test_sentiment_fires_below_the_threshold_not_at_it(warnings: pytest.LogCaptureFixture) -> None:
    safety = enforcer()  # -0.35
    assert safety.observe_sentiment(-0.35, T0) == []
    assert safety.check_entry("BTC/USDT", T0) is None

    fired = safety.observe_sentiment(-0.36, T0 + 1)

    assert [f.trigger for f in fired] == [TriggerName.SENTIMENT_DROP]
    assert fired[0].value == -0.36
    assert safety_lines(warnings) == ["PAUSE: Market sentiment dropped below threshold (-0.35)"]
    assert reading(safety) == (-0.36, T0 + 1)


def test_no_sentiment_source_never_fires_and_keeps_the_last_reading(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer(min_sentiment=0.9)
    for i in range(5):
        assert safety.observe_sentiment(None, T0 + i) == []
    assert reading(safety) == (None, None)
    assert safety.check_entry("BTC/USDT", T0 + 5) is None
    safety.observe_sentiment(0.95, T0 + 6)
    safety.observe_sentiment(None, T0 + 7)
    assert reading(safety) == (0.95, T0 + 6)
    assert safety_lines(warnings) == []


# --- 6. Privacy breach ----------------------------------------------------------------------------


def test_privacy_breach_pauses_and_names_kind_and_place_only(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()
    fired = safety.record_privacy_violation("PII", "logs", T0)
    assert [f.trigger for f in fired] == [TriggerName.PRIVACY_BREACH]
    assert safety_lines(warnings) == ["PAUSE: Privacy breach detected (PII in logs)"]
    assert safety.state.last_privacy_finding == "PII in logs"
    assert safety.check_entry("BTC/USDT", T0) is not None
    [event] = safety.take_events()
    assert event.details["kind"] == "PII"
    assert event.details["where"] == "logs"


def test_privacy_breach_is_journalled_but_does_not_pause_when_privacy_pause_is_off(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer(privacy_pause=False)
    assert safety.record_privacy_violation("email", "telegram", T0) == []
    assert safety.check_entry("BTC/USDT", T0) is None
    assert safety_lines(warnings) == [
        "Privacy violation detected (email in telegram); "
        "safety.privacy_pause is off, so trading continues"
    ]
    [event] = safety.take_events()
    assert (event.kind, event.trigger) == (SafetyEventKind.VIOLATION, "privacy_breach")
    assert safety.status(T0).violations[0].message.startswith("Privacy violation detected")


# --- Protection: stop-loss cooldown ---------------------------------------------------------------


def test_stop_loss_exit_cools_down_that_symbol_only(warnings: pytest.LogCaptureFixture) -> None:
    safety = enforcer()  # 60 min
    fired = safety.record_closed_trade("BTC/USDT", Decimal("-2"), T0, "stop_loss")

    assert [(f.trigger, f.symbol, f.until_ms, f.pauses) for f in fired] == [
        (TriggerName.STOPLOSS_COOLDOWN, "BTC/USDT", T0 + HOUR, False)
    ]
    assert safety_lines(warnings) == [
        "COOLDOWN: BTC/USDT stop-loss cooldown for 60 min, "
        "no new entry until 2023-03-23T11:00:00.000Z"
    ]
    refusal = safety.check_entry("BTC/USDT", T0 + HOUR - 1)
    assert refusal is not None
    assert refusal.cooldown
    assert refusal.until_ms == T0 + HOUR
    assert safety.check_entry("ETH/USDT", T0 + 1) is None
    assert safety.check_order("BTC/USDT", OrderSide.SELL, T0 + 1) is None
    assert safety.check_order("BTC/USDT", "buy", T0 + 1) is not None
    assert not safety.status(T0 + 1).paused
    assert safety.check_entry("BTC/USDT", T0 + HOUR) is None
    assert safety.state.cooldowns == {}
    [event] = safety.take_events()
    assert (event.kind, event.trigger) == (SafetyEventKind.COOLDOWN, "stoploss_cooldown")


def test_other_exits_and_a_zero_cooldown_start_no_cooldown() -> None:
    safety = enforcer()
    reasons: tuple[ExitReason, ...] = ("take_profit", "signal", "manual", "panic")
    for reason in reasons:
        assert safety.record_closed_trade("BTC/USDT", Decimal("1"), T0, reason) == []
    assert safety.state.cooldowns == {}
    no_cooldown = enforcer(protections={"stoploss_cooldown_minutes": 0})
    assert no_cooldown.record_closed_trade("BTC/USDT", Decimal("-1"), T0, "stop_loss") == []
    assert no_cooldown.check_entry("BTC/USDT", T0) is None


# --- Protection: max drawdown ---------------------------------------------------------------------


def test_drawdown_fires_when_equity_reaches_the_limit_below_its_peak(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()  # 10 %
    safety.observe_account(Decimal("800"), Decimal("0"), T0)
    safety.observe_account(Decimal("1000"), Decimal("0"), T0 + 1)
    assert safety.observe_account(Decimal("900.01"), Decimal("0"), T0 + 2) == []
    assert safety.state.equity_peak == Decimal("1000")
    assert safety_lines(warnings) == []

    fired = safety.observe_account(Decimal("900"), Decimal("0"), T0 + 3)

    assert [f.trigger for f in fired] == [TriggerName.MAX_DRAWDOWN]
    assert fired[0].value == Decimal("10")
    assert safety_lines(warnings) == ["PAUSE: Max drawdown reached (10.0% / 10.0%)"]
    status = safety.status(T0 + 3)
    assert status.drawdown.fired
    assert status.drawdown.value_pct == Decimal("10")
    assert status.drawdown.equity_peak == Decimal("1000")
    assert status.paused


def test_drawdown_line_shows_decimals_rather_than_round_up_to_the_limit(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer(protections={"max_drawdown_pct": 10})
    safety.observe_account(Decimal("1000"), Decimal("0"), T0)
    assert safety.observe_account(Decimal("900.4"), Decimal("0"), T0 + 1) == []  # 9.96 %
    safety.observe_account(Decimal("874.5"), Decimal("0"), T0 + 2)  # 12.55 %
    assert safety_lines(warnings) == ["PAUSE: Max drawdown reached (12.6% / 10.0%)"]


def test_pause_and_resume_lines_carry_the_pause_tag_and_cooldowns_do_not(
    warnings: pytest.LogCaptureFixture,
) -> None:
    safety = enforcer()
    safety.record_closed_trade("BTC/USDT", Decimal("-1"), T0, "stop_loss")
    safety.record_fill("BTC/USDT", Decimal("100"), Decimal("90"), T0 + 1)
    safety.resume(T0 + 2)
    tags = [
        (record.getMessage().split(":")[0], getattr(record, "tag", None))
        for record in warnings.records
    ]
    # Untagged WARNING records get the WARNING tag (from the formatter, or from a handler an
    # earlier test configured); `grep PAUSE` finds pauses and resumes, not per-symbol cooldowns.
    assert [message for message, _ in tags] == ["COOLDOWN", "PAUSE", "RESUME"]
    assert tags[0][1] in (None, "WARNING")
    assert tags[1:] == [("PAUSE", "PAUSE"), ("RESUME", "PAUSE")]
