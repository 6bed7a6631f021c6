"""Events: what the engine tells the rest of SIGMAX, and their JSON wire form.

An :class:`Event` is a type, a time on the engine's clock (the candle time in a replay, so a
replayed run publishes the same times every time), a JSON-ready payload and an id. The payload is
checked and copied when the event is built, so a bad value fails at the publisher, naming the
field, instead of in a subscriber on another machine; and a publisher that keeps changing its own
dict afterwards does not change an event already handed out.

Wire form (``to_json``), version 1::

    {"v": 1, "id": "...", "type": "fill", "at_ms": 1700000000000, "payload": {...}}

Unknown versions, types or fields are refused with :class:`EventFormatError` rather than guessed
at: a subscriber that cannot read an event must say so, not pass on half of it.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sigmax.bus.errors import EventError, EventFormatError, EventPayloadError

#: Version of the wire form written by :meth:`Event.to_json`.
WIRE_VERSION = 1
_WIRE_KEYS = ("v", "id", "type", "at_ms", "payload")

#: Ids are printable ASCII without spaces: they travel as a NATS header (``Nats-Msg-Id``),
#: which cannot hold line breaks, and appear in log lines.
_ID_RE = re.compile(r"^[!-~]{1,200}$")
#: Nesting limit for payloads; also stops a self-referencing structure from recursing forever.
MAX_PAYLOAD_DEPTH = 32
_PLAIN_TYPES = (str, int, bool)


class EventType(StrEnum):
    """What happened. The value is the last token of the NATS subject (``sigmax.events.fill``)."""

    #: The engine run started, resumed or finished (payload: ``state``, run id, mode).
    RUN = "run"
    #: The orchestrator decided (payload: the decision's id, symbol, action, confidence, size).
    DECISION = "decision"
    #: An order was placed, changed or cancelled.
    ORDER = "order"
    #: An order (partly) filled.
    FILL = "fill"
    #: Equity and positions after a step.
    EQUITY = "equity"
    #: A safety trigger fired or changed state.
    SAFETY = "safety"
    #: Trading paused (by a trigger or an operator).
    PAUSE = "pause"
    #: Trading resumed.
    RESUME = "resume"
    #: Panic: stop, cancel, close everything, pause.
    PANIC = "panic"
    #: Something an operator should see now (Telegram, dashboard banner).
    ALERT = "alert"


def new_event_id() -> str:
    """A random id, for events that have no natural deterministic one."""
    return uuid.uuid4().hex


def _freeze_payload(payload: object) -> MappingProxyType[str, object]:
    if not isinstance(payload, Mapping):
        raise EventPayloadError("payload", f"must be a mapping, not {type(payload).__name__}")
    try:
        copied = _json_ready(payload, 0)
    except _NotJsonReadyError as bad:
        where = "payload" + "".join(f"[{step!r}]" for step in reversed(bad.path))
        raise EventPayloadError(where, bad.rule) from None
    assert isinstance(copied, dict)
    return MappingProxyType(copied)


class _NotJsonReadyError(Exception):
    """Raised deep inside a payload; each level adds its key on the way out, so the path is
    only built when something is wrong (building it for every value would slow every publish).
    """

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.path: list[str | int] = []


def _json_ready(value: object, depth: int) -> object:
    """A plain-JSON copy of ``value`` (tuples become lists)."""
    # Exact type checks first: they are the common case and the hot path of every publish.
    if value is None or type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        raise _NotJsonReadyError(f"must be a finite number (got {value})")
    if depth >= MAX_PAYLOAD_DEPTH:
        raise _NotJsonReadyError(f"is nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    if isinstance(value, Mapping):
        copied: dict[str, object] = {}
        for key, inner in value.items():
            if not isinstance(key, str):
                bad = _NotJsonReadyError(f"keys must be text, not {type(key).__name__}")
                bad.path.append(key if isinstance(key, int) else repr(key))
                raise bad
            try:
                copied[key] = _json_ready(inner, depth + 1)
            except _NotJsonReadyError as bad:
                bad.path.append(key)
                raise
        return copied
    if isinstance(value, list | tuple):
        items: list[object] = []
        for index, inner in enumerate(value):
            try:
                items.append(_json_ready(inner, depth + 1))
            except _NotJsonReadyError as bad:
                bad.path.append(index)
                raise
        return items
    # Subclasses of text and whole numbers (StrEnum, IntEnum) are written as their plain value,
    # as json would; a copy of the plain value keeps the round trip exact.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    kind = type(value).__name__
    hint = " (write exact decimals as text: str(value))" if kind == "Decimal" else ""
    raise _NotJsonReadyError(f"{kind} is not JSON-ready{hint}")


@dataclass(frozen=True, slots=True)
class Event:
    """One event on the bus.

    ``at_ms`` is the engine's clock in ms UTC (the candle time in a replay). ``id`` should be
    deterministic when the publisher has a natural one (decision id, client order id, fill id),
    so that an event re-published after a crash and resume is recognised as the same event;
    otherwise it is a random uuid4 hex. ``payload`` is a read-only, JSON-ready copy of what was
    given.
    """

    type: EventType
    at_ms: int
    payload: Mapping[str, object] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        try:
            kind = EventType(self.type)
        except ValueError:
            raise EventError("type", _unknown_type_rule(self.type)) from None
        object.__setattr__(self, "type", kind)
        if type(self.at_ms) is not int or self.at_ms < 0:
            raise EventError("at_ms", f"must be a whole number of ms >= 0 (got {self.at_ms!r})")
        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise EventError(
                "id", f"must be 1-200 printable ASCII characters without spaces (got {self.id!r})"
            )
        object.__setattr__(self, "payload", _freeze_payload(self.payload))

    def __hash__(self) -> int:
        # The payload is a mapping and cannot be hashed; equal events have equal ids and types.
        return hash((self.type, self.id))

    def to_dict(self) -> dict[str, Any]:
        """The wire form as a plain dict (what a WebSocket sends as JSON)."""
        return {
            "v": WIRE_VERSION,
            "id": self.id,
            "type": self.type.value,
            "at_ms": self.at_ms,
            "payload": dict(self.payload),
        }

    def to_json(self) -> str:
        """Compact JSON text of the wire form."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: object) -> Event:
        """Read the wire form; any problem is an :class:`EventFormatError` naming the field."""
        if not isinstance(data, dict):
            raise EventFormatError("event", f"must be a JSON object, not {type(data).__name__}")
        version = data.get("v")
        if type(version) is not int or version != WIRE_VERSION:
            raise EventFormatError(
                "v", f"unknown event format version {version!r} (this SIGMAX reads {WIRE_VERSION})"
            )
        extra = sorted(set(data) - set(_WIRE_KEYS))
        if extra:
            raise EventFormatError("event", f"unknown fields {extra} in version {WIRE_VERSION}")
        missing = [key for key in _WIRE_KEYS if key not in data]
        if missing:
            raise EventFormatError(missing[0], "is missing")
        raw_type = data["type"]
        if not isinstance(raw_type, str) or raw_type not in _TYPE_VALUES:
            raise EventFormatError("type", _unknown_type_rule(raw_type))
        try:
            return cls(
                type=EventType(raw_type),
                at_ms=data["at_ms"],
                payload=data["payload"],
                id=data["id"],
            )
        except EventFormatError:
            raise
        except EventError as error:
            raise EventFormatError(error.field, error.rule) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Read :meth:`to_json` output (text or UTF-8 bytes)."""
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as error:
            raise EventFormatError("event", f"is not valid JSON ({error})") from None
        return cls.from_dict(data)


_TYPE_VALUES = frozenset(t.value for t in EventType)


def _unknown_type_rule(value: object) -> str:
    known = ", ".join(t.value for t in EventType)
    return f"unknown event type {value!r} (known: {known})"


def _refuse_constant(name: str) -> object:
    # json.loads accepts NaN and Infinity by default; they are not JSON and not a price.
    raise ValueError(f"{name} is not a JSON number")
