"""OKX request signing as the sandbox verifies it, checked against an independent signer:
ccxt's own `okx.sign()` (GET with an encoded query, POST with a JSON body), plus the timestamp
form OKX requires (reference §B, §2.1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt

from backfuture_daemon.sandbox.okx.signing import iso_timestamp, parse_timestamp, sign, verify

SECRET = "CANARY-okx-unit-secret"


def _ccxt_request(
    method: str, path: str, params: dict[str, Any]
) -> tuple[str, dict[str, str], str]:
    client = ccxt.okx({"apiKey": "k", "secret": SECRET, "password": "p"})
    request = client.sign(path, ["private"], method, params)
    parts = urlsplit(request["url"])
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target, request["headers"], request["body"] or ""


def test_ccxt_get_with_encoded_query_verifies() -> None:
    target, headers, body = _ccxt_request("GET", "account/balance", {"ccy": "BTC,USDT"})
    assert target == "/api/v5/account/balance?ccy=BTC%2CUSDT"
    assert body == ""
    ts, signature = headers["OK-ACCESS-TIMESTAMP"], headers["OK-ACCESS-SIGN"]
    assert verify(SECRET.encode(), ts, "GET", target, body, signature)
    assert not verify(SECRET.encode(), ts, "GET", target.replace("USDT", "USDC"), body, signature)
    assert not verify(b"another-secret", ts, "GET", target, body, signature)


def test_ccxt_post_json_body_verifies_and_body_is_signed() -> None:
    params = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
              "px": "60000", "sz": "0.001", "clOrdId": "abc123"}  # fmt: skip
    target, headers, body = _ccxt_request("POST", "trade/order", params)
    ts, signature = headers["OK-ACCESS-TIMESTAMP"], headers["OK-ACCESS-SIGN"]
    assert body.startswith("{")
    assert verify(SECRET.encode(), ts, "POST", target, body, signature)
    assert not verify(
        SECRET.encode(), ts, "POST", target, body.replace("0.001", "0.002"), signature
    )


def test_decoded_query_signature_accepted_for_encoded_target() -> None:
    ts = iso_timestamp(1_700_000_000_123)
    signature = sign(SECRET.encode(), ts, "GET", "/api/v5/account/balance?ccy=BTC,USDT", "")
    target = "/api/v5/account/balance?ccy=BTC%2CUSDT"
    assert verify(SECRET.encode(), ts, "GET", target, "", signature)


def test_timestamp_form() -> None:
    assert iso_timestamp(1_607_418_537_715) == "2020-12-08T09:08:57.715Z"
    assert parse_timestamp("2020-12-08T09:08:57.715Z") == 1_607_418_537_715
    for bad in ("1607418537715", "2020-12-08 09:08:57", "2020-12-08T09:08:57.715", "", "xZ"):
        assert parse_timestamp(bad) is None, bad
