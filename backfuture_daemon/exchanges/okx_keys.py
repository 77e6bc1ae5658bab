"""OKX's key facts as the connection test reads them, pure: `GET /api/v5/account/config` ->
KeyInfo (perm, ip, acctLv), and the key-expiry step for OKX's deletion rule (reference §2.2,
§2.5). okx.py parses with it; probes.py (once registered) and the tests call
`evaluate_okx_key_expiry`. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backfuture_daemon.exchanges.port import KeyInfo
from backfuture_daemon.health import CheckStep, ErrorClass, StepStatus

E = ErrorClass
S = StepStatus

#: acctLv -> OKX's name of the account mode; derivatives need 2, 3 or 4.
ACCOUNT_MODES: dict[str, str] = {
    "1": "Spot mode",
    "2": "Spot and futures mode",
    "3": "Multi-currency margin mode",
    "4": "Portfolio margin mode",
}
DERIVATIVE_LEVELS = frozenset({"2", "3", "4"})
DELETION_DAYS = 14
DELETION_RULE = (
    f"OKX deletes keys with trade or withdraw permission and no bound IP after {DELETION_DAYS} "
    "days without use ⚠ (third-party summaries of OKX's API FAQ; OKX shows no expiry)"
)


@dataclass(frozen=True, slots=True)
class OkxKeyInfo(KeyInfo):
    """KeyInfo plus the account mode and whether OKX's deletion rule applies to the key."""

    account_level: str = ""
    label: str = ""
    #: trade or withdraw permission and no bound IP: deleted after 14 days unused (⚠).
    deletable: bool = False
    #: `posMode`: net_mode (one position per swap, what live bots need) or long_short_mode.
    position_mode: str = ""

    @property
    def derivatives(self) -> bool:
        return self.account_level in DERIVATIVE_LEVELS

    @property
    def mode(self) -> str:
        return ACCOUNT_MODES.get(self.account_level, f"acctLv {self.account_level or '?'}")


def _split(value: object) -> tuple[str, ...]:
    """OKX lists as comma strings: `"read_only,trade"`, `"1.2.3.4,5.6.7.8"`, `""` = none."""
    return tuple(p.strip() for p in str(value or "").split(",") if p.strip())


def parse_account_config(data: Mapping[str, Any]) -> OkxKeyInfo:
    """One `account/config` row -> KeyInfo. Futures are not a key permission on OKX (`trade`
    covers every instrument type); the account mode decides (okx.py's futures probe)."""
    perms = tuple(p.lower() for p in _split(data.get("perm")))
    ips = _split(data.get("ip"))
    trade = "trade" in perms
    withdraw = "withdraw" in perms
    level = str(data.get("acctLv") or "")
    scopes = (*perms, f"acctLv {level} ({ACCOUNT_MODES.get(level, 'unknown mode')})")
    return OkxKeyInfo(
        read="read_only" in perms,
        trade=trade,
        futures=trade,
        withdraw=withdraw,
        ip_whitelist=ips,
        expires_in_days=None,
        scopes=scopes,
        account_level=level,
        label=str(data.get("label") or "")[:40],
        deletable=(trade or withdraw) and not ips,
        position_mode=str(data.get("posMode") or ""),
    )


def evaluate_okx_key_expiry(info: OkxKeyInfo) -> CheckStep:
    """OKX reports no expiry; an unbound trade key may be deleted when unused (warn, ⚠)."""
    if info.deletable:
        return CheckStep(
            "key_expiry",
            S.WARN,
            f"{DELETION_RULE}; this daemon's checks keep it in use while it runs — bind the "
            "key to the server IPs and it is never deleted",
            E.KEY_EXPIRING,
        )
    why = "bound to IPs" if info.ip_whitelist else "read-only"
    return CheckStep(
        "key_expiry", S.PASS, f"OKX reports no expiry; the key is {why}, so it is not deleted"
    )
