"""DaemonSettings from BACKFUTURE_* or flags: egress IPs added to the config's policy, and bind
addresses checked before anything binds (a bad one names its flag or variable)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

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


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("127.0.0.1:99999", "port 99999 is out of range"),
        ("999.1.1.1:9464", "host '999.1.1.1' is neither an IP address nor a host name"),
        ("bad host:9464", "is neither an IP address nor a host name"),
        ("127.0.0.1", "expected HOST:PORT"),
        ("127.0.0.1:http", "expected HOST:PORT"),
    ],
)
def test_a_bad_bind_address_names_the_variable_or_the_flag(
    value: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKFUTURE_HTTP", value)
    with pytest.raises(UsageError, match=f"BACKFUTURE_HTTP: .*{why}"):
        load_settings()
    monkeypatch.delenv("BACKFUTURE_HTTP")
    with pytest.raises(UsageError, match=f"--http: .*{why}"):
        load_settings(flags={"http": "--http"}, http=value)


def test_good_bind_addresses_parse() -> None:
    assert load_settings(http="[::1]:0").http_host_port() == ("::1", 0)
    assert load_settings(http=":9464").http_host_port() == ("127.0.0.1", 9464)
    assert load_settings(http="metrics.internal:9464").http_host_port() == (
        "metrics.internal",
        9464,
    )


def test_run_with_a_bad_http_flag_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backfuture_daemon.cli import main

    assert main(["run", str(tmp_path), "--http", "127.0.0.1:99999"]) == 2
    err = capsys.readouterr().err
    assert "--http: " in err
    assert "out of range" in err
    assert "Traceback" not in err


def test_settings_become_the_loops_settings_with_a_consistent_backoff() -> None:
    from backfuture_daemon.daemon import loop_settings

    loop = loop_settings(
        load_settings(
            resync_interval_seconds=7,
            check_timeout_seconds=3,
            backoff_base_seconds=10,
            backoff_cap_seconds=2,  # below the base: raised to it, never a crash
            recheck_interval_seconds=30,
            permanent_recheck_interval_seconds=90,
        )
    )
    assert loop.resync_interval == 7
    assert loop.check_timeout == 3 * 4 + 5  # one test makes several requests
    assert (loop.backoff.base, loop.backoff.cap) == (10, 10)
    assert (loop.backoff.healthy_interval, loop.backoff.permanent_interval) == (30, 90)


def test_live_order_timeout_and_visibility_window_default_and_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings()
    assert (defaults.order_timeout_seconds, defaults.order_visibility_seconds) == (10.0, 5.0)
    monkeypatch.setenv("BACKFUTURE_ORDER_TIMEOUT_SECONDS", "4.5")
    monkeypatch.setenv("BACKFUTURE_ORDER_VISIBILITY_SECONDS", "12")
    settings = load_settings()
    assert (settings.order_timeout_seconds, settings.order_visibility_seconds) == (4.5, 12.0)


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("BACKFUTURE_ORDER_TIMEOUT_SECONDS", "0.2", "greater than or equal to 1"),
        ("BACKFUTURE_ORDER_TIMEOUT_SECONDS", "600", "less than or equal to 120"),
        ("BACKFUTURE_ORDER_TIMEOUT_SECONDS", "ten", "valid number"),
        ("BACKFUTURE_ORDER_VISIBILITY_SECONDS", "0", "greater than or equal to 1"),
        ("BACKFUTURE_ORDER_VISIBILITY_SECONDS", "-5", "greater than or equal to 1"),
        ("BACKFUTURE_ORDER_VISIBILITY_SECONDS", "3601", "less than or equal to 300"),
        ("BACKFUTURE_ORDER_VISIBILITY_SECONDS", "nan", "less than or equal to 300"),
    ],
)
def test_a_bad_live_order_setting_names_the_variable_and_the_bound(
    variable: str, value: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError, match=f"invalid settings: {variable}: .*{why}"):
        load_settings()
