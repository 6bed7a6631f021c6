"""The bot's messages: short, for a phone, in Telegram's HTML parse mode.

Pure functions from what the service layer returns (the run's status, the safety report, the
portfolio, stored decisions, a command's outcome, the engine's events) to message text. Every
piece of text that comes from elsewhere is escaped; money is the exact ledger figure rounded
for display only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from html import escape
from typing import Any, Final

from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import Portfolio, RunStatusReport, decimal_text
from sigmax.engine.manual_order import QueuedOrder
from sigmax.engine.safety_service import CommandResult
from sigmax.safety.triggers import TriggerName
from sigmax.storage.models import ControlStatus

#: Telegram refuses longer messages; a message is cut below it, saying so.
MAX_MESSAGE: Final = 4000
#: Each explanation of ``/why`` is cut to this many characters.
MAX_SECTION: Final = 500
_CENT: Final = Decimal("0.01")

#: The runbook's wording of each auto-pause, by trigger.
PAUSE_HEADLINES: Final[dict[str, str]] = {
    TriggerName.DAILY_LOSS.value: "🛑 Trading paused: Daily loss limit",
    TriggerName.API_ERROR_BURST.value: "⚠️ High API error rate detected",
    TriggerName.SLIPPAGE.value: "🛑 Excessive slippage, possible MEV attack",
    TriggerName.SENTIMENT_DROP.value: "📉 Negative market sentiment detected",
    TriggerName.PRIVACY_BREACH.value: "🔒 Privacy violation detected",
    TriggerName.MAX_DRAWDOWN.value: "🛑 Trading paused: Max drawdown reached",
    TriggerName.MANUAL.value: "⏸ Trading paused by the operator",
}

HELP: Final = "\n".join(
    [
        "<b>SIGMAX commands</b>",
        "/status: mode, feed, paused and why, equity, daily PnL, losses in a row",
        "/analyze BTC/USDT: run the seven agents now",
        "/trade BTC/USDT buy 0.01: a paper market order (asks to confirm)",
        "/portfolio: cash, equity, open positions",
        "/pause 1h: pause trading (90, 30s, 30m, 1h, 2d; none: until /resume)",
        "/resume: resume trading",
        "/why BTC/USDT: the last decision and its reasons",
        "/history [N]: the last N decisions (default 10)",
        "/safety: each trigger against its limit",
        "/panic: cancel every order, close every position, pause (asks to confirm)",
        "/help: this list",
    ]
)


def usd(value: Decimal) -> str:
    """``$1,234.57`` / ``-$12.30``: the exact figure rounded half-even to cents for display."""
    rounded = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.2f}"


def signed_usd(value: Decimal) -> str:
    """``+$1.20`` / ``-$1.20`` / ``$0.00``."""
    text = usd(value)
    return f"+{text}" if value.quantize(_CENT, rounding=ROUND_HALF_EVEN) > 0 else text


def _decimal(value: object) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fit(text: str) -> str:
    """``text`` within Telegram's limit, cut at a line with a note."""
    if len(text) <= MAX_MESSAGE:
        return text
    lines: list[str] = []
    size = 0
    for line in text.split("\n"):
        if size + len(line) + 1 > MAX_MESSAGE - 40:
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join([*lines, "<i>(cut: too long for one message)</i>"])


# --- answers to commands ----------------------------------------------------------------------


def status_text(
    run: RunStatusReport | None,
    safety: Mapping[str, Any],
    account: Portfolio,
    trading_mode: str,
) -> str:
    """``/status``: mode, feed, paused and why, equity, daily PnL, consecutive losses."""
    losses, limit = _trigger_figures(safety, TriggerName.CONSECUTIVE_LOSSES.value)
    lines = ["<b>SIGMAX status</b>"]
    if run is None:
        lines.append(f"Mode: {escape(trading_mode)} · no run yet")
    else:
        lines.append(
            f"Mode: {escape(run.mode)} · feed {escape(run.feed)} · run {escape(run.state)}"
        )
        lines.append(f"Profile: {escape(run.profile)} · {escape(', '.join(run.symbols))}")
        if run.as_of_ms is not None:
            lines.append(f"As of: {ms_to_iso(run.as_of_ms)}")
    if safety.get("paused"):
        lines.append(f"⏸ <b>PAUSED</b>: {escape(str(safety.get('reason') or 'no reason given'))}")
        until = safety.get("until")
        if until is not None:
            lines.append(f"Until: {escape(str(until))} ({escape(str(safety.get('until_clock')))})")
    else:
        lines.append("▶️ Trading")
    lines.append(f"Equity: <b>{usd(account.equity)}</b>")
    lines.append(f"Daily PnL: {signed_usd(account.daily_pnl)}")
    lines.append(f"Consecutive losses: {losses} / {limit}")
    return "\n".join(lines)


def _trigger_figures(safety: Mapping[str, Any], name: str) -> tuple[str, str]:
    for trigger in safety.get("triggers") or []:
        if trigger.get("name") == name:
            return str(trigger.get("shown_value")), str(trigger.get("shown_threshold"))
    return "?", "?"


def portfolio_text(account: Portfolio) -> str:
    """``/portfolio``: equity, cash, PnL, each open position."""
    lines = [
        "<b>Portfolio</b>"
        + ("" if account.as_of_ms is None else f" as of {ms_to_iso(account.as_of_ms)}"),
        f"Equity: <b>{usd(account.equity)}</b> · cash {usd(account.cash)}",
        f"Daily PnL: {signed_usd(account.daily_pnl)}",
        f"Realized: {signed_usd(account.realized_pnl)} · unrealized "
        f"{signed_usd(account.unrealized_pnl)} · fees {usd(account.fees)}",
    ]
    if not account.positions:
        lines.append("No open positions.")
    for line in account.positions:
        lines.append(
            f"• <b>{escape(line.symbol)}</b> {decimal_text(line.qty)} @ "
            f"{usd(line.avg_price)} → {usd(line.mark)} ({signed_usd(line.unrealized_pnl)})"
        )
    return "\n".join(lines)


def safety_text(report: Mapping[str, Any]) -> str:
    """``/safety``: paused or not, each trigger against its threshold."""
    state = "⏸ <b>PAUSED</b>" if report.get("paused") else "▶️ <b>Trading</b>"
    lines = [f"{state} (as of {escape(str(report.get('as_of')))})"]
    if report.get("paused"):
        lines.append(f"Why: {escape(str(report.get('reason')))}")
    for trigger in report.get("triggers") or []:
        mark = "🔴" if trigger.get("fired") else "🟢"
        lines.append(
            f"{mark} {escape(str(trigger.get('name')))}: "
            f"{escape(str(trigger.get('shown_value')))} / "
            f"{escape(str(trigger.get('shown_threshold')))}"
        )
    return "\n".join(lines)


def decision_text(document: Mapping[str, Any], title: str) -> str:
    """``/why`` and ``/analyze``: the decision, confidence, bull and bear, risk, technicals,
    sentiment (the runbook's expected output), each explanation cut for a phone."""
    reasoning: Mapping[str, Any] = document.get("reasoning") or {}
    action = str(document.get("decision", "?"))
    lines = [
        f"<b>{escape(title)}: {escape(str(document.get('symbol', '?')))}</b>",
        f"Decision: <b>{escape(action)}</b> · confidence "
        f"{_number(document.get('confidence'), 2)} · score {_number(document.get('score'), 3)}",
        f"Size: ${_number(document.get('size_usd'), 2)} · price {_number(document.get('price'), 2)}"
        f" · {escape(str(document.get('timestamp', '?')))}",
    ]
    stop, target = document.get("stop_loss"), document.get("take_profit")
    if stop is not None or target is not None:
        lines.append(f"Stop-loss {_number(stop, 2)} · take-profit {_number(target, 2)}")
    sections = (
        ("🐂 Bull", "bull_argument"),
        ("🐻 Bear", "bear_argument"),
        ("⚖️ Risk", "risk_assessment"),
        ("📊 Technicals", "technical_analysis"),
        ("📰 Sentiment", "sentiment"),
    )
    for heading, key in sections:
        text = reasoning.get(key)
        if text:
            lines.append(f"<b>{heading}</b>: {escape(_cut(str(text), MAX_SECTION))}")
    if not document.get("explained", True):
        lines.append(
            "<i>Numbers only: this decision was made at full speed without an explanation.</i>"
        )
    return fit("\n".join(lines))


def history_text(documents: Sequence[Mapping[str, Any]]) -> str:
    """``/history N``: one line per decision, newest first."""
    if not documents:
        return "No decisions recorded yet."
    lines = [f"<b>Last {len(documents)} decisions</b>, newest first"]
    for document in documents:
        lines.append(
            f"{escape(str(document.get('timestamp', '?'))[:16])} "
            f"{escape(str(document.get('symbol', '?')))} "
            f"<b>{escape(str(document.get('decision', '?')))}</b> "
            f"conf {_number(document.get('confidence'), 2)} ${_number(document.get('size_usd'), 2)}"
        )
    return fit("\n".join(lines))


def command_text(name: str, result: CommandResult) -> str:
    """A pause / resume / panic / order outcome."""
    icon = {
        ControlStatus.APPLIED: "✅",
        ControlStatus.REFUSED: "❌",
        ControlStatus.PENDING: "⏳",
    }.get(result.status, "•")
    by = "" if result.applied_by is None else f" (by {escape(result.applied_by)})"
    return f"{icon} {escape(name)} {escape(result.status.value)}{by}: {escape(result.message)}"


def queued_order_text(order: QueuedOrder) -> str:
    """A manual order queued on the stored run (no engine running)."""
    body = order.as_json()
    return (
        f"⏳ Order queued: {escape(str(body.get('side')))} {escape(str(body.get('qty')))} "
        f"{escape(str(body.get('symbol')))}; it fills at the run's next candle"
    )


def error_text(message: str) -> str:
    return f"❌ {escape(message)}"


# --- notifications ----------------------------------------------------------------------------


def pause_notification(payload: Mapping[str, Any]) -> str:
    """A PAUSE event in the runbook's wording, the engine's reason beneath."""
    trigger = str(payload.get("trigger") or "")
    details: Mapping[str, Any] = payload.get("details") or {}
    if trigger == TriggerName.CONSECUTIVE_LOSSES.value:
        count = details.get("value", details.get("threshold", "?"))
        headline = f"🛑 Trading paused: {escape(str(count))} consecutive losses"
    else:
        headline = PAUSE_HEADLINES.get(trigger, f"🛑 Trading paused: {escape(trigger)}")
    reason = str(payload.get("reason") or "")
    return headline + (f"\n<i>{escape(reason)}</i>" if reason else "")


def resume_notification(payload: Mapping[str, Any]) -> str:
    return f"▶️ Trading resumed\n<i>{escape(str(payload.get('reason') or ''))}</i>"


def panic_notification(payload: Mapping[str, Any]) -> str:
    return (
        "🚨 <b>PANIC</b>: orders cancelled, positions closed at market, trading paused\n"
        f"<i>{escape(str(payload.get('reason') or ''))}</i>"
    )


def fill_notification(payload: Mapping[str, Any]) -> str:
    side = str(payload.get("side", "?")).upper()
    price = _decimal(payload.get("price"))
    fee = _decimal(payload.get("fee"))
    pnl = _decimal(payload.get("realized_pnl"))
    icon = "🟢" if side == "BUY" else "🔴"
    text = (
        f"{icon} Filled: {escape(side)} {escape(str(payload.get('qty')))} "
        f"{escape(str(payload.get('symbol')))} @ {'?' if price is None else usd(price)}"
        f" (fee {'?' if fee is None else usd(fee)})"
    )
    if pnl is not None and pnl != 0:
        text += f"\nRealized PnL: {signed_usd(pnl)}"
    return text


def daily_summary_text(day: str, account: Portfolio, safety: Mapping[str, Any], fills: int) -> str:
    """The daily summary: the account and the safety state at the summary time."""
    state = "⏸ paused" if safety.get("paused") else "▶️ trading"
    return "\n".join(
        [
            f"📅 <b>Daily summary</b> {escape(day)}",
            f"Equity: <b>{usd(account.equity)}</b> · daily PnL {signed_usd(account.daily_pnl)}",
            f"Realized: {signed_usd(account.realized_pnl)} · fees {usd(account.fees)}",
            f"Open positions: {len(account.positions)} · fills so far: {fills}",
            f"Safety: {state}",
        ]
    )


def _number(value: object, decimals: int) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.{decimals}f}"
    number = _decimal(value) if isinstance(value, str) else None
    return "-" if number is None else f"{number:,.{decimals}f}"
