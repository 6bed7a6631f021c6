"""A configuration file is parsed once per text: an edit is read, a caller's change is its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from sigmax.config.sources import read_yaml_mapping


def test_an_edited_file_is_read_again_even_at_the_same_size_and_instant(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text("debate_rounds: 2\n", encoding="utf-8")
    first, _ = read_yaml_mapping(path, "agents.yaml")
    stat = path.stat()
    path.write_text("debate_rounds: 3\n", encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    second, _ = read_yaml_mapping(path, "agents.yaml")
    assert first == {"debate_rounds": 2}
    assert second == {"debate_rounds": 3}


def test_a_caller_changing_what_it_read_does_not_change_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("trading:\n  symbols: [BTC/USDT]\n", encoding="utf-8")
    first, _ = read_yaml_mapping(path, "config.yaml")
    first["trading"]["symbols"].append("ETH/USDT")
    second, _ = read_yaml_mapping(path, "config.yaml")
    assert second == {"trading": {"symbols": ["BTC/USDT"]}}


def test_a_broken_file_keeps_its_problem_on_every_read(tmp_path: Path) -> None:
    path = tmp_path / "safety.yaml"
    path.write_text("a: [1\n", encoding="utf-8")
    for _ in range(2):
        data, problems = read_yaml_mapping(path, "safety.yaml")
        assert data == {}
        assert len(problems) == 1
        assert "invalid YAML syntax" in problems[0].rule


def test_the_same_text_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    parse = yaml.load

    def counting(text: str, Loader: type) -> object:  # noqa: N803 (yaml's own name)
        parses.append(text)
        return parse(text, Loader=Loader)

    monkeypatch.setattr(yaml, "load", counting)
    path = tmp_path / "profile.yaml"
    # Texts no other test of the process parses (the cache lives as long as the process).
    first, second = (f"# {tmp_path}\nbuy_threshold: {v}\n" for v in ("0.37", "0.41"))
    path.write_text(first, encoding="utf-8")
    for _ in range(3):
        assert read_yaml_mapping(path, "profile.yaml") == ({"buy_threshold": 0.37}, [])
    path.write_text(second, encoding="utf-8")
    assert read_yaml_mapping(path, "profile.yaml") == ({"buy_threshold": 0.41}, [])
    assert parses == [first, second]
