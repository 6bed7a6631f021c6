"""Errors of the REST API and the handlers that turn every failure into a JSON error body.

Every error response has the shape ``{"error": {"field", "rule", "message"}}`` (plus ``rules``
and ``violations`` for a refused order). Bad input is always a 4xx naming the field; only a
failure of SIGMAX itself is a 5xx, and its body never carries internals (the details go to the
log, where secrets are masked).
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sigmax.api.schemas import ErrorDetail, ErrorResponse, PolicyViolationOut
from sigmax.engine.manual_order import OrderRefusedError
from sigmax.errors import DatasetNotFoundError, InputError, SigmaxError, StorageError
from sigmax.logging_setup import MIN_MASKED_LENGTH

log = logging.getLogger("sigmax.api")

#: What stands where a request without the token had a value of its own quoted back.
_REJECTED: Final = "<the value sent>"
_INPUT_NOT_SHOWN: Final = "the value sent is not valid here (send the API token to see why)"

#: Messages of the operator services start with the argument they are about (``QTY: must be
#: > 0``); the API names its own field for it.
_SERVICE_FIELDS: Final = {
    "QTY": ("size", 422),
    "SIDE": ("action", 422),
    "SYMBOL": ("symbol", 422),
    "--symbol": ("symbol", 422),
    "--timeframe": ("timeframe", 422),
    "--at": ("at", 422),
    "--duration": ("duration", 422),
    # The account cannot take the order as it stands: valid input, conflicting state.
    "cash": ("size", 409),
    "position": ("size", 409),
}


class ApiError(SigmaxError):
    """An error the API answers with ``status`` and a JSON error body."""

    def __init__(
        self,
        status: int,
        rule: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.rule = rule
        self.field = field
        self.headers = dict(headers or {})

    def detail(self) -> ErrorDetail:
        return ErrorDetail(field=self.field, rule=self.rule, message=str(self))


def error_response(
    status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorResponse(error=detail).model_dump(mode="json"),
        status_code=status,
        headers=dict(headers or {}),
    )


def input_error(error: InputError, default_status: int = 422) -> tuple[int, ErrorDetail]:
    """The status and body for a service's :class:`InputError`, naming the API's field."""
    message = str(error)
    prefix, separator, rest = message.partition(":")
    known = _SERVICE_FIELDS.get(prefix.strip()) if separator else None
    if known is not None:
        field, status = known
        rule = prefix.strip().lstrip("-").lower()
        return status, ErrorDetail(field=field, rule=rule, message=rest.strip())
    if isinstance(error, DatasetNotFoundError):
        return 404, ErrorDetail(field="symbol", rule="no_dataset", message=message)
    rule = "input" if default_status == 422 else "account_state"
    return default_status, ErrorDetail(field=None, rule=rule, message=message)


def refusal(error: OrderRefusedError) -> ErrorDetail:
    """A refused order: the broken policy rules (or ``safety``) and the reasons."""
    verdict = error.result.policy or {}
    raw = verdict.get("violations") or []
    violations = [
        PolicyViolationOut(rule=str(item.get("rule")), message=str(item.get("message")))
        for item in raw
        if isinstance(item, Mapping)
    ]
    rules = sorted({v.rule for v in violations}) or ["safety"]
    return ErrorDetail(
        field=None,
        rule=rules[0],
        message=str(error),
        rules=rules,
        violations=violations,
    )


def _field_of(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # A JSON syntax error is located at a character offset, not a field.
    if not parts or all(part.isdigit() for part in parts):
        return "body"
    return ".".join(parts)


def _validation_detail(exc: RequestValidationError) -> ErrorDetail:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "type": "invalid", "msg": "invalid"}
    field = _field_of(first.get("loc", ()))
    message = "; ".join(f"{_field_of(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors)
    return ErrorDetail(field=field, rule=str(first.get("type", "invalid")), message=message)


def _http_response(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # A body that cannot be decoded at all: bad input like any other (422, documented).
        return error_response(422, _undecodable_body(exc.__cause__))
    rule = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
    detail = ErrorDetail(field=None, rule=rule, message=str(exc.detail))
    return error_response(exc.status_code, detail, exc.headers)


def _undecodable_body(cause: BaseException | None) -> ErrorDetail:
    """Why FastAPI could not decode a body (its 400 keeps the decoder's error as the cause)."""
    if (
        isinstance(cause, ValueError)
        and not isinstance(cause, UnicodeError)
        and "integer string conversion" in str(cause)
    ):
        # Python refuses to convert integers this long (it would take quadratic time).
        limit = sys.get_int_max_str_digits()
        return ErrorDetail(
            field="body",
            rule="json_number_too_long",
            message=f"a number in the body has more than {limit} digits",
        )
    return ErrorDetail(field="body", rule="json", message="the body is not valid UTF-8 JSON")


def _scrub_inputs(request: Request, message: str) -> str:
    """``message`` without any query or path value of ``request`` quoted in it.

    Masking alone would answer a guess that matched a secret with a masked stand-in and a
    wrong guess with itself: an oracle. Taking every quoted input out first answers both
    the same way.
    """
    values = [value for _, value in request.query_params.multi_items()]
    values += [str(value) for value in request.path_params.values()]
    candidates = {form for value in values for form in (value, value.strip())}
    for value in sorted(candidates, key=len, reverse=True):
        if len(value) >= MIN_MASKED_LENGTH:
            message = re.sub(re.escape(value), _REJECTED, message, flags=re.IGNORECASE)
    return message


def install_error_handlers(
    app: FastAPI, mask: Callable[[str], str], trusted: Callable[[Request], bool]
) -> None:
    """Answer every failure with the JSON error body; ``mask`` scrubs secrets from messages.

    A request not ``trusted`` (without the right token) never sees its query or path values
    quoted back, so its errors cannot tell it whether a value it sent matched a secret.
    """

    def public(request: Request, message: str) -> str:
        if trusted(request):
            return mask(message)
        scrubbed = _scrub_inputs(request, message)
        masked = mask(scrubbed)
        # A secret still there came from the input in some other spelling: say nothing of it.
        return masked if masked == scrubbed else _INPUT_NOT_SHOWN

    def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = _validation_detail(exc)
        # A message may quote the input (a symbol it cannot parse), which may hold a secret.
        message = public(request, detail.message)
        return error_response(422, detail.model_copy(update={"message": message}))

    def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        detail = exc.detail()
        message = public(request, detail.message)
        return error_response(
            exc.status, detail.model_copy(update={"message": message}), exc.headers
        )

    def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OrderRefusedError)
        detail = refusal(exc)
        message = public(request, detail.message)
        return error_response(409, detail.model_copy(update={"message": message}))

    def bad_input(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        status, detail = input_error(exc)
        message = public(request, detail.message)
        return error_response(status, detail.model_copy(update={"message": message}))

    def unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A deliberate SIGMAX error (storage down, a stored record it cannot read): its
        # message is written for operators and says what to do.
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        rule = "storage" if isinstance(exc, StorageError) else "unavailable"
        detail = ErrorDetail(field=None, rule=rule, message=public(request, str(exc)))
        return error_response(503, detail)

    def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = ErrorDetail(
            field=None,
            rule="internal",
            message="internal error; the details are in the SIGMAX log",
        )
        return error_response(500, detail)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, _http_response)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(OrderRefusedError, refused)
    app.add_exception_handler(InputError, bad_input)
    app.add_exception_handler(SigmaxError, unavailable)
    app.add_exception_handler(Exception, internal)


def retry_after_seconds(wait_s: float) -> str:
    """``Retry-After`` is whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(wait_s)))
