"""Bybit's key facts as the connection test reads them, pure: `GET /v5/user/query-api` -> KeyInfo
(reference §3.2, §3.5). bybit.py parses with it; unit tests call it directly. No I/O, no clock
(`now_ms` is passed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backfuture_daemon.exchanges.port import KeyInfo

_DAY_MS = 86_400_000.0
SPOT_TRADE = "Spot.SpotTrade"
#: ⚠ the docs do not say which group UTA linear orders need: either counts (§3.2, §10).
FUTURES_TRADE = frozenset({"ContractTrade.Order", "Derivatives.DerivativesTrade"})
WITHDRAW = "Wallet.Withdraw"
#: Move funds between the user's own (sub)accounts only: not a withdrawal, but warned about.
TRANSFER = ("Wallet.AccountTransfer", "Wallet.SubMemberTransfer")
NO_IP_RULE = "Bybit: a key bound to no IP address expires 90 days after creation"


def permission_pairs(permissions: object) -> tuple[str, ...]:
    """`{"Spot": ["SpotTrade"], "Wallet": []}` -> `("Spot.SpotTrade",)`, in Bybit's order."""
    if not isinstance(permissions, Mapping):
        return ()
    return tuple(
        f"{group}.{p}"
        for group, perms in permissions.items()
        if isinstance(perms, list)
        for p in perms
        if isinstance(p, str) and p
    )


def _expiry_ms(data: Mapping[str, Any]) -> float | None:
    """`expiredAt` of a key that expires; None for a permanent one (1970 / deadlineDay -2)."""
    raw = data.get("expiredAt")
    if isinstance(raw, str) and raw and not raw.startswith("1970-"):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000.0
        except ValueError:
            pass
    return None


def parse_query_api(data: Mapping[str, Any], now_ms: float) -> KeyInfo:
    """`query-api`'s result -> KeyInfo. `readOnly: 1` trades nothing whatever its groups say;
    `Wallet.Withdraw` is withdrawal (always a failure); `ips: ["*"]` is no IP binding, and then
    the key expires: `expiredAt` (else `deadlineDay`) gives the days left."""
    pairs = permission_pairs(data.get("permissions"))
    writable = str(data.get("readOnly", "0")) == "0"
    ips = tuple(str(ip).strip() for ip in data.get("ips") or () if str(ip).strip())
    unbound = not ips or "*" in ips
    days: float | None = None
    at = _expiry_ms(data)
    if at is not None:
        days = max(0.0, round((at - now_ms) / _DAY_MS, 1))
    elif isinstance(data.get("deadlineDay"), int) and data["deadlineDay"] >= 0:
        days = float(data["deadlineDay"])
    scopes = list(pairs) + (["readOnly"] if not writable else [])
    return KeyInfo(
        read=True,  # every Bybit key reads; query-api answered
        trade=writable and SPOT_TRADE in pairs,
        futures=writable and bool(FUTURES_TRADE.intersection(pairs)),
        withdraw=WITHDRAW in pairs,
        ip_whitelist=() if unbound else ips,
        expires_in_days=days,
        valid=days is None or days > 0,
        scopes=tuple(scopes),
        invalid_reason=(
            ""
            if days is None or days > 0
            else f"the key has expired ({NO_IP_RULE}): create a new key bound to the server IPs"
        ),
        transfer_scopes=tuple(t for t in TRANSFER if t in pairs),
        created_at=_iso_seconds(data.get("createdAt")),
    )


def _iso_seconds(raw: object) -> float | None:
    if not isinstance(raw, str) or not raw or raw.startswith("1970-"):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
