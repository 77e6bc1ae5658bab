"""Property tests of the DCA engine over any price path and settings (hypothesis):
committed quote never exceeds the margin limit; every recovery add lowers the average by at least
the minimum; a take profit is never below the average plus fees; decide is deterministic and
idempotent (deciding again on the book it returned issues nothing new).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from backfuture_daemon.strategy.engine import Decision, decide
from backfuture_daemon.strategy.groups import Group, GroupBook
from backfuture_daemon.strategy.orders import OrderSide, Place, Purpose
from backfuture_daemon.strategy.params import (
    HUNDRED,
    AddsAllowed,
    DcaParams,
    Gate,
    GroupSizing,
    MarketRules,
    OnStop,
    Quote,
    RecoveryParams,
)
from tests.unit.test_strategy_sim import settle

D = Decimal
PAIRS = ("BTC/USDT", "ETH/USDT")


def _dec(lo: str, hi: str, places: int = 2) -> st.SearchStrategy[Decimal]:
    return st.decimals(D(lo), D(hi), places=places, allow_nan=False, allow_infinity=False)


Move = tuple[Gate, Decimal, Decimal, Decimal | None]
Scenario = tuple[DcaParams, str, bool, list[Move]]


@st.composite
def scenarios(draw: st.DrawFn, *, recovering: bool = False) -> Scenario:
    """Any settings and price path; `recovering`: recovery on, room in the margin, prices
    drifting down (so groups add, enter recovery and add again)."""
    max_adds = draw(st.integers(0, 6) if not recovering else st.integers(2, 8))
    sizing = GroupSizing(
        base_order_quote=draw(_dec("2", "50")),
        add_order_quote=draw(_dec("2", "50")),
        max_adds=max_adds,
        max_active_adds=draw(st.integers(1, 3)),
        step_pct=draw(_dec("0.3", "6")),
        step_scale=draw(_dec("0.8", "1.6")),
        volume_scale=draw(_dec("1", "2")),
        take_profit_pct=draw(_dec("0.05", "3")),
        min_avg_improvement_pct=draw(_dec("0", "1")),
        stop_loss_pct=draw(st.none() | _dec("3", "40")),
    )
    recovery = RecoveryParams(
        enabled=recovering or draw(st.booleans()),
        drawdown_pct=draw(_dec("0.5", "20")),
        adds_used_ratio=draw(_dec("0.1", "1")),
        margin_used_ratio=draw(_dec("0.05", "1")),
        adds_allowed=AddsAllowed.IMPROVE_ONLY if recovering else draw(st.sampled_from(AddsAllowed)),
        add_size_multiplier=draw(_dec("0.1", "1")),
        take_profit_pct=draw(_dec("0.05", "2")),
        max_duration_h=draw(_dec("0.001", "10", 3)),
    )
    p = DcaParams(
        pairs=PAIRS[: draw(st.integers(1, 2))],
        margin_limit=draw(_dec("5", "400") if not recovering else _dec("200", "2000")),
        max_active_groups=draw(st.integers(1, 3)),
        sizing=sizing,
        recovery=recovery,
        on_stop=draw(st.sampled_from(OnStop)),
    )
    fee = draw(st.sampled_from(["0", "0.0005", "0.001", "0.002"]))
    gates = st.sampled_from([Gate.RUN] * 6 + [Gate.CLOSE_ONLY, Gate.PAUSE, Gate.STOP])
    if recovering:
        gates = st.just(Gate.RUN)
    up = "0.03" if recovering else "0.06"
    # sometimes a config change lowers the margin limit (to a share of what it was)
    cuts = st.none() if recovering else st.none() | st.none() | st.none() | _dec("0.1", "1")
    moves = st.tuples(gates, _dec("-0.06", up, 3), _dec("-0.06", up, 3), cuts)
    return p, fee, draw(st.booleans()), draw(st.lists(moves, min_size=1, max_size=25))


def market_quotes(prices: dict[str, Decimal], fee: str) -> dict[str, Quote]:
    r = MarketRules(
        price_tick=D("0.01"),
        amount_step=D("0.0001"),
        min_notional=D(1),
        maker_fee=D(fee),
        taker_fee=D(fee),
    )
    return {
        pair: Quote(bid=price, ask=price + D("0.01"), rules=r) for pair, price in prices.items()
    }


def _check_places(p: DcaParams, d: Decision, q: dict[str, Quote]) -> None:
    """Each recovery add improves the average (given the lower-step adds resting before it);
    each take profit clears break-even with fees."""
    for c in d.commands:
        if not isinstance(c, Place):
            continue
        g = d.book.group(c.key.group_id)
        if c.key.purpose is Purpose.ADD and g.in_recovery:
            _check_recovery_add(g, c)
        if c.key.purpose is Purpose.TAKE_PROFIT:
            avg = g.average_price
            f = q[g.pair].rules.fee_rate
            assert avg is not None
            assert c.price is not None
            assert c.price >= avg * (1 + f) / (1 - f)
            assert c.price >= (g.cost + g.entry_fees) / (g.amount * (1 - f))


def _check_recovery_add(g: Group, c: Place) -> None:
    assert c.price is not None
    before = [
        o for o in g.open_orders(Purpose.ADD) if o.key.step < c.key.step and o.price is not None
    ]
    held = g.amount + sum((o.amount for o in before), D(0))
    cost = g.cost + sum((o.amount * o.price for o in before if o.price), D(0))
    avg, new = cost / held, (cost + c.amount * c.price) / (held + c.amount)
    assert new < avg
    assert (avg - new) / avg * HUNDRED >= g.sizing.min_avg_improvement_pct


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_any_price_path_and_margin_cut_keeps_every_money_rule(scenario: Scenario) -> None:
    _play(scenario)


@settings(max_examples=100, deadline=None)
@given(scenarios(recovering=True))
def test_falling_prices_with_recovery_keep_every_money_rule(scenario: Scenario) -> None:
    _play(scenario)


def _play(scenario: Scenario) -> None:
    p, fee, race, path = scenario
    prices = {"BTC/USDT": D(100), "ETH/USDT": D(20)}
    book = GroupBook()
    now = 0.0
    lowered = False
    for gate, move_a, move_b, cut in path:
        if cut is not None:
            p = replace(p, margin_limit=(p.margin_limit * cut).quantize(D("0.01")))
            lowered = True
        prices = {
            "BTC/USDT": max(D("1"), (prices["BTC/USDT"] * (1 + move_a)).quantize(D("0.01"))),
            "ETH/USDT": max(D("1"), (prices["ETH/USDT"] * (1 + move_b)).quantize(D("0.01"))),
        }
        before = book.committed_quote
        book = settle(book, prices, D(fee), race=race)
        assert book.committed_quote <= before  # fills and cancels never commit more
        q = market_quotes({k: v for k, v in prices.items() if k in p.pairs}, fee)
        d = decide(p, book, q, gate, now)
        assert decide(p, book, q, gate, now) == d  # deterministic
        if not lowered:
            assert d.book.committed_quote <= p.margin_limit
        # above a lowered cap: nothing more is committed, and nothing is sold for it
        assert d.book.committed_quote <= max(p.margin_limit, book.committed_quote)
        if any(isinstance(c, Place) and c.side is OrderSide.BUY for c in d.commands):
            assert d.book.committed_quote <= p.margin_limit
        assert all(
            c.key.purpose in (Purpose.TAKE_PROFIT, Purpose.STOP)
            for c in d.commands
            if isinstance(c, Place) and c.side is OrderSide.SELL
        )
        _check_places(p, d, q)
        again = decide(p, d.book, q, gate, now)  # idempotent
        assert again.commands == ()
        assert again.book == d.book
        if gate is Gate.PAUSE:
            assert d.commands == ()
        if gate is not Gate.RUN:
            assert not any(isinstance(c, Place) and c.side is OrderSide.BUY for c in d.commands)
        book = d.book
        now += 1800.0
