"""Pause, resume, panic and the safety report, for every operator surface.

The CLI, the API and the Telegram bot call these functions, so they always agree. A command
goes through the ``control_commands`` queue (see :mod:`sigmax.engine.controls`): a running
engine (one whose lease is alive, see :mod:`sigmax.engine.lease`) applies it on its own clock.
With no live engine (none started, or the last one died) the command is applied here at once,
on the clock of the newest run (the close of the last candle it processed), under the engine
lease so no run starts meanwhile: a pause or a resume to the stored safety state; a panic by
the engine's own code on the stored account (:mod:`sigmax.engine.offline`): resting orders
cancelled, positions closed at the last mark with the fill model's slippage and fees, trading
paused. A restarted run picks up that state.
An operator's pause counts in wall time, here as in a running engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import AccountHome, newest_run
from sigmax.engine.controls import outcome, pause_message, request, settle, wait_for
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.lease import CLI_HOLDER, EngineLease, LeaseHeldError, engine_alive
from sigmax.engine.manual_order import (
    QueuedOrder,
    parse_qty,
    parse_side,
    parse_symbol,
    queue_manual_order,
)
from sigmax.engine.offline import apply_queued_offline
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.errors import ResumeRefusedError
from sigmax.safety.store import SafetyStore
from sigmax.storage.models import ControlKind, ControlStatus

#: How long the CLI waits for a running engine to apply a command before reporting it queued.
ENGINE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a pause / resume / panic request came to."""

    command_id: int
    kind: ControlKind
    status: ControlStatus
    message: str
    applied_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "command": self.kind.value,
            "status": self.status.value,
            "message": self.message,
            "applied_by": self.applied_by,
        }


def _clock(home: AccountHome) -> tuple[int, bool]:
    """The safety clock (the newest run's last candle close, else now) and whether a live
    engine holds the lease (a run stored as running whose engine died does not count)."""
    with home.db.session() as session:
        run = newest_run(session)
    running = engine_alive(home.db) is not None
    if run is None:
        return wall_clock_ms(), running
    as_of = run.as_of_ms()
    return (as_of if as_of is not None else wall_clock_ms()), running


def request_command(
    home: AccountHome,
    kind: ControlKind,
    arguments: dict[str, Any],
    wait_s: float = ENGINE_WAIT_S,
) -> CommandResult:
    """Queue ``kind``; let a running engine apply it, or apply it here when none runs."""
    command_id = request(home.db, kind, arguments)
    at_ms, running = _clock(home)
    if not running:
        try:
            lease = EngineLease.acquire(home.db, CLI_HOLDER)
        except LeaseHeldError:
            running = True  # an engine started meanwhile: it applies the command
        else:
            try:
                return _apply_here(home, command_id, kind, arguments, at_ms)
            finally:
                lease.release()
    found = wait_for(home.db, command_id, wait_s)
    if found.status is not ControlStatus.PENDING:
        return CommandResult(command_id, kind, found.status, found.result or "", found.applied_by)
    return CommandResult(
        command_id,
        kind,
        ControlStatus.PENDING,
        "queued: the running engine applies it after the candle it is processing",
        None,
    )


def submit_manual_order(
    home: AccountHome, symbol: str, side: str, qty: str, wait_s: float = ENGINE_WAIT_S
) -> CommandResult | QueuedOrder:
    """A manual market order: a running engine checks and sends it (through the control
    queue); with none running it is queued on the stored run (``queue_manual_order``)."""
    wanted, order_side, order_qty = parse_symbol(symbol), parse_side(side), parse_qty(qty)
    _, running = _clock(home)
    if not running:
        try:
            return queue_manual_order(home, wanted, order_side.value, str(order_qty))
        except LeaseHeldError:
            pass  # an engine started meanwhile: it applies the command from the queue
    command_id = request(
        home.db,
        ControlKind.ORDER,
        {"symbol": wanted, "side": order_side.value, "qty": str(order_qty)},
    )
    found = wait_for(home.db, command_id, wait_s)
    message = found.result or "queued: the running engine sends it after the candle it is on"
    return CommandResult(command_id, ControlKind.ORDER, found.status, message, found.applied_by)


def _apply_here(
    home: AccountHome,
    command_id: int,
    kind: ControlKind,
    arguments: dict[str, Any],
    at_ms: int,
) -> CommandResult:
    store = SafetyStore(home.db)
    enforcer = SafetyEnforcer(home.settings.safety, store.load())
    status = ControlStatus.APPLIED
    wall_ms = wall_clock_ms()
    if kind is ControlKind.PAUSE:
        hold = enforcer.pause(
            str(arguments.get("reason") or "paused by the operator"),
            at_ms,
            duration_ms=arguments.get("duration_ms"),
            trigger="manual",
            wall_ms=wall_ms,
        )
        message = pause_message(at_ms, hold)
    elif kind is ControlKind.RESUME:
        try:
            enforcer.resume(at_ms, force=bool(arguments.get("force", False)), wall_ms=wall_ms)
            message = f"resumed at {ms_to_iso(at_ms)}"
        except ResumeRefusedError as refused:
            status, message = ControlStatus.REFUSED, str(refused)
    else:
        return _panic_here(home, command_id, kind, arguments, at_ms)
    store.save(enforcer.state, enforcer.take_events())
    if not settle(home.db, command_id, status, message):
        return CommandResult(command_id, kind, status, message + " (an engine also saw it)", "cli")
    return CommandResult(command_id, kind, status, message, "cli")


def _panic_here(
    home: AccountHome,
    command_id: int,
    kind: ControlKind,
    arguments: dict[str, Any],
    at_ms: int,
) -> CommandResult:
    """No engine runs: the engine's panic on the stored account (see
    :mod:`sigmax.engine.offline`), or, with no run yet, the pause alone."""
    applied = apply_queued_offline(home, at_ms)
    if applied is None:
        store = SafetyStore(home.db)
        enforcer = SafetyEnforcer(home.settings.safety, store.load())
        enforcer.panic(at_ms, str(arguments.get("reason") or "panic by the operator"))
        store.save(enforcer.state, enforcer.take_events())
        message = f"PANIC at {ms_to_iso(at_ms)}: trading paused; no run, so nothing to close"
        settle(home.db, command_id, ControlStatus.APPLIED, message)
        return CommandResult(command_id, kind, ControlStatus.APPLIED, message, "cli")
    found = outcome(home.db, command_id)
    message = (found.result or "") + "; no engine is running: applied to the stored account"
    if applied.on_exchange:
        message += ", on the exchange with the configured keys"
    elif applied.waiting:
        message += (
            f", the close-out of {', '.join(applied.waiting)} waits for the run's next candle "
            "(no last volume stored to price it)"
        )
    else:
        message += ", positions closed at the last mark"
    return CommandResult(command_id, kind, found.status, message, found.applied_by)


def safety_report(home: AccountHome) -> dict[str, Any]:
    """``sigmax safety``: paused, reason, until, each trigger against its threshold, the
    protections and the recent violations, on the newest run's clock (and the wall clock, in
    which an operator's pause counts: one that ended shows as ended before the engine's next
    candle notices it)."""
    at_ms, running = _clock(home)
    store = SafetyStore(home.db)
    enforcer = SafetyEnforcer(home.settings.safety, store.load())
    report = enforcer.status(at_ms, wall_clock_ms()).to_dict()
    report["as_of"] = ms_to_iso(at_ms)
    report["engine_running"] = running
    return report
