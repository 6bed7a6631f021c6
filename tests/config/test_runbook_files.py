"""The runbook's optimization.yaml / memory.yaml: each key honoured or refused, never ignored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sigmax.agents.news_source import news_source_from_settings
from sigmax.config import load_settings
from sigmax.config.paths import source_config_dir
from sigmax.errors import ConfigError

RUNBOOK_OPTIMIZATION = """\
agents:
  use_cache: true          # Cache LLM responses
  parallel_execution: true # Run agents in parallel
  timeout: 5000           # 5s timeout per agent

modules:
  rl:
    batch_predictions: true
  quantum:
    shots: 100            # Reduce for faster decisions
"""
RUNBOOK_MEMORY = """\
decision_history:
  max_entries: 1000      # Limit in-memory history
  persist_to_redis: true

data_module:
  cache_ttl: 60          # Clear old cache data
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(source_config_dir(), target)
    return target


@pytest.fixture
def home(tmp_path: Path) -> Path:
    target = tmp_path / "home"
    target.mkdir()
    return target


def _problems(home: Path, config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(home=home, config_dir=config_dir, env={})
    return [str(p) for p in caught.value.problems]


def test_the_runbooks_files_as_written_name_every_key_they_cannot_honour(
    home: Path, config_dir: Path
) -> None:
    (config_dir / "optimization.yaml").write_text(RUNBOOK_OPTIMIZATION)
    runbook = home / "core" / "config"
    runbook.mkdir(parents=True)
    (runbook / "memory.yaml").write_text(RUNBOOK_MEMORY)
    problems = _problems(home, config_dir)
    keys = [problem.split(": not supported")[0] for problem in problems]
    assert keys == [
        "optimization.yaml: agents.use_cache",
        "optimization.yaml: modules.rl.batch_predictions",
        "optimization.yaml: modules.quantum.shots",
        "core/config/memory.yaml: decision_history.persist_to_redis",
        "core/config/memory.yaml: data_module.cache_ttl",
    ], problems


def test_the_keys_that_map_onto_settings_are_honoured(home: Path, config_dir: Path) -> None:
    (config_dir / "optimization.yaml").write_text(
        "agents:\n  parallel_execution: true\n  timeout: 5000\n"
    )
    runbook = home / "core" / "config"
    runbook.mkdir(parents=True)
    (runbook / "memory.yaml").write_text("decision_history:\n  max_entries: 1000\n")
    settings = load_settings(home=home, config_dir=config_dir, env={"NEWSAPI_KEY": "k" * 32})
    assert settings.agents.timeout_ms == 5000
    assert settings.decision_history.max_entries == 1000
    # The researcher's news requests give up after the agents' time limit.
    source = news_source_from_settings(settings)
    assert source is not None
    assert source.client is not None
    assert source.client.timeout == 5.0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "optimization.yaml",
            "agents:\n  timeout: -5\n",
            "optimization.yaml: agents.timeout: must be a whole number from 1 to 600000 (got -5)",
        ),
        (
            "optimization.yaml",
            "agents:\n  parallel_execution: false\n",
            "optimization.yaml: agents.parallel_execution: must be true",
        ),
        (
            "memory.yaml",
            "decision_history:\n  max_entries: 0\n",
            "memory.yaml: decision_history.max_entries: must be a whole number from 1",
        ),
        (
            "memory.yaml",
            "history:\n  size: 3\n",
            "memory.yaml: history.size: unknown key (SIGMAX reads only "
            "decision_history.max_entries from memory.yaml)",
        ),
    ],
)
def test_bad_values_and_unknown_keys_name_file_and_key(
    home: Path, config_dir: Path, name: str, text: str, message: str
) -> None:
    (config_dir / name).write_text(text)
    problems = _problems(home, config_dir)
    assert any(problem.startswith(message) for problem in problems), problems


def test_the_same_settings_in_the_sigmax_files(home: Path, config_dir: Path) -> None:
    config = config_dir / "config.yaml"
    config.write_text(config.read_text().replace("max_entries: null", "max_entries: 50"))
    agents = config_dir / "agents.yaml"
    agents.write_text(agents.read_text().replace("timeout_ms: null", "timeout_ms: 2500"))
    settings = load_settings(home=home, config_dir=config_dir, env={})
    assert settings.decision_history.max_entries == 50
    assert settings.agents.timeout_ms == 2500
