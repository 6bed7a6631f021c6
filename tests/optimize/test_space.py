"""The search space: names from the settings models, ranges checked against each field's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigmax.optimize.space import (
    Param,
    SpaceError,
    build_space,
    load_space_file,
    parse_param,
    searchable,
)


def test_agents_names_come_from_the_settings_models() -> None:
    names = searchable("agents")
    for name in (
        "profile.buy_threshold",
        "profile.sell_threshold",
        "profile.stop_atr_multiple",
        "profile.max_position_size",
        "agents.debate_rounds",
        "agents.analyzer.weight",
        "agents.researcher.weight",
        "agents.analyzer.indicators.rsi_period",
        "agents.analyzer.indicators.bollinger_stddev",
    ):
        assert name in names
    # Text, lists, switches and optional values are not numbers to search.
    assert "profile.allowed_symbols" not in names
    assert "agents.analyzer.enabled" not in names
    assert "agents.timeout_ms" not in names
    assert names["profile.max_position_size"].kind == "decimal"
    assert names["agents.debate_rounds"].kind == "int"
    assert set(searchable("sma_cross")) == {"fast", "slow"}


def test_a_parameter_is_parsed_with_and_without_a_step() -> None:
    assert parse_param("profile.buy_threshold=0.2..0.6:0.05", "agents") == Param(
        "profile.buy_threshold", "float", 0.2, 0.6, 0.05
    )
    assert parse_param("fast = 5 .. 30", "sma_cross") == Param("fast", "int", 5, 30, None)
    assert parse_param("agents.debate_rounds=1..4", "agents").kind == "int"


@pytest.mark.parametrize(
    ("text", "strategy", "message"),
    [
        ("profile.nope=1..2", "agents", "profile.nope: not a searchable parameter of agents"),
        ("fast=5..30", "agents", "fast: not a searchable parameter of agents"),
        ("profile.buy_threshold=0.2..0.6", "sma_cross", "not a searchable parameter of sma_cross"),
        ("profile.buy_threshold=0.6..0.2", "agents", "empty range: LOW must be below HIGH"),
        ("profile.buy_threshold=0.4..0.4", "agents", "empty range"),
        ("profile.buy_threshold=0..0.6", "agents", "profile.buy_threshold: LOW must be > 0"),
        ("profile.buy_threshold=0.2..1.5", "agents", "HIGH must be <= 1"),
        ("agents.debate_rounds=1.5..3", "agents", "LOW must be an integer for this field"),
        ("agents.debate_rounds=1..20", "agents", "HIGH must be <= 10"),
        ("fast=1..30", "sma_cross", "fast: LOW must be >= 2"),
        ("profile.buy_threshold=a..0.6", "agents", "LOW must be a number"),
        ("profile.buy_threshold=0.2..0.6:0", "agents", "STEP must be > 0"),
        ("profile.buy_threshold=0.2..0.6:1", "agents", "STEP must not exceed HIGH - LOW"),
        ("profile.buy_threshold=0.2..0.6:0.07", "agents", "whole number of STEPs"),
        ("profile.buy_threshold", "agents", "must be NAME=LOW..HIGH[:STEP]"),
        ("profile.buy_threshold=0.2", "agents", "the range must be LOW..HIGH[:STEP]"),
        ("profile.buy_threshold=nan..0.6", "agents", "LOW must be a finite number"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field_and_rule(
    text: str, strategy: str, message: str
) -> None:
    with pytest.raises(SpaceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_param(text, strategy)


def test_a_space_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "space.yaml"
    good.write_text(
        "profile.buy_threshold: 0.2..0.6:0.05\n"
        "agents.analyzer.weight: {low: 0.1, high: 0.9}\n"
        "agents.analyzer.indicators.rsi_period: {low: 7, high: 28, step: 7}\n",
        encoding="utf-8",
    )
    params = load_space_file(good, "agents")
    assert [p.name for p in params] == [
        "profile.buy_threshold",
        "agents.analyzer.weight",
        "agents.analyzer.indicators.rsi_period",
    ]
    assert params[2] == Param("agents.analyzer.indicators.rsi_period", "int", 7, 28, 7)
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents.analyzer.weight: {low: 0.1, hi: 0.9}\n", encoding="utf-8")
    with pytest.raises(SpaceError, match=r"agents\.analyzer\.weight: unknown keys hi"):
        load_space_file(bad, "agents")
    bad.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(SpaceError, match="must map parameter names to ranges"):
        load_space_file(bad, "agents")
    bad.write_text("agents.analyzer.weight: [0.1, 0.9]\n", encoding="utf-8")
    with pytest.raises(SpaceError, match=r"agents\.analyzer\.weight: must be 'LOW\.\.HIGH"):
        load_space_file(bad, "agents")
    with pytest.raises(SpaceError, match="cannot read"):
        load_space_file(tmp_path / "missing.yaml", "agents")


def test_a_space_is_built_once_per_name_and_sma_periods_must_be_able_to_cross() -> None:
    fast = parse_param("fast=5..30", "sma_cross")
    with pytest.raises(SpaceError, match="fast: given more than once"):
        build_space("sma_cross", [fast, fast])
    with pytest.raises(SpaceError, match="the smallest fast \\(60\\) is not below the largest"):
        build_space(
            "sma_cross",
            [parse_param("fast=60..80", "sma_cross"), parse_param("slow=20..50", "sma_cross")],
        )
    with pytest.raises(SpaceError, match="name at least one parameter"):
        build_space("agents", [])
    default = build_space("sma_cross", [])
    assert default.names() == ["fast", "slow"]
    with pytest.raises(SpaceError, match="--strategy: must be one of agents, sma_cross"):
        build_space("rsi", [])


def test_values_are_given_to_the_settings_in_their_own_type() -> None:
    money = parse_param("profile.max_position_size=10..50:0.1", "agents")
    assert money.value(10.299999999999999) == "10.3"
    ratio = parse_param("profile.buy_threshold=0.1..0.5:0.1", "agents")
    assert ratio.value(0.30000000000000004) == 0.3
    assert parse_param("fast=5..30", "sma_cross").value(12.0) == 12
    weight = parse_param("agents.analyzer.weight=0.1..0.9", "agents")
    assert weight.value(0.8404773106341289) == 0.840477
