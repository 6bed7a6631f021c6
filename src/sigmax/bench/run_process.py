"""A real ``sigmax run`` in its own process for the benchmarks that load its API or page.

It replays the bundled data (or ``--data``) into its own SIGMAX_HOME with a fresh API token, its
API on a port of 127.0.0.1, and is stopped with SIGINT, as an operator's Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from sigmax.errors import SigmaxError

_START_TIMEOUT_S: Final = 90.0
_STOP_TIMEOUT_S: Final = 60.0
_STDERR_TAIL: Final = 2000


class BenchRunError(SigmaxError):
    """A benchmark could not measure: the run did not start, stopped early, or hung."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    stderr_path: Path

    def stderr_tail(self) -> str:
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-_STDERR_TAIL:].replace(self.token, "***")

    def status(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.base_url}/api/status",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=5,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def require_replaying(self, when: str) -> dict[str, Any]:
        """The status, or an error if the replay is no longer running."""
        if self.process.poll() is not None:
            raise BenchRunError(
                f"sigmax run exited ({self.process.returncode}) {when}; a lower --speed keeps "
                f"it replaying longer. Its errors:\n{self.stderr_tail()}"
            )
        status = self.status()
        if status.get("running") is not True:
            raise BenchRunError(f"the replay was no longer running {when}: {status}")
        return status


@contextlib.contextmanager
def sigmax_run(
    home: Path,
    *,
    speed: str,
    profile: str,
    port: int,
    data: Path | None,
    extra: Sequence[str] = (),
) -> Iterator[RunProcess]:
    """``sigmax run`` replaying in its own process with the API on ``port``, until SIGINT;
    ``extra`` are more options of ``sigmax run`` (``--from``, ``--research``, ...)."""
    token = secrets.token_urlsafe(24)
    env = dict(os.environ)
    env.update(SIGMAX_HOME=str(home), SIGMAX_API_TOKEN=token)
    # What the ``sigmax`` console script runs, with this interpreter.
    command = [
        sys.executable, "-c", "import sys; from sigmax.cli import main; sys.exit(main())",
        "run", "--profile", profile, "--speed", speed,
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    if data is not None:
        command += ["--data", str(data)]
    command += list(extra)
    stderr_path = home / "bench-run.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    run = RunProcess(process, f"http://127.0.0.1:{port}", token, stderr_path)
    try:
        _wait_until_answering(run)
        yield run
    finally:
        _stop(run)


def _wait_until_answering(run: RunProcess) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if run.process.poll() is not None:
            raise BenchRunError(
                f"sigmax run exited ({run.process.returncode}) before its API answered:\n"
                f"{run.stderr_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError, ValueError):
            # Answering and past its first candle: the engine is replaying.
            if run.status().get("as_of"):
                return
        time.sleep(0.1)
    raise BenchRunError(f"the API of sigmax run did not answer within {_START_TIMEOUT_S:.0f} s")


def _stop(run: RunProcess) -> None:
    """Ctrl-C, as an operator would; a run that ignores it is killed and reported."""
    if run.process.poll() is None:
        run.process.send_signal(signal.SIGINT)
        try:
            run.process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait()
            raise BenchRunError(
                f"sigmax run did not stop within {_STOP_TIMEOUT_S:.0f} s of SIGINT"
            ) from None
