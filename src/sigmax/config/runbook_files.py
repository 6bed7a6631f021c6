"""The runbook's tuning files, ``optimization.yaml`` and ``memory.yaml``: honoured or refused.

The operations runbook tells operators to tune SIGMAX in ``core/config/optimization.yaml`` and
``core/config/memory.yaml``. SIGMAX reads both, from the configuration folder and from
``SIGMAX_HOME/core/config/``, and never ignores a key silently:

- a key that maps onto something SIGMAX really does is honoured, as the setting it maps to:
  ``optimization.yaml: agents.timeout`` (milliseconds) is ``agents.timeout_ms``, the time limit
  of an agent's outside requests (the researcher's news requests: the other agents compute from
  the candles in memory and never wait); ``agents.parallel_execution: true`` is what always
  happens (the researcher and the analyzer run concurrently); ``memory.yaml:
  decision_history.max_entries`` is ``decision_history.max_entries``, how many ad-hoc analyses
  are kept;
- every other key is a configuration problem naming the file and the key, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from sigmax.config.sources import KeyPath, Layer, Origin, read_yaml_mapping
from sigmax.errors import ConfigProblem

OPTIMIZATION_FILE_NAME: Final = "optimization.yaml"
MEMORY_FILE_NAME: Final = "memory.yaml"
#: Where the runbook keeps them, relative to SIGMAX_HOME.
RUNBOOK_CONFIG_DIR: Final = Path("core") / "config"
#: The longest agent time limit accepted, in milliseconds (ten minutes).
MAX_TIMEOUT_MS: Final = 600_000

#: Turns a written value into the value of the setting it maps to, or a rule it breaks.
Check = Callable[[object], tuple[object, str | None]]


def _whole_number(low: int, high: int) -> Check:
    def check(value: object) -> tuple[object, str | None]:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return value, f"must be a whole number from {low} to {high}"
        return value, None

    return check


def _only_true(value: object) -> tuple[object, str | None]:
    if value is True:
        return None, None
    return value, (
        "must be true: the researcher and the analyzer always run concurrently (they share "
        "nothing), and there is no sequential mode; remove the key or set it to true"
    )


#: Honoured keys: file -> written key -> (setting path or None when nothing is set, check).
HONOURED: Final[Mapping[str, Mapping[str, tuple[KeyPath | None, Check]]]] = {
    OPTIMIZATION_FILE_NAME: {
        "agents.timeout": (("agents", "timeout_ms"), _whole_number(1, MAX_TIMEOUT_MS)),
        "agents.parallel_execution": (None, _only_true),
    },
    MEMORY_FILE_NAME: {
        "decision_history.max_entries": (
            ("decision_history", "max_entries"),
            _whole_number(1, 10_000_000),
        ),
    },
}

#: Why a key the runbook shows is refused (by its first part, then by the whole key).
REFUSED: Final[Mapping[str, str]] = {
    "agents.use_cache": (
        "not supported: there are no model responses to cache (decisions are computed from "
        "the candles, whose indicators and scores are computed once per run)"
    ),
    "modules": "not supported: SIGMAX has no RL or quantum module to tune",
    "decision_history.persist_to_redis": (
        "not supported: decisions are stored in the database (the decisions table), never in "
        "Redis; set decision_history.max_entries to bound the ad-hoc analyses kept"
    ),
    "data_module": (
        "not supported: candle data is read once per process and its indicators computed once; "
        "there is no cache to expire"
    ),
}


def runbook_files(folder: Path, home: Path) -> list[tuple[Path, str, str]]:
    """The tuning files present: (path, label for messages, file name)."""
    found: list[tuple[Path, str, str]] = []
    for name in (OPTIMIZATION_FILE_NAME, MEMORY_FILE_NAME):
        for base, label in (
            (folder, name),
            (home / RUNBOOK_CONFIG_DIR, f"{RUNBOOK_CONFIG_DIR}/{name}"),
        ):
            path = base / name
            if path.is_file() and path not in [p for p, _, _ in found]:
                found.append((path, label, name))
    return found


def read_runbook_files(folder: Path, home: Path) -> tuple[list[Layer], list[ConfigProblem]]:
    """A layer per tuning file with the settings it honours, and a problem per refused key."""
    layers: list[Layer] = []
    problems: list[ConfigProblem] = []
    for path, label, name in runbook_files(folder, home):
        data, read_problems = read_yaml_mapping(path, label)
        problems += read_problems
        layer = Layer()
        for key, value in _leaves(data, ()):
            honoured = HONOURED[name].get(key)
            if honoured is None:
                problems.append(ConfigProblem(f"{label}: {key}", _refusal(name, key)))
                continue
            setting, check = honoured
            converted, broken = check(value)
            if broken is not None:
                problems.append(ConfigProblem(f"{label}: {key}", broken, _shown(value)))
            elif setting is not None:
                layer.set(setting, converted, Origin(label))
        layers.append(layer)
    return layers, problems


def _refusal(name: str, key: str) -> str:
    reason = REFUSED.get(key) or REFUSED.get(key.split(".", 1)[0])
    if reason is not None:
        return reason
    honoured = ", ".join(HONOURED[name])
    return f"unknown key (SIGMAX reads only {honoured} from {name})"


def _leaves(data: Mapping[Any, Any], prefix: tuple[str, ...]) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            found += _leaves(value, path)
        else:
            found.append((".".join(path), value))
    return found


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
