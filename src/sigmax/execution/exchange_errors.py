"""What to do when an exchange call fails: retry, pause or fail, by ccxt's error classes.

* **retry** (with the capped, jittered backoff of :class:`~sigmax.data.feeds.retry.RetryPolicy`,
  honouring ``Retry-After``): ccxt's ``NetworkError`` family: connection failures, timeouts,
  HTTP 5xx (``ExchangeNotAvailable``), rate limiting (``DDoSProtection``,
  ``RateLimitExceeded``), and ``OnMaintenance``. A ``Retry-After`` above the policy's
  ``max_delay_s`` stops retrying at once.
* **pause**: the account cannot trade until an operator acts: ``AuthenticationError``
  (bad key or signature), ``PermissionDenied``, ``AccountSuspended``, ``AccountNotEnabled``;
  and a clock outside the exchange's ``recvWindow`` (Binance ``-1021``, ``InvalidNonce``).
* **fail**: everything else, first of all ``InsufficientFunds`` and ``InvalidOrder``: the
  exchange answered and refused; sending the same request again would be refused again (or,
  worse, accepted twice). Never retried.

Order placement is special (see :mod:`sigmax.execution.order_manager`): a placement whose
answer is lost is resolved by asking for the order by its client id *before* any retry.

Every failed call the classifier calls retry or pause is reported to ``on_api_error`` (the
safety enforcer's API-error-burst trigger), even when a later attempt succeeds.

Messages never carry credentials: the configured secrets and any ``signature=`` in a request
URL are masked, and ccxt's own text is cut to 300 characters.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, TypeVar

import ccxt

from sigmax.config.settings import MASK
from sigmax.data.feeds.ccxt_feed import _retry_after_of
from sigmax.data.feeds.retry import RetriesExhaustedError, RetryPolicy, retry_async
from sigmax.errors import ExchangeUnavailableError
from sigmax.execution.venue_errors import ErrorAction, VenueError
from sigmax.url_secrets import mask_urls_in

T = TypeVar("T")

_MAX_DETAIL_CHARS: Final = 300
_SIGNATURE_RE: Final = re.compile(r"(signature=)[^&\s\"']+", re.IGNORECASE)
_CODE_RE: Final = re.compile(r'"code"\s*:\s*(-?\d+)')
_MSG_RE: Final = re.compile(r'"msg"\s*:\s*"((?:[^"\\]|\\.)*)"')

#: Where the session pins the exchange's error body on a ccxt error.
BODY_ATTR: Final = "_sigmax_body"

#: Binance spot codes that mean the clock is off (timestamp outside recvWindow).
CLOCK_CODES: Final = frozenset({-1021})
#: Binance codes for a refused signature or key (whatever class ccxt maps them to).
_AUTH_CODES: Final = frozenset({-1022, -2014, -2015})


def exchange_code(error: BaseException) -> int | None:
    """The exchange's own error code in a ccxt message (Binance: ``{"code": -2010, ...}``)."""
    found = _CODE_RE.search(_text(error))
    return int(found.group(1)) if found else None


def exchange_message(error: BaseException) -> str | None:
    """The exchange's own error text (Binance's ``msg``), when the message carries it."""
    found = _MSG_RE.search(_text(error))
    return found.group(1) if found else None


def _text(error: BaseException) -> str:
    body = getattr(error, BODY_ATTR, None)
    return body if isinstance(body, str) else str(error)


def classify(error: BaseException) -> ErrorAction:
    """Retry, pause or fail for one failed call (see the module docstring)."""
    code = exchange_code(error)
    if code in _AUTH_CODES or code in CLOCK_CODES:
        return ErrorAction.PAUSE
    if isinstance(
        error,
        ccxt.AuthenticationError
        | ccxt.PermissionDenied
        | ccxt.AccountSuspended
        | ccxt.AccountNotEnabled
        | ccxt.InvalidNonce,
    ):
        return ErrorAction.PAUSE
    if isinstance(error, ccxt.NetworkError):
        return ErrorAction.RETRY
    if isinstance(error, TimeoutError | ConnectionError):
        return ErrorAction.RETRY
    return ErrorAction.FAIL


def is_clock_error(error: BaseException) -> bool:
    """The exchange refused the request's ``timestamp`` as outside ``recvWindow`` (Binance
    ``-1021``): refused before anything was executed, so it may be sent again once the
    clock is measured again."""
    return exchange_code(error) in CLOCK_CODES or isinstance(error, ccxt.InvalidNonce)


def is_lost_answer(error: BaseException) -> bool:
    """True when a request may have reached the exchange and been executed although no
    answer came back: a timeout, a dropped connection, an HTTP 5xx. Rate limiting (429 / 418)
    is answered *before* execution, so it is not a lost answer."""
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return False
    return classify(error) is ErrorAction.RETRY


class SecretMask:
    """Masks the configured secrets (and request signatures) in any text shown to anyone."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _SIGNATURE_RE.sub(r"\1" + MASK, text)
        return mask_urls_in(text)

    def summary(self, error: BaseException) -> str:
        """``ClassName: text`` of a ccxt error, masked and cut short."""
        text = " ".join(str(error).split())
        if len(text) > _MAX_DETAIL_CHARS:
            text = text[:_MAX_DETAIL_CHARS] + "..."
        return f"{type(error).__name__}: {self(text)}"


class VenueUnavailableError(VenueError, ExchangeUnavailableError):
    """The exchange stayed unreachable (or kept failing transiently) after every retry."""

    def __init__(self, exchange: str, call: str, attempts: int, reason: str) -> None:
        self.attempts = attempts
        super().__init__(exchange, call, ErrorAction.RETRY, f"{reason} after {attempts} attempt(s)")


def venue_error(exchange: str, call: str, error: BaseException, mask: SecretMask) -> VenueError:
    """The typed, masked form of a ccxt error."""
    message = exchange_message(error)
    code = exchange_code(error)
    if message is not None:
        reason = mask(f"{code} {message}" if code is not None else message)
    else:
        reason = mask.summary(error)
    return VenueError(exchange, call, classify(error), reason, code=code, kind=type(error).__name__)


async def call_exchange(
    exchange: str,
    call: str,
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    mask: SecretMask,
    on_api_error: Callable[[str, str], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Run one exchange call: transient failures retried per ``policy``; every failure the
    classifier retries or pauses on reported to ``on_api_error(call, masked summary)``.

    Raises :class:`VenueUnavailableError` when the retries run out, :class:`VenueError` for any
    other failure (its ``action`` says pause or fail).
    """

    def failed(error: BaseException) -> None:
        if on_api_error is not None and classify(error) is not ErrorAction.FAIL:
            on_api_error(call, mask.summary(error))

    extra = {} if sleep is None else {"sleep": sleep}
    try:
        return await retry_async(
            operation,
            policy=policy,
            is_transient=lambda e: classify(e) is ErrorAction.RETRY,
            retry_after_s=_retry_after_of,
            describe=f"{exchange} {call}",
            on_failure=failed,
            shown=mask.summary,
            **extra,  # type: ignore[arg-type]
        )
    except RetriesExhaustedError as exhausted:
        raise VenueUnavailableError(
            exchange,
            call,
            exhausted.attempts,
            f"{exhausted.reason}: " + mask.summary(exhausted.last_error),
        ) from None
    except ccxt.BaseError as error:
        raise venue_error(exchange, call, error, mask) from None
