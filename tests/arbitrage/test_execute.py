"""Paper execution of a cross-exchange group through the real order gate and paper venues."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from sigmax.arbitrage.execute import GroupJournal, PaperArbitrageExecutor
from sigmax.arbitrage.model import Leg, Opportunity
from sigmax.config import load_settings
from sigmax.domain.candles import Candle
from sigmax.engine.gate import AccountView, OrderGate
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.execution.instruments import bundled_market_specs
from sigmax.execution.paper import PaperVenue

D = Decimal
T0 = 1_700_000_040_000
MARKET = "BTC/USDT"


def opportunity() -> Opportunity:
    return Opportunity(
        kind="cross_exchange",
        legs=(
            Leg("binance", MARKET, "buy", D(30000), D("0.001")),
            Leg("kraken", MARKET, "sell", D(30300), D("0.0026")),
        ),
        start_ms=T0,
        end_ms=T0,
        gross_pct=D(1),
        net_pct=D("0.64"),
        max_size_usd=D(300),
        profit_usd=D("1.9"),
        size_usd=D(300),
    )


def setup(
    tmp_path: Path, sigmax_home: Path
) -> tuple[PaperArbitrageExecutor, dict[str, PaperVenue]]:
    settings = load_settings(env={})
    spec = bundled_market_specs()[MARKET]
    papers = {
        "binance": PaperVenue(
            {MARKET: spec}, FeeSchedule(D("0.001"), D("0.001")), SlippageModel.none(), cash=D(1000)
        ),
        "kraken": PaperVenue(
            {MARKET: spec},
            FeeSchedule(D("0.0026"), D("0.0026")),
            SlippageModel.none(),
            cash=D(1000),
        ),
    }
    # Cash on Binance to buy with; 0.001 BTC already held on Kraken to sell.
    accounts = {
        "binance": AccountView(D(1000), D(1000), {}, {}),
        "kraken": AccountView(D(1030), D(1000), {MARKET: D("30.3")}, {MARKET: D("0.001")}),
    }
    executor = PaperArbitrageExecutor(
        OrderGate.from_settings(settings),
        dict(papers),
        accounts.__getitem__,
        GroupJournal(tmp_path / "groups.jsonl"),
    )
    return executor, papers


def candle(price: str, volume: str = "5") -> Candle:
    value = float(price)
    return Candle(T0, value, value, value, value, float(volume))


async def test_both_legs_fill_as_one_group(tmp_path: Path, sigmax_home: Path) -> None:
    executor, _ = setup(tmp_path, sigmax_home)
    fills = {("binance", MARKET): candle("30000"), ("kraken", MARKET): candle("30300")}
    outcome = await executor.execute(opportunity(), D("0.0003"), T0, fills, {})
    assert outcome.status == "filled"
    assert [leg.status for leg in outcome.legs] == ["filled", "filled"]
    buy_fee = D("0.0003") * 30000 * D("0.001")
    sell_fee = D("0.0003") * 30300 * D("0.0026")
    assert outcome.pnl_usd == D("0.0003") * (30300 - 30000) - buy_fee - sell_fee.quantize(
        D("1e-8"), rounding="ROUND_UP"
    )
    lines = [json.loads(line) for line in (tmp_path / "groups.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["intent", "leg", "leg", "outcome"]
    assert {line["group_id"] for line in lines} == {outcome.group_id}


async def test_a_leg_the_gate_refuses_sends_no_leg(tmp_path: Path, sigmax_home: Path) -> None:
    executor, papers = setup(tmp_path, sigmax_home)
    # 0.01 BTC is 300 USD: above the conservative profile's 10 USD position limit.
    fills = {("binance", MARKET): candle("30000"), ("kraken", MARKET): candle("30300")}
    outcome = await executor.execute(opportunity(), D("0.01"), T0, fills, {})
    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert "policy" in outcome.reason
    assert [leg.status for leg in outcome.legs] == ["not_sent", "not_sent"]
    assert papers["binance"].snapshot()["accepted_ids"] == []
    assert papers["kraken"].snapshot()["accepted_ids"] == []
    assert outcome.pnl_usd == 0


async def test_a_failed_leg_is_unwound_and_its_loss_recorded(
    tmp_path: Path, sigmax_home: Path
) -> None:
    executor, papers = setup(tmp_path, sigmax_home)
    # Kraken trades nothing in that minute (a halted market): the sell cannot fill.
    fills = {("binance", MARKET): candle("30000"), ("kraken", MARKET): candle("30300", "0")}
    later = Candle(T0 + 60_000, 29900.0, 29900.0, 29900.0, 29900.0, 5.0)
    outcome = await executor.execute(
        opportunity(), D("0.0003"), T0, fills, {("binance", MARKET): later}
    )
    assert outcome.status == "unwound"
    assert [leg.status for leg in outcome.legs] == ["filled", "cancelled"]
    (reversal,) = outcome.unwinds
    assert reversal.status == "filled"
    assert reversal.side.value == "sell"
    assert reversal.fill is not None
    assert reversal.fill.price == D(29900)
    bought = D("0.0003") * 30000
    sold = D("0.0003") * 29900
    assert outcome.pnl_usd == sold - bought - bought * D("0.001") - sold * D("0.001")
    assert outcome.pnl_usd < 0
    assert papers["kraken"].open_orders() == []  # the unfilled sell does not linger
    events = [json.loads(x)["event"] for x in (tmp_path / "groups.jsonl").read_text().splitlines()]
    assert events == ["intent", "leg", "leg", "unwind", "outcome"]
