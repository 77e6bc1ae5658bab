"""The sandbox's perpetual price: the spot path × (1 + basis) on the contract's tick, a book in
whole contracts either side of it, and the basis knob (`{"symbol", "basis"}` market command)
validated and kept apart from the spot price path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backfuture_daemon.sandbox.catalogue import KUCOIN_CONTRACTS, SPOT_BY_SYMBOL
from backfuture_daemon.sandbox.control import Command, CommandError, parse_command
from backfuture_daemon.sandbox.engine import Engine, PriceFeed
from backfuture_daemon.sandbox.quotes import contract_book, perp_price

XBT = KUCOIN_CONTRACTS[0]  # XBTUSDTM: BTC/USDT, 0.001 BTC per contract, tick 0.1
NOW = 1_700_000_000_000


def held(price: float) -> Engine:
    engine = Engine(PriceFeed())
    engine.control_market(
        parse_command({"symbol": "BTC/USDT", "price": price}, SPOT_BY_SYMBOL), NOW
    )
    return engine


def test_without_a_basis_the_perp_follows_spot_on_its_tick() -> None:
    engine = held(60000.04)
    assert engine.feed.price("BTC/USDT", NOW) == Decimal("60000.04")
    assert perp_price(engine.feed, XBT, NOW) == Decimal("60000.0")


def test_a_basis_command_moves_the_perp_not_spot() -> None:
    engine = held(60000)
    state = engine.control_market(
        parse_command({"symbol": "BTC/USDT", "basis": 0.01}, SPOT_BY_SYMBOL), NOW + 1
    )
    assert state["mode"] == "hold"  # the spot path is left as it was
    assert engine.feed.price("BTC/USDT", NOW + 1) == Decimal("60000")
    assert perp_price(engine.feed, XBT, NOW + 1) == Decimal("60600.0")
    engine.feed.control.set_basis("BTC/USDT", Decimal("-0.002"))
    assert perp_price(engine.feed, XBT, NOW + 1) == Decimal("59880.0")
    assert engine.feed.control.basis("ETH/USDT") == 0  # per spot symbol


def test_the_perp_book_is_in_whole_contracts_one_tick_either_side() -> None:
    engine = held(60000)
    engine.feed.control.set_basis("BTC/USDT", Decimal("0.01"))
    bids, asks = contract_book(engine.feed, XBT, NOW, 20)
    assert (len(bids), len(asks)) == (20, 20)
    assert (bids[0][0], asks[0][0]) == (Decimal("60599.9"), Decimal("60600.1"))
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(isinstance(q, int) and q >= 1 for _, q in bids + asks)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"symbol": "BTC/USDT", "basis": 0.6}, "basis: must be between"),
        ({"symbol": "BTC/USDT", "basis": "0.01"}, "basis: must be a number"),
        ({"symbol": "BTC/USDT", "basis": True}, "basis: must be a number"),
        ({"symbol": "BTC/USDT", "basis": 0.01, "price": 1}, "exactly one of"),
    ],
)
def test_bad_basis_commands_are_refused(body: dict[str, object], error: str) -> None:
    with pytest.raises(CommandError, match=error):
        parse_command(body, SPOT_BY_SYMBOL)


def test_a_basis_command_parses() -> None:
    command = parse_command({"symbol": "ETH/USDT", "basis": -0.005}, SPOT_BY_SYMBOL)
    assert command == Command("ETH/USDT", basis=Decimal("-0.005"))


def test_futures_orders_match_on_the_perp_price_spot_orders_on_spot() -> None:
    from backfuture_daemon.sandbox.engine import Order

    engine = held(60000)
    engine.feed.control.set_basis("BTC/USDT", Decimal("0.01"))  # the perp at 60,600
    acct = engine.account("kucoin", "k", {"USDT": Decimal(10**6)})

    def buy(cid: str, price: int, market: str) -> Order:
        extra: dict[str, object] = {"multiplier": Decimal("0.001"), "leverage_value": Decimal(2)}
        order = Order(cid, cid, "BTC/USDT", "buy", "limit", Decimal(price), Decimal(1), NOW,
                      market=market, instrument_id="XBTUSDTM" if market == "futures" else "",
                      extra=extra if market == "futures" else {})  # fmt: skip
        return engine.place(acct, order, NOW)

    # 60,300 is above spot but below the perp: it rests on futures, crosses on spot
    assert buy("f1", 60300, "futures").status == "open"
    spot = buy("s1", 60300, "spot")
    assert (spot.status, spot.fills[0].price) == ("filled", Decimal(60000))
    taker = buy("f2", 60700, "futures")  # crosses the perp: fills at the perp's price
    assert (taker.status, taker.fills[0].price) == ("filled", Decimal(60600))
    # the perp falls through 60,300 when spot does (basis kept): the resting buy fills there
    engine.control_market(
        parse_command({"symbol": "BTC/USDT", "path": [[0, 60000], [2, 59500]]}, SPOT_BY_SYMBOL),
        NOW + 1,
    )
    engine.refresh(acct, NOW + 3000)
    rested = acct.orders["f1"]
    assert (rested.status, rested.fills[0].price) == ("filled", Decimal(60300))
