"""OKX request signatures (reference/exchanges-more.md §B, §2.1): HMAC-SHA256, base64, over
`OK-ACCESS-TIMESTAMP + METHOD + requestPath (with '?' + query) + body`.

The OKX gateway verifies every private request with `verify`; tests use `sign` to build
hand-made and tampered requests. Nothing is re-serialised: path, query and body as received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import unquote


def sign(secret: bytes, timestamp: str, method: str, request_path: str, body: str) -> str:
    message = f"{timestamp}{method.upper()}{request_path}{body}".encode()
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


def verify(
    secret: bytes, timestamp: str, method: str, raw_target: str, body: str, signature: str
) -> bool:
    """The signature over the request-target as sent (ccxt: URL-encoded query); clients that
    sign the query decoded (`ccy=BTC,USDT`) but send it encoded also pass (reference §E)."""
    candidates = [raw_target]
    decoded = unquote(raw_target)
    if decoded != raw_target:
        candidates.append(decoded)
    return any(
        hmac.compare_digest(sign(secret, timestamp, method, target, body), signature)
        for target in candidates
    )


def iso_timestamp(ms: int) -> str:
    """OKX's timestamp form: ISO 8601 with milliseconds and `Z` (2020-12-08T09:08:57.715Z)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_timestamp(value: str) -> int | None:
    """`OK-ACCESS-TIMESTAMP` -> epoch ms; None when it is not ISO 8601 UTC (`...Z`)."""
    if not value.endswith("Z") or "T" not in value:
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)
