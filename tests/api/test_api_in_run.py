"""The API served by `sigmax run` itself: the engine applies what the API asks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import CONFIG_VARIABLES
from sigmax.bench.run_process import free_port

SIGMAX = str(Path(sys.executable).with_name("sigmax"))


def test_pause_resume_and_a_trade_through_the_api_of_a_running_engine(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES
        and (not k.startswith("SIGMAX_") or k == "SIGMAX_REQUIRE_SERVICES")
    }
    env.update(SIGMAX_HOME=str(tmp_path), MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
    port = free_port()
    process = subprocess.Popen(
        [SIGMAX, "run", "--profile", "reference", "--symbols", "BTC/USDT,ETH/USDT",
         "--speed", "10", "--from", "2022-11-01T00:00:00Z", "--until", "2022-11-03T00:00:00Z",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"{base}/api/status", timeout=2).json()
                if status.get("as_of"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert status.get("running") is True, status
        token = (tmp_path / "api_token").read_text(encoding="utf-8").strip()
        auth = {"Authorization": f"Bearer {token}"}
        paused = httpx.post(f"{base}/api/control/pause", json={"duration": None}, headers=auth)
        assert paused.status_code == 200, paused.text
        assert (paused.json()["status"], paused.json()["applied_by"]) == ("applied", "engine")
        assert httpx.get(f"{base}/api/safety", headers=auth).json()["paused"] is True
        resumed = httpx.post(f"{base}/api/control/resume", json={"force": False}, headers=auth)
        assert resumed.json()["status"] == "applied", resumed.text
        trade = httpx.post(
            f"{base}/api/trade",
            json={"symbol": "ETH/USDT", "action": "buy", "size": "0.01"},
            headers=auth,
        )
        assert trade.status_code == 202, trade.text
        assert (trade.json()["command"], trade.json()["applied_by"]) == ("order", "engine")
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors[-2000:]
        assert token not in errors
    finally:
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "logs" / "sigmax.log").read_text(encoding="utf-8")
    assert token not in log
