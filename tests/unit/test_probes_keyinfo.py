"""Review of the key-info parsing and step rules (issue 3): KuCoin key versions and
InnerTransfer, MEXC key status and read-only withdrawal scope, expired keys, IPv6 egress IPs.
"""

from __future__ import annotations

from backfuture_daemon.exchanges.clients import retry_after
from backfuture_daemon.exchanges.kucoin import parse_key_info as kucoin_key_info
from backfuture_daemon.exchanges.mexc import parse_key_info as mexc_key_info
from backfuture_daemon.exchanges.port import KeyInfo
from backfuture_daemon.exchanges.steps import (
    evaluate_ip_whitelist,
    evaluate_key_expiry,
    evaluate_permissions,
    evaluate_withdraw,
    ip_matches,
)
from backfuture_daemon.health import ErrorClass, StepStatus

E, S = ErrorClass, StepStatus

KUCOIN = {"apiKey": "k", "permission": "General,Spot", "apiVersion": 3, "isMaster": True}
MEXC = {"permissions": "SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE", "status": "VALID"}


def info(**kw: object) -> KeyInfo:
    base: dict[str, object] = dict(
        read=True, trade=True, futures=False, withdraw=False, ip_whitelist=("203.0.113.10",)
    )
    base.update(kw)
    return KeyInfo(**base)  # type: ignore[arg-type]


def test_kucoin_v3_key_is_valid() -> None:
    assert kucoin_key_info(KUCOIN).valid


def test_kucoin_v1_v2_keys_are_invalid_with_the_remedy() -> None:
    for version in (1, 2, "2"):
        parsed = kucoin_key_info({**KUCOIN, "apiVersion": version})
        assert not parsed.valid
        step = evaluate_permissions(parsed, needs_trade=True, needs_futures=False)
        assert (step.status, step.error_class) == (S.FAIL, E.INVALID_KEY)
        assert "V3" in step.reason
        assert "version 2" in step.reason or "version 1" in step.reason


def test_kucoin_missing_api_version_is_not_held_against_the_key() -> None:
    data = {k: v for k, v in KUCOIN.items() if k != "apiVersion"}
    assert kucoin_key_info(data).valid


def test_kucoin_inner_transfer_warns_transfer_fails() -> None:
    inner = kucoin_key_info({**KUCOIN, "permission": "General,Spot,InnerTransfer"})
    assert inner.withdraw is False
    step = evaluate_withdraw(inner)
    assert step.status is S.WARN
    assert "InnerTransfer" in step.reason
    both = kucoin_key_info({**KUCOIN, "permission": "General,Spot,InnerTransfer,Transfer"})
    fail = evaluate_withdraw(both)
    assert (fail.status, fail.error_class) == (S.FAIL, E.WITHDRAW_ENABLED)


def test_mexc_status_not_valid_names_the_status() -> None:
    parsed = mexc_key_info({**MEXC, "status": "EXPIRED"})
    step = evaluate_permissions(parsed, needs_trade=True, needs_futures=False)
    assert (step.status, step.error_class) == (S.FAIL, E.INVALID_KEY)
    assert "EXPIRED" in step.reason


def test_mexc_withdraw_read_alone_passes_and_is_named() -> None:
    parsed = mexc_key_info({**MEXC, "permissions": MEXC["permissions"] + ",SPOT_WITHDRAW_READ"})
    assert parsed.withdraw is False
    step = evaluate_withdraw(parsed)
    assert step.status is S.PASS
    assert "SPOT_WITHDRAW_READ" in step.reason
    write = mexc_key_info({**MEXC, "permissions": "SPOT_ACCOUNT_READ,SPOT_WITHDRAW_WRITE"})
    assert evaluate_withdraw(write).error_class is E.WITHDRAW_ENABLED


def test_an_expired_key_fails() -> None:
    step, expiry = evaluate_key_expiry(info(expires_in_days=0.0), now=1000.0)
    assert (step.status, step.error_class) == (S.FAIL, E.INVALID_KEY)
    assert expiry == 1000.0
    warn, _ = evaluate_key_expiry(info(expires_in_days=3.0), now=0.0)
    assert (warn.status, warn.error_class) == (S.WARN, E.KEY_EXPIRING)


def test_ipv6_egress_ips() -> None:
    assert ip_matches("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001")
    assert ip_matches("2001:db8::1", "2001:db8::/32")
    assert not ip_matches("2001:db8::1", "203.**.1")  # a masked IPv4 entry
    assert not ip_matches("2001:db8::1", "203.0.113.1")
    # KuCoin-style masking of an IPv6 entry: first and last group compared.
    assert ip_matches("2001:db8::1", "2001:**:1")
    assert not ip_matches("2001:db8::2", "2001:**:1")
    # An IPv4-mapped IPv6 egress address is the IPv4 address.
    assert ip_matches("::ffff:203.0.113.10", "203.0.113.10")
    assert ip_matches("::ffff:203.0.113.10", "203.**.10")
    step = evaluate_ip_whitelist(
        info(ip_whitelist=("203.0.113.10",)), ["203.0.113.10", "2001:db8::1"], require=True
    )
    assert (step.status, step.error_class) == (S.FAIL, E.IP_NOT_ALLOWED)
    assert "2001:db8::1" in step.reason


def test_masked_match_says_it_is_partial() -> None:
    step = evaluate_ip_whitelist(info(ip_whitelist=("203.**.10",)), ["203.0.113.10"], require=True)
    assert step.status is S.PASS
    assert "first and last" in step.reason


def test_retry_after_header_parsing() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after": " 1.5 "}) == 1.5
    assert retry_after({"gw-ratelimit-reset": "2500"}) == 2.5
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after({}) is None
