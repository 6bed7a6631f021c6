"""Without qiskit the quantum module says so and the classical answer stands.

qiskit's absence is made real in a child process: a ``sitecustomize`` on its path puts an
import blocker first on ``sys.meta_path`` that refuses ``qiskit``, ``qiskit_aer`` and
``qiskit_optimization``, as an environment without the ``quantum`` extra would. Nothing of
SIGMAX is replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SIGMAX = Path(sys.executable).with_name("sigmax")

BLOCKER = '''
import sys


class _NoQiskit:
    """Refuses the qiskit packages, as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("qiskit", "qiskit_aer", "qiskit_optimization"):
            raise ImportError(f"{name} is not installed here")
        return None


sys.meta_path.insert(0, _NoQiskit())
'''

PROBE = """
import json
from sigmax.config.settings import QuantumSettings
from sigmax.portfolio.instances import real_problem
from sigmax.portfolio.quantum import quantum_status
from sigmax.portfolio.worker import QuantumAdvisor

advisor = QuantumAdvisor(QuantumSettings(enabled=True))
print(json.dumps({
    "status": quantum_status(QuantumSettings(enabled=True)),
    "submitted": advisor.submit(real_problem(3), "probe"),
}))
"""


def _env(blocker_dir: Path, home: Path) -> dict[str, str]:
    paths = [str(blocker_dir), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "SIGMAX_HOME": str(home),
    }


def test_without_qiskit_the_module_is_unavailable_and_the_classical_answer_stands(
    tmp_path: Path,
) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = _env(tmp_path, home)
    done = subprocess.run(
        [
            str(SIGMAX),
            "portfolio",
            "optimize",
            "--symbols",
            "BTC/USDT,ETH/USDT,SOL/USDT",
            "--at",
            "2023-06-01T00:00:00Z",
            "--profile",
            "balanced",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["method"]: row for row in json.loads(done.stdout)}
    assert list(rows) == ["classical", "exact", "qaoa", "vqe"]
    classical = rows["classical"]
    assert classical["status"] == "ok"
    assert set(classical["weights"]) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    assert isinstance(classical["objective"], float)
    for method in ("exact", "qaoa", "vqe"):
        assert rows[method]["status"] == (
            "unavailable (qiskit cannot be imported: qiskit is not installed here)"
        )
        assert rows[method]["objective"] is None
        assert rows[method]["weights"] == {}

    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    answer = json.loads(probe.stdout)
    assert answer["status"] == (
        "unavailable (qiskit cannot be imported: qiskit is not installed here)"
    )
    assert answer["submitted"] == answer["status"]
    assert "quantum solver unavailable" in probe.stderr


def test_with_qiskit_the_same_command_answers_by_the_exact_eigensolver(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [
            str(SIGMAX),
            "portfolio",
            "optimize",
            "--symbols",
            "BTC/USDT,ETH/USDT,SOL/USDT",
            "--at",
            "2023-06-01T00:00:00Z",
            "--profile",
            "balanced",
            "--method",
            "exact",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SIGMAX_HOME": str(home)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["method"] == "exact"
    assert row["status"] == "ok"
    assert len(row["selected"]) == 3  # the balanced profile allows 3 positions
    assert abs(sum(row["weights"].values()) - 0.15) < 1e-9  # 3 x 50 USD of 1000
