"""``sigmax bench api``: latency of the REST API while the engine replays.

A real ``sigmax run`` (a subprocess, its own temporary SIGMAX_HOME, the bundled data, a paced
replay slow enough to last the whole measurement, the API on a free port of 127.0.0.1) is
loaded over loopback with ``GET /api/status`` and ``GET /api/portfolio`` at a fixed OFFERED
rate each, over HTTP/1.1 keep-alive connections.

The timetable is fixed: request ``k`` is due at ``start + k / rate`` whatever the answers do.
A pool of workers, one per connection, sends each request at its due time; when every worker
is busy the next request leaves late, and since every latency is measured from the DUE time,
a server (or client) that falls behind shows in the figures instead of silently lowering the
offered rate (no coordinated omission). A step that cannot send everything by its deadline
fails and counts what it could not send.

The first step is the target rate (200 req/s per endpoint). If it meets the target (p99 at
most 20 ms, no error, no timeout) the rate doubles until a step does not; if it misses, the
rate halves until one does. The highest rate that passed is the highest sustained one.
The run is stopped with SIGINT afterwards, as an operator's Ctrl-C.

The client is aiohttp by default: on the reference machine httpx's AsyncClient spends about
1.5 ms of CPU per request in a closed loop against a server that answers instantly (aiohttp:
0.13 ms) and cannot offer 400 req/s from one core, so it would measure itself. ``httpx`` is
kept selectable to compare; ``client_cpu_pct`` says when the client is the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import aiohttp
import httpx

from sigmax.bench.machine import machine_info, temporary_home
from sigmax.bench.run_process import RunProcess, free_port, sigmax_run
from sigmax.errors import InputError

TARGET_P99_MS: Final = 20.0
DEFAULT_RATE: Final = 200.0
DEFAULT_SECONDS: Final = 10.0
DEFAULT_SPEED: Final = "20"
DEFAULT_MAX_RATE: Final = 6400.0
DEFAULT_MIN_RATE: Final = 1.0
ENDPOINTS: Final = ("/api/status", "/api/portfolio")
CLIENTS: Final = ("aiohttp", "httpx")
#: A request unanswered after this long is a timeout (50 times the p99 target).
REQUEST_TIMEOUT_S: Final = 1.0
#: Each step first runs this long at its rate, unmeasured, so the connections are open.
WARMUP_S: Final = 1.0
#: A step still sending after this many times its length stops; what is left is unsent.
_DEADLINE_FACTOR: Final = 2.0
#: Connections (so requests in flight) per request/s offered: enough to keep to the
#: timetable while answers take up to 50 ms, 2.5 times the target.
_CONNECTIONS_PER_RPS: Final = 0.05
_MIN_CONNECTIONS: Final = 8

Outcome = int | Literal["timeout", "error"]
Fetch = Callable[[str], Awaitable[Outcome]]


@dataclass
class EndpointLoad:
    """What one endpoint answered during one step: latencies from the due time."""

    path: str
    latencies_ms: list[float] = field(default_factory=list)
    #: How late the client itself sent each request (all workers busy, or its loop late).
    send_lags_ms: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    unsent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def record(self, outcome: Outcome, due: float, sent: float, finished: float) -> None:
        # Every request counts, a failed one with the time until it failed: none is dropped.
        self.latencies_ms.append((finished - due) * 1000.0)
        self.send_lags_ms.append(max(0.0, sent - due) * 1000.0)
        if outcome == 200:
            self.ok += 1
        elif outcome == "timeout":
            self.timeouts += 1
        else:
            self.errors += 1
            if isinstance(outcome, int):
                self.statuses[outcome] = self.statuses.get(outcome, 0) + 1

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        lags = sorted(self.send_lags_ms)
        return {
            "requests": len(ordered),
            "ok": self.ok,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "unsent": self.unsent,
            "p50_ms": _round(percentile(ordered, 0.50)),
            "p90_ms": _round(percentile(ordered, 0.90)),
            "p99_ms": _round(percentile(ordered, 0.99)),
            "max_ms": _round(ordered[-1] if ordered else math.nan),
            "client_send_lag_p99_ms": _round(percentile(lags, 0.99)),
            "non_200": {str(code): n for code, n in sorted(self.statuses.items())},
        }

    @property
    def passed(self) -> bool:
        p99 = percentile(sorted(self.latencies_ms), 0.99)
        failures = self.errors + self.timeouts + self.unsent
        return failures == 0 and bool(self.latencies_ms) and p99 <= TARGET_P99_MS


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of an already sorted list (NaN when empty)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _round(value: float) -> float | None:
    # JSON has no NaN: an empty figure is null.
    return None if math.isnan(value) else round(value, 3)


@contextlib.asynccontextmanager
async def _aiohttp_fetch(base_url: str, headers: dict[str, str], pool: int) -> AsyncIterator[Fetch]:
    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=pool)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        base_url, headers=headers, connector=connector, timeout=timeout
    ) as session:

        async def fetch(path: str) -> Outcome:
            try:
                async with session.get(path) as response:
                    await response.read()
                    return response.status
            except TimeoutError:
                return "timeout"
            except aiohttp.ClientError:
                return "error"

        yield fetch


@contextlib.asynccontextmanager
async def _httpx_fetch(base_url: str, headers: dict[str, str], pool: int) -> AsyncIterator[Fetch]:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        limits=limits,
        timeout=httpx.Timeout(REQUEST_TIMEOUT_S),
    ) as client:

        async def fetch(path: str) -> Outcome:
            try:
                response = await client.get(path)
                return response.status_code
            except httpx.TimeoutException:
                return "timeout"
            except httpx.HTTPError:
                return "error"

        yield fetch


async def _worker(
    fetch: Fetch,
    loads: list[EndpointLoad],
    timetable: Iterator[int],
    start: float,
    rate: float,
    deadline: float,
) -> None:
    """Send the timetable's next request at its due time, again and again, until it ends.

    The workers share one timetable (request ``k`` is due at ``start + k / rate``, to the
    endpoints in turn), so it never waits for an answer while a worker is free.
    """
    for index in timetable:
        load = loads[index % len(loads)]
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = time.perf_counter()
        if sent > deadline:
            load.unsent += 1
            continue
        outcome = await fetch(load.path)
        load.record(outcome, due, sent, time.perf_counter())


@dataclass(frozen=True)
class _Offered:
    loads: list[EndpointLoad]
    connections: int
    seconds: float
    client_cpu_pct: float


async def _offer(client: str, base_url: str, token: str, rate: float, seconds: float) -> _Offered:
    """``rate`` requests per second to each endpoint for ``seconds`` (after a warm-up)."""
    total_rate = rate * len(ENDPOINTS)
    connections = max(_MIN_CONNECTIONS, math.ceil(total_rate * _CONNECTIONS_PER_RPS))
    opener = _aiohttp_fetch if client == "aiohttp" else _httpx_fetch
    loads = [EndpointLoad(path) for path in ENDPOINTS]
    async with opener(base_url, {"Authorization": f"Bearer {token}"}, connections) as fetch:
        # The warm-up's figures are thrown away: it only opens the connections.
        warmup = [EndpointLoad(path) for path in ENDPOINTS]
        for phase, length in ((warmup, WARMUP_S), (loads, seconds)):
            timetable = iter(range(round(total_rate * length)))
            start = time.perf_counter() + 0.01
            cpu = time.process_time()
            deadline = start + length * _DEADLINE_FACTOR + REQUEST_TIMEOUT_S
            await asyncio.gather(
                *(
                    _worker(fetch, phase, timetable, start, total_rate, deadline)
                    for _ in range(connections)
                )
            )
            elapsed = time.perf_counter() - start
            cpu_pct = 100.0 * (time.process_time() - cpu) / elapsed
    return _Offered(loads, connections, elapsed, cpu_pct)


def _as_of_s(status: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(status["as_of"]).replace("Z", "+00:00")).timestamp()


def _step(run: RunProcess, client: str, rate: float, seconds: float) -> dict[str, Any]:
    """One rate: every figure of both endpoints, and whether all of them meet the target."""
    before = run.require_replaying("before a measurement")
    wall = time.perf_counter()
    offered = asyncio.run(_offer(client, run.base_url, run.token, rate, seconds))
    wall = time.perf_counter() - wall
    after = run.require_replaying("at the end of a measurement")
    # Replayed 1h candles per wall-clock second: the engine's pace while it was loaded.
    candles_per_s = (_as_of_s(after) - _as_of_s(before)) / 3600.0 / wall
    step: dict[str, Any] = {
        "rate_per_endpoint": rate,
        "offered_rps": rate * len(ENDPOINTS),
        "passed": all(load.passed for load in offered.loads),
        "connections": offered.connections,
        "seconds": round(offered.seconds, 3),
        "client_cpu_pct": round(offered.client_cpu_pct, 1),
        "engine_candles_per_s_per_symbol": round(candles_per_s, 2),
    }
    for load in offered.loads:
        name = load.path.rsplit("/", 1)[-1]
        step.update({f"{name}_{key}": value for key, value in load.figures().items()})
    return step


def _rates(first: dict[str, Any], rate: float, min_rate: float, max_rate: float) -> Iterator[float]:
    """The rates after the first step: doubling after a pass, halving after a miss."""
    factor = 2.0 if first["passed"] else 0.5
    offered = rate * factor
    while min_rate <= offered <= max_rate:
        yield offered
        offered *= factor


def run_api_bench(
    *,
    seconds: float = DEFAULT_SECONDS,
    rate: float = DEFAULT_RATE,
    speed: str = DEFAULT_SPEED,
    max_rate: float = DEFAULT_MAX_RATE,
    min_rate: float = DEFAULT_MIN_RATE,
    profile: str = "aggressive",
    port: int | None = None,
    data: Path | None = None,
    client: str = "aiohttp",
) -> dict[str, Any]:
    """Load a replaying ``sigmax run``'s API at ``rate`` per endpoint, then find its limit."""
    if seconds <= 0:
        raise InputError("--seconds must be > 0")
    if not 0 < min_rate <= rate <= max_rate:
        raise InputError("the rates must be 0 < --min-rate <= --rate <= --max-rate")
    if client not in CLIENTS:
        raise InputError(f"--client must be one of {', '.join(CLIENTS)} (got {client})")
    chosen_port = port if port is not None else free_port()
    with (
        temporary_home("sigmax-bench-api-") as home,
        sigmax_run(home, speed=speed, profile=profile, port=chosen_port, data=data) as run,
    ):
        first_status = run.status()
        target = _step(run, client, rate, seconds)
        steps = [target]
        for offered in _rates(target, rate, min_rate, max_rate):
            steps.append(_step(run, client, offered, seconds))
            # Up: until the first miss. Down: until the first pass.
            if steps[-1]["passed"] != target["passed"]:
                break
    passing = [step["rate_per_endpoint"] for step in steps if step["passed"]]
    sustained = max(passing, default=0.0)
    figures = ("p50_ms", "p99_ms", "max_ms", "errors", "timeouts", "unsent")
    return {
        "benchmark": "api",
        **{f"{n}_{k}": target[f"{n}_{k}"] for n in ("status", "portfolio") for k in figures},
        "offered_rps_per_endpoint": rate,
        "seconds": seconds,
        "client": client,
        "client_cpu_pct": target["client_cpu_pct"],
        "engine_candles_per_s_per_symbol": target["engine_candles_per_s_per_symbol"],
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": bool(target["passed"]),
        # Both endpoints together, each at half of it, as in every step.
        "max_sustained_rps": sustained * len(ENDPOINTS),
        "max_sustained_rps_per_endpoint": sustained,
        "steps": steps,
        "run": {
            "command": f"sigmax run --profile {profile} --speed {speed} --host 127.0.0.1 "
            f"--port {chosen_port}",
            "symbols": first_status.get("symbols"),
            "exit_code": run.process.returncode,
        },
        "machine": machine_info(
            "fastapi", "starlette", "uvicorn", "sqlalchemy", "aiohttp", "httpx"
        ),
    }
