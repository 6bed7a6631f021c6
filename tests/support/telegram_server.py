"""A loopback HTTP server that speaks the Telegram Bot API, for tests.

It answers at ``/bot<TOKEN>/<method>`` as api.telegram.org does, in the real JSON shapes
(``{"ok": true, "result": ...}``; errors ``{"ok": false, "error_code": N, "description": ...}``
with ``parameters.retry_after`` on 429), and takes parameters the way python-telegram-bot sends
them (form fields, non-text values JSON-encoded) or as a JSON body. Methods: ``getMe``,
``getUpdates`` (long polling: held until an update is queued or ``timeout`` passes; ``offset``
confirms earlier updates), ``deleteWebhook``, ``setMyCommands``, ``sendMessage``,
``answerCallbackQuery``, ``editMessageText``, ``editMessageReplyMarkup``. A wrong token gets 401.

Tests queue updates (:meth:`TelegramStandIn.queue_message`, :meth:`queue_press`), read what the
bot sent (:attr:`sent`, :meth:`wait_for`), and inject faults (:meth:`fail`): 429 with a
``retry_after``, or a 502 HTML page as a proxy in front would answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from support.loopback import LoopbackServer

BOT_ID: Final = 7_000_000_001
BOT_USERNAME: Final = "sigmax_test_bot"
#: Parameters that python-telegram-bot sends JSON-encoded (text values travel as they are).
_JSON_FIELDS: Final = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "reply_markup",
        "commands",
        "link_preview_options",
        "disable_web_page_preview",
        "show_alert",
        "drop_pending_updates",
        "cache_time",
    }
)


@dataclass(frozen=True, slots=True)
class Call:
    """One request the bot made: the method, its parameters, when (monotonic s), the answer."""

    method: str
    params: dict[str, Any]
    at: float
    status: int


@dataclass(slots=True)
class Fault:
    """Answer the next ``remaining`` calls of ``methods`` (None: every method) with ``status``."""

    status: int
    remaining: int
    retry_after: int = 1
    methods: frozenset[str] | None = None


@dataclass(slots=True)
class _Chat:
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)


class TelegramStandIn(LoopbackServer):
    """The Bot API for one bot token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._faults: list[Fault] = []
        self.chats: dict[int, _Chat] = {}
        self.confirmed_offset = 0
        self._closing = False

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    @property
    def api_url(self) -> str:
        """What TELEGRAM_API_URL is set to."""
        return self.base_url

    async def stop(self) -> None:
        # Held long polls end now: the server's cleanup waits for every handler.
        self._closing = True
        async with self._arrived:
            self._arrived.notify_all()
        await super().stop()

    # -- what tests do -----------------------------------------------------------------------

    def queue_message(self, chat_id: int, text: str, *, user_id: int | None = None) -> None:
        """A user writes ``text`` in the private chat ``chat_id``."""
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Operator"},
            "from": _user(user_id or chat_id),
            "text": text,
            "entities": entities,
        }
        self._push({"message": message})

    def queue_press(self, chat_id: int, message_id: int, data: str) -> None:
        """A user presses the inline button carrying ``data`` under message ``message_id``."""
        shown = self.chats.get(chat_id, _Chat()).messages.get(message_id)
        message = shown or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": "",
        }
        query = {
            "id": str(next(self._update_ids) * 1000),
            "from": _user(chat_id),
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        }
        self._push({"callback_query": query})

    def fail(
        self,
        status: int,
        times: int,
        *,
        retry_after: int = 1,
        methods: set[str] | None = None,
    ) -> None:
        self._faults.append(
            Fault(status, times, retry_after, None if methods is None else frozenset(methods))
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Call]:
        """Successful calls of ``method`` (to ``chat_id``), oldest first."""
        return [
            c
            for c in self.calls
            if c.method == method
            and c.status == 200
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.sent(chat_id)]

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 20.0,
        *,
        after: int = 0,
    ) -> Call:
        """The first successful call from index ``after`` on that ``predicate`` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls[after:]:
                if call.status == 200 and predicate(call):
                    return call
            if time.monotonic() > deadline:
                shown = [
                    (c.method, c.status, str(c.params.get("text", ""))[:80])
                    for c in self.calls[-15:]
                ]
                raise AssertionError(f"no such call within {timeout} s; the last ones: {shown}")
            await asyncio.sleep(0.02)

    async def wait_for_text(
        self, chat_id: int, needle: str, timeout: float = 20.0, *, after: int = 0
    ) -> Call:
        """The first message (sent or edited) to ``chat_id`` whose text holds ``needle``."""
        return await self.wait_for(
            lambda c: (
                c.method in ("sendMessage", "editMessageText")
                and c.params.get("chat_id") == chat_id
                and needle in str(c.params.get("text", ""))
            ),
            timeout,
            after=after,
        )

    # -- the Bot API -------------------------------------------------------------------------

    def _push(self, body: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **body})

        async def notify() -> None:
            async with self._arrived:
                self._arrived.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        if request.match_info["token"] != self.token:
            return self._record(method, params, _error(401, "Unauthorized"))
        fault = self._fault_for(method)
        if fault is not None:
            if fault.status == 429:
                response = _error(
                    429,
                    f"Too Many Requests: retry after {fault.retry_after}",
                    {"retry_after": fault.retry_after},
                )
            else:
                response = web.Response(
                    status=fault.status,
                    text="<html><head><title>502 Bad Gateway</title></head>"
                    "<body><center><h1>502 Bad Gateway</h1></center></body></html>",
                    content_type="text/html",
                )
            return self._record(method, params, response)
        handler = _METHODS.get(method)
        if handler is None:
            return self._record(method, params, _error(404, "Not Found: method not found"))
        result = await handler(self, params)
        if isinstance(result, web.Response):
            return self._record(method, params, result)
        return self._record(method, params, web.json_response({"ok": True, "result": result}))

    def _record(self, method: str, params: dict[str, Any], response: web.Response) -> web.Response:
        self.calls.append(Call(method, params, time.monotonic(), response.status))
        return response

    def _fault_for(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and (fault.methods is None or method in fault.methods):
                fault.remaining -= 1
                return fault
        return None

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "SIGMAX",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = offset
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closing and time.monotonic() < deadline:
            async with self._arrived:
                try:
                    await asyncio.wait_for(
                        self._arrived.wait(), max(0.0, deadline - time.monotonic())
                    )
                except TimeoutError:
                    break
        return self._updates[:limit]

    async def _true(self, params: dict[str, Any]) -> Any:
        return True

    async def _send_message(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "SIGMAX"},
            "text": text,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.chats.setdefault(chat_id, _Chat()).messages[message["message_id"]] = message
        return message

    async def _edit_text(self, params: dict[str, Any]) -> Any:
        message = self._message(params)
        if isinstance(message, web.Response):
            return message
        message["text"] = str(params.get("text", ""))
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _edit_markup(self, params: dict[str, Any]) -> Any:
        message = self._message(params)
        if isinstance(message, web.Response):
            return message
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _message(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        chat = self.chats.get(int(params.get("chat_id") or 0))
        found = None if chat is None else chat.messages.get(int(params.get("message_id") or 0))
        if found is None:
            return _error(400, "Bad Request: message to edit not found")
        return found


_METHODS: Final = {
    "getMe": TelegramStandIn._get_me,
    "getUpdates": TelegramStandIn._get_updates,
    "deleteWebhook": TelegramStandIn._true,
    "setMyCommands": TelegramStandIn._true,
    "answerCallbackQuery": TelegramStandIn._true,
    "sendMessage": TelegramStandIn._send_message,
    "editMessageText": TelegramStandIn._edit_text,
    "editMessageReplyMarkup": TelegramStandIn._edit_markup,
}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Operator"}


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post()
    values: dict[str, Any] = {**request.query}
    for key, value in form.items():
        values[key] = value
    params: dict[str, Any] = {}
    for key, value in values.items():
        text = value if isinstance(value, str) else str(value)
        params[key] = json.loads(text) if key in _JSON_FIELDS else text
    return params
