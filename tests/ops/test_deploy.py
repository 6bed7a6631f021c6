"""The deployment files: Prometheus alert rules unit-tested with promtool, the compose file
checked as far as this machine allows (``docker compose config`` where the plugin exists; its
schema, health checks, volumes and every file it references otherwise), the Grafana dashboard
and the alerts over metrics SIGMAX really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sigmax.api.metrics import ApiMetrics
from sigmax.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SERVICES = {"postgres", "redis", "nats", "sigmax", "prometheus", "grafana"}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: 'make unit' installs Debian's prometheus package")
    return found


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    tool = _promtool()
    folder = DEPLOY / "prometheus"
    check = subprocess.run(
        [tool, "check", "rules", "alerts.yml"], cwd=folder, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "8 rules found" in check.stdout
    test = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=folder, capture_output=True, text=True
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_a_wrong_threshold_fails_the_alert_unit_tests(tmp_path: Path) -> None:
    """The promtool tests can fail: the daily loss limit moved to -20 breaks them."""
    tool = _promtool()
    for name in ("alerts.yml", "alerts_test.yml"):
        shutil.copy(DEPLOY / "prometheus" / name, tmp_path / name)
    rules = tmp_path / "alerts.yml"
    rules.write_text(
        rules.read_text().replace(
            'sigmax_daily_pnl_usd{job="sigmax"} < -10', 'sigmax_daily_pnl_usd{job="sigmax"} < -20'
        )
    )
    test = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert test.returncode != 0
    assert "SigmaxDailyLossLimit" in test.stdout + test.stderr


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def test_compose_file_has_every_service_with_health_checks_and_volumes() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == SERVICES
    declared = set(compose["volumes"])
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], name
        assert "image" in service or "build" in service, name
        mounts = service.get("volumes", [])
        assert mounts, f"{name} keeps no volume"
        for mount in mounts:
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert "--jetstream" in services["nats"]["command"]
    build = services["sigmax"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    assert services["sigmax"]["environment"]["NATS_URL"].startswith("nats://nats:")
    assert "postgres:5432" in services["sigmax"]["environment"]["DATABASE_URL"]
    # No secret is written in the file: each comes from the environment.
    for service in services.values():
        for key, value in dict(service.get("environment", {})).items():
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert str(value).startswith("${"), key


def test_compose_config_where_docker_compose_exists() -> None:
    docker = shutil.which("docker")
    probe = (
        None
        if docker is None
        else subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("docker compose is not installed here; the schema test above covers the file")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "x", "SIGMAX_API_TOKEN": "x", "GRAFANA_ADMIN_PASSWORD": "x"},
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_copies_what_exists_and_has_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[1-9]", text, re.M)
    assert "HEALTHCHECK" in text
    assert "sigmax health" in text
    assert "postgresql-client" in text
    for source in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / source).exists(), source


def test_the_deployed_configuration_is_valid(tmp_path: Path, sigmax_home: Path) -> None:
    shutil.copytree(ROOT / "config", sigmax_home / "config")
    shutil.copy(DEPLOY / "sigmax" / "config.yaml", sigmax_home / "config" / "config.yaml")
    settings = load_settings(home=sigmax_home)
    assert settings.api.host == "0.0.0.0"
    assert "sigmax" in settings.api.allowed_hosts


def _exported_names() -> set[str]:
    text = ApiMetrics(["BTC/USDT"]).render().decode()
    names = set(re.findall(r"^([a-z_]+)(?:\{|\s)", text, re.M))
    # Equity and day PnL are exported once an equity is known (never a made-up 0).
    source = (ROOT / "src" / "sigmax" / "api" / "metrics.py").read_text()
    names |= set(re.findall(r'GaugeMetricFamily\(\s*"([a-z_]+)"', source))
    return names | {"up"}


def _referenced(expressions: list[str]) -> set[str]:
    found: set[str] = set()
    for expr in expressions:
        found |= set(re.findall(r"\b((?:sigmax|process)_[a-z_]+|up)\b", expr))
    return found


def test_alerts_and_dashboard_read_only_metrics_sigmax_exports() -> None:
    exported = _exported_names()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "sigmax.json").read_text())
    panels = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    missing = sorted(_referenced(alerts + panels) - exported)
    assert not missing, f"not exported by /metrics: {missing}"
    assert {r["alert"] for g in rules["groups"] for r in g["rules"]} == {
        "SigmaxDecisionLatencyHigh", "SigmaxMemoryHigh", "SigmaxCpuHigh", "SigmaxDailyLossLimit",
        "SigmaxApiErrorRateHigh", "SigmaxConsecutiveLosses", "SigmaxRunStale", "SigmaxPaused",
    }  # fmt: skip


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    compose = _compose()
    mounts = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "sigmax.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert any(m.endswith(f":{path}:ro") and m.startswith("./grafana/dashboards") for m in mounts)
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "sigmax.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert uids == {source["datasources"][0]["uid"]}
