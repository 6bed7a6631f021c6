"""Choosing the bus from the configuration, and NATS_URL as a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigmax.bus import InProcessBus, NatsJetStreamBus, bus_from_settings, redact_nats_url
from sigmax.config import load_settings
from sigmax.config.settings import Services, Settings
from sigmax.errors import ConfigError


def test_no_nats_url_means_the_in_process_bus() -> None:
    assert isinstance(bus_from_settings(Settings()), InProcessBus)


def test_nats_url_means_the_jetstream_bus() -> None:
    settings = Settings(services=Services(nats_url="nats://bus:Pw-111@127.0.0.1:4222"))
    bus = bus_from_settings(settings)
    assert isinstance(bus, NatsJetStreamBus)
    assert bus.server_summary == "nats://***@127.0.0.1:4222"
    assert (bus.stream, bus.subject_prefix) == ("SIGMAX", "sigmax.events")


def test_nats_url_from_the_environment_is_secret(sigmax_home: Path) -> None:
    url = "nats://bus:Pw-222@10.0.0.5:4222,nats://Token-333@10.0.0.6:4222"
    settings = load_settings(home=sigmax_home, env={"NATS_URL": url})
    assert settings.services.nats_url is not None
    assert settings.services.nats_url.get_secret_value() == url
    for secret in ("Pw-222", "Token-333"):
        assert secret not in repr(settings)
        assert secret not in settings.model_dump_json()
        assert secret in settings.secret_values()
    assert url in settings.secret_values()


def test_a_bad_nats_url_is_reported_masked(sigmax_home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(home=sigmax_home, env={"NATS_URL": "http://u:Pw-444@host:4222"})
    assert [str(p) for p in caught.value.problems] == [
        "NATS_URL: must be a nats://, tls://, ws:// or wss:// URL with a host "
        "(several separated by commas) (got **********)"
    ]
    assert "Pw-444" not in str(caught.value)


def test_redacted_urls_keep_hosts_and_ports_only() -> None:
    assert redact_nats_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert (
        redact_nats_url("tls://t0k@[::1]:4443, nats://a:b@h") == "tls://***@[::1]:4443,nats://***@h"
    )
