"""``sigmax analyze``, ``sigmax why`` and ``sigmax history``: decide, explain, look back.

``analyze`` runs the seven agents on one symbol at one moment through the :class:`SIGMAX`
facade, which persists the decision in SIGMAX_HOME's database before it is shown. It is an
ad-hoc analysis: made at a running replay's market time (or ``--at``, or the end of the data),
marked ``ad_hoc``, acting on nothing. ``why`` shows the last decision a run recorded for a
symbol with the same rendering; ``history`` lists a run's decisions; both show the ad-hoc
analyses instead with ``--ad-hoc``.
Exit codes: 0 success, 1 runtime failure, 2 bad input or configuration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sigmax.cli.data_cmd import DataPathOption
from sigmax.domain.candles import Timeframe, datetime_to_ms, ms_to_iso
from sigmax.domain.decisions import format_value
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError, SigmaxError

if TYPE_CHECKING:
    from sigmax.engine.decision_log import StoredDecisionLog
    from sigmax.engine.facade import SIGMAX

# The engine, agents and storage are imported inside the commands that use them, so that
# `sigmax version` and `sigmax --help` do not pay for loading SQLAlchemy, Alembic and TA-Lib.

#: Width used when output goes to a pipe or file, where the terminal's width is unknown.
PLAIN_OUTPUT_WIDTH: Final = 100
#: Most decisions ``history`` lists (the same bound as StoredDecisionLog.history).
MAX_HISTORY_LIMIT: Final = 1000

SymbolArgument = Annotated[
    str, typer.Argument(help="Market such as BTC/USDT (or BTC-USDT).", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help=(
            "Decide as of this ISO-8601 moment with a time zone, e.g. 2023-06-01T12:00:00Z or "
            "2023-06-01T14:00:00+02:00; only candles closed by then are used. "
            "Default: when the newest candle in the data closed."
        ),
        show_default=False,
    ),
]
TimeframeOption = Annotated[
    str | None,
    typer.Option(
        "--timeframe",
        help=(
            "Candle timeframe; must be the analyzer's primary timeframe "
            "(agents.yaml: analyzer.timeframes.primary, 1h by default)."
        ),
        show_default=False,
    ),
]
AdHocOption = Annotated[
    bool,
    typer.Option(
        "--ad-hoc",
        help="The ad-hoc analyses (sigmax analyze, POST /api/analyze), not a run's decisions.",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Risk profile (conservative, balanced, aggressive or a file in profiles/); "
        "wins over SIGMAX_PROFILE.",
        show_default=False,
    ),
]

ResearchOption = Annotated[
    Path | None,
    typer.Option(
        "--research",
        help="A dated research file (JSON lines: published_at, source, title, url, symbols); "
        "each decision reads only the items published by its moment. See docs/RESEARCH.md.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]

_ACTION_STYLES: Final = {"BUY": "bold green", "SELL": "bold red", "HOLD": "bold yellow"}


# --- commands -----------------------------------------------------------------------------------


def analyze_command(
    ctx: typer.Context,
    symbol: SymbolArgument,
    at: AtOption = None,
    timeframe: TimeframeOption = None,
    profile: ProfileOption = None,
    data: DataPathOption = None,
    as_json: JsonOption = False,
    research: ResearchOption = None,
) -> None:
    """Run the seven agents on SYMBOL, record the decision and explain it."""
    from sigmax.engine.facade import SIGMAX

    with exit_on_error():
        wanted = _symbol_argument(symbol)
        at_ms = None if at is None else parse_moment(at)
        wanted_timeframe = _timeframe_option(timeframe)
        document = asyncio.run(
            _analyze(
                wanted,
                at,
                at_ms,
                wanted_timeframe,
                SIGMAX(
                    mode="paper",
                    profile=profile,
                    data=data,
                    console_log=False,
                    log_json=bool(getattr(ctx.obj, "log_json", False)),
                    log_level=getattr(ctx.obj, "log_level", None),
                    research=research,
                ),
            )
        )
    if as_json:
        typer.echo(json.dumps(document))
        return
    render_decision(document, _stdout(), title="Ad-hoc analysis")


def why_command(
    symbol: SymbolArgument, ad_hoc: AdHocOption = False, as_json: JsonOption = False
) -> None:
    """Explain the last decision a run recorded for SYMBOL (--ad-hoc: the last analysis)."""
    with exit_on_error():
        wanted = _symbol_argument(symbol)
        with _decision_log() as decisions:
            document = decisions.latest(wanted, source="ad_hoc" if ad_hoc else "run")
            other = None if document is not None or ad_hoc else decisions.latest(wanted, "ad_hoc")
        if document is None:
            raise InputError(_nothing_recorded(wanted, ad_hoc, other is not None))
    if as_json:
        typer.echo(json.dumps(document))
        return
    title = "Last ad-hoc analysis" if ad_hoc else "Last recorded decision"
    render_decision(document, _stdout(), title=title)


def _nothing_recorded(symbol: str, ad_hoc: bool, analyses_exist: bool) -> str:
    if ad_hoc:
        return f"no ad-hoc analysis of {symbol} recorded yet; run 'sigmax analyze {symbol}'"
    if analyses_exist:
        return (
            f"no run has recorded a decision for {symbol} yet; its ad-hoc analyses are "
            f"shown with 'sigmax why {symbol} --ad-hoc'"
        )
    return (
        f"no decision recorded for {symbol} yet; start a run with 'sigmax run' or analyse "
        f"it now with 'sigmax analyze {symbol}'"
    )


def history_command(
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", help="Only this market, e.g. BTC/USDT.", show_default=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_HISTORY_LIMIT, help="How many decisions.")
    ] = 20,
    today: Annotated[
        bool,
        typer.Option(
            "--today",
            help="Only today's decisions (UTC): the market day of a replay, else the calendar day.",
        ),
    ] = False,
    ad_hoc: AdHocOption = False,
    as_json: JsonOption = False,
) -> None:
    """List the decisions runs recorded, newest first (--ad-hoc: the ad-hoc analyses)."""
    from sigmax.engine.adhoc import today_window
    from sigmax.engine.decision_log import wall_clock_ms

    with exit_on_error():
        wanted = None if symbol is None else _symbol_option(symbol)
        with _decision_log() as decisions:
            since_ms = until_ms = None
            if today:
                since_ms, until_ms = today_window(decisions.db, wall_clock_ms())
            documents = decisions.history(
                wanted,
                limit,
                source="ad_hoc" if ad_hoc else "run",
                since_ms=since_ms,
                until_ms=until_ms,
            )
    if as_json:
        typer.echo(json.dumps(documents))
        return
    day = None if since_ms is None else ms_to_iso(since_ms)[:10]
    render_history(documents, wanted, _stdout(), ad_hoc=ad_hoc, day=day)


# --- work ---------------------------------------------------------------------------------------


async def _analyze(
    symbol: str,
    at_text: str | None,
    at_ms: int | None,
    timeframe: Timeframe | None,
    sigmax: SIGMAX,
) -> dict[str, Any]:
    from sigmax.agents.market_view import InsufficientDataError

    await sigmax.initialize()
    try:
        primary = sigmax.settings.agents.analyzer.timeframes.primary
        if timeframe is not None and timeframe != primary:
            raise InputError(
                f"--timeframe {timeframe.value}: decisions are made on the analyzer's primary "
                f"timeframe, which is {primary.value} (agents.yaml: "
                f"analyzer.timeframes.primary); pass --timeframe {primary.value} or change it there"
            )
        history = sigmax.history(symbol)
        portfolio = None
        if at_ms is None:
            # While a replay runs, "now" is its market time, with its account.
            moment = sigmax.run_moment()
            if moment is not None:
                at_ms, portfolio = moment.at_ms, moment.portfolio
                at_text = moment.describe()
        if at_ms is not None:
            # A candle that would have closed by then is missing from the data: deciding
            # anyway would present stale prices as current.
            next_close_ms = history.latest_decision_ms + history.timeframe.ms
            if at_ms >= next_close_ms:
                raise InputError(
                    f"--at {at_text}: the data for {symbol} ends with the candle that closed at "
                    f"{ms_to_iso(history.latest_decision_ms)}; --at must be before "
                    f"{ms_to_iso(next_close_ms)}, when the next candle would have closed"
                )
        try:
            record = await sigmax.analyze(symbol, at_ms, portfolio)
        except InsufficientDataError as error:
            earliest = ms_to_iso(int(history.decision_moments()[0]))
            raise InputError(
                f"--at {at_text}: {error} (the earliest possible --at is {earliest})"
            ) from None
        # Recorded first; the optional LLM text is attached to the stored record after.
        document = record.to_dict()
        llm = await sigmax.llm_reasoning(record)
        if llm is not None:
            document["llm"] = llm
        return document
    finally:
        await sigmax.stop()


@contextmanager
def _decision_log() -> Iterator[StoredDecisionLog]:
    """The decision history in SIGMAX_HOME's database (or DATABASE_URL / POSTGRES_URL)."""
    from sigmax.config import load_settings
    from sigmax.engine.decision_log import StoredDecisionLog
    from sigmax.storage import Database

    settings = load_settings()
    database = Database.open(settings.effective_database_url())
    try:
        yield StoredDecisionLog(database, max_ad_hoc=settings.decision_history.max_entries)
    finally:
        database.dispose()


def parse_moment(text: str, option: str = "--at") -> int:
    """An ISO-8601 time with a zone (``Z`` or ``+02:00``) as ms since the epoch."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{option} {text!r}: not an ISO-8601 time; write e.g. 2023-06-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A time without a zone means different moments on different machines.
        raise InputError(
            f"{option} {text!r}: the time has no time zone; end it with Z for UTC "
            "(2023-06-01T12:00:00Z) or an offset such as +02:00"
        )
    return datetime_to_ms(moment)


def _symbol_argument(text: str) -> str:
    try:
        return str(Symbol.parse(text))
    except ValueError as error:
        raise InputError(f"SYMBOL: {error}") from None


def _symbol_option(text: str) -> str:
    try:
        return str(Symbol.parse(text))
    except ValueError as error:
        raise InputError(f"--symbol: {error}") from None


def _timeframe_option(text: str | None) -> Timeframe | None:
    try:
        return None if text is None else Timeframe.parse(text)
    except ValueError as error:
        raise InputError(f"--timeframe: {error}") from None


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Print a typed error and exit with its code, the same under ``main()`` and in tests."""
    try:
        yield
    except SigmaxError as error:
        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(error.exit_code) from None


# --- rendering ----------------------------------------------------------------------------------


def render_decision(
    document: Mapping[str, Any], console: Console, *, title: str = "Decision"
) -> None:
    """Print a decision record (``DecisionRecord.to_dict()`` or its stored copy) for people."""
    reasoning: Mapping[str, str] = document.get("reasoning") or {}
    console.print(_header(document, title))
    console.print(_agents_table(document.get("agents") or []))
    sections = [
        ("Decision", reasoning.get("decision")),
        ("Bull argument", reasoning.get("bull_argument")),
        ("Bear argument", reasoning.get("bear_argument")),
    ]
    for heading, text in sections:
        if text:
            console.print(_text_panel(heading, text))
    debate = document.get("debate") or []
    if debate:
        console.print(_debate_panel(debate))
    for heading, text in (
        ("Risk assessment", reasoning.get("risk_assessment")),
        ("Technical analysis", reasoning.get("technical_analysis")),
        ("Sentiment", reasoning.get("sentiment")),
        ("Learned policy", _policy_argument(document)),
    ):
        if text:
            console.print(_text_panel(heading, text))
    items = _research_items(document)
    if items:
        console.print(_items_table(items))
    llm: Mapping[str, Any] | None = document.get("llm")
    if llm:
        console.print(_llm_panel(llm))
    indicators: Mapping[str, float | None] = document.get("indicators") or {}
    if indicators:
        console.print(_indicator_table(indicators, str(document.get("timeframe", ""))))


def render_history(
    documents: Sequence[Mapping[str, Any]],
    symbol: str | None,
    console: Console,
    *,
    ad_hoc: bool = False,
    day: str | None = None,
) -> None:
    """Print recorded decisions as a table, newest first."""
    what = "ad-hoc analyses" if ad_hoc else "decisions"
    where = (f" for {symbol}" if symbol else "") + (f" on {day}" if day else "")
    if not documents:
        console.print(f"No {what} recorded{where} yet.", highlight=False, markup=False)
        return
    table = Table(
        title=f"Recorded {what}{where}, newest first",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    for name in ("confidence", "size USD", "score"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("profile", no_wrap=True)
    for document in documents:
        action = str(document.get("decision", "?"))
        table.add_row(
            str(document.get("timestamp", "?")),
            str(document.get("symbol", "?")),
            Text(action, style=_ACTION_STYLES.get(action, "")),
            _number(document.get("confidence"), 3),
            _number(document.get("size_usd"), 2),
            _number(document.get("score"), 3),
            str(document.get("profile", "?")),
        )
    console.print(table)


def _header(document: Mapping[str, Any], title: str) -> Panel:
    action = str(document.get("decision", "?"))
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column(no_wrap=True)
    timeframe = document.get("timeframe", "?")
    rows: list[tuple[str, str | Text, str, str | Text]] = [
        ("symbol", str(document.get("symbol", "?")), "profile", str(document.get("profile", "?"))),
        (
            "decision",
            Text(action, style=_ACTION_STYLES.get(action, "bold")),
            "confidence",
            _number(document.get("confidence"), 3),
        ),
        (
            "size",
            f"{_number(document.get('size_usd'), 2)} USD",
            "score",
            _number(document.get("score"), 3),
        ),
        (
            "stop-loss",
            _price(document.get("stop_loss")),
            "take-profit",
            _price(document.get("take_profit")),
        ),
        ("price", _price(document.get("price")), "timeframe", str(timeframe)),
        (
            "decision time",
            str(document.get("timestamp", "?")),
            "data until",
            str(document.get("data_until", "?")),
        ),
        (
            "source",
            "ad-hoc analysis" if document.get("source") == "ad_hoc" else "run",
            "explained",
            "yes" if document.get("explained", True) else "no: numbers only (full-speed run)",
        ),
    ]
    for label_a, value_a, label_b, value_b in rows:
        grid.add_row(Text(label_a, style="dim"), value_a, Text(label_b, style="dim"), value_b)
    note = Text(
        f"data until = open time of the last {timeframe} candle that had closed at the "
        "decision time; later candles were not visible to the agents.",
        style="dim",
    )
    return Panel(
        Group(grid, note), title=f"{title}: {document.get('symbol', '?')}", title_align="left"
    )


def _agents_table(agents: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Agents", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("agent", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for name in ("score", "confidence", "latency ms"):
        table.add_column(name, justify="right", no_wrap=True)
    for agent in agents:
        status = str(agent.get("status", "?"))
        table.add_row(
            str(agent.get("name", "?")),
            Text(status, style="" if status == "ok" else "bold yellow"),
            _number(agent.get("score"), 3),
            _number(agent.get("confidence"), 3),
            _number(agent.get("latency_ms"), 3),
        )
    return table


def _policy_argument(document: Mapping[str, Any]) -> str | None:
    """The promoted RL policy's vote (its action and probability), when it voted."""
    for agent in document.get("agents") or []:
        if agent.get("name") == "rl":
            return str(agent.get("argument", ""))
    return None


def _research_items(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for agent in document.get("agents") or []:
        if agent.get("name") == "researcher":
            items = (agent.get("details") or {}).get("items")
            return list(items) if isinstance(items, list) else []
    return []


def _items_table(items: Sequence[Mapping[str, Any]]) -> Table:
    """The research items the sentiment counted: time, source, score, title and link."""
    table = Table(title=f"Research evidence ({len(items)} items)", title_justify="left")
    for name, justify in (("published", "left"), ("source", "left"), ("score", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("title / link", overflow="fold")
    for item in items:
        table.add_row(
            str(item.get("published_at", "")),
            escape(str(item.get("source", ""))),
            _number(item.get("score"), 3),
            escape(f"{item.get('title', '')}\n{item.get('url', '')}".strip()),
        )
    return table


def _llm_panel(llm: Mapping[str, Any]) -> Panel:
    status = str(llm.get("status"))
    head = f"{llm.get('provider')} {llm.get('model')}: {status}"
    if status in ("ok", "cached"):
        body = "\n\n".join(
            f"{label}: {llm.get(key, '')}"
            for label, key in (
                ("Summary", "summary"),
                ("Bull", "bull_argument"),
                ("Bear", "bear_argument"),
            )
        )
    else:
        body = str(llm.get("reason", ""))
    if llm.get("cost_usd") is not None:
        head += f" (cost {llm['cost_usd']} USD)"
    return Panel(escape(body), title=escape(f"LLM reasoning, {head}"), title_align="left")


def _text_panel(heading: str, text: str) -> Panel:
    return Panel(Text(text), title=heading, title_align="left", box=box.ROUNDED)


def _debate_panel(rounds: Sequence[Mapping[str, Any]]) -> Panel:
    parts: list[Text] = []
    for item in rounds:
        number = item.get("round", "?")
        parts.append(Text.assemble((f"Round {number} bull: ", "green"), str(item.get("bull", ""))))
        parts.append(Text.assemble((f"Round {number} bear: ", "red"), str(item.get("bear", ""))))
    return Panel(Group(*parts), title="Debate", title_align="left", box=box.ROUNDED)


def _indicator_table(indicators: Mapping[str, float | None], timeframe: str) -> Table:
    table = Table(
        title=f"Indicators ({timeframe}, last closed candle)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    names = list(indicators)
    # Two name/value pairs per row keep the table short on a 100-column terminal.
    half = (len(names) + 1) // 2
    for _ in range(2):
        table.add_column("indicator", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
    rights: list[str | None] = [*names[half:], None][:half]
    for left, right in zip(names[:half], rights, strict=True):
        row = [left, _price(indicators[left])]
        row += ["", ""] if right is None else [right, _price(indicators[right])]
        table.add_row(*row)
    return table


def _number(value: object, decimals: int) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.{decimals}f}"
    return "-"


def _price(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_value(float(value))
    return "-"


def _stdout() -> Console:
    console = Console()
    if not console.is_terminal:
        # Rich would otherwise assume 80 columns when writing to a pipe or file.
        console = Console(width=PLAIN_OUTPUT_WIDTH)
    return console
