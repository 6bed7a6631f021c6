"""Access control: one bearer token per SIGMAX_HOME.

The token comes from ``SIGMAX_API_TOKEN`` (the environment, then ``$SIGMAX_HOME/.env``); when
neither sets it, it is generated once with :func:`secrets.token_urlsafe`, stored in
``$SIGMAX_HOME/api_token`` (mode 0600) and reused from then on. Every request that changes
anything needs it; when the API listens on anything but a loopback address, every request
does. Tokens are compared in constant time. The token is never logged or returned:
:func:`mask_in_logs` adds it to the secrets every SIGMAX log handler masks.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sigmax.api.errors import ApiError
from sigmax.config.sources import read_dotenv
from sigmax.errors import SigmaxError
from sigmax.logging_setup import SecretMasker, TagAndMaskFilter

TOKEN_VARIABLE: Final = "SIGMAX_API_TOKEN"
TOKEN_FILE_NAME: Final = "api_token"
#: Shortest token accepted from the environment or the file: guessing must stay hopeless.
MIN_TOKEN_LENGTH: Final = 16
_TOKEN_BYTES: Final = 32
_TOKEN_RE: Final = re.compile(r"^[\x21-\x7e]+$")
_DOTENV_FILE_NAME: Final = ".env"


class ApiTokenError(SigmaxError):
    """The API token cannot be read, created or used (names the file or variable)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class ApiToken:
    """The bearer token and where it came from (``created``: generated just now)."""

    value: str = field(repr=False)
    origin: Literal["environment", "dotenv", "file", "created"]
    path: Path | None = None

    def __post_init__(self) -> None:
        _check_token(self.value, self.origin if self.path is None else str(self.path))

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison, so the time taken says nothing about the token."""
        return hmac.compare_digest(candidate.encode("utf-8"), self.value.encode("utf-8"))


def _check_token(value: str, where: str) -> None:
    if len(value) < MIN_TOKEN_LENGTH or not _TOKEN_RE.match(value):
        raise ApiTokenError(
            f"{where}: the API token must be at least {MIN_TOKEN_LENGTH} printable characters "
            "without spaces; remove it to have SIGMAX generate one"
        )


def resolve_api_token(home: Path, environ: Mapping[str, str] | None = None) -> ApiToken:
    """The token of ``home``: SIGMAX_API_TOKEN, else the stored one, else a new one (stored).

    A new token is written with mode 0600 in one step (``O_EXCL``), so two processes starting
    at once cannot end up with different tokens. A stored file that others may read is refused.
    """
    env = os.environ if environ is None else environ
    value = (env.get(TOKEN_VARIABLE) or "").strip()
    if value:
        return ApiToken(value, "environment")
    dotenv, _ = read_dotenv(home / _DOTENV_FILE_NAME)
    value = (dotenv.get(TOKEN_VARIABLE) or "").strip()
    if value:
        return ApiToken(value, "dotenv")
    path = home / TOKEN_FILE_NAME
    created = _create_token_file(path)
    if created is not None:
        return ApiToken(created, "created", path)
    return ApiToken(_read_token_file(path), "file", path)


def _create_token_file(path: Path) -> str | None:
    """Write a new token to ``path`` unless it exists; the token, or None if it existed."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    except OSError as error:
        raise ApiTokenError(f"{path}: cannot create the API token file: {error}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _read_token_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ApiTokenError(
                f"{path}: the API token file may be read by other users "
                f"(mode {stat.S_IMODE(mode):04o}); run 'chmod 600 {path}'"
            )
        value = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ApiTokenError(f"{path}: cannot read the API token file: {error}") from None
    _check_token(value, str(path))
    return value


def mask_in_logs(token: str, logger: logging.Logger | None = None) -> None:
    """Mask ``token`` on every handler of ``logger`` (default: the root logger).

    Call it after :func:`sigmax.logging_setup.configure_logging`, which replaces its handlers.
    """
    target = logger or logging.getLogger()
    masker = SecretMasker([token])
    for handler in target.handlers:
        handler.addFilter(TagAndMaskFilter(masker))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name counts as exposed."""
    cleaned = host.strip().strip("[]").lower()
    if cleaned == "localhost":
        return True
    try:
        return ipaddress.ip_address(cleaned).is_loopback
    except ValueError:
        return False


#: Parses ``Authorization: Bearer ...`` and puts the scheme into the OpenAPI document; a missing
#: or malformed header is answered here, with SIGMAX's error body.
_BEARER: Final = HTTPBearer(auto_error=False, scheme_name="SIGMAX API token")


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "bearer_token",
        message,
        field="Authorization",
        headers={"WWW-Authenticate": "Bearer"},
    )


#: Where the kind of caller is kept for the routes and the error handlers (``request.state``).
CALLER_STATE: Final = "sigmax_caller"


class Caller(enum.Enum):
    """Who a request comes from, as far as its ``Authorization`` header tells."""

    OPERATOR = "operator"  # the right bearer token
    ANONYMOUS = "anonymous"  # no Authorization header
    WRONG_TOKEN = "wrong_token"  # an Authorization header that is not the right bearer token


def identify(token: ApiToken, authorization: str | None) -> Caller:
    """The kind of caller an ``Authorization`` header value makes (None: no header)."""
    if authorization is None:
        return Caller.ANONYMOUS
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.matches(credentials.strip()):
        return Caller.OPERATOR
    return Caller.WRONG_TOKEN


def caller_of(request: Request, token: ApiToken) -> Caller:
    """The caller the access gate found (told apart here when no gate is in front)."""
    found = getattr(request.state, CALLER_STATE, None)
    if isinstance(found, Caller):
        return found
    return identify(token, request.headers.get("authorization"))


class BearerAuth:
    """The checks routes depend on: :meth:`require` for changes, :meth:`require_if_exposed`
    for reads (enforced only when the API listens beyond loopback)."""

    def __init__(self, token: ApiToken, host: str) -> None:
        self._token = token
        self.exposed = not is_loopback(host)

    async def require(
        self,
        request: Request,
        # Unused here: it puts the bearer scheme into the OpenAPI document.
        _credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),
    ) -> None:
        caller = caller_of(request, self._token)
        if caller is Caller.ANONYMOUS:
            raise _unauthorized("this request needs 'Authorization: Bearer <SIGMAX API token>'")
        if caller is Caller.WRONG_TOKEN:
            raise _unauthorized("the bearer token is not the SIGMAX API token")

    async def require_if_exposed(
        self,
        request: Request,
        _credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),
    ) -> None:
        if self.exposed:
            await self.require(request, _credentials)
