"""The Host allow-list: the API answers only to the names it is meant to be reached by.

A web page the operator visits can point a name of its own at 127.0.0.1 (DNS rebinding) and
then read the API as if it were the page's own origin. The browser still sends the page's name
in the ``Host`` header, so a request for any name outside the list is answered 421 (and a
WebSocket handshake refused) before any route sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from sigmax.api.errors import error_response
from sigmax.api.schemas import ErrorDetail

#: Always allowed: the loopback names a local client uses.
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "[::1]")


def host_name(value: str) -> str:
    """The name of a ``Host`` header or a bind address: lower case, no port, IPv6 bracketed."""
    text = value.strip().lower().rstrip(".")
    if text.startswith("["):
        return text.partition("]")[0] + "]"
    if text.count(":") > 1:  # a bare IPv6 address (a bind address, never a Host header)
        return f"[{text}]"
    return text.partition(":")[0].rstrip(".")


def allowed_hosts(bound: str, configured: Iterable[str] = ()) -> frozenset[str]:
    """The names the API answers to: the bound host, the loopback names and ``configured``."""
    return frozenset(host_name(h) for h in (bound, *LOOPBACK_HOSTS, *configured))


class HostAllowList:
    """ASGI middleware: a request whose ``Host`` is not in ``allowed`` gets 421, unrouted."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self._app = app
        self._allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._permits(scope):
            await self._app(scope, receive, send)
            return
        message = (
            "this API does not answer to the name in the Host header: use its bound address, "
            "localhost, 127.0.0.1 or [::1], or add the name to api.allowed_hosts in config.yaml"
        )
        if scope["type"] == "websocket":
            # Closing before accepting refuses the handshake (HTTP 403).
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
            return
        detail = ErrorDetail(field="Host", rule="allowed_hosts", message=message)
        await error_response(421, detail)(scope, receive, send)

    def _permits(self, scope: Scope) -> bool:
        values = [value for name, value in scope.get("headers", ()) if name == b"host"]
        # No Host or several: no browser sends that, and the name cannot be told.
        if len(values) != 1:
            return False
        return host_name(values[0].decode("latin-1")) in self._allowed
