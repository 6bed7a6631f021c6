"""`sigmax run`: bad options exit 2 naming the option and the rule; a short run prints a summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmax.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "--speed: must be a number of candles per second > 0, or 'max'"),
        (["--speed", "fast"], "--speed: must be a number of candles per second > 0"),
        (["--symbols", "DOGE/USDT"], "--symbols: DOGE/USDT is not allowed by the conservative"),
        (["--symbols", "BTCUSDT"], "--symbols: symbol must look like BASE/QUOTE"),
        (["--mode", "live"], "--mode"),
        (["--until", "2023-01-01"], "--until '2023-01-01': the time has no time zone"),
        (["--from", "nonsense"], "--from 'nonsense': not an ISO-8601 time"),
        (["--feed", "carrier-pigeon"], "--feed"),
        (["--profile", "nope"], "no file profiles/nope.yaml"),
    ],
)
def test_bad_options_exit_2(sigmax_home: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", *args, "--no-api"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (sigmax_home / "sigmax.db").exists() or "profile" in message or "--" in message


def test_a_short_run_prints_its_summary_and_a_rerun_changes_nothing(sigmax_home: Path) -> None:
    args = [
        "run", "--symbols", "BTC/USDT", "--speed", "max", "--no-api",
        "--from", "2023-01-02T00:00:00Z", "--until", "2023-01-02T12:00:00Z",
    ]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "candles processed" in first.output
    # Decisions at every close from --from to --until inclusive: 00:00, 01:00, ..., 12:00.
    processed = next(line for line in first.output.splitlines() if "candles processed" in line)
    assert processed.split("│")[2].strip() == "13"
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already complete" in again.output
    log = (sigmax_home / "logs" / "sigmax.log").read_text()
    assert "REPLAY of BTC/USDT" in log


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(sigmax_home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    sigmax = str(Path(sys.executable).with_name("sigmax"))
    args = [sigmax, "run", "--symbols", "BTC/USDT", "--speed", "20", "--no-api",
            "--until", "2021-04-06T00:00:00Z"]  # fmt: skip
    env = {**os.environ, "SIGMAX_HOME": str(sigmax_home)}
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    log = sigmax_home / "logs" / "sigmax.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or "HOLD" not in log.read_text()):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "run the same command to resume" in err
    status = CliRunner().invoke(app, ["status", "--json"])
    assert '"interrupted"' in status.output
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                             check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed and completed" in resumed.stdout
