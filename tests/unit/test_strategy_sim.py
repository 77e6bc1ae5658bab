"""A tiny in-memory exchange for the DCA engine tests (helpers, plus tests of the helpers).

`settle` plays one price: cancels are confirmed, resting buys at or above the price fill at their
limit (or the price, when it gapped below), sells at or below it fill; fees at the taker rate.
Imported by tests/unit/test_strategy_engine.py, _recovery.py and _properties.py.
"""

from __future__ import annotations

from decimal import Decimal

from backfuture_daemon.strategy.engine import Decision, decide
from backfuture_daemon.strategy.groups import GroupBook, OrderState
from backfuture_daemon.strategy.orders import OrderSide
from backfuture_daemon.strategy.params import (
    DcaParams,
    Gate,
    GroupSizing,
    MarketRules,
    Quote,
    RecoveryParams,
)

D = Decimal
PAIR = "BTC/USDT"
FEE = Decimal("0.001")


def rules(fee: str = "0.001", min_notional: str = "1") -> MarketRules:
    return MarketRules(
        price_tick=D("0.01"),
        amount_step=D("0.00001"),
        min_notional=D(min_notional),
        maker_fee=D(fee),
        taker_fee=D(fee),
    )


def reference_sizing(**over: object) -> GroupSizing:
    """reference/bots.md §2.4: base 10, add 10, step 1.5, ss 1.2, vs 1.5, 5 adds, TP 1.2."""
    fields: dict[str, object] = {
        "base_order_quote": D(10),
        "add_order_quote": D(10),
        "max_adds": 5,
        "max_active_adds": 2,
        "step_pct": D("1.5"),
        "step_scale": D("1.2"),
        "volume_scale": D("1.5"),
        "take_profit_pct": D("1.2"),
        "min_avg_improvement_pct": D("0.3"),
    }
    fields.update(over)
    return GroupSizing(**fields)  # type: ignore[arg-type]


def params(
    *,
    margin_limit: str = "500",
    groups: int = 2,
    pairs: tuple[str, ...] = (PAIR,),
    recovery: RecoveryParams | None = None,
    **sizing: object,
) -> DcaParams:
    return DcaParams(
        pairs=pairs,
        margin_limit=D(margin_limit),
        max_active_groups=groups,
        sizing=reference_sizing(**sizing),
        recovery=recovery or RecoveryParams(),
    )


def quotes(
    price: Decimal | str, r: MarketRules | None = None, pair: str = PAIR
) -> dict[str, Quote]:
    p = D(price)
    return {pair: Quote(bid=p, ask=p, rules=r or rules())}


def settle(
    book: GroupBook, prices: dict[str, Decimal], fee: Decimal = FEE, *, race: bool = False
) -> GroupBook:
    """The exchange at these prices: confirm every pending cancel, then fill what crossed.
    With `race`, orders being cancelled may fill first (the cancel lost the race)."""
    if not race:
        book = _confirm_cancels(book)
    for gid in [g.id for g in book.groups]:
        if gid not in {g.id for g in book.groups}:
            continue
        group = book.group(gid)
        price = prices.get(group.pair)
        if price is None:
            continue
        for o in group.orders:
            if gid not in {g.id for g in book.groups}:
                break
            if o.side is OrderSide.BUY and o.price is not None and o.price >= price:
                at = min(o.price, price)
            elif o.side is OrderSide.SELL and (o.price is None or o.price <= price):
                at = price if o.price is None else max(o.price, price)
            else:
                continue
            held = book.group(gid).amount
            amount = o.amount if o.side is OrderSide.BUY else min(o.amount, held)
            if amount <= 0:
                book = book.cancelled(o.key)
                continue
            book = book.fill(o.key, amount, at, (at * amount * fee).quantize(D("0.00000001")))
            if o.side is OrderSide.SELL and amount < o.amount and o.key in _keys(book, gid):
                book = book.cancelled(o.key)
    return _confirm_cancels(book) if race else book


def _confirm_cancels(book: GroupBook) -> GroupBook:
    for g in book.groups:
        for o in g.orders:
            if o.state is OrderState.CANCELLING:
                book = book.cancelled(o.key)
    return book


def _keys(book: GroupBook, gid: int) -> set[object]:
    if gid not in {g.id for g in book.groups}:
        return set()
    return {o.key for o in book.group(gid).orders}


def step(
    p: DcaParams, book: GroupBook, price: str, gate: Gate = Gate.RUN, now: float = 0.0
) -> tuple[Decision, GroupBook]:
    """The market moves to `price`: the exchange settles, then the engine decides (twice, to
    check that deciding again on its own book issues nothing). Returns the decision and book."""
    book = settle(book, {PAIR: D(price)})
    q = quotes(price)
    d = decide(p, book, q, gate, now)
    again = decide(p, d.book, q, gate, now)
    assert again.commands == ()
    assert again.book == d.book
    return d, d.book


def test_settle_fills_a_crossed_buy_at_its_limit_and_confirms_cancels() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    g = book.groups[0]
    assert g.amount == D("0.09950")  # 10 / 100.50 (the base's marketable limit), floored
    assert g.base_price == D(100)
    assert g.cost == D("9.95")


def test_settle_leaves_an_uncrossed_order_resting() -> None:
    p = params()
    _, book = step(p, GroupBook(), "100")
    _, book = step(p, book, "100")
    _, book = step(p, book, "100")
    assert {o.key.purpose.value for o in book.groups[0].orders} == {"add", "take_profit"}
