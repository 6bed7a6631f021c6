"""The self-contained HTML backtest report.

Every price series here is synthetic (a seeded random walk or hand-written numbers) and exists only
to exercise the renderer; none of it is market data.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from sigmax.backtest.metrics import METRIC_KEYS
from sigmax.backtest.report import (
    STANDARD_METRIC_FORMATS,
    STANDARD_METRIC_LABELS,
    EquityCurve,
    MetricFormat,
    ReportDestinationError,
    ReportInput,
    ReportInputError,
    ReportTrade,
    SymbolCandles,
    TradeSide,
    monthly_returns,
    render_report,
    write_report,
)
from sigmax.backtest.report_charts import aggregate_candles, minmax_indices
from sigmax.errors import InputError

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
JAN_1_2024 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def synthetic_candles(count: int, seed: int, start_ms: int = JAN_1_2024) -> SymbolCandles:
    """Hourly candles from a seeded random walk (a test shape, not prices of any market)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, count)))
    open_ = np.concatenate(([100.0], close[:-1]))
    return SymbolCandles(
        start_ms + np.arange(count, dtype=np.int64) * HOUR_MS,
        open_,
        np.maximum(open_, close) * 1.002,
        np.minimum(open_, close) * 0.998,
        close,
    )


def trade(
    symbol: str, candles: SymbolCandles, entry: int, exit_: int, **changes: Any
) -> ReportTrade:
    fields: dict[str, Any] = {
        "symbol": symbol,
        "side": TradeSide.LONG,
        "entry_ms": int(candles.timestamp_ms[entry]),
        "entry_price": float(candles.open[entry]),
        "exit_ms": int(candles.timestamp_ms[exit_]),
        "exit_price": float(candles.open[exit_]),
        "qty": 0.5,
        "pnl": 0.5 * float(candles.open[exit_] - candles.open[entry]) - 0.1,
        "fees": 0.1,
        "exit_reason": "take_profit",
        "explanation": "BUY: trend up on 1h and 4h\nRSI 41.2, MACD above signal",
    }
    fields.update(changes)
    return ReportTrade(**fields)


def small_input(**changes: Any) -> ReportInput:
    """Two symbols, 30 days of hourly candles, three trades, metrics and a configuration."""
    btc = synthetic_candles(720, seed=1)
    eth = synthetic_candles(720, seed=2)
    equity = 10_000.0 * (1.0 + 0.1 * np.sin(np.arange(720) / 50.0))
    benchmark = 10_000.0 * btc.close / btc.close[0]
    fields: dict[str, Any] = {
        "title": "Backtest BTC/USDT + ETH/USDT",
        "generated_from": "run 3f2a9c1d",
        "equity": EquityCurve(btc.timestamp_ms, equity),
        "buy_and_hold": EquityCurve(btc.timestamp_ms, benchmark),
        "candles": {"BTC/USDT": btc, "ETH/USDT": eth},
        "trades": [
            trade("BTC/USDT", btc, 10, 40),
            trade("ETH/USDT", eth, 100, 130, side=TradeSide.SHORT, exit_reason="stop_loss"),
            trade("BTC/USDT", btc, 300, 500, explanation=HOSTILE, exit_reason=HOSTILE),
        ],
        "metrics": {
            "total_return": 0.1234,
            "final_equity": "11234.50000000",
            "sharpe": 1.23456,
            "profit_factor": None,
            "max_drawdown_duration": 93_780.0,
            "trades": 3,
        },
        "config": {
            "profile_name": "conservative",
            "profile": {"max_position_usd": "10", "stop_loss": 0.02},
            "operator": "reach me at ops.desk@example.org",
            "symbols": ["BTC/USDT", "ETH/USDT"],
        },
    }
    fields.update(changes)
    return ReportInput(**fields)


class _Elements(HTMLParser):
    """The page's script elements (attributes and text) and every tag's attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def chart_specs(page: str) -> dict[str, dict[str, Any]]:
    """Each chart's ``{"figure", "config"}`` by the id of the element it is drawn in."""
    return {
        str(attrs["data-chart"]): json.loads(text)
        for attrs, text in parse(page).scripts
        if attrs.get("type") == "application/json"
    }


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(small_input())


def test_needs_no_network(page: str) -> None:
    elements = parse(page)
    for tag, attrs in elements.tags:
        assert "src" not in attrs or tag == "img", f"<{tag}> loads {attrs.get('src')}"
        assert not (tag == "link" and attrs.get("href")), f"<link> loads {attrs['href']}"
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    # plotly.js itself holds URLs (map tile styles, its own site) that are only fetched by map
    # traces; everything outside it must hold none.
    rest = page.replace(get_plotlyjs(), "")
    assert re.findall(r"https?://", rest) == []
    assert "cdn." not in rest.lower()


def test_embeds_plotly_once(page: str) -> None:
    bundle = get_plotlyjs()
    assert page.count(bundle) == 1
    # The bundle is in a script element of its own, run before the charts are drawn.
    texts = [text for attrs, text in parse(page).scripts if not attrs]
    assert bundle in texts
    assert page.index(bundle) < page.index("Plotly.newPlot")


def test_same_input_gives_the_same_bytes(page: str) -> None:
    again = render_report(small_input())
    assert again == page
    assert re.findall(r'id="[^"]*"', page) == re.findall(r'id="[^"]*"', again)


def test_texts_are_escaped_not_markup(page: str) -> None:
    elements = parse(page)
    # The page's own scripts: the Plotly config, the bundle, 4 chart specs, the drawing code.
    assert len(elements.scripts) == 7
    assert all(tag != "img" for tag, _ in elements.tags)
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in page
    # In the chart the exit reason is in the hover text as escaped text, inside escaped JSON.
    btc = chart_specs(page)["chart-candles-1"]["figure"]["data"]
    exits = next(t for t in btc if t.get("name") == "Exits")
    assert "&lt;script&gt;" in exits["text"][1]
    assert "<script>" not in exits["text"][1]


def test_explanations_are_expandable(page: str) -> None:
    row = page[page.index('<tr id="trade-1">') : page.index('<tr id="trade-2">')]
    assert "<details><summary>BUY: trend up on 1h and 4h</summary>" in row
    assert 'class="explanation">BUY: trend up on 1h and 4h\nRSI 41.2, MACD above signal<' in row


def test_two_markers_per_trade_at_the_fills() -> None:
    data = small_input()
    specs = chart_specs(render_report(data))
    markers = 0
    for index, symbol in enumerate(data.candles, start=1):
        traces = specs[f"chart-candles-{index}"]["figure"]["data"]
        own = [t for t in data.trades if t.symbol == symbol]
        entries = next(t for t in traces if t.get("name") == "Entries")
        exits = next(t for t in traces if t.get("name") == "Exits")
        markers += len(entries["x"]) + len(exits["x"])
        assert entries["y"] == [t.entry_price for t in own]
        assert exits["y"] == [t.exit_price for t in own]
        assert entries["x"][0] == np.datetime_as_string(np.datetime64(own[0].entry_ms, "ms"), "s")
    assert markers == 2 * len(data.trades)


def test_monthly_returns_match_hand_computed_values() -> None:
    def at(day: str) -> int:
        return int(np.datetime64(day, "ms").astype(np.int64))

    # Start 1000; January ends at 1100, February at 990, March at 1089; no point in April;
    # May ends at 1197.9 (measured from March's end because April has no data).
    points = [
        ("2024-01-01T00:00", 1000.0),
        ("2024-01-15T00:00", 1300.0),
        ("2024-01-31T23:00", 1100.0),
        ("2024-02-10T00:00", 800.0),
        ("2024-02-29T12:00", 990.0),
        ("2024-03-31T23:59", 1089.0),
        ("2024-05-02T00:00", 1500.0),
        ("2024-05-31T00:00", 1197.9),
        ("2025-01-01T00:00", 1317.69),
    ]
    curve = EquityCurve(
        np.array([at(day) for day, _ in points], dtype=np.int64),
        np.array([value for _, value in points]),
    )
    expected = {
        (2024, 1): 0.10,
        (2024, 2): -0.10,
        (2024, 3): 0.10,
        (2024, 5): 0.10,
        (2025, 1): 0.10,
    }
    found = {(m.year, m.month): m.value for m in monthly_returns(curve)}
    assert found == pytest.approx(expected, rel=1e-12)

    data = small_input(
        equity=curve,
        buy_and_hold=curve,
        candles={"BTC/USDT": synthetic_candles(10, seed=3)},
        trades=[],
    )
    page = render_report(data)
    heatmap = chart_specs(page)["chart-monthly"]["figure"]["data"][0]
    assert heatmap["y"] == ["2024", "2025"]
    grid = heatmap["z"]
    expected_grid: list[list[float | None]] = [[None] * 12, [None] * 12]
    for (year, month), value in expected.items():
        expected_grid[year - 2024][month - 1] = value
    assert [[cell is None for cell in row] for row in grid] == [
        [cell is None for cell in row] for row in expected_grid
    ]
    for row, expected_row in zip(grid, expected_grid, strict=True):
        for cell, wanted in zip(row, expected_row, strict=True):
            if wanted is not None:
                assert cell == pytest.approx(wanted, rel=1e-12)
    assert '<th scope="row">2024-02</th><td class="num neg">-10.00 %</td>' in page


def test_metrics_are_written_for_reading(page: str) -> None:
    table = page[page.index('id="metrics-heading"') : page.index('id="equity-heading"')]
    assert "<caption>Backtest metrics</caption>" in table
    cells = dict(re.findall(r'<th scope="row">([^<]*)</th><td class="num">([^<]*)</td>', table))
    assert cells == {
        "Total return": "12.34 %",
        "Final equity": "$11,234.50",
        "Sharpe ratio": "1.2346",
        "Profit factor": "—",
        "Max drawdown duration": "1 d 2 h 3 min",
        "Trades": "3",
    }


def test_standard_formats_cover_every_metric() -> None:
    assert set(STANDARD_METRIC_FORMATS) == set(METRIC_KEYS)
    assert set(STANDARD_METRIC_LABELS) == set(METRIC_KEYS)


def test_metric_formats_override_and_are_checked() -> None:
    data = small_input(
        metrics={"edge": 0.5, "cash": -1234.555},
        metric_formats={"edge": MetricFormat.PERCENT, "cash": MetricFormat.USD},
    )
    page = render_report(data)
    assert '<th scope="row">edge</th><td class="num">50.00 %</td>' in page
    assert '<th scope="row">cash</th><td class="num">-$1,234.56</td>' in page
    with pytest.raises(ReportInputError, match=r"metric_formats\[gain\]"):
        small_input(metric_formats={"gain": MetricFormat.PERCENT})
    with pytest.raises(ReportInputError, match=r"metrics\[final_equity\]: format usd"):
        small_input(metrics={"final_equity": "a lot"})
    with pytest.raises(ReportInputError, match=r"metrics\[trades\]: format count"):
        small_input(metrics={"trades": 2.5})


def test_configuration_is_shown_and_screened(page: str) -> None:
    section = page[page.index('id="config-heading"') :]
    assert "ops.desk@example.org" not in page
    assert "reach me at [REDACTED:email]" in section
    assert "the privacy screen redacted more (1 email)" in section
    assert "<caption>Configuration values</caption>" in section
    assert (
        '<th scope="row"><code>profile.max_position_usd</code></th><td><code>10</code>' in section
    )
    assert "<code>symbols</code></th><td><code>[&#34;BTC/USDT&#34;, &#34;ETH/USDT&#34;]" in section
    assert '"stop_loss": 0.02' in section.replace("&#34;", '"')


def test_headings_and_captions() -> None:
    page = render_report(small_input())
    for heading in ("Metrics", "Equity and drawdown", "Monthly returns", "Trades", "Configuration"):
        assert re.search(rf"<h2 id=\"[a-z]+-heading\">{heading}</h2>", page)
    assert '<h3 id="prices-1">BTC/USDT</h3>' in page
    # Metrics, monthly returns, trades, configuration.
    assert page.count("<caption>") == 4
    assert '<html lang="en">' in page


def test_curve_thinning_keeps_every_extreme() -> None:
    rng = np.random.default_rng(7)
    values = np.cumsum(rng.normal(0.0, 1.0, 100_003))
    kept = minmax_indices(values, 5_000)
    assert kept.size <= 5_000
    assert kept[0] == 0
    assert kept[-1] == values.size - 1
    assert values[kept].min() == values.min()
    assert values[kept].max() == values.max()
    # Every run of points keeps its own lowest and highest point.
    width = -(-values.size // ((5_000 - 2) // 2))
    for start in range(0, values.size, width * 97):
        run = values[start : start + width]
        assert start + int(run.argmin()) in kept
        assert start + int(run.argmax()) in kept


def test_long_equity_curve_keeps_its_deepest_drawdown() -> None:
    count = 30_000
    timestamps = JAN_1_2024 + np.arange(count, dtype=np.int64) * HOUR_MS
    equity = np.full(count, 10_000.0)
    equity[12_345] = 6_000.0  # one hour 40 % down, easy to lose when thinning naively
    curve = EquityCurve(timestamps, equity)
    data = small_input(
        equity=curve,
        buy_and_hold=curve,
        candles={"BTC/USDT": synthetic_candles(10, seed=4)},
        trades=[],
    )
    traces = chart_specs(render_report(data))["chart-equity"]["figure"]["data"]
    drawdown = next(t for t in traces if t["name"] == "Strategy drawdown")
    values = _values(drawdown["y"])
    assert len(values) <= 5_000
    assert values.min() == pytest.approx(-0.4)


def _values(encoded: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A trace's numbers, which Plotly writes as base64 typed arrays."""
    if isinstance(encoded, list):
        return np.array(encoded, dtype=np.float64)
    import base64

    assert encoded["dtype"] == "f8"
    return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=np.float64)


def test_candles_merge_into_daily_candles() -> None:
    candles = synthetic_candles(24 * 10 + 5, seed=5, start_ms=JAN_1_2024 + 3 * HOUR_MS)
    chart = aggregate_candles(candles, max_points=20)
    assert chart.merged_to == "daily"
    merged = chart.candles
    # The first day starts at 03:00 (21 candles), then 9 whole days, then 8 candles.
    assert len(merged) == 11
    assert merged.timestamp_ms[0] == JAN_1_2024
    for day in range(11):
        start = JAN_1_2024 + day * DAY_MS
        inside = (candles.timestamp_ms >= start) & (candles.timestamp_ms < start + DAY_MS)
        assert merged.timestamp_ms[day] == start
        assert merged.open[day] == candles.open[inside][0]
        assert merged.close[day] == candles.close[inside][-1]
        assert merged.high[day] == candles.high[inside].max()
        assert merged.low[day] == candles.low[inside].min()
    assert aggregate_candles(candles, max_points=500).merged_to is None


def test_large_report_stays_small_and_fast() -> None:
    symbols = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
    per_symbol = 21_804
    candles = {
        symbol: synthetic_candles(per_symbol, seed=10 + i) for i, symbol in enumerate(symbols)
    }
    btc = candles["BTC/USDT"]
    trades = [
        trade(symbol, candles[symbol], start, start + 7)
        for symbol in symbols
        for start in range(50, per_symbol - 10, 400)
    ]
    equity = 10_000.0 * np.exp(np.cumsum(np.random.default_rng(9).normal(0, 0.002, per_symbol)))
    data = small_input(
        equity=EquityCurve(btc.timestamp_ms, equity),
        buy_and_hold=EquityCurve(btc.timestamp_ms, 10_000.0 * btc.close / btc.close[0]),
        candles=candles,
        trades=trades,
    )
    started = time.perf_counter()
    page = render_report(data)
    elapsed = time.perf_counter() - started
    size = len(page.encode())
    print(f"\n4 x {per_symbol} candles, {len(trades)} trades: {size:,} bytes in {elapsed:.2f} s")
    assert sum(len(c) for c in candles.values()) == 87_216
    assert size < 10_000_000
    assert page.count("21,804 candles merged into 909 daily candles") == 4
    assert elapsed < 30.0


def test_write_report_is_atomic_and_readable(tmp_path: Path) -> None:
    data = small_input()
    target = tmp_path / "report.html"
    target.write_text("an older report")
    assert write_report(data, target) == target
    assert target.read_text(encoding="utf-8") == render_report(data)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    first = target.read_bytes()
    write_report(data, target)
    assert target.read_bytes() == first


def test_write_report_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportDestinationError, match="does not exist") as raised:
        write_report(small_input(), tmp_path / "missing" / "report.html")
    assert isinstance(raised.value, InputError)
    assert raised.value.exit_code == 2
    with pytest.raises(ReportDestinationError, match="is a folder"):
        write_report(small_input(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_inconsistent_input_is_refused() -> None:
    btc = synthetic_candles(20, seed=6)
    with pytest.raises(ReportInputError, match="same timestamps"):
        small_input(buy_and_hold=EquityCurve(btc.timestamp_ms[:10], np.ones(10)))
    with pytest.raises(ReportInputError, match="has no candles"):
        small_input(trades=[trade("XRP/USDT", btc, 1, 2)])
    with pytest.raises(ReportInputError, match=r"equity\[3\]: must be positive"):
        EquityCurve(btc.timestamp_ms[:5], np.array([1.0, 2.0, 3.0, 0.0, 1.0]))
    with pytest.raises(ReportInputError, match=r"timestamp_ms\[2\]: timestamps must increase"):
        SymbolCandles(np.array([1, 2, 2]), *([np.ones(3)] * 4))
    with pytest.raises(ReportInputError, match="exit_ms 1 is before entry_ms 5"):
        trade("BTC/USDT", btc, 1, 2, entry_ms=5, exit_ms=1)
    with pytest.raises(ReportInputError, match="trade side"):
        trade("BTC/USDT", btc, 1, 2, side="long")
    with pytest.raises(ReportInputError, match=r"config\.when: expected a JSON value"):
        small_input(config={"when": object()})
    with pytest.raises(ReportInputError, match="generated_from"):
        small_input(generated_from=" ")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no headless Chromium at /usr/bin/chromium")
def test_renders_in_chromium_without_console_errors(tmp_path: Path) -> None:
    target = write_report(small_input(), tmp_path / "report.html")
    profile = tmp_path / "profile"
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            target.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    # Plotly marks each element it has drawn a chart in; the page has four charts.
    drawn = re.findall(r'class="chart js-plotly-plot"', result.stdout)
    assert len(drawn) == 4
    assert result.stdout.count('class="main-svg"') >= 4
