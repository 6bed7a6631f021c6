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
"""

from __future__ import annotations

import re
from typing import Any

from regopy import rego_shared  # type: ignore[import-untyped]

from sigmax.safety.policy_types import PolicyEvaluationError, PolicyInputError

_LIB = rego_shared.rego
_OK = rego_shared.Code.OK
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_UNSAFE_TEXT = re.compile(r'["\\\x00-\x1f]')


def set_input_document(interpreter: Any, document: dict[str, Any]) -> None:
    """Make ``document`` the input of the rego-cpp ``interpreter`` (its C handle)."""
    term = rego_shared.rego_new_input()
    try:
        _add(term, document)
        # rego-cpp keeps its own copy: the term is freed below, as regopy.Input frees its own.
        if _LIB.regoSetInput(interpreter, term) != _OK:
            raise PolicyEvaluationError(
                f"rego-cpp refused the policy input: {rego_shared.rego_get_error(interpreter)}"
            )
    finally:
        rego_shared.rego_free_input(term)


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
