"""DaemonSettings from BACKFUTURE_* and the egress IPs it adds to the config's policy."""

from __future__ import annotations

import ipaddress

import pytest

from backfuture_daemon.configuration.models import Policy, with_egress_ips
from backfuture_daemon.errors import UsageError
from backfuture_daemon.settings import load_settings


def test_egress_ips_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFUTURE_EGRESS_IPS", "203.0.113.10, 2001:db8::1")
    assert load_settings().egress_ips == (
        ipaddress.ip_address("203.0.113.10"),
        ipaddress.ip_address("2001:db8::1"),
    )


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFUTURE_EGRESS_IPS", "not-an-ip")
    monkeypatch.setenv("BACKFUTURE_RESYNC_INTERVAL_SECONDS", "-1")
    with pytest.raises(UsageError) as exc:
        load_settings()
    assert "BACKFUTURE_EGRESS_IPS: Input is not a valid IPv4 address" in str(exc.value)
    assert "BACKFUTURE_RESYNC_INTERVAL_SECONDS: Input should be greater than 0" in str(exc.value)


def test_settings_egress_ips_are_added_to_the_policy_once() -> None:
    a, b = ipaddress.ip_address("203.0.113.10"), ipaddress.ip_address("198.51.100.7")
    policy = Policy(egress_ips=(a,))
    assert with_egress_ips(policy, (b, a)).egress_ips == (a, b)
    assert with_egress_ips(policy, ()) is policy
    assert with_egress_ips(policy, (a,)) is policy
