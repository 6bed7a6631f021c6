"""Loading policies fails closed: every broken folder or file is a typed error naming it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from policy_cases import POLICY_DIR

from sigmax.config import load_settings
from sigmax.config.paths import source_config_dir
from sigmax.errors import SigmaxError
from sigmax.safety.policy import (
    PolicyEngine,
    PolicyError,
    PolicyEvaluationError,
    PolicyLoadError,
    policy_directory,
    policy_engine_from_settings,
)


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A writable copy of the shipped policies."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder)
    return folder


def test_shipped_policies_load(policies: Path) -> None:
    engine = PolicyEngine.load(policies)
    assert [p.name for p in engine.files] == [
        "assets.rego",
        "limits.rego",
        "market.rego",
        "orders.rego",
    ]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match=r"policy folder .*nowhere does not exist"):
        PolicyEngine.load(tmp_path / "nowhere")


def test_folder_without_rego_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a policy", encoding="utf-8")
    with pytest.raises(PolicyLoadError, match=r"holds no \*\.rego files"):
        PolicyEngine.load(tmp_path)


def test_syntax_error_names_file_and_line(policies: Path) -> None:
    broken = policies / "limits.rego"
    lines = broken.read_text(encoding="utf-8").splitlines()
    lines.insert(5, "broken := {")
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PolicyLoadError) as caught:
        PolicyEngine.load(policies)
    message = str(caught.value)
    assert str(broken) in message
    assert "does not compile" in message
    assert "line 6, column 11" in message
    assert isinstance(caught.value, PolicyError)
    assert isinstance(caught.value, SigmaxError)
    assert caught.value.exit_code == 2


def test_file_in_another_package_is_refused(policies: Path) -> None:
    stray = policies / "stray.rego"
    stray.write_text("package sigmax.other\n\nimport rego.v1\n\nx := 1\n", encoding="utf-8")
    with pytest.raises(
        PolicyLoadError, match=r"stray\.rego: must declare 'package sigmax\.orders'"
    ):
        PolicyEngine.load(policies)


def test_a_rule_that_silently_never_fires_fails_the_self_check(policies: Path) -> None:
    # rego-cpp accepts a call to an unknown function; the rule then never denies anything.
    limits = policies / "limits.rego"
    text = limits.read_text(encoding="utf-8")
    broken = text.replace(
        "position_after > input.limits.max_position_size_micro_usd",
        "position_after > no_such_function(input.limits.max_position_size_micro_usd)",
    )
    assert broken != text
    limits.write_text(broken, encoding="utf-8")
    with pytest.raises(PolicyLoadError, match="self-check failed") as caught:
        PolicyEngine.load(policies)
    assert str(policies) in str(caught.value)


def test_a_removed_rule_fails_the_self_check(policies: Path) -> None:
    (policies / "market.rego").unlink()
    with pytest.raises(
        PolicyLoadError,
        match="a margin buy must give spot_only, the policies gave no violation",
    ):
        PolicyEngine.load(policies)


def test_conflicting_values_are_an_evaluation_error(policies: Path) -> None:
    (policies / "conflict.rego").write_text(
        'package sigmax.orders\n\nimport rego.v1\n\nallow := "yes" if input.order.side == "buy"\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyLoadError, match="self-check failed: evaluating"):
        PolicyEngine.load(policies)


def test_an_allow_that_disagrees_with_deny_is_refused(policies: Path) -> None:
    orders = policies / "orders.rego"
    text = orders.read_text(encoding="utf-8")
    orders.write_text(text.replace("allow := count(deny) == 0", "allow := true"), encoding="utf-8")
    with pytest.raises(PolicyLoadError, match=r"allow must be count\(deny\) == 0"):
        PolicyEngine.load(policies)


def test_malformed_input_is_denied_not_passed() -> None:
    engine = PolicyEngine.load(POLICY_DIR)
    document = engine.evaluate_document({"order": {"side": "buy", "symbol": "BTC/USDT"}})
    assert document["allow"] is False
    rules = {item["rule"] for item in document["deny"]}
    assert "malformed_input" in rules
    (malformed,) = [d["message"] for d in document["deny"] if d["rule"] == "malformed_input"]
    assert "order.notional_micro_usd must be a number >= 0" in malformed
    assert "limits.allowed_assets must be a list of text" in malformed


def test_input_that_is_not_json_is_an_evaluation_error() -> None:
    engine = PolicyEngine.load(POLICY_DIR)
    with pytest.raises(PolicyEvaluationError, match="not JSON"):
        engine.evaluate_document({"order": {"qty": float("nan")}})


def test_directory_comes_from_the_configuration_folder(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, config_dir=source_config_dir(), env={})
    assert policy_directory(settings) == source_config_dir() / "policies"
    engine = policy_engine_from_settings(settings)
    assert isinstance(engine, PolicyEngine)
    assert engine.evaluator == "embedded"


def test_relative_directory_is_inside_the_configuration_folder(
    tmp_path: Path, policies: Path
) -> None:
    config_dir = tmp_path
    (config_dir / "safety.yaml").write_text("policy:\n  directory: policies\n", encoding="utf-8")
    (config_dir / "profiles").mkdir()
    (config_dir / "profiles" / "conservative.yaml").write_text("", encoding="utf-8")
    settings = load_settings(home=tmp_path, config_dir=config_dir, env={})
    assert policy_directory(settings) == policies
    absolute = load_settings(
        home=tmp_path,
        config_dir=config_dir,
        env={},
        overrides={"safety.policy.directory": str(tmp_path / "elsewhere")},
    )
    with pytest.raises(PolicyLoadError, match="elsewhere does not exist"):
        policy_engine_from_settings(absolute)
