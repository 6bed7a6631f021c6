"""A failed exchange call as the engine sees it, without the exchange client.

The trader catches :class:`VenueError` from any venue; defining it apart from the ccxt error
classification (:mod:`sigmax.execution.exchange_errors`) keeps ccxt out of every process that
never talks to an exchange (a backtest imports the trader).
"""

from __future__ import annotations

from enum import StrEnum

from sigmax.errors import SigmaxError


class ErrorAction(StrEnum):
    RETRY = "retry"
    PAUSE = "pause"
    FAIL = "fail"


class VenueError(SigmaxError):
    """An exchange call failed; names the exchange, the call, the action and the reason.

    ``action`` says what the caller must do (``pause`` trading, or treat the call as failed);
    ``code`` and ``reason`` are the exchange's own when it gave them. Never holds a secret.
    """

    def __init__(
        self,
        exchange: str,
        call: str,
        action: ErrorAction,
        reason: str,
        *,
        code: int | None = None,
        kind: str = "",
    ) -> None:
        self.exchange = exchange
        self.call = call
        self.action = action
        self.reason = reason
        self.code = code
        self.kind = kind
        super().__init__(f"{exchange} {call} failed ({action.value}): {reason}")
