"""The bot's commands: each parses its arguments, calls the service layer, formats the answer.

No business logic lives here: status, portfolio and safety come from the same reads as
``sigmax status`` / ``GET /api/status``; orders, pause, resume and panic from the same service
functions as the CLI and the API (:mod:`sigmax.engine.services`), through the control queue, so
a running engine applies them; analyses from the same :class:`~sigmax.engine.services.Decider`.
Blocking reads and waits run in worker threads, never on the bot's loop.

``/trade`` and ``/panic`` ask first, with inline buttons that expire after
``telegram.confirm_ttl_s``; a press is taken once (the pending confirmation is removed before
anything is done), so a second press of a spent button does nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from sigmax.engine.account import AccountHome, read_portfolio, read_status
from sigmax.engine.controls import parse_duration
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.manual_order import QueuedOrder, parse_qty, parse_side, parse_symbol
from sigmax.engine.safety_service import CommandResult, safety_report
from sigmax.engine.services import Decider, run_command, submit_manual_order
from sigmax.errors import InputError, SigmaxError
from sigmax.storage.models import ControlKind
from sigmax.telegram import formatting
from sigmax.telegram.outbox import Outbox, Outgoing

log = logging.getLogger("sigmax.telegram")

#: ``/history`` without N, and its most.
DEFAULT_HISTORY: Final = 10
MAX_HISTORY: Final = 50
_CONFIRM: Final = "ok"
_CANCEL: Final = "no"

Context = ContextTypes.DEFAULT_TYPE


@dataclass(slots=True)
class Pending:
    """A /trade or /panic waiting for its button."""

    chat_id: int
    kind: ControlKind
    arguments: dict[str, Any]
    summary: str
    created: float
    message_id: int | None = None


@dataclass(slots=True)
class Confirmations:
    """The pending confirmations by nonce; a nonce is taken at most once."""

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    pending: dict[str, Pending] = field(default_factory=dict)

    def add(self, item: Pending) -> str:
        nonce = secrets.token_urlsafe(12)
        self.pending[nonce] = item
        return nonce

    def take(self, nonce: str) -> Pending | None:
        """The confirmation for ``nonce`` if it is still pending and fresh, removed."""
        item = self.pending.pop(nonce, None)
        if item is None or self.clock() - item.created > self.ttl_s:
            return None
        return item

    def expired(self) -> list[Pending]:
        """The confirmations past their time, removed."""
        now = self.clock()
        gone = [n for n, item in self.pending.items() if now - item.created > self.ttl_s]
        return [self.pending.pop(nonce) for nonce in gone]


class BotCommands:
    """The command handlers over one home, answering through ``outbox``."""

    def __init__(
        self,
        home: AccountHome,
        decider: Decider,
        outbox: Outbox,
        confirmations: Confirmations,
    ) -> None:
        self.home = home
        self.decider = decider
        self.outbox = outbox
        self.confirmations = confirmations

    # -- helpers -----------------------------------------------------------------------------

    def reply(self, chat_id: int, text: str, **kwargs: Any) -> None:
        self.outbox.put(Outgoing(chat_id, text, **kwargs), urgent=True)

    async def _answer(self, update: Update, work: Callable[[], str]) -> None:
        """Run ``work`` in a worker thread and reply with its text, or with the typed error."""
        chat = update.effective_chat
        if chat is None:
            return
        try:
            text = await asyncio.to_thread(work)
        except SigmaxError as error:
            text = formatting.error_text(str(error))
        self.reply(chat.id, text)

    # -- reads -------------------------------------------------------------------------------

    async def status(self, update: Update, context: Context) -> None:
        def work() -> str:
            return formatting.status_text(
                read_status(self.home),
                safety_report(self.home),
                read_portfolio(self.home),
                self.home.settings.trading.mode,
            )

        await self._answer(update, work)

    async def portfolio(self, update: Update, context: Context) -> None:
        await self._answer(update, lambda: formatting.portfolio_text(read_portfolio(self.home)))

    async def safety(self, update: Update, context: Context) -> None:
        await self._answer(update, lambda: formatting.safety_text(safety_report(self.home)))

    async def why(self, update: Update, context: Context) -> None:
        args = list(context.args or [])

        def work() -> str:
            if len(args) != 1:
                raise InputError("/why: name one market, such as /why BTC/USDT")
            symbol = parse_symbol(args[0], "/why")
            decisions = StoredDecisionLog(self.home.db)
            document = decisions.latest(symbol, source="run")
            if document is None:
                raise InputError(
                    f"no run has recorded a decision for {symbol} yet; /analyze {symbol} "
                    "decides now"
                )
            return formatting.decision_text(document, "Last decision")

        await self._answer(update, work)

    async def history(self, update: Update, context: Context) -> None:
        args = list(context.args or [])

        def work() -> str:
            limit = DEFAULT_HISTORY
            if len(args) > 1:
                raise InputError("/history: at most one number, such as /history 5")
            if args:
                if not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_HISTORY:
                    raise InputError(
                        f"/history: N must be a whole number from 1 to {MAX_HISTORY} "
                        f"(got {args[0]!r})"
                    )
                limit = int(args[0])
            documents = StoredDecisionLog(self.home.db).history(None, limit, source="run")
            return formatting.history_text(documents)

        await self._answer(update, work)

    async def help(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is not None:
            self.reply(chat.id, formatting.HELP)

    async def unknown(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is not None:
            self.reply(chat.id, "Unknown command. /help lists what I understand.")

    # -- actions -----------------------------------------------------------------------------

    async def analyze(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        args = list(context.args or [])
        try:
            if len(args) != 1:
                raise InputError("/analyze: name one market, such as /analyze BTC/USDT")
            symbol = parse_symbol(args[0], "/analyze")
            document = await self.decider(symbol)
        except SigmaxError as error:
            self.reply(chat.id, formatting.error_text(str(error)))
            return
        self.reply(chat.id, formatting.decision_text(document, "Analysis"))

    async def pause(self, update: Update, context: Context) -> None:
        args = list(context.args or [])

        def work() -> str:
            if len(args) > 1:
                raise InputError("/pause: at most one duration, such as /pause 1h")
            duration_ms = parse_duration(args[0], "/pause") if args else None
            result = run_command(
                self.home,
                ControlKind.PAUSE,
                {"duration_ms": duration_ms, "reason": "paused by the operator (Telegram)"},
            )
            return formatting.command_text("pause", result)

        await self._answer(update, work)

    async def resume(self, update: Update, context: Context) -> None:
        def work() -> str:
            result = run_command(self.home, ControlKind.RESUME, {"force": False})
            return formatting.command_text("resume", result)

        await self._answer(update, work)

    async def trade(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        args = list(context.args or [])
        try:
            if len(args) != 3:
                raise InputError(
                    "/trade: write /trade SYMBOL buy|sell QTY, such as /trade BTC/USDT buy 0.01"
                )
            symbol = parse_symbol(args[0], "/trade")
            side = parse_side(args[1]).value
            qty = parse_qty(args[2])
        except SigmaxError as error:
            self.reply(chat.id, formatting.error_text(str(error)))
            return
        summary = f"{side.upper()} {qty} {symbol} at market (paper)"
        self._ask(
            chat.id,
            ControlKind.ORDER,
            {"symbol": symbol, "side": side, "qty": str(qty)},
            summary,
        )

    async def panic(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        self._ask(
            chat.id,
            ControlKind.PANIC,
            {"reason": "panic by the operator (Telegram)"},
            "PANIC: cancel every order, close every position at market, pause",
        )

    def _ask(
        self, chat_id: int, kind: ControlKind, arguments: dict[str, Any], summary: str
    ) -> None:
        item = Pending(chat_id, kind, arguments, summary, self.confirmations.clock())
        nonce = self.confirmations.add(item)
        ttl = int(self.confirmations.ttl_s)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("✅ Confirm", callback_data=f"{_CONFIRM}:{nonce}"),
                    InlineKeyboardButton("✖️ Cancel", callback_data=f"{_CANCEL}:{nonce}"),
                ]
            ]
        )

        def remember(message_id: int) -> None:
            item.message_id = message_id

        self.reply(
            chat_id,
            f"❓ <b>Confirm</b>: {escape(summary)}?\n<i>The buttons expire in {ttl} s.</i>",
            markup=markup,
            on_sent=remember,
        )

    async def button(self, update: Update, context: Context) -> None:
        """A press of a confirmation button: taken once, then done and said."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        choice, _, nonce = query.data.partition(":")
        item = self.confirmations.take(nonce)
        if item is None:
            await _answer_query(query, "This button has expired or was already used.")
            return
        await _answer_query(query, "Cancelled." if choice == _CANCEL else "Working on it…")
        if item.message_id is not None:
            # The buttons go at once: nothing else can be pressed while it is done.
            self.outbox.put(
                Outgoing(item.chat_id, "", edit_message_id=item.message_id, markup_only=True),
                urgent=True,
            )
        if choice != _CONFIRM:
            self._edit(item, f"✖️ Cancelled: {escape(item.summary)}; nothing done.")
            return
        try:
            text = await asyncio.to_thread(self._carry_out, item)
        except SigmaxError as error:
            text = formatting.error_text(str(error))
        self._edit(item, text)

    def _carry_out(self, item: Pending) -> str:
        if item.kind is ControlKind.ORDER:
            arguments = item.arguments
            outcome = submit_manual_order(
                self.home, arguments["symbol"], arguments["side"], Decimal(arguments["qty"])
            )
            if isinstance(outcome, QueuedOrder):
                return formatting.queued_order_text(outcome)
            return formatting.command_text("trade", outcome)
        result: CommandResult = run_command(self.home, item.kind, item.arguments)
        return formatting.command_text(item.kind.value, result)

    def _edit(self, item: Pending, text: str) -> None:
        if item.message_id is None:
            self.reply(item.chat_id, text)
        else:
            self.outbox.put(
                Outgoing(item.chat_id, text, edit_message_id=item.message_id), urgent=True
            )

    def expire(self) -> None:
        """Take the buttons off the confirmations past their time, saying nothing was done."""
        for item in self.confirmations.expired():
            self._edit(item, f"⌛ Expired: {escape(item.summary)}; nothing done.")


async def _answer_query(query: Any, text: str) -> None:
    try:
        await query.answer(text)
    except TelegramError as error:
        # Answering is a courtesy to the phone's spinner; the work goes on without it.
        log.warning("answering a button press failed (%s)", type(error).__name__)
