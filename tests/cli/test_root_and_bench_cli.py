"""The root command, exit codes through the real console script, and `sigmax bench data`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sigmax import __version__
from sigmax.cli import app

SIGMAX = Path(sys.executable).with_name("sigmax")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SIGMAX), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_version_and_help() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"sigmax {__version__}"
    help_text = runner.invoke(app, ["--help"]).stdout
    for command in ("config", "data", "bench", "version"):
        assert command in help_text


def test_exit_codes_of_the_console_script(sigmax_home: Path) -> None:
    assert _run("version").returncode == 0
    unknown = _run("no-such-command")
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr
    bad = _run("config", "validate", env={"MAX_POSITION_SIZE": "-5"})
    assert bad.returncode == 2
    assert "MAX_POSITION_SIZE: must be > 0 (got -5)" in bad.stdout + bad.stderr
    missing = _run("data", "check", str(sigmax_home / "absent.csv"))
    assert missing.returncode == 2
    assert "absent.csv" in missing.stdout + missing.stderr


def test_bench_data_prints_json_with_seconds() -> None:
    result = CliRunner().invoke(app, ["bench", "data", "--json", "--repeat", "1"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["benchmark"] == "data"
    assert figures["datasets"] == 4
    assert figures["candles"] == 4 * 21_804
    assert 0 < figures["seconds"] == figures["seconds_min"]
    assert figures["machine"]["cores"] >= 1
