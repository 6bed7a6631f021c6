"""Feed errors that name the exchange, the call, the symbol and the URL involved."""

from __future__ import annotations

from sigmax.errors import ExchangeUnavailableError, FeedError
from sigmax.url_secrets import mask_urls_in


def _where(exchange: str, endpoint: str, symbol: str | None) -> str:
    return f"{exchange} {endpoint}" + (f" {symbol}" if symbol else "")


class FeedRequestError(FeedError):
    """The exchange refused or could not serve a request; retrying would not help."""

    def __init__(
        self, exchange: str, endpoint: str, symbol: str | None, url: str | None, detail: str
    ) -> None:
        self.exchange = exchange
        self.endpoint = endpoint
        self.symbol = symbol
        self.url = url
        self.detail = detail
        # The request URL may carry a signature or a key in its query.
        via = f" ({mask_urls_in(url)})" if url else ""
        super().__init__(f"{_where(exchange, endpoint, symbol)} failed{via}: {detail}")


class FeedDataError(FeedError):
    """The exchange answered, but with data that breaks a rule (so it is not passed on)."""

    def __init__(self, exchange: str, endpoint: str, symbol: str | None, rule: str) -> None:
        self.exchange = exchange
        self.endpoint = endpoint
        self.symbol = symbol
        self.rule = rule
        super().__init__(f"{_where(exchange, endpoint, symbol)} returned invalid data: {rule}")


class FeedUnavailableError(ExchangeUnavailableError):
    """The exchange stayed unreachable (or kept refusing with transient errors) after retries."""

    def __init__(
        self,
        exchange: str,
        endpoint: str,
        symbol: str | None,
        url: str | None,
        attempts: int,
        reason: str,
        last_error: str,
    ) -> None:
        self.exchange = exchange
        self.endpoint = endpoint
        self.symbol = symbol
        self.url = url
        self.attempts = attempts
        self.reason = reason
        self.last_error = last_error
        super().__init__(
            f"{exchange} is unavailable: {endpoint}" + (f" {symbol}" if symbol else "") + " at "
            f"{url or 'an unknown URL'}: {reason} after {attempts} attempt(s); "
            f"last error: {last_error}"
        )
