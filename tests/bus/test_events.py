"""Events: construction rules, payload checks naming the field, and the JSON wire form."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from enum import IntEnum, StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigmax.bus import (
    WIRE_VERSION,
    Event,
    EventError,
    EventFormatError,
    EventPayloadError,
    EventType,
)
from sigmax.errors import InputError, SigmaxError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(), json_values, max_size=6)
event_ids = st.from_regex(r"[!-~]{1,200}", fullmatch=True)


@given(
    kind=st.sampled_from(list(EventType)),
    at_ms=st.integers(min_value=0, max_value=2**63),
    payload=payloads,
    event_id=st.none() | event_ids,
)
def test_json_round_trip_gives_the_same_event(
    kind: EventType, at_ms: int, payload: dict[str, object], event_id: str | None
) -> None:
    event = (
        Event(kind, at_ms, payload)
        if event_id is None
        else Event(kind, at_ms, payload, id=event_id)
    )
    text = event.to_json()
    back = Event.from_json(text)
    assert back == event
    assert back.id == event.id
    assert Event.from_json(text.encode()) == event
    assert json.loads(text)["v"] == WIRE_VERSION


def test_wire_form_is_the_documented_one() -> None:
    event = Event(EventType.FILL, 1_700_000_000_000, {"qty": "0.001", "price": 43000.5}, id="f-1")
    assert json.loads(event.to_json()) == {
        "v": 1,
        "id": "f-1",
        "type": "fill",
        "at_ms": 1_700_000_000_000,
        "payload": {"qty": "0.001", "price": 43000.5},
    }


def test_ids_are_random_hex_unless_given() -> None:
    first = Event(EventType.RUN, 0)
    second = Event(EventType.RUN, 0)
    assert first.id != second.id
    assert len(first.id) == 32
    int(first.id, 16)
    assert Event(EventType.RUN, 0, id="run:abc:start").id == "run:abc:start"


def test_payload_is_a_read_only_copy() -> None:
    source: dict[str, object] = {"levels": (1, 2), "nested": {"a": [1]}}
    event = Event(EventType.EQUITY, 5, source)
    source["levels"] = "changed"
    nested = source["nested"]
    assert isinstance(nested, dict)
    nested["a"] = "changed"
    assert event.payload == {"levels": [1, 2], "nested": {"a": [1]}}
    with pytest.raises(TypeError):
        event.payload["levels"] = 3  # type: ignore[index]


def test_enum_values_in_payloads_are_written_plainly() -> None:
    class Side(StrEnum):
        BUY = "buy"

    class Level(IntEnum):
        HIGH = 3

    event = Event(EventType.ORDER, 1, {"side": Side.BUY, "level": Level.HIGH})
    assert type(event.payload["side"]) is str
    assert type(event.payload["level"]) is int
    assert Event.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        (
            {"fills": [{}, {}, {"price": Decimal("1.5")}]},
            "payload['fills'][2]['price']",
            "Decimal is not JSON-ready (write exact decimals as text: str(value))",
        ),
        ({"score": math.nan}, "payload['score']", "must be a finite number (got nan)"),
        ({"a": {"b": math.inf}}, "payload['a']['b']", "must be a finite number (got inf)"),
        ({"by_symbol": {1: "x"}}, "payload['by_symbol'][1]", "keys must be text, not int"),
        ({"tags": {"a", "b"}}, "payload['tags']", "set is not JSON-ready"),
        ({"raw": b"\x00"}, "payload['raw']", "bytes is not JSON-ready"),
    ],
)
def test_bad_payload_is_a_typed_error_naming_the_field(
    payload: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(EventPayloadError) as caught:
        Event(EventType.FILL, 0, payload)
    assert caught.value.field == field
    assert caught.value.rule == rule
    assert str(caught.value) == f"{field}: {rule}"
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, SigmaxError)


def test_payload_must_be_a_mapping_and_not_too_deep() -> None:
    with pytest.raises(EventPayloadError, match=r"^payload: must be a mapping, not list$"):
        Event(EventType.ALERT, 0, [1, 2])  # type: ignore[arg-type]
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        child: dict[str, object] = {}
        node["k"] = child
        node = child
    with pytest.raises(EventPayloadError, match="nested deeper than 32 levels"):
        Event(EventType.ALERT, 0, deep)
    looping: dict[str, object] = {}
    looping["self"] = looping
    with pytest.raises(EventPayloadError, match="nested deeper"):
        Event(EventType.ALERT, 0, looping)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": "trade", "at_ms": 0}, "type"),
        ({"type": EventType.FILL, "at_ms": -1}, "at_ms"),
        ({"type": EventType.FILL, "at_ms": 1.5}, "at_ms"),
        ({"type": EventType.FILL, "at_ms": True}, "at_ms"),
        ({"type": EventType.FILL, "at_ms": 0, "id": ""}, "id"),
        ({"type": EventType.FILL, "at_ms": 0, "id": "has space"}, "id"),
        ({"type": EventType.FILL, "at_ms": 0, "id": "line\nbreak"}, "id"),
        ({"type": EventType.FILL, "at_ms": 0, "id": "x" * 201}, "id"),
    ],
)
def test_bad_fields_are_typed_errors(kwargs: Mapping[str, object], field: str) -> None:
    with pytest.raises(EventError) as caught:
        Event(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_type_may_be_given_as_text() -> None:
    event = Event("pause", 0)  # type: ignore[arg-type]
    assert event.type is EventType.PAUSE


def _wire(**changes: object) -> str:
    data: dict[str, object] = {"v": 1, "id": "e1", "type": "fill", "at_ms": 1, "payload": {}}
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        (_wire(v=2), "v", "unknown event format version 2 (this SIGMAX reads 1)"),
        (_wire(v="1"), "v", "unknown event format version '1'"),
        (_wire(type="trade"), "type", "unknown event type 'trade' (known: run, decision"),
        (_wire(extra=1), "event", "unknown fields ['extra']"),
        (json.dumps({"v": 1, "id": "e1", "type": "fill", "payload": {}}), "at_ms", "is missing"),
        (_wire(at_ms=-5), "at_ms", "must be a whole number"),
        (_wire(payload=[]), "payload", "must be a mapping"),
        ('{"v":1,"id":"e","type":"fill","at_ms":1,"payload":{"x":NaN}}', "event", "NaN"),
        ("[1, 2]", "event", "must be a JSON object, not list"),
        ("{not json", "event", "is not valid JSON"),
        (b"\xff\xfe", "event", "is not valid JSON"),
    ],
)
def test_unreadable_wire_text_is_a_format_error(
    text: str | bytes, field: str, fragment: str
) -> None:
    with pytest.raises(EventFormatError) as caught:
        Event.from_json(text)
    assert caught.value.field == field
    assert fragment in caught.value.rule
