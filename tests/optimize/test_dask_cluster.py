"""A real Dask cluster on 127.0.0.1 (``dask scheduler`` and two ``dask worker`` processes)
completes a study when one worker is killed with SIGKILL mid-way.

The workers run without a nanny, so the killed one stays dead: its running trial goes back to
the scheduler, the surviving worker runs it, and the study finishes with every trial accounted
for.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from optimize.helpers import BASE_ARGS, child_env, sigmax_command

pytestmark = pytest.mark.slow

TRIALS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dask() -> list[str]:
    return [str(Path(sys.executable).with_name("dask"))]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the scheduler exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the scheduler never listened on {port}")


@pytest.fixture
def cluster(sigmax_home: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    port = _free_port()
    env = child_env(sigmax_home)
    scheduler = subprocess.Popen(
        [*_dask(), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    processes = [scheduler]
    try:
        _wait_for_port(port, scheduler)
        address = f"tcp://127.0.0.1:{port}"
        workers = [
            subprocess.Popen(
                [
                    *_dask(), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                    "--no-nanny", "--no-dashboard", "--name", f"w{n}",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n in (1, 2)
        ]  # fmt: skip
        processes += workers
        yield address, workers
    finally:
        # Only the processes this fixture started; the test is over, so no grace is needed.
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
            process.wait()


def _finished(db: Path) -> list[dict[str, object]]:
    """The finished trials in the study's SQLite storage: number, pid of the worker. Read
    through a read-only connection: Optuna's own reader would create the schema, racing the
    study that is creating it."""
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as connection:
            rows = connection.execute(
                "SELECT t.number, a.value_json FROM trials t LEFT JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id AND a.key = 'pid' "
                "WHERE t.state IN ('COMPLETE', 'PRUNED', 'FAIL')"
            ).fetchall()
    except sqlite3.OperationalError:
        return []  # the study has not created its tables yet
    return [{"number": number, "pid": json.loads(pid) if pid else None} for number, pid in rows]


def test_a_study_survives_a_killed_worker(
    sigmax_home: Path, cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    address, workers = cluster
    db = sigmax_home / "cluster-study.db"
    command = [
        *sigmax_command(),
        *BASE_ARGS,
        "--trials",
        str(TRIALS),
        "--scheduler",
        address,
        "--storage",
        f"sqlite:///{db}",
        "--seed",
        "9",
        "--json",
    ]
    study = subprocess.Popen(
        command,
        env=child_env(sigmax_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    victim = workers[0]
    try:
        deadline = time.monotonic() + 240
        # Kill the first worker once both workers have finished trials (so both were working).
        while time.monotonic() < deadline and study.poll() is None:
            pids = {row["pid"] for row in _finished(db)}
            if {victim.pid, workers[1].pid} <= pids:
                break
            time.sleep(0.1)
        assert study.poll() is None, "the study ended before a worker could be killed"
        os.kill(victim.pid, signal.SIGKILL)
        killed_after = len(_finished(db))
        out, err = study.communicate(timeout=300)
    finally:
        if study.poll() is None:
            study.kill()
            study.wait()
    assert study.returncode == 0, err.decode()[-3000:]
    assert victim.wait(timeout=10) == -signal.SIGKILL
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["executor"] == f"Dask scheduler {address}"
    # Every trial accounted for, none lost for good.
    assert report["trials"] == TRIALS
    counts = report["trial_counts"]
    assert counts["complete"] + counts["pruned"] + counts["invalid"] == TRIALS
    rows = _finished(db)
    assert len(rows) == TRIALS
    assert killed_after < TRIALS
    # Every trial ran on one of the two workers. When ``killed_after`` trials were told, at most
    # two more had been asked (one per worker), so every trial numbered from killed_after + 2
    # was asked after the kill, and ran on the survivor.
    assert {row["pid"] for row in rows} <= {victim.pid, workers[1].pid}
    later = [row for row in rows if int(str(row["number"])) >= killed_after + 2]
    assert later
    assert all(row["pid"] == workers[1].pid for row in later)
