"""Handing a policy input document to rego-cpp value by value.

``regopy.Input`` converts any Python value with a generic walk (abstract-class ``isinstance``
checks, a C string buffer per text, a wrapper per call): about 100 µs for one order's input.
The order documents hold only objects with text keys, arrays, text, whole numbers and booleans
(see :meth:`~sigmax.safety.policy_input.OrderPolicyInput.to_document`), so this walk checks the
exact type once and calls rego-cpp's input builder directly, in half the time. It builds the
same Rego term: the tests compare it with the input read back from rego-cpp.

Anything else (a float, ``None``, a number outside 64 bits, a key that is not text, text with a
quote, a backslash or a control character) is a :class:`PolicyInputError`: it is refused rather
than handed over as a different value. Order documents never hold such values.

:func:`set_order_input` is the path every order takes: it hands an
:class:`~sigmax.safety.policy_input.OrderPolicyInput` over from its typed fields, with no
document built in between, the keys encoded once per process and the limits' part (the same for
every order of a run) worked out once per set of limits and replayed. It gives rego-cpp the
term :func:`set_input_document` gives it for ``request.to_document()``; a test compares the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from regopy import rego_shared  # type: ignore[import-untyped]

from sigmax.safety.policy_input import (
    QTY_DIGITS,
    USD_DIGITS,
    OrderPolicyInput,
    PolicyLimits,
    whole_ceiling,
    whole_half_even,
)
from sigmax.safety.policy_types import PolicyEvaluationError, PolicyInputError

_LIB = rego_shared.rego
_OK = rego_shared.Code.OK
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_UNSAFE_TEXT = re.compile(r'["\\\x00-\x1f]')


def _set_input(interpreter: Any, write: Callable[[Any], None]) -> None:
    """Build an input term with ``write`` and hand it to ``interpreter``. rego-cpp keeps its own
    copy, so the term is freed here, as regopy.Input frees its own."""
    term = rego_shared.rego_new_input()
    try:
        write(term)
        if _LIB.regoSetInput(interpreter, term) != _OK:
            raise PolicyEvaluationError(
                f"rego-cpp refused the policy input: {rego_shared.rego_get_error(interpreter)}"
            )
    finally:
        rego_shared.rego_free_input(term)


def set_input_document(interpreter: Any, document: dict[str, Any]) -> None:
    """Make ``document`` the input of the rego-cpp ``interpreter`` (its C handle)."""
    _set_input(interpreter, lambda term: _add(term, document))


def set_order_input(interpreter: Any, request: OrderPolicyInput) -> None:
    """Make ``request`` the input of the rego-cpp ``interpreter`` (its C handle): the term of
    ``request.to_document()``, built from the request's fields."""
    _set_input(interpreter, lambda term: _write_order(term, request))


_TEXT = _LIB.regoInputString
_INT = _LIB.regoInputInt
_ITEM = _LIB.regoInputObjectItem
_OBJECT = _LIB.regoInputObject


@lru_cache(maxsize=256)
def _encoded(text: str) -> bytes:
    """``text`` as rego-cpp's input builder takes it, checked as :func:`_add_text` checks it
    (symbols, assets and keys repeat from order to order: each is checked once)."""
    if _UNSAFE_TEXT.search(text):
        raise PolicyInputError(
            f"policy input text {text!r} holds a quote, a backslash or a control character"
        )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyInputError(f"policy input text {text!r} is not valid Unicode") from None


def _write_order(term: Any, request: OrderPolicyInput) -> None:
    order, account = request.order, request.account
    symbol, _, quote = order.symbol.partition("/")
    # Every call answers 0 (OK) or an error code: the codes are or-ed and checked once.
    code = _TEXT(term, b"order")
    for key, text in (
        (b"symbol", order.symbol),
        (b"base", symbol),
        (b"quote", quote),
        (b"side", order.side),
    ):
        code |= _TEXT(term, key) | _TEXT(term, _encoded(text)) | _ITEM(term)
    code |= _TEXT(term, b"qty_e8") | _INT(term, whole_half_even(order.qty, QTY_DIGITS))
    code |= _ITEM(term)
    code |= _TEXT(term, b"price_e8") | _INT(term, whole_half_even(order.price, QTY_DIGITS))
    code |= _ITEM(term)
    code |= _TEXT(term, b"notional_micro_usd")
    code |= _INT(term, whole_ceiling(order.notional_usd, USD_DIGITS)) | _ITEM(term)
    code |= _TEXT(term, b"market_type") | _TEXT(term, _encoded(order.market_type)) | _ITEM(term)
    code |= _TEXT(term, b"leverage_milli") | _INT(term, whole_ceiling(order.leverage, 3))
    code |= _ITEM(term)
    code |= _TEXT(term, b"source") | _TEXT(term, _encoded(order.source)) | _ITEM(term)
    code |= _OBJECT(term, 10) | _ITEM(term)
    # The account.
    code |= _TEXT(term, b"account")
    code |= _TEXT(term, b"equity_micro_usd") | _INT(term, account.equity_micro_usd) | _ITEM(term)
    code |= _TEXT(term, b"cash_micro_usd") | _INT(term, account.cash_micro_usd) | _ITEM(term)
    for key, amounts in (
        (b"positions_micro_usd", account.positions_micro_usd),
        (b"holdings_e8", account.holdings_e8),
    ):
        code |= _TEXT(term, key)
        for name, amount in amounts:
            code |= _TEXT(term, _encoded(name)) | _INT(term, amount) | _ITEM(term)
        code |= _OBJECT(term, len(amounts)) | _ITEM(term)
    opened = account.open_positions
    if not _INT_MIN <= opened <= _INT_MAX:
        raise PolicyInputError(f"policy input number {opened} does not fit in 64 bits")
    code |= _TEXT(term, b"open_positions") | _INT(term, opened) | _ITEM(term)
    code |= _OBJECT(term, 5) | _ITEM(term)
    # The limits: the same calls for every order under the same limits.
    code |= _TEXT(term, b"limits")
    for call, arguments in _limits_calls(request.limits):
        code |= call(term, *arguments)
    code |= _ITEM(term) | _OBJECT(term, 3)
    _check(code)


@lru_cache(maxsize=8)
def _limits_calls(limits: PolicyLimits) -> tuple[tuple[Callable[..., int], tuple[Any, ...]], ...]:
    """The input-builder calls of the limits' document, recorded once by the generic walk."""
    calls: list[tuple[Callable[..., int], tuple[Any, ...]]] = []
    _record(calls, limits.to_document())
    return tuple(calls)


def _record(calls: list[tuple[Callable[..., int], tuple[Any, ...]]], value: object) -> None:
    """The calls :func:`_add` would make for ``value`` (a limits document: text keys, text,
    whole numbers and lists of text), checked as it checks them."""
    kind = type(value)
    if kind is dict:
        items: dict[Any, Any] = value  # type: ignore[assignment]
        for key, item in items.items():
            if type(key) is not str:
                raise PolicyInputError(f"policy input key {key!r} is not text")
            calls.append((_TEXT, (_encoded(key),)))
            _record(calls, item)
            calls.append((_ITEM, ()))
        calls.append((_OBJECT, (len(items),)))
    elif kind is list:
        elements: list[Any] = value  # type: ignore[assignment]
        for element in elements:
            _record(calls, element)
        calls.append((_LIB.regoInputArray, (len(elements),)))
    elif kind is str:
        calls.append((_TEXT, (_encoded(value),)))
    elif kind is int:
        number: int = value  # type: ignore[assignment]
        if not _INT_MIN <= number <= _INT_MAX:
            raise PolicyInputError(f"policy input number {number} does not fit in 64 bits")
        calls.append((_INT, (number,)))
    else:
        raise PolicyInputError(
            f"policy input value {value!r} ({kind.__name__}) is not text, a whole number, "
            "a list or an object"
        )


def _add(term: Any, value: object) -> None:
    kind = type(value)
    if kind is dict:
        items: dict[Any, Any] = value  # type: ignore[assignment]
        for key, item in items.items():
            if type(key) is not str:
                raise PolicyInputError(f"policy input key {key!r} is not text")
            _add_text(term, key)
            _add(term, item)
            _check(_LIB.regoInputObjectItem(term))
        _check(_LIB.regoInputObject(term, len(items)))
    elif kind is list:
        elements: list[Any] = value  # type: ignore[assignment]
        for element in elements:
            _add(term, element)
        _check(_LIB.regoInputArray(term, len(elements)))
    elif kind is str:
        _add_text(term, value)  # type: ignore[arg-type]
    elif kind is int:
        number: int = value  # type: ignore[assignment]
        # ctypes would wrap a larger number around without a word.
        if not _INT_MIN <= number <= _INT_MAX:
            raise PolicyInputError(f"policy input number {number} does not fit in 64 bits")
        _check(_LIB.regoInputInt(term, number))
    elif kind is bool:
        _check(_LIB.regoInputBoolean(term, value))
    else:
        raise PolicyInputError(
            f"policy input value {value!r} ({kind.__name__}) is not text, a whole number, "
            "a boolean, a list or an object"
        )


def _add_text(term: Any, text: str) -> None:
    # rego-cpp's input builder (regopy.Input's too) keeps text as given, without the JSON
    # escaping its own terms carry: a quote, a backslash or a control character would make a
    # different value from the same text given as JSON, so such text is refused.
    if _UNSAFE_TEXT.search(text):
        raise PolicyInputError(
            f"policy input text {text!r} holds a quote, a backslash or a control character"
        )
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyInputError(f"policy input text {text!r} is not valid Unicode") from None
    _check(_LIB.regoInputString(term, encoded))


def _check(code: int) -> None:
    if code != _OK:
        raise PolicyEvaluationError(f"rego-cpp could not build the policy input (code {code})")
