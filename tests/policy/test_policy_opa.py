"""The OPA client against a real HTTP server on 127.0.0.1 that speaks OPA's Data API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from opa_standin import OpaStandIn
from policy_cases import CASES, LIMITS, POLICY_DIR, account, buy

from sigmax.config import load_settings
from sigmax.config.paths import source_config_dir
from sigmax.safety.policy import (
    OrderPolicyInput,
    PolicyEngine,
    PolicyEvaluationError,
    PolicyLoadError,
    PolicyServiceError,
    policy_engine_from_settings,
)
from sigmax.safety.policy_opa import OpaPolicyEngine

DOGE = OrderPolicyInput(buy("DOGE/USDT", "1"), account(), LIMITS)


@pytest.fixture(scope="module")
def standin() -> Iterator[OpaStandIn]:
    with OpaStandIn(POLICY_DIR) as server:
        yield server


@pytest.fixture
def opa(standin: OpaStandIn) -> Iterator[OpaPolicyEngine]:
    standin.mode = "normal"
    with OpaPolicyEngine(standin.url, timeout_seconds=0.3) as client:
        yield client
    standin.mode = "normal"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_both_evaluators_agree_over_the_table(opa: OpaPolicyEngine) -> None:
    embedded = PolicyEngine.load(POLICY_DIR)
    for case in CASES:
        local = embedded.evaluate(case.request)
        remote = opa.evaluate(case.request)
        assert remote.evaluator == "opa"
        assert (remote.allowed, remote.violations) == (local.allowed, local.violations), case.id
        assert remote.rules == tuple(sorted(case.expected)), case.id


async def test_async_evaluation(opa: OpaPolicyEngine) -> None:
    verdict = await opa.evaluate_async(DOGE)
    assert verdict.rules == ("allowed_assets",)
    await opa.aclose()


def test_opa_down_fails_closed() -> None:
    client = OpaPolicyEngine(f"http://127.0.0.1:{_closed_port()}", timeout_seconds=0.3)
    with client, pytest.raises(PolicyServiceError, match="request failed"):
        client.evaluate(DOGE)


async def test_opa_down_fails_closed_async() -> None:
    client = OpaPolicyEngine(f"http://127.0.0.1:{_closed_port()}", timeout_seconds=0.3)
    with pytest.raises(PolicyServiceError, match="request failed"):
        await client.evaluate_async(DOGE)
    await client.aclose()


def test_slow_opa_times_out(opa: OpaPolicyEngine, standin: OpaStandIn) -> None:
    standin.mode = "slow"
    with pytest.raises(PolicyServiceError, match="request timed out"):
        opa.evaluate(DOGE)


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("error", PolicyServiceError, "answered HTTP 500: internal_error: evaluation failed"),
        ("garbage", PolicyEvaluationError, "body that is not JSON"),
        ("undefined", PolicyEvaluationError, "has no document at sigmax/orders"),
        ("not_a_verdict", PolicyEvaluationError, "allow must be true or false"),
    ],
)
def test_bad_answers_fail_closed(
    opa: OpaPolicyEngine,
    standin: OpaStandIn,
    mode: str,
    error: type[Exception],
    message: str,
) -> None:
    standin.mode = mode  # type: ignore[assignment]
    with pytest.raises(error, match=message):
        opa.evaluate(DOGE)


def test_password_in_the_url_stays_out_of_messages() -> None:
    url = f"http://user:Opa-Secret-99@127.0.0.1:{_closed_port()}"
    client = OpaPolicyEngine(url, timeout_seconds=0.3)
    with client, pytest.raises(PolicyServiceError) as caught:
        client.evaluate(DOGE)
    assert "Opa-Secret-99" not in str(caught.value)
    assert client.display_url.startswith("http://127.0.0.1:")


def test_factory_picks_opa_when_a_url_is_set(standin: OpaStandIn, tmp_path: Path) -> None:
    standin.mode = "normal"
    settings = load_settings(
        home=tmp_path, config_dir=source_config_dir(), env={"OPA_URL": standin.url + "/"}
    )
    assert settings.safety.policy.opa_url == standin.url
    before = standin.requests
    engine = policy_engine_from_settings(settings)
    assert isinstance(engine, OpaPolicyEngine)
    assert standin.requests > before  # the self-check ran against the server
    assert engine.evaluate(DOGE).rules == ("allowed_assets",)
    engine.close()


def test_factory_fails_when_opa_is_down(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        config_dir=source_config_dir(),
        env={"OPA_URL": f"http://127.0.0.1:{_closed_port()}"},
    )
    with pytest.raises(PolicyServiceError):
        policy_engine_from_settings(settings)


def test_factory_refuses_an_opa_with_other_policies(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "lenient.rego").write_text(
        "package sigmax.orders\n\nimport rego.v1\n\ndeny := []\n\nallow := true\n",
        encoding="utf-8",
    )
    # The stand-in itself must load these, so it is built around an engine without checks.
    with OpaStandIn(POLICY_DIR) as lenient:
        lenient.engine = _unchecked_engine(other)
        settings = load_settings(
            home=tmp_path, config_dir=source_config_dir(), env={"OPA_URL": lenient.url}
        )
        with pytest.raises(PolicyLoadError, match="self-check failed"):
            policy_engine_from_settings(settings)


def _unchecked_engine(folder: Path) -> PolicyEngine:
    """An engine over ``folder`` built without the self-check, as a careless OPA would run it."""
    import regopy  # type: ignore[import-untyped]

    from sigmax.safety import policy

    builder = policy._interpreter()
    files = tuple(sorted(folder.glob("*.rego")))
    for path in files:
        builder.add_module(path.name, path.read_text(encoding="utf-8"))
    bundles = [builder.build(q) for q in (policy._VERDICT_QUERY, policy._DOCUMENT_QUERY)]
    assert isinstance(builder, regopy.Interpreter)
    return PolicyEngine(folder, files, builder, *bundles)
