"""The arbitrage backtest as one self-contained HTML page (plotly.js inline, no network).

For each market quoted on two venues, the spread between them over time, ``(B / A - 1) x 100``,
with the fee band (inside it no trade earns the minimum profit after every cost) and a marker at
the start of each opportunity; then the summary and the table of opportunities. The same input
gives the same bytes.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from sigmax.arbitrage.backtest import ArbitrageBacktest, SpreadSeries
from sigmax.backtest.report import plotly_js
from sigmax.errors import SigmaxError


def _figure(result: ArbitrageBacktest, spread: SpreadSeries) -> dict[str, Any]:
    times = (result.grid_ms + result.timeframe_ms).astype("datetime64[ms]").astype(str)
    values = spread.spread_pct
    finite = np.isfinite(values)
    x = [str(t) for t in times[finite]]
    y = [round(float(v), 6) for v in values[finite]]
    lower, upper = spread.band_pct
    starts_x: list[str] = []
    starts_y: list[float] = []
    labels: list[str] = []
    for opportunity in result.opportunities:
        if opportunity.kind != "cross_exchange" or opportunity.legs[0].market != spread.market:
            continue
        venues = {leg.exchange for leg in opportunity.legs}
        if venues != {spread.venue_a, spread.venue_b}:
            continue
        index = int((opportunity.start_ms - result.grid_ms[0]) // result.timeframe_ms)
        starts_x.append(str(times[index]))
        starts_y.append(round(float(values[index]), 6))
        labels.append(
            f"buy {opportunity.legs[0].exchange}, sell {opportunity.legs[1].exchange}: "
            f"net {opportunity.net_pct:.4f} %, {opportunity.duration_s} s"
        )
    band = {"type": "scatter", "mode": "lines", "hoverinfo": "skip", "showlegend": True}
    return {
        "data": [
            {
                **band,
                "x": [x[0], x[-1]] if x else [],
                "y": [upper, upper],
                "name": f"fee band (+{upper:.3f} %)",
                "line": {"color": "#c0392b", "dash": "dash"},
            },
            {
                **band,
                "x": [x[0], x[-1]] if x else [],
                "y": [lower, lower],
                "name": f"fee band ({lower:.3f} %)",
                "line": {"color": "#c0392b", "dash": "dash"},
            },
            {
                "type": "scattergl",
                "mode": "lines",
                "x": x,
                "y": y,
                "name": f"{spread.venue_b} / {spread.venue_a} - 1 (%)",
                "line": {"color": "#2c3e50", "width": 1},
            },
            {
                "type": "scatter",
                "mode": "markers",
                "x": starts_x,
                "y": starts_y,
                "text": labels,
                "name": f"opportunities ({len(starts_x)})",
                "marker": {"color": "#27ae60", "size": 8, "symbol": "triangle-up"},
            },
        ],
        "layout": {
            "title": {"text": f"{spread.market}: {spread.venue_b} against {spread.venue_a}"},
            "xaxis": {"title": {"text": "time (UTC, candle close)"}},
            "yaxis": {"title": {"text": "spread (%)"}},
            "height": 420,
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        },
    }


def render_report(result: ArbitrageBacktest) -> str:
    """The page as text."""
    document = result.to_dict()
    figures = [_figure(result, spread) for spread in result.spreads]
    charts = "\n".join(f'<div id="spread-{i}" class="chart"></div>' for i in range(len(figures)))
    scripts = "\n".join(
        f"Plotly.newPlot('spread-{i}', {_json(f['data'])}, {_json(f['layout'])}, "
        "{responsive: true, displaylogo: false});"
        for i, f in enumerate(figures)
    )
    summary = document["summary"]
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(cell))}</td>"
            for cell in (
                o["kind"],
                " → ".join(
                    f"{leg['side']} {leg['market']} @{leg['exchange']}" for leg in o["legs"]
                ),
                o["start"],
                o["duration_s"],
                o["gross_pct"],
                o["net_pct"],
                o["max_size_usd"],
                o["profit_usd"],
            )
        )
        + "</tr>"
        for o in document["opportunities"]
    )
    markets = ", ".join(
        f"{m['exchange']} {m['market']} ({m['quoted']} of {m['candles']} candles quoted)"
        for m in document["markets"]
    )
    settings = html.escape(json.dumps(document["settings"], sort_keys=True))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SIGMAX arbitrage backtest</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
.chart{{width:100%;max-width:1200px}}</style>
<script>{plotly_js()}</script></head><body>
<h1>Arbitrage backtest</h1>
<p>Window {html.escape(str(document["window"]["start"]))} to
{html.escape(str(document["window"]["end"]))}. Markets: {html.escape(markets)}.
Cycles checked: {document["cycles_checked"]}.</p>
<p><b>{summary["count"]}</b> opportunities ({summary["per_day"]} a day), total net profit
<b>{summary["total_profit_usd"]} USD</b> at {summary["size_usd"]} USD each.</p>
<p>Settings: <code>{settings}</code></p>
{charts}
<h2>Opportunities</h2>
<table><tr><th>kind</th><th>legs</th><th>start</th><th>duration (s)</th><th>gross %</th>
<th>net %</th><th>max size USD</th><th>profit USD</th></tr>
{rows}
</table>
<script>{scripts}</script>
</body></html>
"""


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def write_report(result: ArbitrageBacktest, path: Path) -> Path:
    """Write the page to ``path`` (its folder must exist)."""
    try:
        path.write_text(render_report(result), encoding="utf-8")
    except OSError as error:
        raise SigmaxError(f"--report {path}: cannot write the report ({error.strerror})") from None
    return path
