"""The sandbox's pure parts, without HTTP: the seeded price feed, the matching engine's money
rules, fault validation, and the signature helpers checked against reference §9's verifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from urllib.parse import unquote

import pytest

from backfuture_daemon.sandbox import Faults, signing
from backfuture_daemon.sandbox.engine import (
    Engine,
    InsufficientFunds,
    Order,
    PriceFeed,
    UnknownOrder,
)
from backfuture_daemon.sandbox.kucoin.gateway import mask_ip
from backfuture_daemon.sandbox.quotes import candles

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000


def test_price_feed_is_seeded_and_moves() -> None:
    a, b, other = PriceFeed(7), PriceFeed(7), PriceFeed(8)
    path = [a.price("BTC/USDT", T0 + i * 10_000) for i in range(360)]
    assert path == [b.price("BTC/USDT", T0 + i * 10_000) for i in range(360)]
    assert path != [other.price("BTC/USDT", T0 + i * 10_000) for i in range(360)]
    assert len(set(path)) > 100
    assert all(Decimal(60000) < p < Decimal(70000) for p in path)  # around 65 000, bounded
    assert all(p == p.quantize(Decimal("0.01")) for p in path)  # on the tick


def test_candles_bracket_open_and_close() -> None:
    rows = candles(PriceFeed(7), "ETH/USDT", 60_000, T0, limit=10)
    assert [r.open_ms for r in rows] == [T0 - (9 - i) * 60_000 for i in range(10)]
    assert all(r.low <= min(r.open, r.close) <= max(r.open, r.close) <= r.high for r in rows)


def _order(oid: str, side: str, price: str | None, amount: str, **kw: object) -> Order:
    return Order(
        id=oid,
        client_id=oid,
        symbol="BTC/USDT",
        side=side,  # type: ignore[arg-type]
        type="limit" if price else "market",
        price=Decimal(price) if price else None,
        amount=Decimal(amount),
        created_ms=T0,
        **kw,  # type: ignore[arg-type]
    )


def test_engine_locks_fills_and_releases_funds() -> None:
    engine = Engine(PriceFeed(7))
    acct = engine.account("mexc", "k", {"USDT": Decimal(1000), "BTC": Decimal("0.01")})
    last = engine.last_price("BTC/USDT", T0)

    resting = engine.place(acct, _order("1", "buy", str(last / 2), "0.01"), T0)
    assert resting.is_open
    assert acct.balance("USDT") == (
        Decimal(1000) - last / 2 * Decimal("0.01"),
        last / 2 * Decimal("0.01"),
    )
    engine.cancel(acct, "1", T0 + 1)
    assert acct.balance("USDT") == (Decimal(1000), Decimal(0))
    with pytest.raises(UnknownOrder):
        engine.cancel(acct, "1", T0 + 2)

    sold = engine.place(acct, _order("2", "sell", None, "0.005"), T0)
    assert sold.status == "filled"
    assert acct.balance("BTC") == (Decimal("0.005"), Decimal(0))
    assert acct.balance("USDT")[0] == Decimal(1000) + last * Decimal("0.005")

    by_cost = engine.place(acct, _order("3", "buy", None, "0", quote_amount=Decimal(100)), T0)
    assert by_cost.status == "filled"
    assert by_cost.cost <= Decimal(100)
    assert by_cost.filled > 0

    with pytest.raises(InsufficientFunds):
        engine.place(acct, _order("4", "buy", str(last), "1"), T0)
    assert "4" not in acct.orders


def test_engine_time_in_force_and_post_only() -> None:
    engine = Engine(PriceFeed(7))
    acct = engine.account("kucoin", "k", {"USDT": Decimal(100_000)})
    last = engine.last_price("BTC/USDT", T0)
    far = str(last / 2)
    ioc = engine.place(acct, _order("1", "buy", far, "0.01", time_in_force="IOC"), T0)
    assert ioc.status == "canceled"
    maker = engine.place(acct, _order("2", "buy", str(last * 2), "0.01", post_only=True), T0)
    assert maker.status == "canceled"  # would have taken liquidity
    taker = engine.place(acct, _order("3", "buy", str(last * 2), "0.01"), T0)
    assert taker.status == "filled"
    assert taker.average == last  # a taker fills at the market, not at its limit
    assert acct.balance("USDT") == (Decimal(100_000) - last * Decimal("0.01"), Decimal(0))


def test_resting_sell_fills_at_its_price_when_the_market_rises() -> None:
    feed = PriceFeed(7)
    engine = Engine(feed)
    acct = engine.account("mexc", "k", {"BTC": Decimal(1)})
    high_at = max(range(T0 + 60_000, T0 + 3_600_000, 1000), key=lambda t: feed.price("BTC/USDT", t))
    target = feed.price("BTC/USDT", high_at)
    engine.place(acct, _order("1", "sell", str(target), "0.5"), T0)
    assert engine.open_orders(acct, high_at - 1000)
    assert engine.open_orders(acct, T0 + 3_600_000) == []
    order = engine.get(acct, "1", T0 + 3_600_000)
    assert (order.status, order.average, order.updated_ms) == ("filled", target, high_at)
    assert acct.balance("USDT") == (target * Decimal("0.5"), Decimal(0))
    assert acct.balance("BTC") == (Decimal("0.5"), Decimal(0))


def test_faults_validation() -> None:
    f = Faults()
    assert f.mexc_futures_orders_disabled is True
    f.update({"http_5xx": True, "latency_ms": 20, "clock_offset_ms": -5000})
    assert (f.http_5xx, f.latency_ms, f.clock_offset_ms) == (503, 20, -5000)
    for bad in ({"latency": 1}, {"latency_ms": -1}, {"timeout": "yes"}, {"http_5xx": 404}):
        with pytest.raises(ValueError, match="fault"):
            f.update(bad)
    assert f.latency_ms == 20  # a rejected update changes nothing
    f.reset()
    assert f.to_dict() == Faults().to_dict()


# reference §9 verifiers, verbatim in spirit: the oracle for the sandbox's own helpers
def _ref_mexc_spot_ok(raw_target: str, secret: str) -> bool:
    qs = raw_target.partition("?")[2]
    i = qs.rfind("&signature=")
    expected = hmac.new(secret.encode(), qs[:i].encode(), hashlib.sha256).hexdigest()
    return expected == qs[i + 11 :]


def _ref_kucoin_ok(
    method: str, raw_target: str, h: dict[str, str], body: str, secret: str, pw: str
) -> bool:
    pre = h["KC-API-TIMESTAMP"] + method + unquote(raw_target) + (body or "")

    def b64(m: str) -> str:
        return base64.b64encode(
            hmac.new(secret.encode(), m.encode(), hashlib.sha256).digest()
        ).decode()

    return b64(pre) == h["KC-API-SIGN"] and b64(pw) == h["KC-API-PASSPHRASE"]


def test_signing_helpers_agree_with_the_reference_verifiers() -> None:
    qs = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=30000&timestamp=1&recvWindow=5000"
    sig = signing.sign_mexc_spot(b"sek", qs)
    target = f"/api/v3/order?{qs}&signature={sig}"
    assert _ref_mexc_spot_ok(target, "sek")
    signed, got = signing.split_mexc_spot_query(target)  # type: ignore[misc]
    assert signing.verify_mexc_spot(b"sek", signed, got)
    assert not signing.verify_mexc_spot(b"sek", signed, got[:-1] + "x")

    target = "/api/v1/orders?symbol=BTC-USDT&status=active"
    headers = {
        "KC-API-TIMESTAMP": "1700000000000",
        "KC-API-SIGN": signing.sign_kucoin(b"sek", "1700000000000", "GET", target, ""),
        "KC-API-PASSPHRASE": signing.sign_kucoin_passphrase(b"sek", "pw"),
    }
    assert _ref_kucoin_ok("GET", target, headers, "", "sek", "pw")
    assert signing.verify_kucoin_passphrase(b"sek", "pw", headers["KC-API-PASSPHRASE"])
    assert not signing.verify_kucoin_passphrase(b"sek", "pw2", headers["KC-API-PASSPHRASE"])


def test_kucoin_ip_masking() -> None:
    assert mask_ip("203.0.113.154") == "203.**.154"
    assert mask_ip("::1") == "::1"
