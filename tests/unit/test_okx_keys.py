"""OKX key facts, pure: `GET /api/v5/account/config` -> KeyInfo (perm, ip, acctLv), the
withdraw step (withdraw in perm always fails), the IP step over OKX's full list, the 14-day
deletion warning ⚠, and OKX's own code table (reference §2.2, §2.4, §2.5, §C.5)."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backfuture_daemon.exchanges.okx_codes import CODES, SCOPE_CODES
from backfuture_daemon.exchanges.okx_keys import evaluate_okx_key_expiry, parse_account_config
from backfuture_daemon.exchanges.steps import (
    evaluate_ip_whitelist,
    evaluate_permissions,
    evaluate_withdraw,
)
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S

#: The row ccxt's okx.py quotes (reference §2.2).
REFERENCE_ROW = {
    "acctLv": "2", "acctStpMode": "cancel_maker", "autoLoan": False, "ip": "", "label": "v5 test",
    "perm": "read_only,withdraw,trade", "posMode": "long_short_mode", "uid": "44705892343619584",
}  # fmt: skip


def test_reference_row() -> None:
    info = parse_account_config(REFERENCE_ROW)
    assert (info.read, info.trade, info.withdraw, info.futures) == (True, True, True, True)
    assert info.ip_whitelist == ()
    assert (info.account_level, info.mode, info.label) == ("2", "Spot and futures mode", "v5 test")
    assert info.derivatives
    assert info.deletable
    assert evaluate_withdraw(info).status is S.FAIL


@pytest.mark.parametrize("size", [0, 1, 2])
def test_withdraw_in_perm_always_fails_whatever_else(size: int) -> None:
    for others in combinations(["read_only", "trade"], size):
        for ip in ("", "127.0.0.1", "10.0.0.1,10.0.0.2"):
            for level in ("1", "2", "4"):
                perm = ",".join((*others, "withdraw"))
                info = parse_account_config({"perm": perm, "ip": ip, "acctLv": level})
                step = evaluate_withdraw(info)
                assert (step.status, step.error_class) == (S.FAIL, E.WITHDRAW_ENABLED)


def test_read_only_key_lacks_trade_and_is_not_deleted() -> None:
    info = parse_account_config({"perm": "read_only", "ip": "", "acctLv": "1"})
    step = evaluate_permissions(info, needs_trade=True, needs_futures=False)
    assert (step.status, step.error_class) == (S.FAIL, E.NO_TRADE_PERMISSION)
    assert "read_only" in step.reason
    assert not info.derivatives
    assert evaluate_okx_key_expiry(info).status is S.PASS
    assert evaluate_withdraw(info).status is S.PASS


def test_ip_list_is_the_whole_list() -> None:
    info = parse_account_config({"perm": "read_only,trade", "ip": "203.0.113.10, 198.51.100.7"})
    assert info.ip_whitelist == ("203.0.113.10", "198.51.100.7")
    assert evaluate_ip_whitelist(info, ["198.51.100.7"], require=True).status is S.PASS
    step = evaluate_ip_whitelist(info, ["192.0.2.1"], require=False)
    assert (step.status, step.error_class) == (S.FAIL, E.IP_NOT_ALLOWED)
    assert not info.deletable
    assert "bound to IPs" in evaluate_okx_key_expiry(info).reason


def test_unbound_trade_key_warns_of_deletion() -> None:
    info = parse_account_config({"perm": "read_only,trade", "ip": ""})
    step = evaluate_okx_key_expiry(info)
    assert (step.status, step.error_class) == (S.WARN, E.KEY_EXPIRING)
    assert "14 days" in step.reason
    assert "⚠" in step.reason


def test_code_table_covers_the_reference_codes() -> None:
    expected = {
        "50111": E.INVALID_KEY, "50119": E.INVALID_KEY, "50101": E.INVALID_KEY,
        "50113": E.INVALID_KEY, "50105": E.INVALID_KEY, "50102": E.CLOCK_SKEW,
        "50110": E.IP_NOT_ALLOWED, "50120": E.NO_TRADE_PERMISSION, "50011": E.RATE_LIMITED,
        "50001": E.EXCHANGE_UNAVAILABLE, "50013": E.EXCHANGE_UNAVAILABLE,
        "50026": E.EXCHANGE_UNAVAILABLE, "50007": E.ACCOUNT_SUSPENDED,
        "50009": E.ACCOUNT_SUSPENDED, "51001": E.PAIR_NOT_TRADABLE,
        "51010": E.FUTURES_UNAVAILABLE,
    }  # fmt: skip
    assert {code: CODES[code] for code in expected} == expected
    assert set(CODES) >= SCOPE_CODES


_PERMS = st.lists(st.sampled_from(["read_only", "trade", "withdraw", "Trade", " trade "]))
_IPS = st.lists(st.sampled_from(["127.0.0.1", "203.0.113.10", "2001:db8::1", ""]), max_size=3)


@settings(max_examples=200, deadline=None)
@given(perms=_PERMS, ips=_IPS, level=st.sampled_from(["", "1", "2", "3", "4", "9"]))
def test_property_withdraw_is_never_healthy_and_deletion_needs_no_ip(
    perms: list[str], ips: list[str], level: str
) -> None:
    """Whatever else the row says: withdraw in perm fails the withdraw step; the deletion
    warning appears exactly for trade/withdraw keys without a bound IP."""
    info = parse_account_config({"perm": ",".join(perms), "ip": ",".join(ips), "acctLv": level})
    names = {p.strip().lower() for p in perms}
    step = evaluate_withdraw(info)
    assert (step.status is S.FAIL) is ("withdraw" in names)
    bound = any(ip for ip in ips)
    warned = evaluate_okx_key_expiry(info).status is S.WARN
    assert warned is (bool(names & {"trade", "withdraw"}) and not bound)
    assert info.derivatives is (level in {"2", "3", "4"})
