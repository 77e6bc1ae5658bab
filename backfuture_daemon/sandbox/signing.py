"""Request signatures as MEXC and KuCoin compute them (reference/exchanges.md §2.1, §3, §4.1, §9).

The venue handlers call the `verify_*` functions on every private request; tests use the `sign_*`
functions to build hand-made (and deliberately tampered) requests. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote


def _hex(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def _b64(secret: bytes, message: str) -> str:
    return base64.b64encode(hmac.new(secret, message.encode(), hashlib.sha256).digest()).decode()


def split_mexc_spot_query(raw_target: str) -> tuple[str, str] | None:
    """(signed part, signature) of a MEXC spot request-target, or None without a signature.
    The signature is the last parameter; everything before `&signature=` is signed, raw."""
    qs = raw_target.partition("?")[2]
    if qs.startswith("signature="):
        return "", qs[len("signature=") :]
    i = qs.rfind("&signature=")
    if i < 0:
        return None
    return qs[:i], qs[i + len("&signature=") :]


def sign_mexc_spot(secret: bytes, query: str) -> str:
    return _hex(secret, query)


def verify_mexc_spot(secret: bytes, signed: str, signature: str) -> bool:
    return hmac.compare_digest(_hex(secret, signed), signature)


def sign_mexc_contract(secret: bytes, api_key: str, request_time: str, param: str) -> str:
    """param: key-sorted urlencoded query (GET/DELETE) or the raw JSON body (POST)."""
    return _hex(secret, api_key + request_time + param)


def verify_mexc_contract(
    secret: bytes, api_key: str, request_time: str, param: str, signature: str
) -> bool:
    return hmac.compare_digest(_hex(secret, api_key + request_time + param), signature)


def kucoin_endpoint(raw_target: str) -> str:
    """What KuCoin signs as the endpoint: path + raw (unquoted) query."""
    return unquote(raw_target)


def sign_kucoin(secret: bytes, timestamp: str, method: str, endpoint: str, body: str) -> str:
    return _b64(secret, timestamp + method.upper() + endpoint + body)


def sign_kucoin_passphrase(secret: bytes, passphrase: str) -> str:
    """KC-API-KEY-VERSION 2/3: the passphrase header is itself HMAC'd with the secret."""
    return _b64(secret, passphrase)


def verify_kucoin(
    secret: bytes, timestamp: str, method: str, endpoint: str, body: str, signature: str
) -> bool:
    return hmac.compare_digest(sign_kucoin(secret, timestamp, method, endpoint, body), signature)


def verify_kucoin_passphrase(secret: bytes, passphrase: str, header: str) -> bool:
    return hmac.compare_digest(sign_kucoin_passphrase(secret, passphrase), header)
