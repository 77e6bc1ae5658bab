"""Daemon settings (paths, ports, intervals): environment `BACKFUTURE_*`, overridden by CLI flags.

Read by the commands (`run`, `check`, `plan`) through `load_settings`; the composition root
(backfuture_daemon/daemon.py) turns them into the loop's and the HTTP server's settings. Not to be
confused with the desired state (configuration/models.py), which comes from git.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from backfuture_daemon.errors import UsageError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def parse_host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9464` for IPv6; an empty host is 127.0.0.1; port 0 picks a free one).
    Raises ValueError saying what is wrong, without a traceback's worth of detail."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9464")
    if int(port) > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not _valid_host(host):
        raise ValueError(f"host {host!r} is neither an IP address nor a host name")
    return host, int(port)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # Dotted digits are an IPv4 address or nothing (999.1.1.1 is not a name to look up).
        numeric = all(part.isdigit() for part in host.rstrip(".").split("."))
        return not numeric and _HOSTNAME.fullmatch(host) is not None
    return True


def is_loopback_bind(host: str) -> bool:
    """False for 0.0.0.0, :: and any other address reachable from outside this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DaemonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKFUTURE_", extra="ignore")

    config_path: Path = Field(default=Path("config"), description="Config directory or file.")
    state_dir: Path = Field(default=Path("state"), description="SQLite bot state lives here.")
    http: str = Field(default="127.0.0.1:9464", description="HOST:PORT for /metrics, /status.")
    resync_interval_seconds: float = Field(default=60.0, gt=0)
    recheck_interval_seconds: float = Field(default=300.0, gt=0, description="Healthy re-check.")
    permanent_recheck_interval_seconds: float = Field(default=1800.0, gt=0)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_cap_seconds: float = Field(default=900.0, gt=0)
    check_timeout_seconds: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    egress_ips: Annotated[tuple[IpAddress, ...], NoDecode] = Field(
        default=(),
        description="The daemon's public IPs (comma-separated), added to the config's "
        "policy.egress_ips; API keys must whitelist them.",
    )
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sops_timeout_seconds: float = Field(default=30.0, gt=0)
    bots_tick_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often bots read prices and decide."
    )
    order_timeout_seconds: float = Field(
        default=10.0,
        ge=1,
        le=120,
        description="How long a live order request may take; past it the outcome is unknown and "
        "the order is looked up by its client order id before anything else is sent.",
    )
    order_visibility_seconds: float = Field(
        default=5.0,
        ge=1,
        le=300,
        description="How long an unanswered client order id must stay absent on the exchange "
        "before its intent is marked not placed (and the engine decides again).",
    )

    @field_validator("http")
    @classmethod
    def _host_port(cls, v: str) -> str:
        parse_host_port(v)
        return v

    @field_validator("egress_ips", mode="before")
    @classmethod
    def _comma_separated(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(part.strip() for part in v.split(",") if part.strip())
        return v

    def http_host_port(self) -> tuple[str, int]:
        return parse_host_port(self.http)


def load_settings(*, flags: Mapping[str, str] | None = None, **overrides: Any) -> DaemonSettings:
    """DaemonSettings from the environment, `overrides` winning; a bad value is a UsageError
    naming where it came from: the flag (`flags`: field -> flag) or the BACKFUTURE_* variable."""
    try:
        return DaemonSettings(**overrides)
    except ValidationError as e:
        by_field: dict[str, list[str]] = {}
        for err in e.errors(include_input=False):
            name = str(err["loc"][0]) if err["loc"] else ""
            source = (flags or {}).get(name) if name in overrides else None
            msgs = by_field.setdefault(source or f"BACKFUTURE_{name.upper()}", [])
            if err["msg"] not in msgs:
                msgs.append(err["msg"])
        problems = "; ".join(f"{name}: {' or '.join(m)}" for name, m in by_field.items())
        raise UsageError(f"invalid settings: {problems}") from None
    except SettingsError as e:
        raise UsageError(f"invalid settings: {e}") from None
