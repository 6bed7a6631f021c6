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


# --- validation before anything starts, the lease, SIGTERM, the store's checks -------------------

_SHORT = ["--symbols", "BTC/USDT", "--speed", "max",
          "--from", "2023-01-02T00:00:00Z", "--until", "2023-01-02T12:00:00Z"]  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _log(home: Path) -> str:
    path = home / "logs" / "sigmax.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_a_short_api_token_is_refused_before_the_store_is_touched(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGMAX_API_TOKEN", "short")
    result = CliRunner().invoke(app, ["run", *_SHORT, "--port", str(_free_port())])
    assert result.exit_code == 2, result.output
    assert "the API token must be at least" in result.output
    # Nothing was migrated, no run was registered, no candle replayed.
    assert not (sigmax_home / "sigmax.db").exists()
    # The fatal error is in the log file as well as on the terminal; the token is not.
    log = _log(sigmax_home)
    assert "ERROR sigmax run stopped:" in log
    assert "the API token must be at least" in log
    assert "short" not in log.replace("shortest", "")


def test_a_busy_api_port_is_refused_before_the_store_is_touched(sigmax_home: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["run", *_SHORT, "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"api.port / --port: cannot listen on 127.0.0.1:{port}" in result.output
    assert not (sigmax_home / "sigmax.db").exists()


@pytest.mark.parametrize("how", ["env", "option"])
def test_live_mode_without_keys_is_refused_naming_them_never_replaced_by_paper(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    for name in ("API_KEY", "API_SECRET", "API_SECRET_FILE"):
        monkeypatch.delenv(name, raising=False)
    args = ["run", "--symbols", "BTC/USDT", "--no-api"]
    if how == "env":
        monkeypatch.setenv("TRADING_MODE", "live")
    else:
        args += ["--mode", "live"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "API_KEY" in result.output
    assert "API_SECRET" in result.output
    assert not (sigmax_home / "sigmax.db").exists()


def test_live_on_the_real_exchange_prints_the_limits_and_needs_confirm_live(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_KEY", "k-123")
    monkeypatch.setenv("API_SECRET", "s-456")
    monkeypatch.setenv("TESTNET", "false")
    monkeypatch.setenv("MAX_POSITION_SIZE", "7")
    result = CliRunner().invoke(app, ["run", "--mode", "live", "--no-api"])
    assert result.exit_code == 2, result.output
    assert "limits in force" in result.output
    assert "REAL MONEY" in result.output
    assert "max position      7 USD" in result.output
    assert "daily loss limit" in result.output
    assert "policies" in result.output
    assert "--confirm-live:" in result.output
    assert "s-456" not in result.output
    assert not (sigmax_home / "sigmax.db").exists()


def test_a_home_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigmax_home: Path
) -> None:
    # A home below a regular file cannot be created, even by root.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SIGMAX_HOME", str(blocker / "home"))
    result = CliRunner().invoke(app, ["run", *_SHORT, "--no-api"])
    assert result.exit_code == 2, result.output
    assert "is not writable" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_generated_token_is_named_by_its_file_never_shown_or_logged(
    sigmax_home: Path,
) -> None:
    import os
    import subprocess
    import sys

    sigmax = str(Path(sys.executable).with_name("sigmax"))
    env = {**os.environ, "SIGMAX_HOME": str(sigmax_home)}
    done = subprocess.run([sigmax, "run", *_SHORT, "--port", str(_free_port())], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    token_file = sigmax_home / "api_token"
    token = token_file.read_text().strip()
    assert f"SIGMAX API token generated and stored in {token_file}" in done.stderr
    assert token not in done.stderr
    log = _log(sigmax_home)
    assert f"(bearer token in {token_file})" in log
    assert token not in log


def _popen_run(home: Path, *extra: str) -> tuple[object, list[str], dict[str, str]]:
    import os
    import subprocess
    import sys

    sigmax = str(Path(sys.executable).with_name("sigmax"))
    args = [sigmax, "run", "--symbols", "BTC/USDT", "--speed", "20", "--no-api",
            "--until", "2021-04-20T00:00:00Z", *extra]  # fmt: skip
    env = {**os.environ, "SIGMAX_HOME": str(home)}
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    return process, args, env


def _wait_for_decisions(home: Path) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "HOLD" not in _log(home):
        time.sleep(0.1)
    assert "HOLD" in _log(home), "the run never decided"


def test_a_second_run_on_the_same_home_is_refused_naming_the_first(sigmax_home: Path) -> None:
    import subprocess

    process, args, env = _popen_run(sigmax_home)
    assert isinstance(process, subprocess.Popen)
    try:
        _wait_for_decisions(sigmax_home)
        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                                check=False)  # fmt: skip
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"already has a running engine: pid {process.pid} on " in second.stderr
        assert " since " in second.stderr
        status = CliRunner().invoke(app, ["status", "--json"])
        assert '"status": "running"' in status.output
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_sigterm_stops_cleanly_like_ctrl_c(sigmax_home: Path) -> None:
    import signal
    import subprocess

    process, _args, _env = _popen_run(sigmax_home)
    assert isinstance(process, subprocess.Popen)
    _wait_for_decisions(sigmax_home)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert "stopped by SIGTERM" in err
    status = CliRunner().invoke(app, ["status", "--json"])
    assert '"status": "interrupted"' in status.output
    assert '"engine": null' in status.output  # the lease was released


def _completed(home: Path) -> None:
    first = CliRunner().invoke(app, ["run", *_SHORT, "--no-api"])
    assert first.exit_code == 0, first.output


def test_a_store_truncated_to_nothing_is_not_taken_for_a_new_account(sigmax_home: Path) -> None:
    _completed(sigmax_home)
    for suffix in ("", "-wal", "-shm"):
        path = sigmax_home / f"sigmax.db{suffix}"
        if path.exists():
            path.write_bytes(b"")
    refused = CliRunner().invoke(app, ["run", *_SHORT, "--no-api"])
    assert refused.exit_code == 2, refused.output
    assert "holds no account, but SIGMAX_HOME" in refused.output
    assert "sigmax restore" in refused.output
    fresh = CliRunner().invoke(app, ["run", *_SHORT, "--no-api", "--new-account"])
    assert fresh.exit_code == 0, fresh.output


def test_a_damaged_store_is_refused_with_the_next_step(sigmax_home: Path) -> None:
    import sqlite3

    _completed(sigmax_home)
    path = sigmax_home / "sigmax.db"
    with sqlite3.connect(path) as connection:  # fold the WAL into the file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    assert len(data) >= 3 * 4096, len(data)
    middle = (len(data) // 4096 // 2) * 4096
    data[middle : middle + 4096] = bytes([0xA5]) * 4096
    path.write_bytes(bytes(data))
    for command in (["run", *_SHORT, "--no-api"], ["portfolio"], ["trades"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "is damaged" in result.output, result.output
        assert "sigmax restore" in result.output
