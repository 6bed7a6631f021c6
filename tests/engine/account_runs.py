"""Real paper runs for the account tests: completed, stopped mid-way, resumed.

The runs are the engine's own (``run_paper``) on the bundled Binance candles, aggressive profile,
BTC/USDT and ETH/USDT, 2022-11-01 to 2022-11-05: about two hundred candles and a few dozen
fills. A *stopped* run is the same run paced, cancelled (as Ctrl-C would) once its committed
state holds a position protected by a stop-loss and a take-profit; its status is then
``interrupted`` and re-running the same options resumes it, like re-running the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import CONFIG_VARIABLES
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.run_store import read_run_state
from sigmax.engine.runner import RunOptions, RunReport, run_paper
from sigmax.storage.database import Database
from sigmax.storage.repositories import EngineStateRepository

SYMBOLS = ("BTC/USDT", "ETH/USDT")
START_MS = datetime_to_ms(datetime(2022, 11, 1, tzinfo=UTC))
UNTIL_MS = datetime_to_ms(datetime(2022, 11, 5, tzinfo=UTC))
OPTIONS = RunOptions(
    profile="aggressive",
    symbols=list(SYMBOLS),
    speed=None,
    start_ms=START_MS,
    until_ms=UNTIL_MS,
    console_log=False,
)
#: Candles per second per symbol while waiting for the moment to stop: slow enough to stop
#: between two candles, fast enough to get there in about a second.
STOP_SPEED = 200.0
#: Shorter than the run's pause between two steps (1 / STOP_SPEED): the poller's timer is then
#: always due before the run's next step, so it reads every committed step and stops the run at
#: the first one that matches, whatever the machine's load (a longer poll stopped it some steps
#: later, at a state that depended on timing).
_POLL_S = 0.001
assert _POLL_S < 1 / STOP_SPEED


@contextlib.contextmanager
def clean_home(home: Path) -> Iterator[Path]:
    """``home`` as SIGMAX_HOME with no configuration variable of the shell leaking in (what the
    ``sigmax_home`` fixture does, for fixtures that outlive one test)."""
    with pytest.MonkeyPatch.context() as patch:
        for var in list(os.environ):
            if var in CONFIG_VARIABLES or (
                var.startswith("SIGMAX_") and var != "SIGMAX_REQUIRE_SERVICES"
            ):
                patch.delenv(var, raising=False)
        patch.setenv("SIGMAX_HOME", str(home))
        with _root_logger_restored():
            yield home


@contextlib.contextmanager
def _root_logger_restored() -> Iterator[None]:
    """A run configures the root logger for its home; put the test session's back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def complete_run(options: RunOptions = OPTIONS) -> RunReport:
    """Run (or resume) to the end of the options' range."""
    return asyncio.run(run_paper(options))


def stop_run_when_protected(home: Path, options: RunOptions = OPTIONS) -> dict[str, Any]:
    """Start the run paced and stop it once its committed state holds a position with resting
    stop-loss orders (and a mark for every symbol); returns that state."""
    return asyncio.run(_stop_when_protected(home, replace(options, speed=STOP_SPEED)))


async def _stop_when_protected(home: Path, options: RunOptions) -> dict[str, Any]:
    task = asyncio.create_task(run_paper(options))
    db = Database.open(f"sqlite:///{home / 'sigmax.db'}")
    try:
        state: dict[str, Any] | None = None
        while not task.done():
            await asyncio.sleep(_POLL_S)
            state = _protected_state(db)
            if state is not None:
                # No await between reading the state and cancelling: the run cannot commit
                # another step, so its resume point is the state just read.
                task.cancel()
                break
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        db.dispose()
    assert state is not None, "the run ended before any protected position was committed"
    return state


def _protected_state(db: Database) -> dict[str, Any] | None:
    with db.session() as session:
        states = [
            read_run_state(session, key.removeprefix("run:"))
            for key in EngineStateRepository(session).items("run:")
        ]
    for state in states:
        assert state is not None
        stops = [o for o in state["venue"]["orders"] if o["type"] == "stop_loss"]
        if stops and set(state["marks"]) == set(SYMBOLS):
            return dict(state)
    return None
