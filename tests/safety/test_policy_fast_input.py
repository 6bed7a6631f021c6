"""The value-by-value policy input (policy_term) gives rego-cpp exactly the document, and the
verdicts of PolicyEngine.evaluate equal the plain evaluation of the whole policy package with
the document as JSON text, for generated orders and for an order breaking each rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import regopy  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regopy import rego_shared  # type: ignore[import-untyped]

from sigmax.config.paths import source_config_dir
from sigmax.safety.policy import (
    OrderPolicyInput,
    PolicyAccount,
    PolicyEngine,
    PolicyInputError,
    PolicyLimits,
    PolicyOrder,
    PolicyVerdict,
)
from sigmax.safety.policy_selfcheck import PROBES, REQUIRED_RULES
from sigmax.safety.policy_term import set_input_document, set_order_input
from sigmax.safety.policy_types import verdict_from_document

ENGINE = PolicyEngine.load(source_config_dir() / "policies")


def _plain(document: dict[str, Any]) -> PolicyVerdict:
    """The reference: the whole sigmax.orders document for the input given as JSON text."""
    return verdict_from_document(ENGINE.evaluate_document(document), "embedded")


def _fast(document: dict[str, Any]) -> PolicyVerdict:
    """The verdict plan fed value by value, as evaluate() does, for any document."""
    result = ENGINE._query(
        ENGINE._verdict_bundle, lambda: set_input_document(ENGINE._runner._impl, document)
    )
    return verdict_from_document(result, "embedded")


def _rendered_input(set_input: Callable[[Any], None]) -> str:
    """rego-cpp's own rendering of the input an interpreter holds."""
    interpreter = regopy.Interpreter()
    set_input(interpreter)
    output = rego_shared.rego_query(interpreter._impl, "x = input")
    try:
        return str(rego_shared.rego_output_string(output))
    finally:
        rego_shared.rego_free_output(output)


def _same_in_rego(document: dict[str, Any], reference: dict[str, Any]) -> bool:
    """Whether the input handed over value by value is the term rego-cpp parses from
    ``reference`` as JSON text (for text without quotes, backslashes or control characters
    its rendering is faithful, and true and 1 render differently)."""
    fast = _rendered_input(lambda i: set_input_document(i._impl, document))
    text = json.dumps(reference, ensure_ascii=False)
    plain = _rendered_input(lambda i: i.set_input_term(text))
    return fast == plain


# Text as order documents hold it: anything but quotes, backslashes and control characters.
safe_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=8
)
json_values = st.recursive(
    st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | safe_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(safe_text, children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(safe_text, json_values))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_rego_gets_exactly_the_document(document: dict[str, Any]) -> None:
    assert _same_in_rego(document, document)


def test_a_different_document_is_not_equal() -> None:
    assert not _same_in_rego({"x": [True]}, {"x": [1]})
    assert not _same_in_rego({"x": "a"}, {"x": "b"})


@pytest.mark.parametrize(
    "document",
    [
        {"x": 1.5},
        {"x": None},
        {"x": 2**63},
        {"x": -(2**63) - 1},
        {"x": Decimal(1)},
        {"x": ("a",)},
        {1: "a"},
        {"x": "a\x00b"},
        {"x": "\ud800"},
        {"x": 'say "hi"'},
        {"x": "C:\\"},
        {"x\n": 1},
    ],
    ids=[
        "float",
        "null",
        "2**63",
        "below -2**63",
        "Decimal",
        "tuple",
        "int key",
        "NUL",
        "lone surrogate",
        "quote",
        "backslash",
        "newline in a key",
    ],
)
def test_values_that_cannot_be_handed_over_exactly_are_refused(document: dict[Any, Any]) -> None:
    with pytest.raises(PolicyInputError):
        set_input_document(regopy.Interpreter()._impl, document)


def test_each_rule_denies_its_probe_identically_on_both_paths() -> None:
    seen: set[str] = set()
    for probe in PROBES:
        document = probe.request.to_document()
        verdict = ENGINE.evaluate(probe.request)
        assert verdict == _plain(document), probe.name
        seen.update(verdict.rules)
    assert seen == set(REQUIRED_RULES)


@pytest.mark.parametrize(
    "document",
    [
        {"order": {"side": "buy", "symbol": "BTC/USDT"}},
        {},
        {"order": {"side": "hold"}, "account": {"positions_micro_usd": []}, "limits": {}},
    ],
)
def test_malformed_input_is_denied_identically_on_both_paths(document: dict[str, Any]) -> None:
    fast = _fast(document)
    assert fast == _plain(document)
    assert "malformed_input" in fast.rules


SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "ETH/BTC")
amounts = st.decimals(min_value=Decimal(0), max_value=Decimal(60), places=4)


@st.composite
def order_inputs(draw: st.DrawFn) -> OrderPolicyInput:
    symbol = draw(st.sampled_from(SYMBOLS))
    price = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(70000), places=2))
    qty = draw(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(5), places=8))
    order = PolicyOrder(
        symbol,
        draw(st.sampled_from(("buy", "sell"))),
        qty,
        price,
        # Near the limits as often as far above them.
        draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(30), places=6)),
        market_type=draw(st.sampled_from(("spot", "spot", "margin"))),
        leverage=draw(st.sampled_from((Decimal(1), Decimal(1), Decimal(2), Decimal("0.5")))),
        source=draw(st.sampled_from(("engine", "manual"))),
    )
    held = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4))
    account = PolicyAccount(
        equity_usd=draw(st.sampled_from((Decimal(0), Decimal(100), Decimal(1000)))),
        cash_usd=draw(amounts),
        positions_usd={s: draw(amounts) for s in held},
        positions_qty={s: draw(st.sampled_from((Decimal(0), qty, qty * 2))) for s in held},
        open_positions=draw(st.integers(min_value=0, max_value=4)),
    )
    limits = PolicyLimits(
        max_position_size_usd=Decimal(10),
        max_exposure_usd=Decimal(20),
        max_position_pct_of_equity=Decimal(5),
        max_open_positions=draw(st.integers(min_value=0, max_value=3)),
        allowed_assets=tuple(draw(st.lists(st.sampled_from(("BTC", "ETH", "SOL")), unique=True))),
        quote_asset=draw(st.sampled_from(("USDT", "BTC"))),
        blacklist=tuple(draw(st.lists(st.sampled_from(("DOGE", "ETH/USDT")), unique=True))),
    )
    return OrderPolicyInput(order, account, limits)


@given(order_inputs())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_orders_get_the_verdict_of_the_plain_evaluation(
    order_input: OrderPolicyInput,
) -> None:
    assert ENGINE.evaluate(order_input) == _plain(order_input.to_document())


@given(order_inputs())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_typed_path_gives_rego_the_term_of_the_document(
    order_input: OrderPolicyInput,
) -> None:
    """set_order_input (every order's path) builds the same term as the document's walk."""
    typed = _rendered_input(lambda i: set_order_input(i._impl, order_input))
    walked = _rendered_input(lambda i: set_input_document(i._impl, order_input.to_document()))
    assert typed == walked


def test_the_typed_path_refuses_a_count_it_cannot_hand_over() -> None:
    probe = PROBES[0].request
    account = PolicyAccount(Decimal(1), Decimal(1), open_positions=2**63)
    request = OrderPolicyInput(probe.order, account, probe.limits)
    interpreter = regopy.Interpreter()
    with pytest.raises(PolicyInputError, match="does not fit in 64 bits"):
        set_order_input(interpreter._impl, request)
