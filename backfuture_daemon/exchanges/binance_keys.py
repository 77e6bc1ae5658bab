"""Binance's key facts as the connection test reads them, pure: `GET /sapi/v1/account/
apiRestrictions` -> KeyInfo, and the IP-whitelist step for an exchange that only says
"restricted: yes/no" (reference §1.2, §1.5). binance.py parses with it; steps.py (once
registered) and the tests call `evaluate_ip_restriction`. No I/O, no clock (`now_ms` is passed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backfuture_daemon.exchanges.port import KeyInfo, epoch_seconds
from backfuture_daemon.health import CheckStep, ErrorClass, StepStatus

E = ErrorClass
S = StepStatus
_DAY_MS = 86_400_000.0
#: Flags shown in the permission step's reason, in the order Binance documents them.
FLAGS: tuple[str, ...] = (
    "enableReading",
    "enableSpotAndMarginTrading",
    "enableFutures",
    "enableMargin",
    "enableWithdrawals",
    "enableInternalTransfer",
    "permitsUniversalTransfer",
    "enableVanillaOptions",
    "enablePortfolioMarginTrading",
    "enableFixApiTrade",
    "enableFixReadOnly",
)
#: Move funds between the user's own accounts only: not a withdrawal, but warned about.
TRANSFER_FLAGS: tuple[str, ...] = ("enableInternalTransfer", "permitsUniversalTransfer")
UNRESTRICTED = (
    "Binance: a key without IP restriction loses Spot & Margin trading 30 days after creation"
)


@dataclass(frozen=True, slots=True)
class BinanceKeyInfo(KeyInfo):
    """KeyInfo plus what Binance does say about IPs: restricted or not (never the list)."""

    ip_restricted: bool = False


def parse_api_restrictions(data: Mapping[str, Any], now_ms: float) -> BinanceKeyInfo:
    """`apiRestrictions` -> KeyInfo. An unrestricted key's trading lapses at
    `tradingAuthorityExpirationTime`: that is its `expires_in_days` (0 and no trade once past)."""
    granted = tuple(f for f in FLAGS if data.get(f) is True)
    restricted = data.get("ipRestrict") is True
    trade = "enableSpotAndMarginTrading" in granted
    days: float | None = None
    scopes = list(granted) + (["ipRestrict"] if restricted else [])
    expiry = data.get("tradingAuthorityExpirationTime")
    if expiry is not None and not restricted:
        days = max(0.0, round((float(expiry) - now_ms) / _DAY_MS, 1))
        if days <= 0:
            trade = False
            scopes.append("trading permission expired (no IP restriction)")
    return BinanceKeyInfo(
        read=data.get("enableReading") is True,
        trade=trade,
        futures=data.get("enableFutures") is True,
        withdraw=data.get("enableWithdrawals") is True,
        # Binance shows no list for the key itself: None when restricted, () when not.
        ip_whitelist=None if restricted else (),
        expires_in_days=days,
        scopes=tuple(scopes),
        transfer_scopes=tuple(f for f in TRANSFER_FLAGS if f in granted),
        ip_restricted=restricted,
        created_at=epoch_seconds(data.get("createTime")),
    )


def evaluate_ip_restriction(
    info: BinanceKeyInfo, egress_ips: Sequence[str], *, require: bool
) -> CheckStep:
    """The IP-whitelist step when the exchange says only whether the key is restricted.

    Restricted: the list itself cannot be read, but this test's signed requests were accepted,
    so the address it left from is on it (a refused one fails the auth step as ip_not_allowed).
    The other egress IPs cannot be confirmed; the reason says so. Unrestricted: as everywhere,
    a warning (a failure under policy.require_ip_whitelist), with Binance's 30-day rule.
    """
    if not info.ip_restricted:
        text = f"the key has no IP restriction ({UNRESTRICTED})"
        if require:
            return CheckStep(
                "ip_whitelist",
                S.FAIL,
                f"{text}; policy.require_ip_whitelist is true",
                E.IP_WHITELIST_MISSING,
            )
        return CheckStep(
            "ip_whitelist",
            S.WARN,
            f"{text}; recommended: restrict it to the server IPs",
            E.IP_WHITELIST_MISSING,
        )
    reason = (
        "the key is restricted to trusted IPs (Binance reports only restricted yes/no, never "
        "the addresses); this test's signed requests were accepted, so the IP it called from "
        "is on the list"
    )
    if len(egress_ips) > 1:
        reason += (
            f"; whether every egress IP ({', '.join(egress_ips)}) is on it cannot be read: "
            "a request from one that is not is refused with -2015 (ip_not_allowed)"
        )
    return CheckStep("ip_whitelist", S.PASS, reason)
