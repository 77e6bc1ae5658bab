"""Salted fingerprints: tell that a connection's key or settings changed without storing secrets.

`Desired.from_state` (reconciler/desired.py) fingerprints every connection of an applied revision;
`backfuture plan --against` does it with the daemon's published salt. HMAC-SHA256 of canonical
JSON, 16 hex digits: secrets are high-entropy, so the salt may be public in /status.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable

from backfuture_daemon.configuration.models import Connection, Policy, Strategy


def new_salt() -> str:
    return secrets.token_hex(16)


def _digest(salt: str, payload: object) -> str:
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(salt.encode(), data.encode(), hashlib.sha256).hexdigest()[:16]


def connection_fingerprint(connection: Connection, salt: str) -> str:
    """Changes when the key, secret, passphrase, exchange, markets, endpoints or suspend change."""
    settings = connection.model_dump(
        mode="json", exclude={"api_key", "api_secret", "passphrase", "labels"}
    )
    return _digest(salt, {"settings": settings, "secrets": list(connection.secret_values())})


def check_inputs_digest(policy: Policy, strategies: Iterable[Strategy]) -> str:
    """What else the connection test depends on: policy (egress IPs) and the strategies' pairs."""
    needs = sorted((s.name, s.market.value, list(s.pairs)) for s in strategies)
    return _digest("inputs", {"policy": policy.model_dump(mode="json"), "strategies": needs})
