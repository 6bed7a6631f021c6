"""Column types shared by the models and the migrations.

Money
    :class:`ExactDecimal` stores a :class:`~decimal.Decimal` without ever passing through a binary
    float. PostgreSQL gets ``NUMERIC(38, 18)``, which is exact. SQLite has no exact decimal type:
    a ``NUMERIC`` column there has *numeric affinity* and stores ``0.000000012345678901`` as an
    IEEE double, silently losing digits. On SQLite the value is therefore kept as a canonical
    decimal string (fixed notation, no exponent, no trailing fractional zeros), so equality in
    SQL still works. Ordering and arithmetic on money columns must happen in Python, never in SQL,
    because on SQLite they would compare text.

    Both backends accept the same range: at most 20 integer digits and 18 fractional digits.
    A value outside that range is rejected rather than rounded, because PostgreSQL would round
    silently and SQLite would not, and a ledger must never depend on which database it runs on.

Time
    Every timestamp is an integer count of milliseconds since the Unix epoch, UTC
    (:data:`EpochMillis`), the same unit as candle open times.

Enumerations
    Stored as short strings guarded by a CHECK constraint (:func:`string_enum`), never as a native
    PostgreSQL ENUM: adding a value later is then a plain constraint change on both backends.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import JSON, BigInteger, Dialect, Enum, Integer, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_PRECISION: Final = 38
"""Total significant digits a money column holds."""

MONEY_SCALE: Final = 18
"""Fractional digits a money column holds (enough for any crypto asset's smallest unit)."""

MONEY_INTEGER_DIGITS: Final = MONEY_PRECISION - MONEY_SCALE

MONEY_TEXT_LENGTH: Final = MONEY_PRECISION + 2
"""Longest canonical string on SQLite: every digit, a sign and a decimal point."""

EpochMillis = BigInteger
"""Milliseconds since the Unix epoch, UTC."""

SurrogateKey: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""Auto-incrementing primary key. SQLite only auto-assigns ``INTEGER PRIMARY KEY`` (the rowid
alias); ``BIGINT PRIMARY KEY`` there would demand explicit ids. SQLite integers are 64-bit."""


def canonical_decimal_text(value: Decimal) -> str:
    """Return ``value`` in fixed notation without trailing fractional zeros (``-0`` becomes ``0``).

    Works on the digit string directly, so it is exact whatever the active decimal context.
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    return text


def check_money(value: object) -> Decimal:
    """Return ``value`` if both backends can store it exactly, else raise :class:`ValueError`.

    Digits are counted on the decimal's tuple, not with context arithmetic, so a 38-digit value
    is judged exactly even though the default context only carries 28 digits.
    """
    if not isinstance(value, Decimal):
        # A float has already lost digits before it reaches us; refuse it instead of guessing.
        raise ValueError(
            f"money must be a decimal.Decimal, got {type(value).__name__} {value!r}; "
            "build it with Decimal('...') from text, never from a float"
        )
    if not value.is_finite():
        raise ValueError(f"money must be a finite number, got {value}")
    if value.is_zero():
        return value
    _, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values always have an integer exponent
    digits = list(digit_tuple)
    # Trailing fractional zeros carry no information: 1.500 fits wherever 1.5 fits.
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if -exponent > MONEY_SCALE:
        raise ValueError(
            f"money {value} has more than {MONEY_SCALE} fractional digits; "
            "quantize it to the instrument's precision before storing"
        )
    if len(digits) + exponent > MONEY_INTEGER_DIGITS:
        raise ValueError(f"money {value} has more than {MONEY_INTEGER_DIGITS} integer digits")
    return value


class ExactDecimal(TypeDecorator[Decimal]):
    """A :class:`~decimal.Decimal` column that is exact on PostgreSQL and SQLite alike."""

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(MONEY_TEXT_LENGTH))
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        checked = check_money(value)
        if dialect.name == "sqlite":
            return canonical_decimal_text(checked)
        return checked

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        # Both backends hand back text or Decimal here, never float; Decimal(str) is exact.
        # Canonicalising makes the same value read back identically from either backend
        # (PostgreSQL would otherwise pad every value to 18 fractional digits).
        return Decimal(canonical_decimal_text(Decimal(str(value))))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class JsonDocument(TypeDecorator[Any]):
    """A JSON document; JSONB on PostgreSQL so it can be indexed and queried later.

    Values are checked before they reach the driver so both backends refuse the same things
    with the same error: NaN and infinities (PostgreSQL rejects them, SQLite would store a
    non-standard token) and objects JSON cannot encode, such as Decimal (convert to text first).
    ``None`` is stored as SQL NULL.
    """

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None:
            json.dumps(value, allow_nan=False)  # raises ValueError / TypeError with the reason
        return value


def string_enum(enum_class: type[StrEnum], name: str) -> Enum:
    """A column type storing ``enum_class`` members by value, guarded by a CHECK constraint.

    ``name`` becomes the constraint name (``ck_<table>_<name>`` under the naming convention).
    """
    values = [member.value for member in enum_class]
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(v) for v in values),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
