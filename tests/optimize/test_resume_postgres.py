"""A study stored in the real PostgreSQL resumes after its process is killed with SIGKILL.

The killed process leaves its running trial marked RUNNING in the storage; the same command
run again marks it lost, queues its parameters again, and finishes the study with every trial
accounted for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial

from optimize.helpers import BASE_ARGS, child_env, sigmax_command

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TRIALS = 6


def _storage_trials(url: str, name: str) -> list[FrozenTrial]:
    import optuna

    try:
        return list(optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False))
    except KeyError:
        return []


def _two_finished_and_one_running(storage: str, before: set[str], pid: int) -> str | None:
    """The name of this process's study once two of its trials are finished and one is
    running (each finished trial records the process that ran it, so a study another run
    makes at the same time never counts)."""
    import optuna
    from optuna.trial import TrialState

    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    for candidate in [n for n in names if n.startswith("sigmax-") and n not in before]:
        trials = _storage_trials(storage, candidate)
        finished = [t for t in trials if t.state.is_finished() and t.user_attrs.get("pid") == pid]
        if len(finished) >= 2 and any(t.state == TrialState.RUNNING for t in trials):
            return candidate
    return None


def test_a_study_in_postgresql_resumes_after_sigkill(sigmax_home: Path, postgres_url: str) -> None:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A seed of its own per run: the study's name derives from it, so runs never share one.
    seed = str(int(time.time() * 1000) % 1_000_000_000)
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    command = [
        *sigmax_command(),
        *BASE_ARGS,
        "--trials",
        str(TRIALS),
        "--jobs",
        "0",
        "--seed",
        seed,
        "--storage",
        url,
        "--json",
    ]
    env = child_env(sigmax_home)
    storage = postgres_url
    # Only a study this run creates counts (one left by an earlier, interrupted run never does).
    before = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    name = None
    try:
        deadline = time.monotonic() + 120
        # Kill it while a trial is running, once two are finished. Each reading is taken with
        # the process stopped (SIGSTOP), so the trial cannot finish between the reading and the
        # kill, and the process only goes on in short windows between readings: a trial takes
        # several windows, so one reading falls inside it however fast or loaded the machine is.
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
            os.killpg(process.pid, signal.SIGSTOP)
            name = _two_finished_and_one_running(storage, before, process.pid)
            if name is not None:
                break
            os.killpg(process.pid, signal.SIGCONT)
        assert name is not None, "the study never got two trials done with a third running"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    left = _storage_trials(storage, name)
    assert any(t.state == TrialState.RUNNING for t in left)
    try:
        again = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
        assert again.returncode == 0, again.stderr.decode()[-3000:]
        report = json.loads(again.stdout.decode().strip().splitlines()[-1])
        assert report["study"] == name.removeprefix("sigmax-")
        counts = report["trial_counts"]
        assert report["trials"] == TRIALS
        assert counts["complete"] + counts["pruned"] + counts["invalid"] == TRIALS
        assert counts["lost"] >= 1
        assert report["retried_trials"] >= 1
        stored = _storage_trials(storage, name)
        assert not [t for t in stored if t.state == TrialState.RUNNING]
        # The lost trial's parameters were run again.
        lost = [t for t in stored if "lost" in t.user_attrs]
        retried = [t for t in stored if "retry_of" in t.user_attrs]
        assert {t.user_attrs["retry_of"] for t in retried} >= {t.number for t in lost}
        assert all(t.state.is_finished() for t in retried)
    finally:
        optuna.delete_study(study_name=name, storage=storage)
