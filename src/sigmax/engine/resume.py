"""The resume point: what a restarted run needs to continue exactly where it stopped.

One frozen value, written with every committed step (``engine_state`` key ``run:<id>``) and
read back through :meth:`ResumePoint.from_json` only, which validates it once and names the
field and rule of anything wrong. The layout before it was versioned (no ``version`` key, a
format-1 venue snapshot with no balances) is still read, so a run stored before this change
resumes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sigmax.errors import SigmaxError

#: The layout :meth:`ResumePoint.to_json` writes. Version 1 is the unversioned dict of before.
RESUME_VERSION = 2
_LEGACY_VERSION = 1


class ResumePointError(SigmaxError):
    """A stored resume point cannot be read; the message names the field and the rule."""


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """The account and the loop's position after the last committed step.

    ``ledger`` and ``venue`` are their own snapshots (each validated by its ``restore``).
    Written, ``ledger`` is the ledger's head (:meth:`~sigmax.domain.ledger.Ledger.snapshot_head`,
    its entries stored apart, each once); read back through
    :func:`~sigmax.engine.run_store.read_run_state`, it holds every entry again;
    ``venue`` is None for a venue that keeps its own state (an exchange). ``cursor``: the
    open time of the last processed candle per symbol; ``marks`` and ``volumes``: its close
    and volume; ``protection``: entry order id -> (stop-loss, take-profit) levels to place
    once it fills; ``trades``: per open position, gross realized PnL and fees since it opened.
    """

    ledger: Mapping[str, Any]
    venue: Mapping[str, Any] | None
    cursor: Mapping[str, int]
    marks: Mapping[str, Decimal]
    volumes: Mapping[str, float]
    protection: Mapping[str, tuple[Decimal, Decimal]]
    trades: Mapping[str, tuple[Decimal, Decimal]]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (decimals as strings)."""
        return {
            "version": RESUME_VERSION,
            "ledger": self.ledger,
            "venue": self.venue,
            "cursor": dict(self.cursor),
            "marks": {symbol: str(mark) for symbol, mark in self.marks.items()},
            "volumes": {symbol: repr(volume) for symbol, volume in self.volumes.items()},
            "protection": {
                key: [str(stop), str(target)] for key, (stop, target) in self.protection.items()
            },
            "trades": {
                symbol: [str(realized), str(fees)]
                for symbol, (realized, fees) in self.trades.items()
            },
        }

    @classmethod
    def from_json(cls, raw: object) -> ResumePoint:
        """Read and validate a stored resume point (this version or the unversioned one)."""
        data = _mapping(raw, "resume point")
        version = data.get("version", _LEGACY_VERSION)
        if version not in (_LEGACY_VERSION, RESUME_VERSION):
            raise ResumePointError(
                f"resume point version: must be {_LEGACY_VERSION} or {RESUME_VERSION} "
                f"(got {version!r})"
            )
        venue = data.get("venue")
        return cls(
            ledger=_mapping(data.get("ledger"), "resume point ledger"),
            venue=None if venue is None else _mapping(venue, "resume point venue"),
            cursor={
                str(s): _int(v, f"resume point cursor[{s!r}]")
                for s, v in _mapping(data.get("cursor"), "resume point cursor").items()
            },
            marks={
                str(s): _decimal(v, f"resume point marks[{s!r}]")
                for s, v in _mapping(data.get("marks"), "resume point marks").items()
            },
            volumes={
                str(s): _float(v, f"resume point volumes[{s!r}]")
                for s, v in _optional(data, "volumes").items()
            },
            protection={
                str(k): _pair(v, f"resume point protection[{k!r}]")
                for k, v in _optional(data, "protection").items()
            },
            trades={
                str(k): _pair(v, f"resume point trades[{k!r}]")
                for k, v in _optional(data, "trades").items()
            },
        )


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResumePointError(f"{where}: must be an object (got {type(value).__name__})")
    return value


def _optional(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A part the earliest resume points lacked (empty when absent)."""
    value = data.get(key)
    return {} if value is None else _mapping(value, f"resume point {key}")


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResumePointError(f"{where}: must be an integer of milliseconds (got {value!r})")
    return value


def _decimal(value: object, where: str) -> Decimal:
    if not isinstance(value, str):
        raise ResumePointError(f"{where}: must be a decimal string (got {value!r})")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ResumePointError(f"{where}: must be a decimal string (got {value!r})") from None
    if not number.is_finite():
        raise ResumePointError(f"{where}: must be a finite decimal (got {value!r})")
    return number


def _float(value: object, where: str) -> float:
    if not isinstance(value, str):
        raise ResumePointError(f"{where}: must be a number as a string (got {value!r})")
    try:
        number = float(value)
    except ValueError:
        raise ResumePointError(f"{where}: must be a number as a string (got {value!r})") from None
    if not math.isfinite(number) or number < 0:
        raise ResumePointError(f"{where}: must be a finite number >= 0 (got {value!r})")
    return number


def _pair(value: object, where: str) -> tuple[Decimal, Decimal]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ResumePointError(f"{where}: must be a pair of decimal strings (got {value!r})")
    return _decimal(value[0], f"{where}[0]"), _decimal(value[1], f"{where}[1]")
