"""The backtest report: one self-contained HTML file.

``render_report(ReportInput)`` gives the page; ``write_report(data, path)`` writes it atomically.
The page needs no network: plotly.js is embedded once, inline, and every chart is a JSON spec in
the page. It shows the metrics, the equity and drawdown curves against buy-and-hold, a heatmap of
monthly returns, each symbol's candles with an entry and an exit marker per trade, the trades
with their decision explanations, and the configuration.

The same input always gives the same bytes: no wall-clock time, fixed element ids, and Plotly's
JSON written by the standard json module. Every text is HTML-escaped by the template (autoescape
on), and the configuration, the trade texts, the title and text metrics pass the privacy screen.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import jinja2
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from sigmax.backtest.report_charts import (
    MAX_CANDLES_PER_SYMBOL,
    MAX_CURVE_POINTS,
    MonthlyReturn,
    aggregate_candles,
    candle_figure,
    equity_figure,
    monthly_figure,
    monthly_returns,
)
from sigmax.backtest.report_format import (
    ScreenedText,
    config_rows,
    format_metric,
    format_price,
    format_time,
    format_usd,
)
from sigmax.backtest.report_model import (
    STANDARD_METRIC_FORMATS,
    STANDARD_METRIC_LABELS,
    EquityCurve,
    JsonValue,
    MetricFormat,
    ReportDestinationError,
    ReportInput,
    ReportInputError,
    ReportTrade,
    SymbolCandles,
    TradeSide,
)

__all__ = [
    "MAX_CANDLES_PER_SYMBOL",
    "MAX_CURVE_POINTS",
    "STANDARD_METRIC_FORMATS",
    "STANDARD_METRIC_LABELS",
    "EquityCurve",
    "JsonValue",
    "MetricFormat",
    "MonthlyReturn",
    "ReportDestinationError",
    "ReportInput",
    "ReportInputError",
    "ReportTrade",
    "SymbolCandles",
    "TradeSide",
    "monthly_returns",
    "render_report",
    "write_report",
]

_TEMPLATE = "report.html.j2"
_SUMMARY_LENGTH = 90


@cache
def html_template(package: str, name: str) -> jinja2.Template:
    """The Jinja template ``templates/NAME`` of ``package``, autoescaped, strict about undefined
    names (a report's templates: the backtest's and the optimisation study's)."""
    source = files(package).joinpath("templates", name).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.from_string(source)


@cache
def plotly_js() -> str:
    """plotly.js, to inline in a self-contained report."""
    bundle = str(get_plotlyjs())
    # The bundle goes into a <script> element as it is; a closing tag inside would end it early.
    if "</script" in bundle.lower():
        raise RuntimeError(
            "the installed plotly.js bundle contains '</script' and cannot be inlined"
        )
    return bundle


@dataclass(frozen=True, slots=True)
class _TradeRow:
    number: int
    symbol: str
    side: str
    entry_time: str
    entry_price: str
    exit_time: str
    exit_price: str
    qty: str
    pnl: str
    fees: str
    css: str
    exit_reason: str
    summary: str
    explanation: str


@dataclass(frozen=True, slots=True)
class _CandleSection:
    symbol: str
    anchor: str
    div_id: str
    note: str
    spec: str


@dataclass(frozen=True, slots=True)
class _MonthRow:
    label: str
    value: str
    css: str


def _summary(explanation: str) -> str:
    """The explanation's first non-empty line, cut to fit a table cell."""
    first = next((line.strip() for line in explanation.splitlines() if line.strip()), "")
    if len(first) > _SUMMARY_LENGTH:
        return first[: _SUMMARY_LENGTH - 1].rstrip() + "…"
    return first


def _sign_class(value: float) -> str:
    return "pos" if value > 0 else "neg" if value < 0 else ""


def _screened(trade: ReportTrade, screen: ScreenedText) -> ReportTrade:
    """The trade with its free texts through the privacy screen (once: the screen counts)."""
    return ReportTrade(
        symbol=trade.symbol,
        side=trade.side,
        entry_ms=trade.entry_ms,
        entry_price=trade.entry_price,
        exit_ms=trade.exit_ms,
        exit_price=trade.exit_price,
        qty=trade.qty,
        pnl=trade.pnl,
        fees=trade.fees,
        exit_reason=screen.text(trade.exit_reason),
        explanation=screen.text(trade.explanation),
    )


def _trade_rows(trades: list[tuple[int, ReportTrade]]) -> list[_TradeRow]:
    return [
        _TradeRow(
            number=number,
            symbol=trade.symbol,
            side=trade.side.value,
            entry_time=format_time(trade.entry_ms),
            entry_price=format_price(trade.entry_price),
            exit_time=format_time(trade.exit_ms),
            exit_price=format_price(trade.exit_price),
            qty=format_price(trade.qty),
            pnl=format_usd(trade.pnl),
            fees=format_usd(trade.fees),
            css=_sign_class(trade.pnl),
            exit_reason=trade.exit_reason,
            summary=_summary(trade.explanation),
            explanation=trade.explanation,
        )
        for number, trade in trades
    ]


def _candle_sections(
    data: ReportInput, numbered: list[tuple[int, ReportTrade]]
) -> list[_CandleSection]:
    sections = []
    for index, (symbol, candles) in enumerate(data.candles.items(), start=1):
        chart = aggregate_candles(candles)
        own = [(number, trade) for number, trade in numbered if trade.symbol == symbol]
        shown = len(chart.candles)
        if chart.merged_to is None:
            drawn = f"{shown:,} candles"
        else:
            drawn = (
                f"{chart.source_count:,} candles merged into {shown:,} {chart.merged_to} candles "
                "for display (each opens at its period's start)"
            )
        if own:
            note = (
                f"{drawn}; {len(own)} trade{'' if len(own) == 1 else 's'}: entries ▲ long / "
                "▼ short, exits ✕, at the fills' real times and prices."
            )
        else:
            note = f"{drawn}; no trades."
        sections.append(
            _CandleSection(
                symbol=symbol,
                anchor=f"prices-{index}",
                div_id=f"chart-candles-{index}",
                note=note,
                spec=candle_figure(symbol, chart, own),
            )
        )
    return sections


def _month_rows(months: list[MonthlyReturn]) -> list[_MonthRow]:
    return [
        _MonthRow(
            label=f"{month.year}-{month.month:02d}",
            value=f"{month.value * 100:,.2f} %",
            css=_sign_class(month.value),
        )
        for month in months
    ]


def render_report(data: ReportInput) -> str:
    """The report as one HTML page (plotly.js inline; about 5 MB plus the data)."""
    screen = ScreenedText()
    numbered = [(number, _screened(trade, screen)) for number, trade in enumerate(data.trades, 1)]
    months = monthly_returns(data.equity)
    formats = data.formats()
    metrics = [
        (
            screen.text(STANDARD_METRIC_LABELS.get(name, name)),
            screen.text(format_metric(value, formats[name])),
        )
        for name, value in data.metrics.items()
    ]
    config = screen.json(dict(data.config))
    context = {
        "title": screen.text(data.title),
        "generated_from": data.generated_from,
        "plotly_js": plotly_js(),
        "metrics": metrics,
        "equity_points": f"{len(data.equity):,}",
        "equity_thinned": len(data.equity) > MAX_CURVE_POINTS,
        "equity_spec": equity_figure(data.equity, data.buy_and_hold),
        "monthly_spec": monthly_figure(months),
        "monthly_rows": _month_rows(months),
        "candle_charts": _candle_sections(data, numbered),
        "trades": _trade_rows(numbered),
        "config_rows": config_rows(config),
        "config_json": json.dumps(config, indent=2, ensure_ascii=False, allow_nan=False),
    }
    # Last, once every text has been screened.
    context["redactions"] = screen.summary()
    return html_template("sigmax.backtest", _TEMPLATE).render(context)


def write_report(data: ReportInput, path: Path) -> Path:
    """Render the report and write it to ``path`` atomically (a temporary file in the same
    folder, then a rename), so a reader never sees half a report. The folder must exist."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise ReportDestinationError(
            f"{parent}: the report's folder does not exist; create it first"
        )
    if path.is_dir():
        raise ReportDestinationError(f"{path}: is a folder; give a file name for the report")
    page = render_report(data)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as error:
        raise ReportDestinationError(
            f"{parent}: cannot write the report there ({error})"
        ) from error
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(page)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file readable by its owner only; a report is meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ReportDestinationError(f"{path}: cannot write the report ({error})") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
