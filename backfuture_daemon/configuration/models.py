"""Desired-state models: the GitOps contract, one frozen pydantic model per config object.

Used by configuration/loading.py (documents -> desired_state.DesiredState), by
configuration/json_schema.py (`backfuture schema`) and read by everything downstream. Per-object
rules live here; rules that span objects and files (unique names, references, key reuse, margin
check) live in configuration/rules.py.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from backfuture_daemon.strategy.params import DcaParams, OnStop, RecoveryParams, Side
from backfuture_daemon.strategy.sizing import Sizing, SizingInput, resolve_sizing

SECRET_FIELDS: tuple[str, ...] = ("api_key", "api_secret", "passphrase")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._\-/()]{0,62}[A-Za-z0-9)]$"
PAIR_PATTERN = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")


class Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, allow_inf_nan=False
    )


class ExchangeName(StrEnum):
    MEXC = "mexc"
    KUCOIN = "kucoin"
    BINANCE = "binance"
    OKX = "okx"
    BYBIT = "bybit"


class Market(StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


class Mode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class RiskLevel(StrEnum):
    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Policy(Frozen):
    """Daemon-wide rules a config repository opts into."""

    egress_ips: tuple[IpAddress, ...] = Field(
        default=(), description="The daemon's public IPs; API keys should whitelist them."
    )
    require_ip_whitelist: bool = Field(
        default=False, description="true: a key without IP restriction fails; false: warning."
    )
    allow_key_reuse: bool = Field(
        default=False, description="Allow the same API key in two connections."
    )
    allow_remote_endpoints: bool = Field(
        default=False,
        description="Allow https `endpoints` outside loopback (keys would leave the host).",
    )


def with_egress_ips(policy: Policy, extra: Sequence[IpAddress]) -> Policy:
    """The policy with the daemon's own egress IPs (settings) added, order kept, no repeats."""
    merged = tuple(dict.fromkeys((*policy.egress_ips, *extra)))
    return (
        policy if merged == policy.egress_ips else policy.model_copy(update={"egress_ips": merged})
    )


class Endpoints(Frozen):
    """Non-default API base URLs (the sandbox). Loopback only unless policy allows remote."""

    spot: str | None = Field(
        default=None, max_length=2048, description="Base URL of the spot (and MEXC contract) API."
    )
    futures: str | None = Field(
        default=None, max_length=2048, description="Base URL of the futures API (KuCoin)."
    )

    @field_validator("spot", "futures")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host, e.g. http://127.0.0.1:9101")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (user:password@); keys go in api_key")
        try:
            port = parts.port  # urlsplit checks the port only when asked: 99999, "abc"
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        return v.rstrip("/")

    def hosts(self) -> list[str]:
        return [urlsplit(u).hostname or "" for u in (self.spot, self.futures) if u]


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Connection(Frozen):
    """One exchange API key, named for what it is used for."""

    name: Annotated[
        str, Field(pattern=NAME_PATTERN, description="Unique human name; metric label.")
    ]
    exchange: ExchangeName = Field(description="mexc | kucoin | binance | okx | bybit.")
    markets: tuple[Market, ...] = Field(
        default=(Market.SPOT,), min_length=1, description="Markets the key may trade."
    )
    api_key: SecretStr = Field(description="Encrypted with SOPS (ENC[...]).")
    api_secret: SecretStr = Field(description="Encrypted with SOPS (ENC[...]).")
    passphrase: SecretStr | None = Field(
        default=None, description="KuCoin and OKX only (required there). Encrypted with SOPS."
    )
    endpoints: Endpoints | None = Field(
        default=None, description="Non-default API URLs (the sandbox); loopback only."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form labels.")
    suspend: bool = Field(default=False, description="true: never test or trade this connection.")

    @field_validator("markets")
    @classmethod
    def _unique_markets(cls, v: tuple[Market, ...]) -> tuple[Market, ...]:
        if len(set(v)) != len(v):
            raise ValueError("markets must not repeat")
        return v

    @field_validator("api_key", "api_secret", "passphrase")
    @classmethod
    def _not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _passphrase_rules(self) -> Connection:
        if self.exchange in (ExchangeName.KUCOIN, ExchangeName.OKX) and self.passphrase is None:
            raise ValueError(
                f"{self.exchange} requires a passphrase (the one chosen when creating the key)"
            )
        if self.exchange is ExchangeName.MEXC and self.passphrase is not None:
            raise ValueError("mexc keys have no passphrase; remove the field")
        no_passphrase = (ExchangeName.BINANCE, ExchangeName.BYBIT)
        if self.exchange in no_passphrase and self.passphrase is not None:
            raise ValueError(f"{self.exchange} keys have no passphrase; remove the field")
        return self

    def secret_values(self) -> tuple[str, ...]:
        vals = [self.api_key.get_secret_value(), self.api_secret.get_secret_value()]
        if self.passphrase is not None:
            vals.append(self.passphrase.get_secret_value())
        return tuple(vals)


class Adding(Frozen):
    """Adding to an open group (safety orders). Unset fields come from the risk_level preset."""

    enabled: bool = Field(default=True, description="false: never add to an open group.")
    max_adds: int | None = Field(
        default=None, ge=0, le=25, description="Adds (safety orders) per group; preset if unset."
    )
    max_active_adds: int | None = Field(
        default=None, ge=1, le=25, description="Adds resting on the book at once (<= max_adds)."
    )
    add_order_quote: float | None = Field(
        default=None, gt=0, le=1e9, description="First add, quote currency; derived if unset."
    )
    step_pct: float | None = Field(
        default=None, ge=0.1, le=20, description="Distance of the first add from entry, percent."
    )
    step_scale: float | None = Field(
        default=None, ge=0.5, le=2.0, description="Growth of the distance per add."
    )
    volume_scale: float | None = Field(
        default=None, ge=1.0, le=3.0, description="Growth of the add size per add."
    )
    min_avg_improvement_pct: float | None = Field(
        default=None, ge=0, le=10, description="An add must lower the average by at least this."
    )

    @model_validator(mode="after")
    def _active_within_max(self) -> Adding:
        if (
            self.max_adds is not None
            and self.max_active_adds is not None
            and self.max_active_adds > max(self.max_adds, 1)
        ):
            raise ValueError(
                f"max_active_adds ({self.max_active_adds}) must not exceed max_adds "
                f"({self.max_adds})"
            )
        return self


class RecoveryMode(Frozen):
    """BackFuture Recovery Mode: adds only if they improve the average and fit the margin."""

    enabled: bool = Field(default=False, description="Turn Recovery Mode on for this bot.")
    drawdown_pct: float = Field(
        default=8.0, gt=0, le=90, description="Enter when unrealised loss vs average exceeds this."
    )
    adds_used_ratio: float = Field(
        default=0.8, gt=0, le=1, description="Enter when adds used / max_adds reaches this."
    )
    margin_used_ratio: float = Field(
        default=0.8, gt=0, le=1, description="Enter when the group's share of margin reaches this."
    )
    adds_allowed: Literal["improve_only", "none"] = Field(
        default="improve_only", description="In recovery: adds that improve the average, or none."
    )
    add_size_multiplier: float = Field(
        default=0.5, gt=0, le=1, description="Add size factor inside recovery (no martingale)."
    )
    take_profit_pct: float = Field(
        default=0.4, gt=0, le=50, description="Take profit from the average while recovering."
    )
    max_duration_h: float = Field(
        default=168, gt=0, le=24 * 365, description="Alert when recovery lasts longer (hours)."
    )


class Strategy(Frozen):
    """One bot: a strategy on one connection. name, connection, pairs, margin_limit suffice."""

    name: Annotated[
        str, Field(pattern=NAME_PATTERN, description="Unique human name; metric label.")
    ]
    connection: Annotated[
        str, Field(pattern=NAME_PATTERN, description="Name of the connection this bot trades on.")
    ]
    market: Market = Field(default=Market.SPOT, description="Must be among the connection's.")
    mode: Mode = Field(default=Mode.PAPER, description="paper simulates fills; live trades.")
    pairs: tuple[str, ...] = Field(
        min_length=1, max_length=50, description="BASE/QUOTE pairs sharing one quote currency."
    )
    risk_level: RiskLevel = Field(
        default=RiskLevel.BALANCED, description="Preset for every sizing field left unset."
    )
    margin_limit: float = Field(
        gt=0, le=1e9, description="Quote currency; hard cap on funds this bot may commit."
    )
    max_active_groups: int | None = Field(
        default=None, ge=1, le=50, description="Concurrent groups (deals); preset if unset."
    )
    base_order_quote: float | None = Field(
        default=None, gt=0, le=1e9, description="First order of a group; derived if unset."
    )
    leverage: int = Field(default=1, ge=1, le=20, description="Futures only.")
    side: Literal["long", "short"] = Field(
        default="long",
        description="long buys first; short sells first and adds above the entry (futures only).",
    )
    adding: Adding = Field(default=Adding(), description="Adding to open groups.")
    take_profit_pct: float | None = Field(
        default=None, gt=0, le=100, description="Take profit from the average entry, percent."
    )
    stop_loss_pct: float | None = Field(
        default=None, gt=0, le=100, description="From the average entry; beyond the last add."
    )
    recovery_mode: RecoveryMode = Field(default=RecoveryMode(), description="Recovery Mode.")
    paper_balance: float | None = Field(
        default=None,
        gt=0,
        le=1e12,
        description="Paper mode: the simulated quote balance to start from; margin_limit if unset.",
    )
    on_stop: Literal["keep_take_profit", "cancel_all"] = Field(
        default="keep_take_profit",
        description="When the bot is suspended or removed: cancel resting entries and adds, and "
        "keep the take-profit orders (default) or cancel them too.",
    )
    suspend: bool = Field(default=False, description="true: stop this bot (no new orders).")

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, p in enumerate(v):
            if not PAIR_PATTERN.match(p):  # not echoed: a value that is no pair may be anything
                raise ValueError(
                    f"pair #{i + 1} must look like BASE/QUOTE in capitals, e.g. BTC/USDT"
                )
        if len(set(v)) != len(v):
            raise ValueError("pairs must not repeat")
        quotes = sorted({p.split("/")[1] for p in v})
        if len(quotes) > 1:
            raise ValueError(f"all pairs must share one quote currency, got {', '.join(quotes)}")
        return v

    @model_validator(mode="after")
    def _leverage_spot(self) -> Strategy:
        if self.market is Market.SPOT and self.leverage != 1:
            raise ValueError("leverage applies to futures only; remove it for spot")
        if self.market is Market.SPOT and self.side == "short":
            raise ValueError(
                "side: short needs market: futures (spot cannot sell what it does not hold); "
                "set market: futures on a connection with futures, or remove side"
            )
        return self

    @property
    def quote(self) -> str:
        return self.pairs[0].split("/")[1]

    def dca_params(self) -> DcaParams:
        """The engine's input: resolved sizing plus stop loss, Recovery Mode and on_stop."""
        return DcaParams.from_sizing(
            self.sizing(),
            pairs=self.pairs,
            margin_limit=self.margin_limit,
            stop_loss_pct=self.stop_loss_pct,
            recovery=RecoveryParams.build(**self.recovery_mode.model_dump()),
            on_stop=OnStop(self.on_stop),
            side=Side(self.side),
        )

    def sizing(self) -> Sizing:
        """Every sizing field resolved: explicit, else the risk preset, else from margin_limit."""
        a = self.adding
        return resolve_sizing(
            SizingInput(
                risk_level=self.risk_level.value,
                margin_limit=self.margin_limit,
                max_active_groups=self.max_active_groups,
                base_order_quote=self.base_order_quote,
                add_order_quote=a.add_order_quote,
                adding_enabled=a.enabled,
                max_adds=a.max_adds,
                max_active_adds=a.max_active_adds,
                step_pct=a.step_pct,
                step_scale=a.step_scale,
                volume_scale=a.volume_scale,
                take_profit_pct=self.take_profit_pct,
                min_avg_improvement_pct=a.min_avg_improvement_pct,
            )
        )


class ConfigDocument(Frozen):
    """One YAML file of the config repository."""

    version: Literal[1] = Field(description="Format version of the document; always 1.")
    policy: Policy | None = Field(
        default=None, description="Daemon-wide rules; in at most one document."
    )
    connections: tuple[Connection, ...] = Field(default=(), description="Exchange API keys.")
    strategies: tuple[Strategy, ...] = Field(default=(), description="Bots on the connections.")
