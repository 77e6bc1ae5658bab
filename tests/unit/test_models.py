"""Per-object rules of the config models, the risk presets, and the margin property (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from backfuture_daemon.configuration.models import (
    ConfigDocument,
    Connection,
    Endpoints,
    RiskLevel,
    Strategy,
)
from backfuture_daemon.configuration.rules import check_margin
from backfuture_daemon.strategy.presets import PRESETS

CANARY = "CANARYmodelsecret0000zzzz"


def conn(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "MEXC Spot Main",
        "exchange": "mexc",
        "api_key": CANARY,
        "api_secret": CANARY + "s",
    }
    c.update(over)
    return c


def strat(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "name": "BTC ETH New Groups",
        "connection": "MEXC Spot Main",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "margin_limit": 500,
    }
    s.update(over)
    return s


def test_minimal_strategy_gets_defaults() -> None:
    s = Strategy.model_validate(strat())
    assert (s.market.value, s.mode.value, s.risk_level.value) == ("spot", "paper", "balanced")
    assert s.quote == "USDT"


def test_kucoin_requires_passphrase_and_mexc_refuses_one() -> None:
    with pytest.raises(ValidationError, match="kucoin requires a passphrase"):
        Connection.model_validate(conn(exchange="kucoin"))
    with pytest.raises(ValidationError, match="mexc keys have no passphrase"):
        Connection.model_validate(conn(passphrase="x" * 10))
    Connection.model_validate(conn(exchange="kucoin", passphrase="p" * 10))


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        (["btc/usdt"], "BASE/QUOTE"),
        (["BTCUSDT"], "BASE/QUOTE"),
        (["BTC/USDT", "ETH/USDC"], "one quote currency"),
        (["BTC/USDT", "BTC/USDT"], "must not repeat"),
        ([], "at least 1"),
    ],
)
def test_pairs_rules(pairs: list[str], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Strategy.model_validate(strat(pairs=pairs))


@pytest.mark.parametrize(
    "over",
    [
        {"margin_limit": 0},
        {"margin_limit": -5},
        {"margin_limit": float("inf")},
        {"margin_limit": float("nan")},
        {"max_active_groups": 0},
        {"base_order_quote": 0},
        {"leverage": 0},
        {"take_profit_pct": 0},
        {"adding": {"max_adds": 26}},
        {"adding": {"volume_scale": 0.9}},
        {"adding": {"volume_scale": 3.1}},
        {"adding": {"step_scale": 2.1}},
        {"adding": {"step_pct": 0.05}},
        {"adding": {"max_adds": 2, "max_active_adds": 3}},
        {"recovery_mode": {"adds_used_ratio": 0}},
        {"recovery_mode": {"margin_used_ratio": 1.5}},
        {"market": "spot", "leverage": 3},
    ],
)
def test_ranges_reject(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Strategy.model_validate(strat(**over))


def test_unknown_fields_and_version() -> None:
    with pytest.raises(ValidationError):
        Strategy.model_validate(strat(margin_limt=5))
    with pytest.raises(ValidationError):
        ConfigDocument.model_validate({"version": 2})
    assert ConfigDocument.model_validate({"version": 1}).connections == ()


def test_endpoints_must_be_http_without_credentials() -> None:
    assert Endpoints(spot="http://127.0.0.1:9101/").spot == "http://127.0.0.1:9101"
    with pytest.raises(ValidationError, match="http"):
        Endpoints(spot="ftp://127.0.0.1")
    with pytest.raises(ValidationError, match="credentials") as info:
        Endpoints(spot=f"http://user:{CANARY}@127.0.0.1:1")
    assert CANARY not in str(info.value)


def test_validation_errors_never_echo_secret_values() -> None:
    with pytest.raises(ValidationError) as info:
        Connection.model_validate(conn(exchange="kucoin", api_secret=12345, bogus=CANARY))
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)


def test_secrets_are_hidden_in_repr() -> None:
    c = Connection.model_validate(conn())
    assert CANARY not in repr(c)
    assert CANARY not in str(c.model_dump())


def test_reference_figures_from_bots_md() -> None:
    # reference/bots.md §2.4: base 10, add 10, vs 1.5, 5 adds -> 141.88 per group, 2 groups 283.75.
    s = Strategy.model_validate(
        strat(base_order_quote=10, adding={"add_order_quote": 10}, max_active_groups=2)
    )
    z = s.sizing()
    assert round(z.max_group_funds, 2) == 141.88
    assert round(z.max_total_funds, 2) == 283.75
    assert [round(z.add_distance_pct(i), 2) for i in range(1, 6)] == [1.5, 3.3, 5.46, 8.05, 11.16]
    assert check_margin(s, z) is None


@pytest.mark.parametrize("level", list(RiskLevel))
def test_presets_fill_every_unset_field(level: RiskLevel) -> None:
    s = Strategy.model_validate(strat(risk_level=level.value))
    z = s.sizing()
    p = PRESETS[level]
    assert (z.max_active_groups, z.max_adds, z.volume_scale) == (
        p.max_active_groups,
        p.max_adds,
        p.volume_scale,
    )
    assert z.take_profit_pct == p.take_profit_pct
    assert z.max_total_funds <= s.margin_limit


def test_explicit_values_beat_presets() -> None:
    s = Strategy.model_validate(
        strat(
            risk_level="aggressive", adding={"max_adds": 2, "volume_scale": 1.0}, take_profit_pct=3
        )
    )
    z = s.sizing()
    assert (z.max_adds, z.volume_scale, z.take_profit_pct) == (2, 1.0, 3)
    assert z.group_multiplier_of_add == 2.0


_margin = st.floats(min_value=1.0, max_value=1e7, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    margin=_margin,
    level=st.sampled_from(list(RiskLevel)),
    groups=st.none() | st.integers(1, 50),
    max_adds=st.none() | st.integers(0, 25),
    vs=st.none() | st.floats(1.0, 3.0),
    enabled=st.booleans(),
)
def test_resolved_sizing_never_exceeds_margin_limit(
    margin: float,
    level: RiskLevel,
    groups: int | None,
    max_adds: int | None,
    vs: float | None,
    enabled: bool,
) -> None:
    """Unset sizes are derived from margin_limit: whatever the models accept fits the limit."""
    s = Strategy.model_validate(
        strat(
            margin_limit=margin,
            risk_level=level.value,
            max_active_groups=groups,
            adding={"max_adds": max_adds, "volume_scale": vs, "enabled": enabled},
        )
    )
    z = s.sizing()
    assert z.max_total_funds <= margin * (1 + 1e-9)
    assert check_margin(s, z) is None


@settings(max_examples=200, deadline=None)
@given(
    margin=_margin,
    base=st.none() | st.floats(0.01, 1e6),
    add=st.none() | st.floats(0.01, 1e6),
    groups=st.integers(1, 10),
    max_adds=st.integers(0, 25),
)
def test_margin_check_agrees_with_the_sizing(
    margin: float, base: float | None, add: float | None, groups: int, max_adds: int
) -> None:
    """With explicit sizes the rule is the gate: check_margin passes iff funds fit the limit."""
    s = Strategy.model_validate(
        strat(
            margin_limit=margin,
            base_order_quote=base,
            max_active_groups=groups,
            adding={"max_adds": max_adds, "add_order_quote": add},
        )
    )
    z = s.sizing()
    fits = z.max_total_funds <= margin * (1 + 1e-9)
    assert (check_margin(s, z) is None) == fits


def test_side_defaults_to_long_and_short_needs_futures() -> None:
    from backfuture_daemon.strategy.params import Side

    s = Strategy.model_validate(strat())
    assert s.side == "long"
    assert s.dca_params().side is Side.LONG
    short = Strategy.model_validate(strat(market="futures", side="short", leverage=2))
    assert short.dca_params().side is Side.SHORT
    with pytest.raises(ValidationError, match=r"side: short needs market: futures") as info:
        Strategy.model_validate(strat(side="short"))
    assert "set market: futures" in str(info.value)
    with pytest.raises(ValidationError):
        Strategy.model_validate(strat(market="futures", side="sideways"))
