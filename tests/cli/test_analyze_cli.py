"""`sigmax analyze`, `why`, `history` and `bench decisions`, run through the real Typer app.

Every command works on the bundled Binance candles and a SQLite database in a temporary
SIGMAX_HOME, so decisions, persistence and rendering are the real ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigmax.cli import analyze_cmd, app
from sigmax.engine import decision_log

runner = CliRunner()
AT = "2023-06-01T12:00:00Z"
AGENTS = ["researcher", "bull", "bear", "analyzer", "risk", "privacy", "optimizer"]
INDICATORS = {
    "rsi_14", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower",
    "atr_14", "ema_20", "ema_50", "ema_200", "adx_14",
}  # fmt: skip
RECORD_KEYS = {
    "symbol", "timestamp", "data_until", "timeframe", "profile", "decision", "confidence",
    "size_usd", "stop_loss", "take_profit", "reasoning", "agents", "debate", "indicators",
    "latency_ms",
}  # fmt: skip
REASONING_KEYS = {
    "bull_argument", "bear_argument", "risk_assessment", "technical_analysis", "sentiment",
}  # fmt: skip
AGENT_KEYS = {"name", "score", "confidence", "argument", "latency_ms"}
TABLE_WIDTH = 100


@pytest.fixture(autouse=True)
def home(sigmax_home: Path) -> Iterator[Path]:
    """Every test gets an empty SIGMAX_HOME; the root logger is restored afterwards."""
    root = logging.getLogger()
    level = root.level
    yield sigmax_home
    root.setLevel(level)


def invoke(*args: str, width: int | None = None) -> Any:
    env = {"COLUMNS": str(width)} if width is not None else None
    return runner.invoke(app, list(args), env=env)


def analyze_json(*args: str) -> dict[str, Any]:
    result = invoke("analyze", *args, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    # Exactly one JSON document, as json.dumps(record.to_dict()) writes it.
    assert result.stdout == json.dumps(document) + "\n"
    return document


def without_latency(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_latency(v) for k, v in value.items() if k != "latency_ms"}
    if isinstance(value, list):
        return [without_latency(v) for v in value]
    return value


def test_analyze_json_has_the_whole_explained_decision() -> None:
    document = analyze_json("BTC/USDT", "--at", AT)

    assert set(document) >= RECORD_KEYS
    assert document["symbol"] == "BTC/USDT"
    assert document["timestamp"] == "2023-06-01T12:00:00Z"
    # The decision at 12:00 sees the 11:00 candle, which closed at 12:00, and nothing later.
    assert document["data_until"] == "2023-06-01T11:00:00Z"
    assert (document["timeframe"], document["profile"]) == ("1h", "conservative")
    assert document["decision"] in {"BUY", "SELL", "HOLD"}
    assert 0 <= document["confidence"] <= 1
    assert document["size_usd"] >= 0
    assert set(document["reasoning"]) >= REASONING_KEYS
    assert all(document["reasoning"][key] for key in REASONING_KEYS)
    assert [agent["name"] for agent in document["agents"]] == AGENTS
    for agent in document["agents"]:
        assert set(agent) >= AGENT_KEYS, agent["name"]
        assert agent["latency_ms"] >= 0
    assert len(document["debate"]) >= 1
    assert set(document["indicators"]) == INDICATORS
    assert all(isinstance(value, float) for value in document["indicators"].values())


def test_analyze_is_repeatable_persisted_once_and_explained_by_why() -> None:
    first = analyze_json("BTC/USDT", "--at", AT)
    second = analyze_json("btc-usdt", "--at", AT, "--timeframe", "1h")
    # The same moment written with an offset is the same decision.
    third = analyze_json("BTC/USDT", "--at", "2023-06-01T14:00:00+02:00")
    assert without_latency(second) == without_latency(first)
    assert without_latency(third) == without_latency(first)
    assert first["latency_ms"] > 0

    assert first["source"] == "ad_hoc"
    why = invoke("why", "BTC/USDT", "--ad-hoc", "--json")
    assert why.exit_code == 0, why.output
    # The first record is the one kept, latencies and all.
    assert json.loads(why.stdout) == first

    latest = invoke("history", "--ad-hoc", "--json", "--limit", "1")
    assert latest.exit_code == 0, latest.output
    assert json.loads(latest.stdout) == [first]
    everything = invoke("history", "--ad-hoc", "--json", "--symbol", "BTC/USDT")
    assert len(json.loads(everything.stdout)) == 1

    explained = invoke("why", "BTC/USDT", "--ad-hoc", width=TABLE_WIDTH)
    assert explained.exit_code == 0, explained.output
    assert "Last ad-hoc analysis: BTC/USDT" in explained.stdout
    assert "2023-06-01T12:00:00Z" in explained.stdout
    assert first["decision"] in explained.stdout


def test_the_table_view_shows_every_part_within_100_columns() -> None:
    result = invoke("analyze", "BTC/USDT", "--at", AT, width=TABLE_WIDTH)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in (
        "Ad-hoc analysis: BTC/USDT",
        "decision time",
        "2023-06-01T12:00:00Z",
        "data until",
        "2023-06-01T11:00:00Z",
        "stop-loss",
        "take-profit",
        "conservative",
        "Bull argument",
        "Bear argument",
        "Debate",
        "Round 1 bull:",
        "Risk assessment",
        "Technical analysis",
        "latency ms",
        *AGENTS,
    ):
        assert expected in text, expected
    assert max(len(line) for line in text.splitlines()) <= TABLE_WIDTH


def test_history_table_lists_decisions_newest_first() -> None:
    assert "No ad-hoc analyses recorded yet." in invoke("history", "--ad-hoc").stdout
    analyze_json("BTC/USDT", "--at", AT)
    analyze_json("ETH/USDT", "--at", "2023-06-01T15:00:00Z")
    result = invoke("history", "--ad-hoc", width=TABLE_WIDTH)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "2023-06-01T" in line]
    assert len(rows) == 2
    assert "ETH/USDT" in rows[0]
    assert "BTC/USDT" in rows[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BTC/USDT", "--at", "2023-06-01T12:00:00"], "the time has no time zone"),
        (["BTC/USDT", "--at", "June 1st"], "not an ISO-8601 time"),
        (["BTC/USDT", "--timeframe", "4h"], "--timeframe 4h: decisions are made on the"),
        (["BTC/USDT", "--timeframe", "7x"], "--timeframe: timeframe must be one of"),
        (["DOGE/USDT"], "no dataset for any exchange DOGE/USDT 1h"),
        (["BTC"], "SYMBOL: symbol must look like BASE/QUOTE"),
        (["BTC/USDT", "--at", "2024-01-01T00:00:00Z"], "--at must be before 2023-10-01T01:00"),
        (
            ["BTC/USDT", "--at", "2021-04-05T00:30:00Z"],
            "the earliest possible --at is 2021-04-05T01:00:00Z",
        ),
    ],
)
def test_bad_input_exits_2_with_the_rule_and_records_nothing(args: list[str], message: str) -> None:
    result = invoke("analyze", *args, width=200)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert json.loads(invoke("history", "--json").stdout) == []


def test_why_and_history_refuse_what_they_cannot_answer() -> None:
    missing = invoke("why", "SOL/USDT", width=200)
    assert missing.exit_code == 2
    assert "no decision recorded for SOL/USDT yet" in missing.stderr
    for limit in ("0", "1001"):
        assert invoke("history", "--limit", limit).exit_code == 2
    bad_symbol = invoke("history", "--symbol", "x", width=200)
    assert bad_symbol.exit_code == 2
    assert "--symbol: symbol must look like BASE/QUOTE" in bad_symbol.stderr
    assert analyze_cmd.MAX_HISTORY_LIMIT == decision_log.MAX_HISTORY_LIMIT


def test_bench_decisions_prints_latency_counts_and_persistence() -> None:
    result = invoke("bench", "decisions", "--json", "--count", "50")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["benchmark"] == "decisions"
    assert figures["symbol"] == "BTC/USDT"
    assert figures["decisions"] == 50
    assert figures["BUY"] + figures["SELL"] + figures["HOLD"] == 50
    # The timed window ends at the close of the last candle in the bundled data.
    assert figures["last_decision"] == "2023-10-01T00:00:00Z"
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["mean_ms"] > 0
    assert figures["decisions_per_s"] > 0
    assert figures["target_p99_ms"] == 5
    assert figures["meets_target"] == (figures["p99_ms"] <= 5)
    assert figures["persist_records"] == 50
    assert 0 < figures["persist_p50_ms"] <= figures["persist_p99_ms"]
    assert figures["machine"]["cores"] >= 1
