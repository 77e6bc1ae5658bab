"""The sandbox's API keys: one `SandboxKey` per key, a `KeyStore` indexed by (exchange, api_key),
and the YAML keys-file loader behind `backfuture sandbox --keys FILE`.

Called by the venue handlers (one dict lookup per request), by `Sandbox.update_key` and the admin
route `POST /__sandbox/keys/{api_key}`. Secrets are kept out of `repr()` so they never reach a log.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from backfuture_daemon.errors import ConfigError, ConfigIssue

EXCHANGES: tuple[str, ...] = ("mexc", "kucoin", "binance", "okx", "bybit")

MEXC_SCOPES: frozenset[str] = frozenset(
    {
        "SPOT_ACCOUNT_READ",
        "SPOT_ACCOUNT_WRITE",
        "SPOT_DEAL_READ",
        "SPOT_DEAL_WRITE",
        "SPOT_WITHDRAW_READ",
        "SPOT_WITHDRAW_WRITE",
        "SPOT_TRANSFER_READ",
        "SPOT_TRANSFER_WRITE",
        "CONTRACT_ACCOUNT_READ",
        "CONTRACT_ACCOUNT_WRITE",
        "CONTRACT_DEAL_READ",
        "CONTRACT_DEAL_WRITE",
    }
)
KUCOIN_SCOPES: frozenset[str] = frozenset(
    {"General", "Spot", "Margin", "Futures", "Earn", "InnerTransfer", "Transfer"}
)
#: Binance: the `enable*` flags of GET /sapi/v1/account/apiRestrictions that are true.
BINANCE_SCOPES: frozenset[str] = frozenset(
    {"enableReading", "enableSpotAndMarginTrading", "enableFutures", "enableMargin",
     "enableWithdrawals", "enableInternalTransfer", "permitsUniversalTransfer",
     "enableVanillaOptions", "enablePortfolioMarginTrading", "enableFixApiTrade",
     "enableFixReadOnly"}
)  # fmt: skip
#: Bybit `Group.Permission` pairs as `GET /v5/user/query-api` lists them (sandbox/bybit/gateway.py
#: GROUPS); none of the trade ones = a read-only key.
BYBIT_SCOPES: frozenset[str] = frozenset(
    {"ContractTrade.Order", "ContractTrade.Position", "Spot.SpotTrade", "Wallet.AccountTransfer",
     "Wallet.SubMemberTransfer", "Wallet.Withdraw", "Options.OptionsTrade",
     "Derivatives.DerivativesTrade", "CopyTrading.CopyTrading", "BlockTrade.BlockTrade",
     "Exchange.ExchangeHistory", "NFT.NFTQueryProductList", "Affiliate.Affiliate", "Earn.Earn"}
)  # fmt: skip
#: OKX `perm` values (GET /api/v5/account/config).
OKX_SCOPES: frozenset[str] = frozenset({"read_only", "trade", "withdraw"})
SCOPES: dict[str, frozenset[str]] = {
    "mexc": MEXC_SCOPES,
    "kucoin": KUCOIN_SCOPES,
    "binance": BINANCE_SCOPES,
    "okx": OKX_SCOPES,
    "bybit": BYBIT_SCOPES,
}

#: Fields `update_key` / the admin route may change (secrets and identity are fixed).
MUTABLE_FIELDS: tuple[str, ...] = (
    "permissions",
    "ip_whitelist",
    "frozen",
    "expires_in_days",
    "balances",
    "hf",
    "api_version",
    "acct_lv",
)
_KNOWN_FIELDS = frozenset(
    {"exchange", "api_key", "api_secret", "passphrase", "note", *MUTABLE_FIELDS}
)
_DAY_MS = 86_400_000
_MAX_DAYS = 36_500  #: a century: beyond it an expiry is a typo (and 1e308 days overflows)
_MAX_BALANCE = 10**15  #: per currency; keeps every balance exact in Decimal's 28 digits


@dataclass(slots=True)
class SandboxKey:
    """One API key as the exchange's key store holds it; the secrets are kept out of repr()."""

    exchange: str
    api_key: str
    api_secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)
    permissions: frozenset[str] = frozenset()
    ip_whitelist: tuple[str, ...] = ()
    expires_in_days: float | None = None
    frozen: bool = False
    balances: dict[str, Decimal] = field(default_factory=dict)
    hf: bool = False
    #: KuCoin key generation: 3 (current); 2 is served but reported as `apiVersion: 2`;
    #: 1 is rejected on every private call with 400008 (reference §6).
    api_version: int = 3
    #: OKX account mode (acctLv): 1 Spot, 2 Spot and futures, 3 Multi-currency, 4 Portfolio.
    acct_lv: int = 2
    note: str = ""
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    secret_bytes: bytes = field(init=False, repr=False, default=b"")

    def __post_init__(self) -> None:
        self.secret_bytes = self.api_secret.encode()

    def expires_at_ms(self) -> int | None:
        """Absolute expiry; None when the key never expires."""
        if self.expires_in_days is None:
            return None
        return self.created_ms + int(self.expires_in_days * _DAY_MS)

    def expired(self, now_ms: int) -> bool:
        at = self.expires_at_ms()
        return at is not None and now_ms >= at

    def remaining_days(self, now_ms: int) -> int | None:
        at = self.expires_at_ms()
        if at is None:
            return None
        return max(0, -(-(at - now_ms) // _DAY_MS))  # ceil

    def ip_allowed(self, ip: str) -> bool:
        return not self.ip_whitelist or ip in self.ip_whitelist

    def apply(self, changes: Mapping[str, Any], *, where: str = "key update") -> None:
        """Apply validated changes (the admin route and `Sandbox.update_key`)."""
        unknown = sorted(set(changes) - set(MUTABLE_FIELDS))
        if unknown:
            raise ValueError(
                f"{where}: cannot change {', '.join(unknown)}; allowed: {MUTABLE_FIELDS}"
            )
        issues: list[str] = []
        parsed = _parse_mutable(self.exchange, changes, issues)
        if issues:
            raise ValueError(f"{where}: " + "; ".join(issues))
        for name, value in parsed.items():
            setattr(self, name, value)
        if "expires_in_days" in changes:
            # Expiry counts from now, as if the key had been re-issued with that validity.
            self.created_ms = int(time.time() * 1000)


class KeyStore:
    """Keys by (exchange, api_key): the only per-request lookup, O(1)."""

    def __init__(self, keys: Iterable[SandboxKey] = ()) -> None:
        self._keys: dict[tuple[str, str], SandboxKey] = {}
        for k in keys:
            self.add(k)

    def add(self, key: SandboxKey) -> None:
        self._keys[(key.exchange, key.api_key)] = key

    def get(self, exchange: str, api_key: str) -> SandboxKey | None:
        return self._keys.get((exchange, api_key))

    def find(self, api_key: str) -> SandboxKey | None:
        for ex in EXCHANGES:
            k = self._keys.get((ex, api_key))
            if k is not None:
                return k
        return None

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Any:
        return iter(self._keys.values())


def _amount(raw: Any) -> Decimal | None:
    """A balance as a finite Decimal in [0, _MAX_BALANCE], or None (NaN, inf, text, bool...)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    if not value.is_finite() or not 0 <= value <= _MAX_BALANCE:
        return None
    return value


def _parse_mutable(exchange: str, raw: Mapping[str, Any], issues: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "permissions" in raw:
        perms = raw["permissions"]
        if perms is None:
            perms = []
        if isinstance(perms, str):
            perms = [p.strip() for p in perms.split(",") if p.strip()]
        if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
            issues.append("permissions: must be a list of scope names")
        else:
            allowed = SCOPES.get(exchange, frozenset())
            bad = [p for p in perms if p not in allowed]
            if bad:
                issues.append(
                    f"permissions: unknown {exchange} scope(s) {', '.join(bad)}; "
                    f"known: {', '.join(sorted(allowed))}"
                )
            else:
                out["permissions"] = frozenset(perms)
    if "ip_whitelist" in raw:
        ips = raw["ip_whitelist"] or []
        if not isinstance(ips, list):
            issues.append("ip_whitelist: must be a list of IP addresses")
        else:
            good: list[str] = []
            for ip in ips:
                try:
                    good.append(str(ipaddress.ip_address(str(ip))))
                except ValueError:
                    issues.append(f"ip_whitelist: {ip!r} is not an IP address")
            out["ip_whitelist"] = tuple(good)
    if "expires_in_days" in raw:
        days = raw["expires_in_days"]
        if days is not None and (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not -_MAX_DAYS <= days <= _MAX_DAYS  # also refuses NaN
        ):
            issues.append(
                f"expires_in_days: must be a number of days from -{_MAX_DAYS} to {_MAX_DAYS}"
                " (0 or less: expired), or null"
            )
        elif days is not None and exchange not in ("mexc", "bybit"):
            issues.append("expires_in_days: only MEXC keys and Bybit keys expire")
        else:
            out["expires_in_days"] = None if days is None else float(days)
    if "api_version" in raw:
        version = raw["api_version"]
        if exchange != "kucoin":
            issues.append("api_version: only KuCoin keys have an API version")
        elif isinstance(version, bool) or version not in (1, 2, 3):
            issues.append("api_version: must be 1, 2 or 3")
        else:
            out["api_version"] = int(version)
    if "acct_lv" in raw:
        level = raw["acct_lv"]
        if exchange != "okx":
            issues.append("acct_lv: only OKX accounts have an account mode")
        elif isinstance(level, bool) or level not in (1, 2, 3, 4):
            issues.append("acct_lv: must be 1, 2, 3 or 4")
        else:
            out["acct_lv"] = int(level)
    for flag in ("frozen", "hf"):
        if flag in raw:
            if not isinstance(raw[flag], bool):
                issues.append(f"{flag}: must be true or false")
            else:
                out[flag] = raw[flag]
    if "balances" in raw:
        bal = raw["balances"] or {}
        if not isinstance(bal, dict):
            issues.append("balances: must be a mapping like {USDT: 1000}")
        else:
            parsed: dict[str, Decimal] = {}
            for cur, amount in bal.items():
                value = _amount(amount)
                if not isinstance(cur, str) or value is None:
                    issues.append(
                        f"balances.{cur}: must be a non-negative number up to {_MAX_BALANCE:,}"
                    )
                else:
                    parsed[cur.upper()] = value
            out["balances"] = parsed
    return out


def parse_key(raw: Any, *, file: str = "<keys>", index: int = 0) -> SandboxKey:
    """One keys-file entry -> SandboxKey, or ConfigError naming the file and entry."""
    where = f"keys[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(
            [ConfigIssue(file, where, "must be a mapping with exchange, api_key, ...")]
        )
    issues: list[ConfigIssue] = []

    def bad(path: str, message: str) -> None:
        issues.append(ConfigIssue(file, f"{where}.{path}" if path else where, message))

    for name in sorted(set(raw) - _KNOWN_FIELDS):
        bad(name, f"unknown field; known fields: {', '.join(sorted(_KNOWN_FIELDS))}")
    exchange = raw.get("exchange")
    if exchange not in EXCHANGES:
        bad("exchange", f"must be one of {', '.join(EXCHANGES)}, got {exchange!r}")
        raise ConfigError(issues)
    for name in ("api_key", "api_secret"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            bad(name, "required (a non-empty string)")
    passphrase = raw.get("passphrase")
    if exchange in ("kucoin", "okx") and (not isinstance(passphrase, str) or not passphrase):
        bad("passphrase", f"required for {exchange} keys")
    if exchange in ("mexc", "binance", "bybit") and passphrase is not None:
        bad("passphrase", f"{exchange} keys have no passphrase")
    messages: list[str] = []
    values = _parse_mutable(exchange, raw, messages)
    for m in messages:
        path, _, message = m.partition(": ")
        bad(path, message)
    if issues:
        raise ConfigError(issues)
    return SandboxKey(
        exchange=exchange,
        api_key=raw["api_key"],
        api_secret=raw["api_secret"],
        passphrase=passphrase if exchange in ("kucoin", "okx") else None,
        note=str(raw.get("note", "")),
        **values,
    )


def parse_keys(document: Any, *, file: str = "<keys>") -> list[SandboxKey]:
    """A whole keys document (`keys:` list) -> keys; every bad entry is reported at once."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ConfigError(
            [ConfigIssue(file, "keys", "the file must hold a top-level `keys:` list")]
        )
    keys: list[SandboxKey] = []
    issues: list[ConfigIssue] = []
    seen: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(document["keys"]):
        try:
            key = parse_key(raw, file=file, index=i)
        except ConfigError as e:
            issues.extend(e.issues)
            continue
        ident = (key.exchange, key.api_key)
        if ident in seen:
            issues.append(
                ConfigIssue(file, f"keys[{i}].api_key", f"duplicate of keys[{seen[ident]}]")
            )
            continue
        seen[ident] = i
        keys.append(key)
    if issues:
        raise ConfigError(issues)
    return keys


def load_keys_file(path: Path | str) -> list[SandboxKey]:
    """Read and validate a sandbox keys file; ConfigError names the file and the entry."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([ConfigIssue(str(p), "", f"cannot read keys file: {e.strerror}")]) from e
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([ConfigIssue(str(p), "", f"not valid YAML{at}")]) from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        # PyYAML's constructors raise these for `2024-13-45`, `!!int abc`, `!!bool maybe`, ...;
        # their messages quote the scalar, which may be a secret: say only where to look.
        raise ConfigError(
            [ConfigIssue(str(p), "", "not valid YAML (a value its tag or type cannot take)")]
        ) from None
    return parse_keys(document, file=str(p))
