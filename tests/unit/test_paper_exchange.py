"""PaperExchange (reference/bots.md §4) with exact numbers: book-walking market orders with a
slippage cap and taker fee, marketable limits as taker, resting limits filled whole at their price
as maker when the book trades through them, simulated balances with insufficient_funds, SQLite
persistence and settlement of what was crossed while the daemon was down."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.paper import PaperExchange, PaperFees
from backfuture_daemon.exchanges.port import (
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.strategy.params import MarketRules

PAIR = "BTC/USDT"
FEES = PaperFees(maker=D("0.001"), taker=D("0.002"))


def paper(db: Database, md: ManualMarketData, start: str = "1000") -> PaperExchange:
    return PaperExchange(
        db, "S", md, quote="USDT", start_balance=D(start), fees=FEES, clock=lambda: 7.0
    )


def buy(cid: str, amount: str, price: str | None = None) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(PAIR, Side.BUY, kind, D(amount), cid, None if price is None else D(price))


def sell(cid: str, amount: str, price: str | None = None) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(PAIR, Side.SELL, kind, D(amount), cid, None if price is None else D(price))


async def free(ex: PaperExchange, currency: str) -> tuple[D, D]:
    b = (await ex.balances())[currency]
    return b.free, b.locked


async def test_market_buy_walks_the_book_and_pays_taker(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D("0.5")), (D(101), D(1)), (D(105), D(10))))
    ex = paper(Database.in_dir(tmp_path), md)
    ack = await ex.place(buy("m1", "1"))
    # 0.5 @ 100 + 0.5 @ 101 = 100.5; taker 0.2 % = 0.201
    assert (ack.state, ack.filled, ack.average_price) == (OrderState.FILLED, D(1), D("100.5"))
    assert await free(ex, "USDT") == (D("899.299"), 0)
    assert await free(ex, "BTC") == (D(1), 0)
    (fill,) = await ex.fills_since(PAIR, 0)
    assert (fill.price, fill.amount, fill.fee, fill.fee_currency) == (
        D("100.5"),
        D(1),
        D("0.201"),
        "USDT",
    )
    assert fill.client_order_id == "m1"


async def test_market_slippage_is_capped_and_thin_book_fills_at_last_level(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(100), D("0.1")), (D(50), D(10))), ((D(100), D("0.1")), (D(200), D(10))))
    ex = paper(Database.in_dir(tmp_path), md, start="10000")
    # VWAP 190 is capped at 5 % above the best ask
    assert (await ex.place(buy("m1", "1"))).average_price == D("105.00")
    # sell side: VWAP 55 is capped at 5 % below the best bid
    assert (await ex.place(sell("m2", "1"))).average_price == D("95.00")
    md.set_book(PAIR, ((D(100), D(1)),), ((D(100), D(1)),))
    assert (await ex.place(buy("m3", "3"))).average_price == D(100)


async def test_marketable_limit_fills_at_once_as_taker_never_worse_than_its_limit(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)), (D(90), D(5))), ((D(100), D(1)), (D(102), D(5))))
    ex = paper(Database.in_dir(tmp_path), md)
    ack = await ex.place(buy("l1", "1", "101"))  # the best ask covers it: 100
    assert (ack.state, ack.average_price) == (OrderState.FILLED, D(100))
    assert await free(ex, "USDT") == (D("899.8"), 0)  # 100 + 0.2 taker
    ack = await ex.place(buy("l2", "2", "101"))  # 1 @ 100 + 1 @ 102 = 101: bounded by 101
    assert ack.average_price == D(101)
    ack = await ex.place(sell("l3", "2", "95"))  # 2 @ 99 on the bid side
    assert ack.average_price == D(99)
    ack = await ex.place(sell("l4", "1", "100"))  # the bid is below the limit: it rests
    assert ack.state is OrderState.OPEN


async def test_resting_buy_fills_whole_at_its_price_as_maker_once_crossed(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D(5)),))
    ex = paper(Database.in_dir(tmp_path), md)
    ack = await ex.place(buy("r1", "2", "95"))
    assert ack.state is OrderState.OPEN
    assert await free(ex, "USDT") == (D("809.810"), D("190.190"))  # 190 + 0.1 % maker reserved
    md.set_book(PAIR, ((D("95.01"), D(5)),), ((D("95.02"), D(5)),))
    assert (await ex.open_orders(PAIR))[0].client_order_id == "r1"  # not crossed yet
    md.set_book(PAIR, ((D("94.99"), D(5)),), ((D(95), D("0.01")),))  # best ask touches the limit
    assert await ex.open_orders(PAIR) == ()
    filled = await ex.fetch_order_by_client_id(PAIR, "r1")
    assert filled is not None
    assert (filled.state, filled.filled, filled.average_price) == (OrderState.FILLED, D(2), D(95))
    assert await free(ex, "USDT") == (D("809.810"), 0)
    assert await free(ex, "BTC") == (D(2), 0)
    (fill,) = await ex.fills_since(PAIR, 0)
    assert (fill.price, fill.amount, fill.fee) == (D(95), D(2), D("0.190"))


async def test_resting_sell_fills_when_best_bid_reaches_it(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D(5)),))
    ex = paper(Database.in_dir(tmp_path), md)
    await ex.place(buy("b", "1"))  # 100 + 0.2 taker -> 899.8 USDT
    assert (await ex.place(sell("tp", "1", "110"))).state is OrderState.OPEN
    assert await free(ex, "BTC") == (0, D(1))
    md.set_book(PAIR, ((D("109.99"), D(5)),), ((D(110), D(5)),))
    assert (await ex.fetch_order_by_client_id(PAIR, "tp")).state is OrderState.OPEN  # type: ignore[union-attr]
    md.set_book(PAIR, ((D(110), D(5)),), ((D("110.01"), D(5)),))
    assert (await ex.fetch_order_by_client_id(PAIR, "tp")).state is OrderState.FILLED  # type: ignore[union-attr]
    assert await free(ex, "USDT") == (D("1009.69"), 0)  # 899.8 + 110 - 0.11 maker
    assert await free(ex, "BTC") == (0, 0)


async def test_insufficient_simulated_balance_is_rejected_and_not_recorded(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D(5)),))
    ex = paper(Database.in_dir(tmp_path), md, start="100")
    with pytest.raises(OrderRejected) as info:
        await ex.place(buy("m1", "1"))  # needs 100.2 with the taker fee
    assert info.value.error_class is TradingErrorClass.INSUFFICIENT_FUNDS
    with pytest.raises(OrderRejected) as info:
        await ex.place(sell("s1", "0.1", "120"))  # holds no BTC
    assert info.value.error_class is TradingErrorClass.INSUFFICIENT_FUNDS
    assert await ex.fetch_order_by_client_id(PAIR, "m1") is None
    assert await free(ex, "USDT") == (D(100), 0)
    assert (await ex.place(buy("m2", "0.5"))).state is OrderState.FILLED


async def test_cancel_releases_the_reserve_and_place_is_idempotent(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D(5)),))
    ex = paper(Database.in_dir(tmp_path), md)
    first = await ex.place(buy("r1", "1", "90"))
    again = await ex.place(buy("r1", "1", "90"))
    assert again == first
    assert await free(ex, "USDT") == (D("909.910"), D("90.090"))
    cancelled = await ex.cancel(PAIR, "r1")
    assert cancelled.state is OrderState.CANCELED
    assert await free(ex, "USDT") == (D(1000), 0)
    assert (await ex.cancel(PAIR, "r1")).state is OrderState.CANCELED
    with pytest.raises(OrderRejected):
        await ex.cancel(PAIR, "never-placed")


async def test_no_market_data_is_temporary(tmp_path: Path) -> None:
    ex = paper(Database.in_dir(tmp_path), ManualMarketData())
    with pytest.raises(TradingUnavailable):
        await ex.place(buy("m1", "1"))
    with pytest.raises(TradingUnavailable):
        await ex.place(buy("l1", "1", "90"))


async def test_restart_keeps_the_ledger_and_settles_what_was_crossed_while_down(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D(5)),))
    db = Database.in_dir(tmp_path)
    ex = paper(db, md)
    await ex.place(buy("r1", "1", "95"))
    await ex.place(buy("r2", "1", "80"))
    db.close()

    md.set_book(PAIR, ((D(93), D(5)),), ((D(94), D(5)),))  # crossed 95 while down, not 80
    again = paper(Database.in_dir(tmp_path), md, start="5")  # start balance applies once only
    assert [o.client_order_id for o in await again.open_orders(PAIR)] == ["r2"]
    r1 = await again.fetch_order_by_client_id(PAIR, "r1")
    assert r1 is not None
    assert (r1.state, r1.average_price) == (OrderState.FILLED, D(95))
    # 1000 - 95.095 - 80.080 reserved; r1's reserve spent exactly (95 + 0.095 maker)
    assert await free(again, "USDT") == (D("824.825"), D("80.080"))
    assert await free(again, "BTC") == (D(1), 0)


async def test_orders_are_checked_against_the_market_rules_like_a_live_venue(
    tmp_path: Path,
) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(99), D(5)),), ((D(100), D(5)),))
    rules = MarketRules(price_tick=D("0.01"), amount_step=D("0.001"), min_notional=D(5))
    ex = PaperExchange(
        Database.in_dir(tmp_path), "S", md, quote="USDT", start_balance=D(1000), fees=FEES,
        rules=lambda _pair: rules, clock=lambda: 7.0,
    )  # fmt: skip
    refused = {
        "amount precision": buy("a", "0.0015", "90"),
        "price precision": buy("b", "0.1", "90.005"),
        "notional": buy("c", "0.04", "90"),  # 3.6 < 5
        "market notional": buy("d", "0.049"),  # at the best ask 100: 4.9 < 5
    }
    for name, order in refused.items():
        with pytest.raises(OrderRejected) as info:
            await ex.place(order)
        assert info.value.error_class is TradingErrorClass.ORDER_REJECTED, name
    assert (await ex.place(buy("e", "0.05"))).state is OrderState.FILLED
    assert (await ex.place(buy("f", "0.1", "90.01"))).state is OrderState.OPEN
