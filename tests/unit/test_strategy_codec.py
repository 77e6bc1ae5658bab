"""The book survives a round trip through plain data and json (any book the engine builds), and
the engine's input is built straight from a config `Strategy`."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings

from backfuture_daemon.configuration.models import Strategy
from backfuture_daemon.strategy.codec import book_from_data, book_to_data
from backfuture_daemon.strategy.engine import decide
from backfuture_daemon.strategy.groups import GroupBook
from backfuture_daemon.strategy.ladder import ladder_from_sizing
from backfuture_daemon.strategy.params import AddsAllowed, DcaParams, RecoveryParams
from tests.unit.test_strategy_properties import Scenario, market_quotes, scenarios
from tests.unit.test_strategy_sim import settle

D = Decimal


def _round_trip(book: GroupBook) -> GroupBook:
    return book_from_data(json.loads(json.dumps(book_to_data(book))))


@settings(max_examples=60, deadline=None)
@given(scenarios(recovering=True))
def test_every_book_round_trips_through_json(scenario: Scenario) -> None:
    p, fee, race, path = scenario
    prices = {"BTC/USDT": D(100), "ETH/USDT": D(20)}
    book = GroupBook()
    for i, (gate, move_a, move_b, _) in enumerate(path):
        prices = {
            "BTC/USDT": max(D(1), (prices["BTC/USDT"] * (1 + move_a)).quantize(D("0.01"))),
            "ETH/USDT": max(D(1), (prices["ETH/USDT"] * (1 + move_b)).quantize(D("0.01"))),
        }
        book = settle(book, prices, D(fee), race=race)
        q = market_quotes({k: v for k, v in prices.items() if k in p.pairs}, fee)
        book = decide(p, book, q, gate, float(i)).book
        assert _round_trip(book) == book


def test_an_unknown_version_is_refused() -> None:
    data = book_to_data(GroupBook())
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        book_from_data(data)


def test_dca_params_from_a_config_strategy() -> None:
    s = Strategy.model_validate(
        {
            "name": "BTC ETH New Groups",
            "connection": "MEXC Spot Main",
            "pairs": ["BTC/USDT", "ETH/USDT"],
            "margin_limit": 500,
            "adding": {"max_adds": 5, "step_pct": 1.5, "step_scale": 1.2, "volume_scale": 1.5},
            "base_order_quote": 10,
            "take_profit_pct": 1.2,
            "stop_loss_pct": 20,
            "recovery_mode": {"enabled": True, "adds_allowed": "none"},
        }
    )
    p = DcaParams.from_sizing(
        s.sizing(),
        pairs=s.pairs,
        margin_limit=s.margin_limit,
        stop_loss_pct=s.stop_loss_pct,
        recovery=RecoveryParams.build(**s.recovery_mode.model_dump()),
    )
    assert p.pairs == ("BTC/USDT", "ETH/USDT")
    assert p.sizing.stop_loss_pct == D(20)
    assert p.recovery.enabled
    assert p.recovery.adds_allowed is AddsAllowed.NONE
    assert p.recovery.take_profit_pct == D("0.4")
    ladder = ladder_from_sizing(s.sizing(), s.margin_limit)
    assert ladder.fits
    assert ladder.rows[1].deviation_pct == D("1.5")
