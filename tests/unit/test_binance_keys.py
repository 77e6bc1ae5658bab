"""Binance key facts, pure: apiRestrictions -> KeyInfo (withdraw, transfer flags, the 30-day
trading lapse of unrestricted keys) and the IP step for an exchange that only says "restricted:
yes/no"; and Binance's code table (reference §1.2, §1.4, §1.5, §C)."""

from __future__ import annotations

import ccxt
import pytest

from backfuture_daemon.exchanges import classify
from backfuture_daemon.exchanges.binance import plain_amount
from backfuture_daemon.exchanges.binance_codes import CODES, FAMILY
from backfuture_daemon.exchanges.binance_keys import evaluate_ip_restriction, parse_api_restrictions
from backfuture_daemon.exchanges.steps import evaluate_key_expiry, evaluate_withdraw
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S

DAY = 86_400_000
NOW = 1_800_000_000_000
DOC = {  # the documented example (api-key-permission)
    "ipRestrict": False, "createTime": 1698645219000, "enableInternalTransfer": False,
    "enableFutures": False, "enablePortfolioMarginTrading": True, "enableVanillaOptions": False,
    "permitsUniversalTransfer": False, "enableReading": True,
    "enableSpotAndMarginTrading": False, "enableWithdrawals": False, "enableMargin": False,
    "enableFixApiTrade": False, "enableFixReadOnly": True,
    "tradingAuthorityExpirationTime": 1628985600000,
}  # fmt: skip


def test_documented_example() -> None:
    info = parse_api_restrictions(DOC, NOW)
    assert (info.read, info.trade, info.futures, info.withdraw) == (True, False, False, False)
    assert info.ip_whitelist == ()
    assert not info.ip_restricted
    assert info.expires_in_days == 0.0  # the example's trading authority lapsed in 2021
    assert "enablePortfolioMarginTrading" in info.scopes


def test_restricted_key_has_no_list_and_no_expiry() -> None:
    data = {**DOC, "ipRestrict": True, "enableSpotAndMarginTrading": True}
    data.pop("tradingAuthorityExpirationTime")
    info = parse_api_restrictions(data, NOW)
    assert info.ip_whitelist is None
    assert info.ip_restricted
    assert info.trade is True
    assert info.expires_in_days is None
    assert "ipRestrict" in info.scopes


def test_unrestricted_trading_lapses_after_its_expiration_time() -> None:
    data = {**DOC, "enableSpotAndMarginTrading": True}
    soon = parse_api_restrictions({**data, "tradingAuthorityExpirationTime": NOW + 5 * DAY}, NOW)
    assert (soon.trade, soon.expires_in_days) == (True, 5.0)
    step, _ = evaluate_key_expiry(soon, NOW / 1000)
    assert (step.status, step.error_class) == (S.WARN, E.KEY_EXPIRING)
    gone = parse_api_restrictions({**data, "tradingAuthorityExpirationTime": NOW - DAY}, NOW)
    assert gone.trade is False
    assert any("expired" in s for s in gone.scopes)


@pytest.mark.parametrize("flags", [{"enableWithdrawals": True},
                                   {"enableWithdrawals": True, "ipRestrict": True}])  # fmt: skip
def test_withdrawal_always_fails(flags: dict[str, bool]) -> None:
    info = parse_api_restrictions({**DOC, "enableSpotAndMarginTrading": True, **flags}, NOW)
    step = evaluate_withdraw(info)
    assert (step.status, step.error_class) == (S.FAIL, E.WITHDRAW_ENABLED)


def test_transfer_flags_warn() -> None:
    info = parse_api_restrictions({**DOC, "permitsUniversalTransfer": True}, NOW)
    step = evaluate_withdraw(info)
    assert step.status is S.WARN
    assert "permitsUniversalTransfer" in step.reason


def test_ip_step_says_what_binance_shows() -> None:
    restricted = parse_api_restrictions({**DOC, "ipRestrict": True}, NOW)
    one = evaluate_ip_restriction(restricted, ["203.0.113.10"], require=True)
    assert one.status is S.PASS
    assert "restricted yes/no" in one.reason
    assert "called from is on the list" in one.reason
    two = evaluate_ip_restriction(restricted, ["203.0.113.10", "198.51.100.7"], require=False)
    assert two.status is S.PASS
    assert "198.51.100.7" in two.reason
    assert "cannot be read" in two.reason
    open_key = parse_api_restrictions(DOC, NOW)
    warn = evaluate_ip_restriction(open_key, [], require=False)
    assert (warn.status, warn.error_class) == (S.WARN, E.IP_WHITELIST_MISSING)
    assert "30 days" in warn.reason
    fail = evaluate_ip_restriction(open_key, [], require=True)
    assert (fail.status, fail.error_class) == (S.FAIL, E.IP_WHITELIST_MISSING)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"code":-2014,"msg":"API-key format invalid."}', E.INVALID_KEY),
        ('{"code":-2008,"msg":"Invalid Api-Key ID."}', E.INVALID_KEY),
        ('{"code":-1022,"msg":"Signature for this request is not valid."}', E.INVALID_KEY),
        ('{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
         E.IP_NOT_ALLOWED),
        ('{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}',
         E.CLOCK_SKEW),
        ('{"code":-1003,"msg":"Too much request weight used"}', E.RATE_LIMITED),
        ('{"code":-1008,"msg":"Server is currently overloaded"}', E.EXCHANGE_UNAVAILABLE),
        ('{"code":-1121,"msg":"Invalid symbol."}', E.PAIR_NOT_TRADABLE),
    ],
)  # fmt: skip
def test_code_beats_ccxt_class(body: str, expected: E) -> None:
    """ccxt classes these as DDoSProtection / ExchangeError / AuthenticationError depending
    on URL and history (§C.1, §C.2); Binance's table (registered in classify) decides. A
    DDoSProtection -2015 is not a rate limit, an ExchangeError -1003 is."""
    assert classify.CODES["binance"] is CODES
    assert all(classify.FAMILY[ccxt_id] == family for ccxt_id, family in FAMILY.items())
    for cls in (ccxt.DDoSProtection, ccxt.ExchangeError, ccxt.AuthenticationError):
        c = classify.classify_error(cls(f"binance {body}"), "binanceusdm")
        assert c.error_class is expected
        assert c.known_code


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("1000.00000000", "1000"), ("100", "100"), ("0.00000000", "0"), ("0.50000000", "0.5"),
     (None, "0"), ("NaN", "0"), ("abc", "0")],
)  # fmt: skip
def test_balance_amounts_shown_plain(raw: object, shown: str) -> None:
    assert plain_amount(raw) == shown
