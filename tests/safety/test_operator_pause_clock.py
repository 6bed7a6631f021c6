"""An operator's pause counts in wall time in a watched replay: a real ``sigmax run --speed 20``
(an hour of candles every 50 ms) with its API, paused for 60 s through ``POST
/api/control/pause``, is still paused 30 s later and resumes by itself once 60 s have passed.
And while it is paused, the refused orders are logged once per pause, not once per candle."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import CONFIG_VARIABLES
from sigmax.bench.dashboard_bench import replaying_run
from sigmax.bench.run_process import RunProcess

pytestmark = pytest.mark.slow

PAUSE_S = 60
CHECK_AT_S = 30
#: How late the end may be seen: the engine ticks every candle (50 ms) and the API's status is
#: rebuilt at least once a second.
LATE_S = 3.0


@pytest.fixture
def run(tmp_path: Path) -> Iterator[RunProcess]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in CONFIG_VARIABLES or (
                name.startswith("SIGMAX_") and name != "SIGMAX_REQUIRE_SERVICES"
            ):
                patch.delenv(name)
        patch.setenv("SIGMAX_HOME", str(tmp_path))
        with replaying_run(tmp_path, speed="20", profile="aggressive") as started:
            yield started


def _status(run: RunProcess) -> dict[str, object]:
    return run.require_replaying("during the pause")


def test_a_60_s_pause_on_a_speed_20_replay_lasts_60_s_of_wall_time(run: RunProcess) -> None:
    answer = httpx.post(
        f"{run.base_url}/api/control/pause",
        json={"duration": PAUSE_S},
        headers={"Authorization": f"Bearer {run.token}"},
        timeout=10,
    )
    asked = time.monotonic()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["applied_by"]) == ("applied", "engine"), body
    assert f"for {PAUSE_S} s, until " in body["message"]
    assert body["message"].endswith("(wall clock)")
    paused_as_of = _status(run)["as_of"]

    time.sleep(max(0.0, asked + CHECK_AT_S - time.monotonic()))
    status = _status(run)
    assert status["paused"] is True, status
    assert status["pause_until_clock"] == "wall"
    assert str(status["pause_reason"]).startswith("paused by the operator")
    # The market clock ran on meanwhile (hundreds of hourly candles): only wall time counts.
    assert str(status["as_of"]) > str(paused_as_of)

    while time.monotonic() < asked + PAUSE_S + LATE_S:
        status = _status(run)
        if status["paused"] is False:
            break
        time.sleep(0.2)
    ended = time.monotonic() - asked
    assert status["paused"] is False, f"still paused {ended:.1f} s after a {PAUSE_S} s pause"
    assert ended >= PAUSE_S - 1.0  # the answer came back after the engine applied it
    log = run.stderr_path.read_text(encoding="utf-8")
    assert "RESUME: manual pause lifted at " in log
    assert log.count("not sent during the pause") <= 1, log.count("not sent")
