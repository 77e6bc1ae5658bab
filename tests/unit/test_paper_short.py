"""PaperExchange on futures (`allow_short`): a short sells first — the base balance goes negative,
the proceeds are credited, the buy-back pays them out, so the quote balance realises the PnL net
of both fees; a resting short sell fills as maker when the bid reaches it; opening a short needs
margin (equity ≥ short notional / leverage). Spot stays as it was: never sell what you do not
hold."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.manual_market import ManualMarketData
from backfuture_daemon.bots.paper import PaperExchange
from backfuture_daemon.exchanges.port import OrderRejected, OrderState, TradingErrorClass
from tests.unit.test_paper_exchange import FEES, PAIR, buy, free, sell


def futures(
    db: Database, md: ManualMarketData, start: str = "1000", leverage: int = 1
) -> PaperExchange:
    return PaperExchange(
        db, "S", md, quote="USDT", start_balance=D(start), fees=FEES, clock=lambda: 7.0,
        allow_short=True, leverage=D(leverage),
    )  # fmt: skip


async def test_a_short_sells_first_and_realises_its_pnl_on_the_buy_back(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(100), D(5)),), ((D("100.1"), D(5)),))
    ex = futures(Database.in_dir(tmp_path), md)
    ack = await ex.place(sell("s", "1", "99.5"))  # marketable: fills at the bid, as taker
    assert (ack.state, ack.average_price) == (OrderState.FILLED, D(100))
    assert await free(ex, "BTC") == (D(-1), 0)
    assert await free(ex, "USDT") == (D("1099.8"), 0)  # 1000 + 100 − 0.2 taker
    md.set_book(PAIR, ((D("94.9"), D(5)),), ((D(95), D(5)),))
    back = await ex.place(buy("tp", "1", "95"))
    assert (back.state, back.average_price) == (OrderState.FILLED, D(95))
    assert await free(ex, "BTC") == (0, 0)
    # 1099.8 − 95 − 0.19 taker: PnL 5 − 0.2 − 0.19 = 4.61
    assert await free(ex, "USDT") == (D("1004.61"), 0)


async def test_a_resting_short_add_fills_as_maker_when_the_bid_reaches_it(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(100), D(5)),), ((D("100.1"), D(5)),))
    ex = futures(Database.in_dir(tmp_path), md)
    assert (await ex.place(sell("add", "1", "102"))).state is OrderState.OPEN
    assert await free(ex, "BTC") == (D(-1), D(1))
    assert await free(ex, "USDT") == (D(1000), 0)
    md.set_book(PAIR, ((D(102), D(5)),), ((D("102.1"), D(5)),))
    filled = await ex.fetch_order_by_client_id(PAIR, "add")
    assert filled is not None
    assert filled.state is OrderState.FILLED
    assert await free(ex, "BTC") == (D(-1), 0)
    assert await free(ex, "USDT") == (D("1101.898"), 0)  # 1000 + 102 − 0.102 maker
    assert (await ex.place(sell("add2", "1", "110"))).state is OrderState.OPEN
    await ex.cancel(PAIR, "add2")
    assert await free(ex, "BTC") == (D(-1), 0)


async def test_opening_a_short_needs_margin(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(100), D(50)),), ((D("100.1"), D(50)),))
    ex = futures(Database.in_dir(tmp_path), md, start="100")
    with pytest.raises(OrderRejected) as info:
        await ex.place(sell("big", "1", "100"))  # 100 notional + fee > 100 equity at 1x
    assert info.value.error_class is TradingErrorClass.INSUFFICIENT_FUNDS
    assert await ex.fetch_order_by_client_id(PAIR, "big") is None
    assert (await ex.place(sell("small", "0.5", "100"))).state is OrderState.FILLED
    with pytest.raises(OrderRejected):
        await ex.place(sell("more", "0.5", "110"))  # 1 × 110 short in all: beyond the equity
    levered = futures(Database.in_dir(tmp_path / "x"), md, start="100", leverage=3)
    assert (await levered.place(sell("big", "2", "100"))).state is OrderState.FILLED


async def test_spot_paper_still_never_sells_what_it_does_not_hold(tmp_path: Path) -> None:
    md = ManualMarketData()
    md.set_book(PAIR, ((D(100), D(5)),), ((D("100.1"), D(5)),))
    ex = PaperExchange(
        Database.in_dir(tmp_path), "S", md, quote="USDT", start_balance=D(1000), fees=FEES,
        clock=lambda: 7.0,
    )  # fmt: skip
    with pytest.raises(OrderRejected) as info:
        await ex.place(sell("s", "1", "99"))
    assert info.value.error_class is TradingErrorClass.INSUFFICIENT_FUNDS
    with pytest.raises(OrderRejected):
        await ex.place(sell("r", "1", "120"))
    assert await free(ex, "USDT") == (D(1000), 0)
