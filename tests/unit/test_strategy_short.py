"""The short side of the DCA engine (issue 10): a short group sells first, adds above its base fill
in increasing distance, buys back below the average and never above break-even after fees, keeps
the margin cap (committed = filled notional + resting add notional), and mirrors a long group.

Property tests over any price path (hypothesis, the settings of test_strategy_properties with the
moves negated so the adverse direction — up — is explored as much as down is for a long), a
mirror test (a short on the path 2·p0 − p places the mirrored orders of a long on p), worked
examples and the codec round trip of short books.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from backfuture_daemon.strategy.codec import book_from_data, book_to_data
from backfuture_daemon.strategy.engine import Decision, decide
from backfuture_daemon.strategy.groups import Group, GroupBook, OrderState
from backfuture_daemon.strategy.orders import Cancel, OrderSide, OrderType, Place, Purpose
from backfuture_daemon.strategy.params import (
    HUNDRED,
    DcaParams,
    Gate,
    MarketRules,
    Quote,
    RecoveryParams,
    Side,
)
from backfuture_daemon.strategy.recovery import break_even_price
from tests.unit.test_strategy_properties import Scenario, market_quotes, scenarios
from tests.unit.test_strategy_sim import params, reference_sizing, rules

D = Decimal
PAIR = "BTC/USDT"


def short(p: DcaParams) -> DcaParams:
    return replace(p, side=Side.SHORT)


def settle(book: GroupBook, prices: dict[str, Decimal], fee: Decimal) -> GroupBook:
    """An exchange at these prices, for either direction: pending cancels are confirmed; an
    opening order (buy of a long, sell of a short) fills whole at its limit once the price
    reaches it; a closing order fills at its limit (a market order at the price), never more
    than the group holds."""
    for g in book.groups:
        for o in g.orders:
            if o.state is OrderState.CANCELLING:
                book = book.cancelled(o.key)
    for gid in [g.id for g in book.groups]:
        if gid not in {g.id for g in book.groups}:
            continue
        group = book.group(gid)
        price = prices.get(group.pair)
        if price is None:
            continue
        d = group.direction
        for o in group.orders:
            if gid not in {g.id for g in book.groups}:
                break
            if o.price is None:
                at = price
            elif (o.side is OrderSide.BUY and price <= o.price) or (
                o.side is OrderSide.SELL and price >= o.price
            ):
                at = o.price
            else:
                continue
            opening = o.side is d.entry
            amount = o.amount if opening else min(o.amount, book.group(gid).amount)
            if amount <= 0:
                book = book.cancelled(o.key)
                continue
            book = book.fill(o.key, amount, at, (at * amount * fee).quantize(D("0.00000001")))
            if (
                not opening
                and amount < o.amount
                and gid in {g.id for g in book.groups}
                and book.group(gid).order(o.key) is not None
            ):
                book = book.cancelled(o.key)
    return book


def _check_places(d: Decision, q: dict[str, Quote]) -> None:
    for c in d.commands:
        if not isinstance(c, Place):
            continue
        g = d.book.group(c.key.group_id)
        assert g.side is Side.SHORT
        if c.key.purpose in (Purpose.BASE, Purpose.ADD):
            assert c.side is OrderSide.SELL
        else:
            assert c.side is OrderSide.BUY
        if c.key.purpose is Purpose.ADD:
            assert g.base_price is not None
            assert c.price is not None
            assert c.price > g.base_price  # above the entry
            if g.in_recovery:
                _check_recovery_add(g, c)
        if c.key.purpose is Purpose.TAKE_PROFIT:
            avg = g.average_price
            f = q[g.pair].rules.fee_rate
            assert avg is not None
            assert c.price is not None
            assert c.price < avg
            assert c.price <= avg * (1 - f) / (1 + f)  # break-even by rate
            assert c.price <= (g.cost - g.entry_fees) / (g.amount * (1 + f))  # by fees paid
            # buying back every unit at the TP, with the fee, realises no loss
            assert c.price * g.amount * (1 + f) <= g.cost - g.entry_fees
    for g in d.book.groups:
        adds = sorted((o for o in g.open_orders(Purpose.ADD)), key=lambda o: o.key.step)
        prices = [o.price for o in adds if o.price is not None]
        assert prices == sorted(prices)  # farther above for a higher step
        if g.base_price is not None:
            levels = [g.base_price] + [
                g.base_price * (1 + g.sizing.add_deviation_pct(i) / HUNDRED)
                for i in range(1, g.sizing.max_adds + 1)
            ]
            assert all(a < b for a, b in itertools.pairwise(levels))


def _check_recovery_add(g: Group, c: Place) -> None:
    assert c.price is not None
    before = [
        o for o in g.open_orders(Purpose.ADD) if o.key.step < c.key.step and o.price is not None
    ]
    held = g.amount + sum((o.amount for o in before), D(0))
    cost = g.cost + sum((o.amount * o.price for o in before if o.price), D(0))
    avg, new = cost / held, (cost + c.amount * c.price) / (held + c.amount)
    assert new > avg  # a short's add must raise the average
    assert (new - avg) / avg * HUNDRED >= g.sizing.min_avg_improvement_pct


def _play(scenario: Scenario) -> None:
    p, fee, _race, path = scenario
    p = short(p)
    prices = {"BTC/USDT": D(100), "ETH/USDT": D(20)}
    book = GroupBook()
    now = 0.0
    lowered = False
    for gate, move_a, move_b, cut in path:
        if cut is not None:
            p = replace(p, margin_limit=(p.margin_limit * cut).quantize(D("0.01")))
            lowered = True
        prices = {  # negated: a short's adverse moves are rises
            "BTC/USDT": max(D("1"), (prices["BTC/USDT"] * (1 - move_a)).quantize(D("0.01"))),
            "ETH/USDT": max(D("1"), (prices["ETH/USDT"] * (1 - move_b)).quantize(D("0.01"))),
        }
        before = book.committed_quote
        book = settle(book, prices, D(fee))
        assert book.committed_quote <= before  # fills and cancels never commit more
        assert book_from_data(json.loads(json.dumps(book_to_data(book)))) == book
        q = market_quotes({k: v for k, v in prices.items() if k in p.pairs}, fee)
        d = decide(p, book, q, gate, now)
        assert decide(p, book, q, gate, now) == d  # deterministic
        if not lowered:
            assert d.book.committed_quote <= p.margin_limit
        # above a lowered cap: nothing more is committed, and nothing is bought back for it
        assert d.book.committed_quote <= max(p.margin_limit, book.committed_quote)
        if any(isinstance(c, Place) and c.side is OrderSide.SELL for c in d.commands):
            assert d.book.committed_quote <= p.margin_limit
        _check_places(d, q)
        again = decide(p, d.book, q, gate, now)  # idempotent
        assert again.commands == ()
        assert again.book == d.book
        if gate is Gate.PAUSE:
            assert d.commands == ()
        if gate is not Gate.RUN:
            assert not any(isinstance(c, Place) and c.side is OrderSide.SELL for c in d.commands)
        book = d.book
        now += 1800.0


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_a_short_on_any_price_path_keeps_every_money_rule(scenario: Scenario) -> None:
    _play(scenario)


@settings(max_examples=100, deadline=None)
@given(scenarios(recovering=True))
def test_a_short_on_rising_prices_with_recovery_keeps_every_money_rule(
    scenario: Scenario,
) -> None:
    _play(scenario)


# ---- mirror symmetry ----------------------------------------------------------------------------

P0 = D(100)


def _mirror(x: Decimal) -> Decimal:
    return 2 * P0 - x


def _q(price: Decimal, fee: str) -> dict[str, Quote]:
    r = MarketRules(
        price_tick=D("0.01"), amount_step=D("0.00001"), maker_fee=D(fee), taker_fee=D(fee)
    )
    return {PAIR: Quote(bid=price, ask=price, rules=r)}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.decimals(D("0"), D("4"), places=2), min_size=1, max_size=20),
    st.integers(0, 6),
    st.integers(1, 3),
    st.sampled_from(["0", "0.001"]),
)
def test_a_short_on_the_mirrored_path_places_the_mirrored_orders(
    drops: list[Decimal], max_adds: int, active: int, fee: str
) -> None:
    """A long on a falling path p and a short on 2·p0 − p (entry at p0, no slippage, recovery
    and stop loss off, room in the margin): the same orders at mirrored prices, the same adds
    filled, mirrored add levels. (Amounts differ — quote / price is not linear in the mirror —
    and so do the averages; a monotone path never reaches either take profit.)"""
    sizing = reference_sizing(max_adds=max_adds, max_active_adds=min(active, max(max_adds, 1)))
    base = DcaParams(
        pairs=(PAIR,), margin_limit=D(10_000), max_active_groups=1, sizing=sizing,
        entry_slippage_pct=D(0),
    )  # fmt: skip
    lp, sp = base, short(base)
    lbook, sbook = GroupBook(), GroupBook()
    price = P0
    for drop in [D(0), *drops]:
        price = max(D("1"), price - drop)
        lbook = settle(lbook, {PAIR: price}, D(fee))
        sbook = settle(sbook, {PAIR: _mirror(price)}, D(fee))
        ld = decide(lp, lbook, _q(price, fee), Gate.RUN, 0.0)
        sd = decide(sp, sbook, _q(_mirror(price), fee), Gate.RUN, 0.0)
        assert [_shape(c) for c in sd.commands if _opening(c)] == [
            _mirrored(_shape(c)) for c in ld.commands if _opening(c)
        ]
        for lg, sg in zip(ld.book.groups, sd.book.groups, strict=True):
            assert sg.filled_adds == lg.filled_adds
            assert (sg.base_price is None) == (lg.base_price is None)
            if lg.base_price is not None:
                assert sg.base_price == _mirror(lg.base_price)
        for ls, ss in zip(ld.groups, sd.groups, strict=True):
            assert ss.side == "short"
            assert ls.side == "long"
            assert ss.add_prices == tuple(_mirror(x) for x in ls.add_prices)
        lbook, sbook = ld.book, sd.book


def _opening(c: object) -> bool:
    return isinstance(c, Place) and c.key.purpose in (Purpose.BASE, Purpose.ADD)


def _shape(c: object) -> tuple[object, ...]:
    if isinstance(c, Cancel):
        return ("cancel", c.key.purpose, c.key.step)
    assert isinstance(c, Place)
    return (c.key.purpose, c.key.step, c.side, c.type, c.price)


def _mirrored(shape: tuple[object, ...]) -> tuple[object, ...]:
    purpose, step, side, kind, price = shape
    assert isinstance(price, Decimal)
    flipped = OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY
    return (purpose, step, flipped, kind, _mirror(price))


# ---- worked examples ----------------------------------------------------------------------------


def _quotes(bid: str, ask: str | None = None, fee: str = "0.001") -> dict[str, Quote]:
    return {PAIR: Quote(bid=D(bid), ask=D(ask or bid), rules=rules(fee))}


def _opened(p: DcaParams, bid: str = "100") -> GroupBook:
    d = decide(p, GroupBook(), _quotes(bid), Gate.RUN, 0.0)
    return settle(d.book, {PAIR: D(bid)}, D("0.001"))


def test_a_short_opens_with_a_marketable_sell_below_the_bid_sized_at_the_bid() -> None:
    p = short(params())
    d = decide(p, GroupBook(), _quotes("100", "100.02"), Gate.RUN, 0.0)
    (base,) = d.commands
    assert isinstance(base, Place)
    assert (base.key.purpose, base.side, base.type) == (
        Purpose.BASE,
        OrderSide.SELL,
        OrderType.LIMIT,
    )
    assert base.price == D("99.50")  # 0.5 % below the bid
    assert base.amount == D("0.10000")  # 10 quote at the bid: a fill at the touch commits ≤ 10
    assert "below bid 100" in base.note
    assert d.book.groups[0].side is Side.SHORT
    assert d.committed_quote == D("9.95")


def test_a_short_adds_above_the_base_fill_and_takes_profit_below_the_average() -> None:
    p = short(params())
    book = _opened(p)
    g = book.groups[0]
    assert g.base_price == D("99.50")
    assert g.amount == D("0.1")
    d = decide(p, book, _quotes("99.5"), Gate.RUN, 0.0)
    adds = [c for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.ADD]
    tp = [c for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.TAKE_PROFIT]
    assert [(a.side, a.price) for a in adds] == [
        (OrderSide.SELL, D("101.00")),  # 99.50 × 1.015 = 100.9925, rounded up (away)
        (OrderSide.SELL, D("102.79")),  # 99.50 × 1.033 = 102.7835
    ]
    (t,) = tp
    assert t.side is OrderSide.BUY
    assert t.price == D("98.30")  # 99.50 × 0.988 = 98.306, rounded down (toward profit)
    assert "below the average" in t.note
    g = d.book.groups[0]
    assert t.price is not None
    assert t.price < break_even_price(g, rules())
    # committed: the sold notional plus the resting adds' notional (the buy-back commits none)
    assert d.committed_quote == g.cost + sum((a.price * a.amount for a in adds if a.price), D(0))


def test_a_short_closes_at_take_profit_with_positive_pnl_net_of_fees() -> None:
    p = short(params())
    book = _opened(p)
    d = decide(p, book, _quotes("99.5"), Gate.RUN, 0.0)
    book = settle(d.book, {PAIR: D("98")}, D("0.001"))
    assert book.groups[0].done  # bought back; its resting adds are cancelled next
    d = decide(p, book, _quotes("98"), Gate.RUN, 0.0)
    assert {c.key.purpose for c in d.commands if isinstance(c, Cancel)} == {Purpose.ADD}
    book = settle(d.book, {PAIR: D("98")}, D("0.001"))
    assert book.groups == ()
    assert book.closed_groups == 1
    assert book.realized_pnl > 0
    # 0.1 sold at 99.50 and bought back at 98.30, 0.1 % fee each way
    assert book.realized_pnl == D("0.1") * (D("99.50") - D("98.30")) - D("0.00995") - D("0.00983")


def test_a_short_stop_loss_buys_back_at_market_above_the_average() -> None:
    p = short(params(stop_loss_pct=D(10), max_adds=0))
    book = _opened(p)
    d = decide(p, book, _quotes("109", "109.4"), Gate.RUN, 0.0)
    assert not any(c.key.purpose is Purpose.STOP for c in d.commands if isinstance(c, Place))
    d = decide(p, book, _quotes("109.4", "109.5"), Gate.RUN, 0.0)  # ask ≥ 99.5 × 1.1 = 109.45
    (stop,) = [c for c in d.commands if isinstance(c, Place)]
    assert (stop.key.purpose, stop.side, stop.type) == (
        Purpose.STOP,
        OrderSide.BUY,
        OrderType.MARKET,
    )
    assert "above the average" in stop.note


def test_a_short_enters_recovery_when_the_price_rises_above_its_average() -> None:
    rec = RecoveryParams(
        enabled=True, drawdown_pct=D(5), adds_used_ratio=D(1), margin_used_ratio=D(1)
    )
    p = short(params(recovery=rec, margin_limit="5000"))
    book = _opened(p)
    d = decide(p, book, _quotes("104", "104.4"), Gate.RUN, 0.0)
    assert not d.book.groups[0].in_recovery  # (104.4 − 99.5) / 99.5 = 4.9 %
    d = decide(p, book, _quotes("104.4", "104.5"), Gate.RUN, 0.0)
    g = d.book.groups[0]
    assert g.in_recovery
    assert g.recovery_reason is not None
    assert g.recovery_reason.value == "drawdown"
    tp = [c for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.TAKE_PROFIT]
    assert tp[0].price == D("99.10")  # recovery's 0.4 %: 99.50 × 0.996 = 99.102
    assert all(
        c.side is OrderSide.SELL
        for c in d.commands
        if isinstance(c, Place) and c.key.purpose is Purpose.ADD
    )


def test_lowering_the_cap_cancels_a_shorts_farthest_adds_first_and_never_buys() -> None:
    p = short(params(max_active_adds=3))
    book = _opened(p)
    d = decide(p, book, _quotes("99.5"), Gate.RUN, 0.0)
    book = d.book
    assert len(book.groups[0].open_orders(Purpose.ADD)) == 3
    cut = replace(p, margin_limit=D(30))
    d = decide(cut, book, _quotes("99.5"), Gate.RUN, 0.0)
    cancels = [c for c in d.commands if isinstance(c, Cancel)]
    assert [c.key.step for c in cancels] == [3, 2]  # farthest first, until the book fits
    assert not any(
        isinstance(c, Place)
        and c.side is OrderSide.BUY
        and c.key.purpose is not Purpose.TAKE_PROFIT
        for c in d.commands
    )
    settled = settle(d.book, {PAIR: D("99.5")}, D("0.001"))
    assert settled.committed_quote <= D(30)


def test_a_group_keeps_its_side_when_the_strategy_switches() -> None:
    p = short(params())
    book = _opened(p)
    d = decide(params(), book, _quotes("99.5"), Gate.RUN, 0.0)  # now long: the group stays short
    assert d.book.groups[0].side is Side.SHORT
    assert {
        c.side for c in d.commands if isinstance(c, Place) and c.key.purpose is Purpose.ADD
    } == {OrderSide.SELL}


def test_the_codec_round_trips_a_short_book_and_keeps_long_books_unchanged() -> None:
    p = short(params())
    book = decide(p, _opened(p), _quotes("99.5"), Gate.RUN, 0.0).book
    data = book_to_data(book)
    assert data["groups"][0]["side"] == "short"
    assert data["version"] == 2  # a reader that predates short refuses it, never reads it long
    assert book_from_data(json.loads(json.dumps(data))) == book
    long_book = decide(params(), GroupBook(), _quotes("100"), Gate.RUN, 0.0).book
    long_data = book_to_data(long_book)
    assert "side" not in long_data["groups"][0]  # the shape long books always had
    assert long_data["version"] == 1
    assert book_from_data(long_data) == long_book


@settings(max_examples=200, deadline=None)
@example(D("19.9"), [D(100), D(100)], D(3))  # 9.70 + 10 fits at the limits, 20 at the bids
@given(
    st.decimals(D("5"), D("60"), places=2),
    st.lists(st.decimals(D("1"), D("500"), places=2), min_size=1, max_size=3),
    st.decimals(D("0"), D("3"), places=2),
)
def test_short_entries_filled_at_the_bid_they_met_stay_within_the_cap(
    margin: Decimal, bids: list[Decimal], slippage: Decimal
) -> None:
    """A marketable sell fills at its limit or higher, up to the bid: sized and capped at the
    bid, every entry placed in one decide, filled at its bid, keeps the book within the cap."""
    pairs = ("BTC/USDT", "ETH/USDT", "SOL/USDT")[: len(bids)]
    p = replace(
        short(params(margin_limit=str(margin), groups=3, pairs=pairs)),
        entry_slippage_pct=slippage,
    )
    q = {
        pair: Quote(bid=bid, ask=bid + D("0.01"), rules=rules())
        for pair, bid in zip(pairs, bids, strict=True)
    }
    d = decide(p, GroupBook(), q, Gate.RUN, 0.0)
    book = d.book
    for c in d.commands:
        assert isinstance(c, Place)
        assert c.price is not None
        assert c.price <= q[c.pair].bid
        book = book.fill(c.key, c.amount, q[c.pair].bid, D(0))  # the best a sell can get
    assert book.committed_quote <= margin
