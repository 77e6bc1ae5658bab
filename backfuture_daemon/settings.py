"""Daemon settings (paths, ports, intervals): environment `BACKFUTURE_*`, overridden by CLI flags.

Not to be confused with the desired state (configuration/models.py), which comes from git.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from backfuture_daemon.errors import UsageError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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

    @field_validator("egress_ips", mode="before")
    @classmethod
    def _comma_separated(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(part.strip() for part in v.split(",") if part.strip())
        return v

    def http_host_port(self) -> tuple[str, int]:
        host, _, port = self.http.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


def load_settings(**overrides: Any) -> DaemonSettings:
    """DaemonSettings from the environment; a bad BACKFUTURE_* value is a UsageError naming it."""
    try:
        return DaemonSettings(**overrides)
    except ValidationError as e:
        by_field: dict[str, list[str]] = {}
        for err in e.errors(include_input=False):
            msgs = by_field.setdefault(f"BACKFUTURE_{str(err['loc'][0]).upper()}", [])
            if err["msg"] not in msgs:
                msgs.append(err["msg"])
        problems = "; ".join(f"{name}: {' or '.join(m)}" for name, m in by_field.items())
        raise UsageError(f"invalid settings: {problems}") from None
    except SettingsError as e:
        raise UsageError(f"invalid settings: {e}") from None
