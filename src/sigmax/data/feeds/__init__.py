"""Market-data feeds: where candles, tickers and order books come from.

:class:`CcxtFeed` reads live public data from an exchange through ccxt; retries follow a
:class:`RetryPolicy`; failures raise the errors in :mod:`sigmax.data.feeds.errors`.
"""

from sigmax.data.feeds.ccxt_feed import SUPPORTED_EXCHANGES, CcxtFeed, ExchangeId
from sigmax.data.feeds.errors import FeedDataError, FeedRequestError, FeedUnavailableError
from sigmax.data.feeds.retry import RetryPolicy

__all__ = [
    "SUPPORTED_EXCHANGES",
    "CcxtFeed",
    "ExchangeId",
    "FeedDataError",
    "FeedRequestError",
    "FeedUnavailableError",
    "RetryPolicy",
]
