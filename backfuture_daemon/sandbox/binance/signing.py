"""Binance request signatures (reference/exchanges-more.md §B, §1.1): HMAC-SHA256, hex, over the
raw query string (minus `signature`) concatenated with the raw form body (minus `signature`).

The Binance gateway verifies every SIGNED request with `split_signed` + `verify`; tests use
`sign` to build hand-made and tampered requests. Nothing is re-serialised: bytes as received.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def _without_signature(part: str) -> tuple[str, str | None]:
    """(the part with its `signature=` parameter removed, that signature or None)."""
    if not part:
        return "", None
    kept: list[str] = []
    signature: str | None = None
    for item in part.split("&"):
        if item.startswith("signature=") and signature is None:
            signature = item[len("signature=") :]
        else:
            kept.append(item)
    return "&".join(kept), signature


def split_signed(raw_target: str, body: str) -> tuple[str, str] | None:
    """(payload that was signed, signature) of a request, or None when no signature was sent.

    Binance's totalParams is the query string concatenated with the body, with no `&` between
    them (rest-api.md "SIGNED Endpoint Examples", example 3); the signature may ride in either.
    """
    query, query_sig = _without_signature(raw_target.partition("?")[2])
    form, body_sig = _without_signature(body)
    signature = query_sig if query_sig is not None else body_sig
    if signature is None:
        return None
    return query + form, signature


def verify(secret: bytes, payload: str, signature: str) -> bool:
    """Binance accepts the hex digest in either case."""
    return hmac.compare_digest(sign(secret, payload), signature.lower())
