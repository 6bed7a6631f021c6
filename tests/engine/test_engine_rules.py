"""Engine rules on real candles: an unaffordable fill is rejected, never half-booked."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sigmax.agents.orchestrator import Orchestrator, build_history
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Order, OrderPurpose, OrderSide, OrderStatus, OrderType
from sigmax.engine.engine import Engine
from sigmax.engine.feeds import CandleClosed
from sigmax.engine.gate import OrderGate
from sigmax.engine.trader import Trader
from sigmax.execution.instruments import OrderRules, bundled_market_specs
from sigmax.execution.paper import PaperVenue


def test_a_buy_the_account_cannot_pay_at_the_fill_is_rejected() -> None:
    settings = load_settings(env={})
    series = DatasetCatalog.from_path(None).load("BTC/USDT", "1h").series
    history = build_history(series, settings)
    specs = bundled_market_specs()
    ledger = Ledger(Decimal("100"))
    venue = PaperVenue({"BTC/USDT": specs["BTC/USDT"]}, cash=ledger.cash)
    trader = Trader(
        ledger=ledger,
        venue=venue,
        rules={"BTC/USDT": OrderRules(specs["BTC/USDT"])},
        gate=OrderGate.from_settings(settings),
        fees=venue.fees,
        max_slippage_pct=settings.safety.max_slippage_pct,
    )
    engine = Engine(
        orchestrator=Orchestrator(settings, {"BTC/USDT": history}.__getitem__),
        histories={"BTC/USDT": history},
        trader=trader,
        store=None,
        persist_holds=False,
    )
    index = 5_000
    submitted_at = int(series.timestamp[index])  # the close of candle index - 1
    # 0.01 BTC costs several hundred USDT at 2021-2022 prices: far more than the 100 in cash.
    order = Order("sgx-manual-test", "BTC/USDT", OrderSide.BUY, OrderType.MARKET,
                  Decimal("0.01"), submitted_at, purpose=OrderPurpose.MANUAL)  # fmt: skip
    assert asyncio.run(venue.submit(order, submitted_at)).status is OrderStatus.OPEN
    candle = series.candle(index)
    event = CandleClosed("BTC/USDT", candle, candle.timestamp + series.timeframe.ms, series)
    write = asyncio.run(engine.step(event))
    rejected = [u for u in write.orders if u.order.client_order_id == "sgx-manual-test"]
    assert [u.status for u in rejected] == [OrderStatus.REJECTED]
    assert "rejected at fill" in (rejected[0].reason or "")
    assert write.fills == []
    assert ledger.cash == Decimal("100")
    assert ledger.open_positions() == {}
    ledger.check_balanced()
    # The venue's own account refused it too: nothing moved there either.
    assert asyncio.run(venue.balances()) == {"USDT": Decimal("100")}
