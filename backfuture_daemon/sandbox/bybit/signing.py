"""Bybit v5 request signatures (reference/exchanges-more.md §B, §3.1): HMAC-SHA256, lowercase
hex, over `timestamp + api_key + recv_window + payload`, where the payload is the raw query
string (GET/DELETE) or the raw JSON body (POST). The Bybit gateway verifies every private request
with `payload_of` + `verify`; tests use `sign` to build hand-made and tampered requests.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: bytes, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    message = f"{timestamp}{api_key}{recv_window}{payload}"
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def payload_of(method: str, raw_target: str, body: str) -> str:
    """What was signed, as received: never re-serialised (clients differ in parameter order and
    encoding). ccxt appends `?` to an empty GET; the empty query signs as "" (§E)."""
    if method.upper() == "POST":
        return body
    return raw_target.partition("?")[2]


def verify(
    secret: bytes, timestamp: str, api_key: str, recv_window: str, payload: str, signature: str
) -> bool:
    expected = sign(secret, timestamp, api_key, recv_window, payload)
    return hmac.compare_digest(expected, signature.lower())
