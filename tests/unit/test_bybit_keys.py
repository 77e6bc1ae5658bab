"""Bybit's pure pieces: the v5 signing string (docs/v5/guide.mdx examples), `query-api` ->
KeyInfo (readOnly, Group.Permission pairs, withdraw, `ips: ["*"]`, expiry from expiredAt /
deadlineDay) and the retCode parser and table (reference §3.2-§3.5)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from backfuture_daemon.exchanges.bybit_codes import CODES, SCOPE_CODES, code_and_text
from backfuture_daemon.exchanges.bybit_keys import parse_query_api, permission_pairs
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.sandbox.bybit.signing import payload_of, sign, verify

NOW_MS = 1_760_000_000_000.0  # 2025-10-09T08:53:20Z
DAY_MS = 86_400_000


def test_signing_string_is_timestamp_key_window_payload() -> None:
    """The docs' GET and POST examples: the signed string is the bare concatenation."""
    secret = b"test-secret"
    query = "category=option&symbol=BTC-29JUL22-25000-C"
    expected = hmac.new(
        secret, b"1658384314791XXXXXXXXXX5000" + query.encode(), hashlib.sha256
    ).hexdigest()
    assert sign(secret, "1658384314791", "XXXXXXXXXX", "5000", query) == expected
    assert expected == expected.lower()
    body = '{"category": "option"}'
    signature = sign(secret, "1658385579423", "XXXXXXXXXX", "5000", body)
    assert verify(secret, "1658385579423", "XXXXXXXXXX", "5000", body, signature.upper())
    assert not verify(
        secret, "1658385579423", "XXXXXXXXXX", "5000", body.replace(" ", ""), signature
    )
    assert not verify(secret, "1658385579424", "XXXXXXXXXX", "5000", body, signature)


def test_payload_is_raw_query_for_get_and_raw_body_for_post() -> None:
    assert payload_of("GET", "/v5/x?b=2&a=1%2C2", "") == "b=2&a=1%2C2"
    assert payload_of("GET", "/v5/x?", "") == ""
    assert payload_of("GET", "/v5/x", "") == ""
    assert payload_of("POST", "/v5/order/create?ignored=1", '{"a": 1}') == '{"a": 1}'


def doc_example(**changes: Any) -> dict[str, Any]:
    """docs/v5/user/apikey-info.mdx's answer (trimmed), with `changes`."""
    data: dict[str, Any] = {
        "id": "2208369", "note": "testnet", "apiKey": "XXXXXXXX", "readOnly": 1, "secret": "",
        "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
                        "Wallet": ["AccountTransfer", "SubMemberTransfer"], "Options": [],
                        "Derivatives": ["DerivativesTrade"], "Exchange": ["ExchangeHistory"]},
        "ips": ["18.181.170.164", "13.212.45.47"], "type": 1, "deadlineDay": -2,
        "expiredAt": "1970-01-01T00:00:00Z", "createdAt": "2025-10-13T03:20:45Z", "uta": 1,
    }  # fmt: skip
    data.update(changes)
    return data


def test_read_only_key_trades_nothing_whatever_its_groups() -> None:
    info = parse_query_api(doc_example(), NOW_MS)
    assert (info.read, info.trade, info.futures, info.withdraw) == (True, False, False, False)
    assert "readOnly" in info.scopes
    assert info.ip_whitelist == ("18.181.170.164", "13.212.45.47")
    assert info.expires_in_days is None
    assert info.valid
    assert info.transfer_scopes == ("Wallet.AccountTransfer", "Wallet.SubMemberTransfer")


def test_read_write_key_spot_and_futures() -> None:
    info = parse_query_api(doc_example(readOnly=0), NOW_MS)
    assert (info.trade, info.futures) == (True, True)
    spot_only = parse_query_api(
        doc_example(readOnly=0, permissions={"Spot": ["SpotTrade"]}), NOW_MS
    )
    assert (spot_only.trade, spot_only.futures) == (True, False)
    futures_only = parse_query_api(
        doc_example(readOnly=0, permissions={"Derivatives": ["DerivativesTrade"]}), NOW_MS
    )
    assert (futures_only.trade, futures_only.futures) == (False, True)


def test_withdraw_is_read_even_on_a_read_only_key() -> None:
    info = parse_query_api(doc_example(permissions={"Wallet": ["Withdraw"]}), NOW_MS)
    assert info.withdraw is True


def test_unbound_key_expires() -> None:
    in_ten_days = NOW_MS + 10 * DAY_MS

    iso = datetime.fromtimestamp(in_ten_days / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = parse_query_api(doc_example(ips=["*"], deadlineDay=10, expiredAt=iso), NOW_MS)
    assert info.ip_whitelist == ()
    assert info.expires_in_days == 10.0
    assert info.valid
    # no usable expiredAt: deadlineDay decides
    info = parse_query_api(doc_example(ips=["*"], deadlineDay=3, expiredAt=""), NOW_MS)
    assert info.expires_in_days == 3.0
    past = parse_query_api(doc_example(ips=[], expiredAt="2025-01-01T00:00:00Z"), NOW_MS)
    assert past.expires_in_days == 0.0
    assert not past.valid
    assert "90 days" in past.invalid_reason


def test_permission_pairs_ignore_junk() -> None:
    assert permission_pairs({"Spot": ["SpotTrade", ""], "NFT": "x", "Earn": [1]}) == (
        "Spot.SpotTrade",
    )
    assert permission_pairs(None) == ()


def test_retcode_parser_and_table() -> None:
    assert code_and_text({"retCode": 10010, "retMsg": "Unmatched IP"}) == ("10010", "Unmatched IP")
    assert code_and_text({"ret_code": 10003, "ret_msg": "invalid api_key"}) == (
        "10003",
        "invalid api_key",
    )
    assert code_and_text({"foo": 1}) == (None, "")
    assert CODES["10010"] is E.IP_NOT_ALLOWED  # ccxt: PermissionDenied
    assert CODES["10016"] is E.EXCHANGE_UNAVAILABLE  # ccxt: ExchangeError
    assert CODES["33004"] is E.INVALID_KEY
    assert CODES["10002"] is E.CLOCK_SKEW
    assert CODES["10006"] is E.RATE_LIMITED
    assert frozenset({"10005"}) == SCOPE_CODES
