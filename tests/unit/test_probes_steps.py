"""steps.py: the pure step evaluations and the report they build (incl. a hypothesis property)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backfuture_daemon.exchanges.kucoin import parse_key_info as kucoin_key_info
from backfuture_daemon.exchanges.mexc import parse_key_info as mexc_key_info
from backfuture_daemon.exchanges.port import KeyInfo, ServerTime
from backfuture_daemon.exchanges.steps import (
    build_report,
    evaluate_clock,
    evaluate_ip_whitelist,
    evaluate_key_expiry,
    evaluate_pairs,
    evaluate_permissions,
    evaluate_withdraw,
    ip_matches,
)
from backfuture_daemon.health import CheckStep, ConnectionStatus, ErrorClass, StepStatus

E, S = ErrorClass, StepStatus


def info(**kw: object) -> KeyInfo:
    base: dict[str, object] = dict(
        read=True, trade=True, futures=False, withdraw=False, ip_whitelist=("203.0.113.10",)
    )
    base.update(kw)
    return KeyInfo(**base)  # type: ignore[arg-type]


def test_server_time_skew_uses_the_midpoint() -> None:
    t = ServerTime(server_ms=1_000_000.0, sent_ms=1_002_000.0, received_ms=1_002_100.0)
    assert t.latency_ms == 100.0
    assert t.skew_ms == 2050.0


def test_mexc_rejects_a_clock_more_than_one_second_ahead() -> None:
    ahead = evaluate_clock(1500, 5000, ahead_ms=1000)
    assert (ahead.status, ahead.error_class) == (S.FAIL, E.CLOCK_SKEW)
    assert "ahead" in ahead.reason
    assert evaluate_clock(-1500, 5000, ahead_ms=1000).status is S.WARN
    assert evaluate_clock(800, 5000, ahead_ms=1000).status is S.PASS


def test_clock_thresholds() -> None:
    assert evaluate_clock(900, 5000).status is S.PASS
    warn = evaluate_clock(-1800, 5000)
    assert (warn.status, warn.error_class) == (S.WARN, E.CLOCK_SKEW)
    fail = evaluate_clock(6000, 5000)
    assert (fail.status, fail.error_class) == (S.FAIL, E.CLOCK_SKEW)


def test_permissions() -> None:
    assert evaluate_permissions(info(), needs_trade=True, needs_futures=False).status is S.PASS
    no_trade = evaluate_permissions(info(trade=False), needs_trade=True, needs_futures=False)
    assert (no_trade.status, no_trade.error_class) == (S.FAIL, E.NO_TRADE_PERMISSION)
    no_read = evaluate_permissions(info(read=False), needs_trade=True, needs_futures=False)
    assert no_read.error_class is E.NO_READ_PERMISSION
    fut = evaluate_permissions(info(futures=False), needs_trade=True, needs_futures=True)
    assert fut.error_class is E.NO_FUTURES_PERMISSION
    # futures permission is not required when no strategy needs it
    assert (
        evaluate_permissions(info(futures=False), needs_trade=True, needs_futures=False).status
        is S.PASS
    )
    invalid = evaluate_permissions(info(valid=False), needs_trade=True, needs_futures=False)
    assert invalid.error_class is E.INVALID_KEY


def test_withdraw_always_fails_when_enabled() -> None:
    step = evaluate_withdraw(info(withdraw=True))
    assert (step.status, step.error_class) == (S.FAIL, E.WITHDRAW_ENABLED)
    assert evaluate_withdraw(info()).status is S.PASS
    assert evaluate_withdraw(None).status is S.UNKNOWN


def test_ip_whitelist() -> None:
    ok = evaluate_ip_whitelist(info(), ["203.0.113.10"], require=False)
    assert ok.status is S.PASS
    missing = evaluate_ip_whitelist(info(ip_whitelist=()), ["203.0.113.10"], require=False)
    assert (missing.status, missing.error_class) == (S.WARN, E.IP_WHITELIST_MISSING)
    required = evaluate_ip_whitelist(info(ip_whitelist=()), ["203.0.113.10"], require=True)
    assert (required.status, required.error_class) == (S.FAIL, E.IP_WHITELIST_MISSING)
    other = evaluate_ip_whitelist(
        info(ip_whitelist=("198.51.100.7",)), ["203.0.113.10"], require=False
    )
    assert (other.status, other.error_class) == (S.FAIL, E.IP_NOT_ALLOWED)
    assert "203.0.113.10" in other.reason
    assert evaluate_ip_whitelist(None, ["1.2.3.4"], require=True).status is S.UNKNOWN


def test_kucoin_masked_ips_compare_first_and_last_octet() -> None:
    assert ip_matches("203.0.113.154", "203.**.154")
    assert not ip_matches("203.0.113.155", "203.**.154")
    assert not ip_matches("204.0.113.154", "203.**.154")
    assert ip_matches("10.1.2.3", "10.0.0.0/8")
    step = evaluate_ip_whitelist(
        info(ip_whitelist=("203.**.10", "103.**.34")), ["203.0.113.10"], require=True
    )
    assert step.status is S.PASS


def test_key_expiry() -> None:
    soon, ts = evaluate_key_expiry(info(expires_in_days=10), now=1000.0)
    assert (soon.status, soon.error_class) == (S.WARN, E.KEY_EXPIRING)
    assert ts == 1000.0 + 10 * 86400
    later, _ = evaluate_key_expiry(info(expires_in_days=60), now=0.0)
    assert later.status is S.PASS
    never, none_ts = evaluate_key_expiry(info(expires_in_days=None), now=0.0)
    assert never.status is S.PASS
    assert none_ts is None


def test_pairs() -> None:
    bad = evaluate_pairs(["DOGE/USDT: no such spot market"], 2)
    assert (bad.status, bad.error_class) == (S.FAIL, E.PAIR_NOT_TRADABLE)
    assert "DOGE/USDT" in bad.reason
    assert evaluate_pairs([], 2).status is S.PASS


def test_parse_mexc_key_info() -> None:
    ki = mexc_key_info(
        {
            "permissions": "SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,SPOT_WITHDRAW_WRITE",
            "ipWhiteList": "",
            "remainingValidity": 82,
            "status": "VALID",
        }
    )
    assert (ki.read, ki.trade, ki.futures, ki.withdraw) == (True, True, False, True)
    assert ki.ip_whitelist == ()
    assert ki.expires_in_days == 82


def test_parse_kucoin_key_info() -> None:
    ki = kucoin_key_info({"permission": "General,Spot,Futures", "ipWhitelist": "203.**.154"})
    assert (ki.read, ki.trade, ki.futures, ki.withdraw) == (True, True, True, False)
    assert ki.ip_whitelist == ("203.**.154",)
    assert kucoin_key_info({"permission": "General,Transfer"}).withdraw is True


def test_report_status_and_classes_in_step_order() -> None:
    steps = [
        CheckStep("reachability", S.PASS),
        CheckStep("ip_whitelist", S.WARN, "x", E.IP_WHITELIST_MISSING),
        CheckStep("key_expiry", S.WARN, "y", E.KEY_EXPIRING),
    ]
    report = build_report("C", "mexc", steps)
    assert report.status is ConnectionStatus.DEGRADED
    assert report.healthy
    assert report.error_classes == (E.IP_WHITELIST_MISSING, E.KEY_EXPIRING)


_opt_bool = st.one_of(st.none(), st.booleans())
_step = st.builds(
    CheckStep,
    name=st.sampled_from(["reachability", "clock", "auth", "permissions", "pairs", "futures"]),
    status=st.sampled_from(list(S)),
    reason=st.text(max_size=5),
    error_class=st.one_of(st.none(), st.sampled_from(list(E))),
)


@given(
    read=_opt_bool,
    trade=_opt_bool,
    futures=_opt_bool,
    whitelist=st.one_of(st.none(), st.lists(st.ip_addresses(v=4).map(str), max_size=3).map(tuple)),
    expires=st.one_of(st.none(), st.floats(min_value=0, max_value=400)),
    valid=st.booleans(),
    needs_trade=st.booleans(),
    needs_futures=st.booleans(),
    require=st.booleans(),
    others=st.lists(_step, max_size=6),
)
def test_withdraw_enabled_key_is_never_healthy(
    read: bool | None,
    trade: bool | None,
    futures: bool | None,
    whitelist: tuple[str, ...] | None,
    expires: float | None,
    valid: bool,
    needs_trade: bool,
    needs_futures: bool,
    require: bool,
    others: list[CheckStep],
) -> None:
    ki = KeyInfo(
        read=read,
        trade=trade,
        futures=futures,
        withdraw=True,
        ip_whitelist=whitelist,
        expires_in_days=expires,
        valid=valid,
    )
    steps = [
        *others,
        evaluate_permissions(ki, needs_trade=needs_trade, needs_futures=needs_futures),
        evaluate_withdraw(ki),
        evaluate_ip_whitelist(ki, ["203.0.113.10"], require=require),
        evaluate_key_expiry(ki, now=0.0)[0],
    ]
    report = build_report("C", "kucoin", steps)
    assert not report.healthy
    assert report.status is ConnectionStatus.FAILED
    assert E.WITHDRAW_ENABLED in report.error_classes
