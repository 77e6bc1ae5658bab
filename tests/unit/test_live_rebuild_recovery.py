"""A rebuild from the exchange puts a group back in Recovery Mode when its resting take profit sits
at Recovery Mode's price (client ids do not say so; the exchange's resting order does): long and
short, the reason the state still shows (adds used) or else drawdown, since the order was placed;
a take profit at the normal price, unknown rules or recovery off leave the group as it was."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from backfuture_daemon.bots.live_rebuild import recovered
from backfuture_daemon.strategy.groups import Group, GroupBook, RecoveryReason, RestingOrder
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, Purpose
from backfuture_daemon.strategy.params import (
    DcaParams,
    GroupSizing,
    MarketRules,
    RecoveryParams,
    Side,
)
from backfuture_daemon.strategy.recovery import take_profit_price

SIZING = GroupSizing(base_order_quote=D(10), add_order_quote=D(10), max_adds=3,
                     max_active_adds=2, step_pct=D("1.5"), step_scale=D("1.2"),
                     volume_scale=D("1.5"), take_profit_pct=D("1.2"))  # fmt: skip
PARAMS = DcaParams(pairs=("BTC/USDT",), margin_limit=D(100), max_active_groups=1, sizing=SIZING,
                   recovery=RecoveryParams(enabled=True, adds_used_ratio=D("0.6"),
                                           take_profit_pct=D("0.4")))  # fmt: skip
RULES = MarketRules(price_tick=D("0.01"), amount_step=D("0.0001"), maker_fee=D("0.001"),
                    taker_fee=D("0.001"))  # fmt: skip
TP = OrderKey(7, Purpose.TAKE_PROFIT, 1, 3)


def book(price_of: str, side: Side = Side.LONG, adds: tuple[int, ...] = (1,)) -> GroupBook:
    """One group (base at 100, one add filled, average 98.5 / 101.5) whose take profit rests at
    the normal or the recovery price."""
    avg = D("98.5") if side is Side.LONG else D("101.5")
    g = Group(7, "BTC/USDT", 0.0, SIZING, base_price=D(100), base_amount=D("0.1"),
              amount=D("0.2"), cost=avg * D("0.2"), filled_adds=adds, side=side)  # fmt: skip
    if price_of == "recovery":
        g_for_price = replace(g, recovery_reason=RecoveryReason.DRAWDOWN)
    else:
        g_for_price = g
    price = take_profit_price(g_for_price, PARAMS, RULES)
    exit_side = OrderSide.SELL if side is Side.LONG else OrderSide.BUY
    tp = RestingOrder(TP, exit_side, price, D("0.2"), D("0.2"))
    return GroupBook(groups=(replace(g, orders=(tp,)),), next_group_id=8)


def rules(pair: str) -> MarketRules | None:
    return RULES


def test_a_take_profit_at_the_recovery_price_puts_the_group_back_in_recovery() -> None:
    for side in (Side.LONG, Side.SHORT):
        (g,) = recovered(book("recovery", side), PARAMS, rules, {TP: 1234.5}).groups
        assert g.recovery_reason is RecoveryReason.DRAWDOWN, side
        assert g.recovery_since == 1234.5
        assert take_profit_price(g, PARAMS, RULES) == g.orders[0].price


def test_the_reason_is_the_trigger_the_state_still_shows() -> None:
    (g,) = recovered(book("recovery", adds=(1, 2)), PARAMS, rules, {}).groups
    assert g.recovery_reason is RecoveryReason.ADDS_USED  # 2 of 3 adds >= 0.6
    assert g.recovery_since is None  # the order's time unknown


def test_a_normal_take_profit_unknown_rules_or_recovery_off_change_nothing() -> None:
    normal = book("normal")
    assert recovered(normal, PARAMS, rules, {TP: 1.0}) == normal
    rec = book("recovery")
    assert recovered(rec, PARAMS, lambda pair: None, {TP: 1.0}) == rec
    off = replace(PARAMS, recovery=RecoveryParams(enabled=False))
    assert recovered(rec, off, rules, {TP: 1.0}) == rec
