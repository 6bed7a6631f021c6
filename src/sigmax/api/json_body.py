"""Request bodies are JSON, whatever ``Content-Type`` says.

``curl -d '{"duration": 3600}'`` sends ``application/x-www-form-urlencoded``, and scripts often
send no type at all; every body the API takes is JSON, so it is read as JSON. A body that does
not decode is the documented 422 naming ``body``. This widens nothing for other origins: a web
page can send a body of any type already, and no action runs without the bearer token, which a
page of another origin cannot attach without a CORS preflight the API never grants.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
_JSON: Final = (b"content-type", b"application/json")


class JsonBodies:
    """ASGI middleware: a request body is declared ``application/json`` to the routes."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY:
            headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"content-type"]
            scope = {**scope, "headers": [*headers, _JSON]}
        await self._app(scope, receive, send)
