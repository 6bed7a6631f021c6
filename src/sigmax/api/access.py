"""Who is asking, and how much they may ask: the API's rate-limit budgets.

Every request is first told apart by its ``Authorization`` header (compared in constant time),
then charged to a budget of its own kind, so one kind of traffic can never use up another's:

* the operator (the right bearer token): the changes analyze, trade and resume are limited
  per token (:attr:`AccessLimits.token`); pause and panic are never refused by a limit, and
  reads are not limited;
* no token: every request (reads, actions, the dashboard's files, WebSocket handshakes) is
  charged to the anonymous budget, per client address and for all addresses together;
* a wrong token where one is needed: charged to the failed-token budget, per address and for
  all addresses together (so spreading guesses over 127.0.0.2, 127.0.0.3, ... gains nothing).

A request over its budget is answered 429 with ``Retry-After``. The right token is always
compared and always let through to its own budget: a flood of strangers can slow strangers
down but never lock the operator out. What makes guessing the token hopeless is its length
(at least 16 printable characters; a generated one has 256 bits); the failed-token budget
bounds how fast wrong guesses are answered by anything but 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sigmax.api.auth import CALLER_STATE, ApiToken, Caller, caller_of, identify
from sigmax.api.errors import ApiError, error_response, retry_after_seconds
from sigmax.api.ratelimit import RateLimit, RateLimiter

_EVERYONE: Final = "*"
_OPERATOR: Final = "token"
#: Methods that never need the token on loopback (a wrong token there is ignored, not failed).
_READ_METHODS: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class AccessLimits:
    """The budgets; see the module's description for what each one is charged with."""

    token: RateLimit = field(default_factory=lambda: RateLimit(rate=10.0, burst=20))
    anonymous_per_address: RateLimit = field(default_factory=lambda: RateLimit(rate=10.0, burst=40))
    anonymous_overall: RateLimit = field(default_factory=lambda: RateLimit(rate=20.0, burst=80))
    failed_per_address: RateLimit = field(default_factory=lambda: RateLimit(rate=1.0, burst=10))
    failed_overall: RateLimit = field(default_factory=lambda: RateLimit(rate=5.0, burst=20))


class AccessBudgets:
    """The token buckets of every budget, and the answers of a request over one."""

    def __init__(
        self, token: ApiToken, limits: AccessLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.token = token
        self.limits = limits
        self._operator = RateLimiter(limits.token, clock)
        self._anonymous = (
            RateLimiter(limits.anonymous_per_address, clock),
            RateLimiter(limits.anonymous_overall, clock),
        )
        self._failed = (
            RateLimiter(limits.failed_per_address, clock),
            RateLimiter(limits.failed_overall, clock),
        )

    def charge_operator(self) -> ApiError | None:
        """Charge a change by the operator (not pause or panic); the 429 when over the limit."""
        wait_s = self._operator.take(_OPERATOR)
        if wait_s <= 0:
            return None
        limit = self.limits.token
        return _too_many(
            wait_s,
            f"too many requests that change something with this token: at most {limit.burst} "
            f"at once and {limit.rate:g} per second (pause and panic are never limited)",
        )

    def charge_stranger(
        self, caller: Caller, address: str, *, needs_token: bool
    ) -> ApiError | None:
        """Charge a request without the right token from ``address``; the 429 when over.

        A wrong token counts as a failed attempt only where a token is needed (``needs_token``);
        elsewhere (reads on loopback) it is ignored and the request is anonymous.
        """
        failed = caller is Caller.WRONG_TOKEN and needs_token
        per_address, overall = self._failed if failed else self._anonymous
        # The overall bucket is charged only for what the address's own bucket let through.
        wait_s = per_address.take(address) or overall.take(_EVERYONE)
        if wait_s <= 0:
            return None
        what = "with a wrong API token" if failed else "without the API token"
        return _too_many(
            wait_s,
            f"too many requests {what}: at most {per_address.limit.burst} at once and "
            f"{per_address.limit.rate:g} per second from one address, "
            f"{overall.limit.rate:g} per second from all",
        )

    async def limit_changes(self, request: Request) -> None:
        """The route dependency of analyze, trade and resume (after the token is checked)."""
        if caller_of(request, self.token) is Caller.OPERATOR:
            refused = self.charge_operator()
            if refused is not None:
                raise refused


def _too_many(wait_s: float, message: str) -> ApiError:
    retry_after = retry_after_seconds(wait_s)
    return ApiError(
        429,
        "rate_limit",
        f"{message}; retry in {retry_after} s",
        headers={"Retry-After": retry_after},
    )


class AccessGate:
    """ASGI middleware: tells the caller of every HTTP request apart and charges strangers.

    ``exposed``: the API listens beyond loopback, so every request needs the token.
    """

    def __init__(self, app: ASGIApp, budgets: AccessBudgets, exposed: bool) -> None:
        self._app = app
        self._budgets = budgets
        self._exposed = exposed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        caller = identify(self._budgets.token, _header(scope, b"authorization"))
        scope.setdefault("state", {})[CALLER_STATE] = caller
        if caller is not Caller.OPERATOR:
            client = scope.get("client")
            address = client[0] if client else "unknown"
            needs_token = self._exposed or scope["method"] not in _READ_METHODS
            refused = self._budgets.charge_stranger(caller, address, needs_token=needs_token)
            if refused is not None:
                response = error_response(429, refused.detail(), refused.headers)
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None
