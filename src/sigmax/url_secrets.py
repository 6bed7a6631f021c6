"""The secrets a URL can carry, and the URL shown with each of them as ``***``.

A service URL holds credentials in more places than ``user:password@``: a query parameter
(``postgresql://host/db?password=...``, NewsAPI's ``?apiKey=...``, ``?token=...``), a fragment
(``#access_token=...``), or the user part alone (``nats://TOKEN@host``, ``https://TOKEN@host``).
Every place that shows a URL (errors, ``config show`` / ``validate``, logs) masks it with
:func:`mask_url`, and the log filter and the privacy screen look for :func:`url_secrets`.

Query and fragment values are secret unless their parameter is a known harmless connection
option (``sslmode``, ``connect_timeout``, ...): an unknown parameter may be a credential, and
a masked harmless value costs less than a shown password.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, unquote_plus, urlsplit

__all__ = ["MASK", "mask_url", "mask_urls_in", "url_secrets"]

MASK = "***"

#: Query parameters whose values are never secret: connection and paging options of the
#: services SIGMAX talks to (PostgreSQL / libpq, SQLite, Redis, NATS, NewsAPI, OPA) and the
#: market-data parameters of exchange requests (lower-cased).
PUBLIC_PARAMETERS = frozenset(
    {
        "application_name",
        "cache",
        "channel_binding",
        "charset",
        "check_same_thread",
        "client_encoding",
        "connect_timeout",
        "db",
        "endtime",
        "interval",
        "limit",
        "recvwindow",
        "side",
        "starttime",
        "symbol",
        "symbols",
        "timestamp",
        "type",
        "dbname",
        "decode_responses",
        "fallback_application_name",
        "from",
        "gssencmode",
        "health_check_interval",
        "host",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "language",
        "mode",
        "page",
        "pagesize",
        "port",
        "protocol",
        "q",
        "retry_on_timeout",
        "socket_connect_timeout",
        "socket_timeout",
        "sortby",
        "ssl",
        "ssl_cert_reqs",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslrootcert",
        "target_session_attrs",
        "timeout",
        "to",
        "uri",
    }
)

# Schemes whose user part alone is only a user name (a database login). Anywhere else a user
# without a password is a token: NATS reads nats://TOKEN@host as one, HTTP services take
# https://TOKEN@host.
_USER_NAME_SCHEMES = frozenset({"postgres", "postgresql", "sqlite", "mysql", "redis", "rediss"})

# A URL inside free text: a scheme, "://", then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  # a port that is not a number raises here
    except ValueError:
        return None
    return parts


def _user_is_token(parts: SplitResult) -> bool:
    # "postgresql+psycopg" is PostgreSQL through a named driver.
    return parts.scheme.lower().partition("+")[0] not in _USER_NAME_SCHEMES


def _secret_pairs(section: str) -> list[str]:
    """The secret values of a query or fragment, as written."""
    found = []
    for pair in re.split(r"[&;]", section):
        name, equals, value = pair.partition("=")
        if not equals:
            # A bare value (?TOKEN or #TOKEN) is secret as a whole.
            if name:
                found.append(name)
            continue
        if value and unquote_plus(name).strip().lower() not in PUBLIC_PARAMETERS:
            found.append(value)
    return found


def url_secrets(url: str) -> list[str]:
    """Every secret inside ``url``, as written and decoded, longest first.

    The password; the user part when it stands alone as a token (not a database login); the value of
    every query or fragment parameter that is not a known harmless option. A URL that cannot
    be parsed yields nothing: it is never shown either (:func:`mask_url` hides it whole).
    """
    parts = _split(url)
    if parts is None:
        return []
    written: list[str] = []
    if parts.password:
        written.append(parts.password)
    elif parts.username and _user_is_token(parts):
        written.append(parts.username)
    written += _secret_pairs(parts.query)
    written += _secret_pairs(parts.fragment)
    found = {form for value in written for form in (value, unquote(value), unquote_plus(value))}
    return sorted((s for s in found if s), key=lambda s: (-len(s), s))


def _masked_pairs(section: str) -> str:
    pieces = []
    for pair in re.split(r"([&;])", section):
        if pair in ("&", ";"):
            pieces.append(pair)
            continue
        name, equals, value = pair.partition("=")
        if not equals:
            pieces.append(MASK if name else "")
        elif value and unquote_plus(name).strip().lower() not in PUBLIC_PARAMETERS:
            pieces.append(f"{name}={MASK}")
        else:
            pieces.append(pair)
    return "".join(pieces)


def mask_url(url: str) -> str:
    """``url`` with every secret of :func:`url_secrets` shown as ``***``.

    Scheme, host, port, path and harmless options stay readable; a URL that cannot be parsed
    is shown as ``(unreadable URL)`` since its secrets cannot be located.
    """
    parts = _split(url)
    if parts is None:
        return "(unreadable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if colon:
            userinfo = f"{user}:{MASK}"
        elif _user_is_token(parts):
            userinfo = MASK
        netloc = f"{userinfo}@{hostport}"
    # Rebuilt by hand: urlunsplit drops the empty authority of sqlite:////path.
    written = url.strip()
    scheme = written[: len(parts.scheme)]
    shown = f"{scheme}://{netloc}{parts.path}" if "://" in written else f"{scheme}:{parts.path}"
    if parts.query:
        shown += f"?{_masked_pairs(parts.query)}"
    if parts.fragment:
        shown += f"#{_masked_pairs(parts.fragment)}"
    return shown


def mask_urls_in(text: str) -> str:
    """``text`` with every URL in it masked (for messages that may quote one)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group()), text)
