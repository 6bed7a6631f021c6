"""``sigmax backtest --llm``: the LLM answers a backtest's recorded decisions only when asked,
from a reply cache under SIGMAX_HOME that makes a rerun free and identical (in another process
too), and votes in later decisions in market time, never with a stance about the decision's own
moment or a later one. Against the 127.0.0.1 OpenAI stand-in, on a few days of the bundled
BTC/USDT 1h candles (the aggressive profile, which orders often enough to have answers)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, BacktestRun, simulate
from sigmax.cli import app
from sigmax.domain.candles import ms_to_iso
from sigmax.research.items import parse_time
from sigmax.research.llm.attach import llm_cache_path
from support.research_servers import OPENAI_KEY, ResearchLoopback

START, END = "2023-01-09T00:00:00Z", "2023-01-14T00:00:00Z"
WINDOW = ["--profile", "aggressive", "--symbols", "BTC/USDT", "--from", START, "--to", END]
_STANCE_FROM = re.compile(r"LLM stance, from the evidence of the decision at (\S+):")


def _use_openai(monkeypatch: pytest.MonkeyPatch, server: ResearchLoopback) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_URL", f"{server.base_url}/v1")


def _options(*, llm: bool, vote_weight: float = 0.0) -> BacktestOptions:
    return BacktestOptions(
        profile="aggressive",
        symbols=["BTC/USDT"],
        start_ms=parse_time(START),
        until_ms=parse_time(END),
        llm=llm,
        overrides={"research.llm.vote_weight": vote_weight} if vote_weight else None,
    )


def _stance_times(run: BacktestRun) -> dict[str, str | None]:
    """Per recorded decision (by time): the time of the decision whose stance it read."""
    read: dict[str, str | None] = {}
    for record in sorted(run.sink.decisions.values(), key=lambda r: r.timestamp_ms):
        researcher = record.to_dict()["agents"][0]
        assert researcher["name"] == "researcher"
        found = _STANCE_FROM.search(researcher["argument"])
        read[ms_to_iso(record.timestamp_ms)] = None if found is None else found.group(1)
    return read


async def test_without_llm_a_backtest_builds_no_provider_even_when_one_is_configured(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_openai(monkeypatch, research_server)
    plain = build_result(await simulate(_options(llm=False)))
    voting = build_result(await simulate(_options(llm=False, vote_weight=0.5)))
    assert research_server.hits == {}
    assert research_server.requests == []
    assert not llm_cache_path(_settings_home(sigmax_home)).exists()
    for result in (plain, voting):
        assert "llm" not in result.to_dict()
        assert "llm" not in result.config
    # The vote weight alone changes nothing in a backtest not asked with --llm.
    assert plain.metrics == voting.metrics


def _settings_home(home: Path) -> Any:
    from sigmax.config import load_settings

    return load_settings(home=home)


def test_llm_without_a_provider_is_refused_naming_the_variable(sigmax_home: Path) -> None:
    result = CliRunner().invoke(app, ["backtest", *WINDOW, "--llm"])
    assert result.exit_code == 2, result.output
    assert "LLM_PROVIDER" in result.output
    assert "--llm" in result.output


async def test_a_rerun_in_another_process_makes_no_call_and_gives_the_same_result(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_openai(monkeypatch, research_server)
    run = await simulate(_options(llm=True))
    result = build_result(run)
    assert run.llm is not None
    answers = result.to_dict()["llm"]["answers"]
    assert len(answers) == len(run.sink.decisions) >= 5
    assert {a["status"] for a in answers} == {"accepted"}
    assert {a["bull_argument"] for a in answers} == {"Bulls point to the trend."}
    calls = research_server.hits["openai"]
    assert calls == len(answers) == run.llm.reasoner.calls
    # The decisions were made first: the LLM changed none of them.
    assert result.metrics == build_result(await simulate(_options(llm=False))).metrics
    assert result.config["llm"] == {"provider": "openai", "model": "gpt-4o-mini", "vote_weight": 0}
    # The same backtest in a new process: every answer comes from the file under SIGMAX_HOME.
    research_server.llm_answer = {**research_server.llm_answer, "summary": "Another answer."}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from sigmax.cli import main; sys.argv[0] = 'sigmax'; main()",
        "backtest",
        *WINDOW,
        "--llm",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert research_server.hits["openai"] == calls  # zero calls on the rerun
    assert json.loads(out) == json.loads(result.to_json())
    assert f"{calls} from the cache" in err.decode()
    assert llm_cache_path(_settings_home(sigmax_home)).is_file()


async def test_the_vote_reads_only_stances_about_earlier_decisions(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_openai(monkeypatch, research_server)
    research_server.llm_answer = {
        "bull_argument": "The trend is up.",
        "bear_argument": "The bears expect a fall.",
        "summary": "A bearish call.",
        "stance": "bearish",
    }
    voted = await simulate(_options(llm=True, vote_weight=1.0))
    plain = await simulate(_options(llm=False))
    read = _stance_times(voted)
    assert voted.llm is not None
    assert voted.llm.votes
    # The first recorded decision has no earlier answer; every later one read a stance, and
    # always one about a decision strictly before its own moment.
    moments = list(read)
    assert read[moments[0]] is None
    voted_reads = [(at, source) for at, source in read.items() if source is not None]
    assert voted_reads
    for at, source in voted_reads:
        assert source is not None
        assert parse_time(source) < parse_time(at)
        assert source in read  # a recorded decision of this backtest
    # The stance is the evidence of a bearish vote, and it moves the decisions.
    stances = {
        evidence["value"]
        for record in voted.sink.decisions.values()
        for evidence in record.to_dict()["agents"][0]["evidence"]
        if evidence["key"] == "llm_stance"
    }
    assert stances == {-1.0}
    assert build_result(voted).fills != build_result(plain).fills
    calls = research_server.hits["openai"]
    assert calls == len(voted.sink.decisions)
    # Rerun: no call, the same decisions and result.
    again = await simulate(_options(llm=True, vote_weight=1.0))
    assert research_server.hits["openai"] == calls
    assert build_result(again).to_json() == build_result(voted).to_json()
    assert _stance_times(again) == read


async def test_a_failing_llm_leaves_a_voting_backtest_as_it_is_without_one(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed answer leaves no stance: every decision is the one without an LLM."""
    _use_openai(monkeypatch, research_server)
    research_server.fail["openai"] = "429"
    failed = await simulate(_options(llm=True, vote_weight=1.0))
    plain = await simulate(_options(llm=False))
    assert failed.llm is not None
    statuses = {a["status"] for a in failed.llm.to_result()["answers"]}
    assert statuses == {"failed"}
    assert build_result(failed).metrics == build_result(plain).metrics
    assert all(source is None for source in _stance_times(failed).values())
