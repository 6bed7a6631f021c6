"""The bot: a python-telegram-bot application over the service layer and the event bus.

:class:`TelegramBot` wires the pieces on one event loop: long polling for commands
(``getUpdates``), the access check before any handler, the commands, the confirmations'
expiry, the notifications from the bus, the daily summary, and the outbox every message leaves
through. Starting never waits for Telegram: connecting (``getMe``) is retried in the background
with backoff, so an outage at start delays the bot, never the engine. A token the Bot API
refuses stops the bot with an ERROR line (the engine goes on).

:class:`EmbeddedBot` runs it on a thread of its own beside the engine in ``sigmax run``, the
engine's events relayed to it (:class:`~sigmax.bus.relay.BusRelay`), as the API runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, Final

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from sigmax.bus import EventBus
from sigmax.bus.relay import BusRelay
from sigmax.config import Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.account import AccountHome
from sigmax.engine.services import Decider
from sigmax.errors import ConfigError, ConfigProblem, SigmaxError
from sigmax.safety.privacy import PrivacyScanner
from sigmax.telegram.access import REFUSAL, ChatAccess
from sigmax.telegram.commands import BotCommands, Confirmations
from sigmax.telegram.notifications import daily_summaries, relay_events
from sigmax.telegram.outbox import (
    FIRST_BACKOFF_S,
    MAX_BACKOFF_S,
    Outbox,
    Outgoing,
    cancel,
    retry_seconds,
)

log = logging.getLogger("sigmax.telegram")

#: ``getUpdates`` long-polling time, seconds (the Bot API holds the request until an update).
POLL_TIMEOUT_S: Final = 10
#: How often expired confirmations lose their buttons.
_SWEEP_S: Final = 1.0
#: How long a clean stop waits for queued messages.
_DRAIN_S: Final = 3.0
START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 30.0

#: The menu Telegram shows (``setMyCommands``).
MENU: Final = (
    ("status", "Mode, feed, paused, equity, daily PnL"),
    ("analyze", "Run the agents now: /analyze BTC/USDT"),
    ("trade", "Paper order: /trade BTC/USDT buy 0.01"),
    ("portfolio", "Cash, equity, positions"),
    ("pause", "Pause: /pause 1h"),
    ("resume", "Resume trading"),
    ("why", "Last decision explained: /why BTC/USDT"),
    ("history", "Last decisions: /history 10"),
    ("safety", "Triggers against their limits"),
    ("panic", "Close everything and pause"),
    ("help", "What each command does"),
)


def token_of(settings: Settings) -> str:
    """The bot token, or a :class:`ConfigError` naming the variable."""
    token = settings.credentials.telegram_bot_token
    if token is None:
        raise ConfigError(
            [ConfigProblem("TELEGRAM_BOT_TOKEN", "is required to run the Telegram bot", None)]
        )
    return token.get_secret_value()


def quiet_library_logs() -> None:
    """httpx logs every request's URL at INFO, and the Bot API's URLs hold the token: those
    lines stay below WARNING (the log filter masks configured secrets besides)."""
    for name in ("httpx", "httpcore", "telegram", "telegram.ext"):
        logging.getLogger(name).setLevel(logging.WARNING)


class TelegramBot:
    """The bot over ``home``, told of events on ``bus``. :meth:`start`, then :meth:`stop`,
    both on the loop the bot lives on."""

    def __init__(
        self,
        settings: Settings,
        home: AccountHome,
        catalog: DatasetCatalog,
        bus: EventBus,
        *,
        clock: Any = time.monotonic,
    ) -> None:
        self.settings = settings
        self._token = token_of(settings)
        self._bus = bus
        config = settings.telegram
        self.access = ChatAccess(config.allowed_chat_ids)
        scanner = PrivacyScanner([*settings.secret_values(), self._token])
        self.outbox = Outbox(self._send, scanner, config.outbox_size)
        self.confirmations = Confirmations(float(config.confirm_ttl_s), clock)
        self.commands = BotCommands(home, Decider(home, catalog), self.outbox, self.confirmations)
        self.home = home
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(f"{config.api_url}/bot")
            .base_file_url(f"{config.api_url}/file/bot")
            .concurrent_updates(8)
            .connect_timeout(5.0)
            .read_timeout(10.0)
            .write_timeout(10.0)
            .pool_timeout(5.0)
            .get_updates_read_timeout(float(POLL_TIMEOUT_S + 5))
            .build()
        )
        self._add_handlers()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._polling = False
        #: Set when the Bot API refused the token: the bot has stopped.
        self.refused = False

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self._check_access), group=-1)
        c = self.commands
        for name, handler in (
            ("status", c.status),
            ("analyze", c.analyze),
            ("trade", c.trade),
            ("portfolio", c.portfolio),
            ("pause", c.pause),
            ("resume", c.resume),
            ("why", c.why),
            ("history", c.history),
            ("safety", c.safety),
            ("panic", c.panic),
            ("help", c.help),
            ("start", c.help),
        ):
            app.add_handler(CommandHandler(name, handler))
        app.add_handler(CallbackQueryHandler(c.button))
        app.add_handler(MessageHandler(filters.ALL, c.unknown))

    async def _check_access(self, update: Update, context: Any) -> None:
        chat = update.effective_chat
        if chat is not None and self.access.allows(chat.id):
            return
        if chat is not None and self.access.refuse(chat.id):
            if update.callback_query is not None:
                with contextlib.suppress(TelegramError):
                    await update.callback_query.answer(REFUSAL)
            else:
                self.outbox.put(Outgoing(chat.id, REFUSAL), urgent=True)
        raise ApplicationHandlerStop

    async def _send(self, message: Outgoing) -> None:
        await self._ready.wait()
        bot = self.application.bot
        if message.edit_message_id is not None and message.markup_only:
            await bot.edit_message_reply_markup(
                chat_id=message.chat_id, message_id=message.edit_message_id, reply_markup=None
            )
        elif message.edit_message_id is not None:
            await bot.edit_message_text(
                message.text,
                chat_id=message.chat_id,
                message_id=message.edit_message_id,
                parse_mode=ParseMode.HTML,
            )
        else:
            sent = await bot.send_message(
                message.chat_id,
                message.text,
                parse_mode=ParseMode.HTML,
                reply_markup=message.markup,
                disable_web_page_preview=True,
            )
            if message.on_sent is not None:
                message.on_sent(sent.message_id)

    async def start(self) -> None:
        """Start the outbox, the notifications and the connection (retried in the background)."""
        config = self.settings.telegram
        chats = self.access.allowed
        self._spawn(self.outbox.run())
        self._spawn(relay_events(self._bus, self.outbox, chats))
        self._spawn(self._sweep())
        if config.daily_summary_utc is not None:
            self._spawn(daily_summaries(self.home, self.outbox, chats, config.daily_summary_utc))
        self._spawn(self._connect())

    def _spawn(self, work: Any) -> None:
        self._tasks.append(asyncio.create_task(work))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_S)
            self.commands.expire()

    async def _connect(self) -> None:
        """``getMe`` until it answers, then long polling; a refused token ends the bot."""
        backoff = FIRST_BACKOFF_S
        app = self.application
        while True:
            try:
                await app.initialize()
                break
            except InvalidToken:
                self.refused = True
                log.error(
                    "the Bot API refused TELEGRAM_BOT_TOKEN: the Telegram bot is off "
                    "(trading goes on); check the token with @BotFather"
                )
                return
            except RetryAfter as error:
                await asyncio.sleep(retry_seconds(error))
            except TelegramError as error:
                log.warning(
                    "the Bot API does not answer (%s); retrying in %.1f s",
                    type(error).__name__,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=POLL_TIMEOUT_S,
            bootstrap_retries=-1,
            allowed_updates=["message", "callback_query"],
            error_callback=self._polling_error,
        )
        self._polling = True
        self._ready.set()
        try:
            await app.bot.set_my_commands([BotCommand(name, text) for name, text in MENU])
        except TelegramError as error:
            log.warning("the bot's command menu was not set (%s)", type(error).__name__)
        log.info(
            "Telegram bot @%s answering %d allowed chat(s)",
            app.bot.username,
            len(self.access.allowed),
        )

    def _polling_error(self, error: TelegramError) -> None:
        # python-telegram-bot retries the poll itself, with backoff, honouring retry_after.
        log.warning("Telegram polling failed (%s); retrying", type(error).__name__)

    async def stop(self) -> None:
        """Send what is queued (briefly), stop polling, end every task."""
        if self._ready.is_set():
            await self.outbox.drain(_DRAIN_S)
        for task in reversed(self._tasks):
            await cancel(task)
        app = self.application
        try:
            if self._polling and app.updater is not None:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        except (TelegramError, RuntimeError) as error:
            log.warning("stopping the Telegram bot: %s", type(error).__name__)
        dropped = self.outbox.counters.dropped_full + self.outbox.counters.dropped_stale
        if dropped:
            log.warning("the Telegram bot dropped %d undelivered messages", dropped)


class EmbeddedBot:
    """The bot on a thread and event loop of its own beside the engine (``sigmax run``)."""

    def __init__(
        self, settings: Settings, home: AccountHome, catalog: DatasetCatalog, bus: EventBus
    ) -> None:
        self._settings = settings
        self._home = home
        self._catalog = catalog
        self.relay = BusRelay(bus, name="telegram-relay")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.bot: TelegramBot | None = None
        self._thread = threading.Thread(target=self._main, name="sigmax-telegram", daemon=True)

    def outbox_figures(self) -> dict[str, int]:
        """The outbox's counters and the messages waiting, for ``/metrics`` (empty until the
        bot has started)."""
        bot = self.bot
        if bot is None:
            return {}
        counters = bot.outbox.counters
        return {
            "sent": counters.sent,
            "dropped_full": counters.dropped_full,
            "dropped_stale": counters.dropped_stale,
            "refused": counters.refused,
            "retries": counters.retries,
            "redacted": counters.redacted,
            "queued": len(bot.outbox),
        }

    async def start(self) -> None:
        """Start the thread and relay the engine's events to it (on the engine's loop)."""
        self._thread.start()
        ready = await asyncio.to_thread(self._started.wait, START_TIMEOUT_S)
        if not ready or self._loop is None:
            raise SigmaxError(
                "the Telegram bot did not start"
                + ("" if self._error is None else f": {self._error}")
            )
        await self.relay.start(self._loop)

    async def stop(self) -> None:
        """Stop relaying, stop the bot, end the thread (on the engine's loop)."""
        await self.relay.stop()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop has already ended
                loop.call_soon_threadsafe(stop.set)
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        if self._thread.is_alive():
            log.error("the Telegram bot's thread did not stop within %.0f s", STOP_TIMEOUT_S)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            self._error = error
            log.error("the Telegram bot stopped: %s", error)
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.relay.open()
        try:
            bot = TelegramBot(self._settings, self._home, self._catalog, self.relay.bus)
            self.bot = bot
            await bot.start()
            self._started.set()
            await self._stop.wait()
            await bot.stop()
        finally:
            await self.relay.close()


async def start_beside_engine(
    settings: Settings, home: AccountHome, catalog: DatasetCatalog, bus: EventBus
) -> EmbeddedBot | None:
    """The bot beside the engine when TELEGRAM_BOT_TOKEN is set (else None)."""
    if settings.credentials.telegram_bot_token is None:
        return None
    quiet_library_logs()
    bot = EmbeddedBot(settings, home, catalog, bus)
    await bot.start()
    return bot
