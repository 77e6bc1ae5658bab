"""OKX public market data on the sandbox: system time and status, instruments (SPOT and SWAP;
one spot pair `suspend`, i.e. not API-tradable), tickers and order books from the shared seeded
price feed: spot at the spot path, swaps at the perpetual's price (quotes.perp_price: spot ×
(1 + basis)) with book sizes in contracts. Mounted by okx/account.py routes(); ids are OKX's
`BTC-USDT` / `BTC-USDT-SWAP`; `swap_contract` is what okx/swap.py trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.catalogue import Contract, Instrument
from backfuture_daemon.sandbox.engine import decimal_str
from backfuture_daemon.sandbox.okx.gateway import fail, ok
from backfuture_daemon.sandbox.quotes import book, contract_book, perp_price
from backfuture_daemon.sandbox.venue import Venue, cached, venue_of

_LISTED_MS = 1_548_133_413_000
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Swap:
    """A USDT-margined perpetual: `ct_val` base units per contract (OKX's real values)."""

    underlying: str
    ct_val: str
    tick: str
    lever: str


SWAPS: tuple[Swap, ...] = (
    Swap("BTC/USDT", "0.01", "0.1", "100"),
    Swap("ETH/USDT", "0.1", "0.01", "100"),
)
#: lotSz and minSz of every swap, in contracts (OKX trades 0.01 of a contract).
SWAP_LOT = Decimal("0.01")
SWAP_SUFFIX = "-SWAP"


def okx_id(inst: Instrument) -> str:
    return f"{inst.base}-{inst.quote}"


def _spot_info(inst: Instrument) -> dict[str, Any]:
    return {
        "instType": "SPOT", "instId": okx_id(inst), "instIdCode": 10_000 + len(inst.symbol),
        "uly": "", "instFamily": "", "category": "1", "baseCcy": inst.base,
        "quoteCcy": inst.quote, "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "",
        "optType": "", "stk": "", "listTime": str(_LISTED_MS), "auctionEndTime": "",
        "contTdSwTime": "", "openType": "", "expTime": "", "lever": "10",
        "tickSz": decimal_str(inst.price_tick), "lotSz": decimal_str(inst.amount_tick),
        "minSz": decimal_str(inst.min_amount), "ctType": "", "alias": "",
        # Listed, but not tradable by API: OKX suspends the instrument (ccxt: active False).
        "state": "live" if inst.api_tradable else "suspend",
        "ruleType": "normal", "maxLmtSz": "9999999999", "maxMktSz": "1000000",
        "maxLmtAmt": "20000000", "maxMktAmt": "1000000", "maxTwapSz": "9999999999",
        "maxIcebergSz": "9999999999", "maxTriggerSz": "9999999999", "maxStopSz": "1000000",
        "futureSettlement": False, "tradeQuoteCcyList": [inst.quote],
    }  # fmt: skip


def _swap_info(swap: Swap, inst: Instrument) -> dict[str, Any]:
    family = f"{inst.base}-{inst.quote}"
    return {
        "instType": "SWAP", "instId": f"{family}-SWAP", "instIdCode": 20_000 + len(family),
        "uly": family, "instFamily": family, "category": "1", "baseCcy": "", "quoteCcy": "",
        "settleCcy": inst.quote, "ctVal": swap.ct_val, "ctMult": "1", "ctValCcy": inst.base,
        "optType": "", "stk": "", "listTime": str(_LISTED_MS), "auctionEndTime": "",
        "contTdSwTime": str(_LISTED_MS), "openType": "", "expTime": "", "lever": swap.lever,
        "tickSz": swap.tick, "lotSz": decimal_str(SWAP_LOT), "minSz": decimal_str(SWAP_LOT),
        "ctType": "linear",
        "alias": "", "state": "live", "ruleType": "normal", "maxLmtSz": "100000000",
        "maxMktSz": "30000", "maxLmtAmt": "20000000", "maxMktAmt": "", "maxTwapSz": "100000000",
        "maxIcebergSz": "100000000", "maxTriggerSz": "100000000", "maxStopSz": "30000",
        "futureSettlement": False, "tradeQuoteCcyList": [],
    }  # fmt: skip


def _instruments(venue: Venue, inst_type: str) -> list[dict[str, Any]]:
    catalogue = venue.engine.catalogue
    if inst_type == "SPOT":
        return [_spot_info(i) for i in catalogue.spot]
    if inst_type == "SWAP":
        by_symbol = catalogue.by_symbol
        return [_swap_info(s, by_symbol[s.underlying]) for s in SWAPS if s.underlying in by_symbol]
    return []  # FUTURES, OPTION: none listed on the sandbox


async def server_time(request: web.Request) -> web.Response:
    return ok([{"ts": str(venue_of(request).now_ms())}])


async def system_status(request: web.Request) -> web.Response:
    """`GET /api/v5/system/status`: scheduled and ongoing maintenance (empty when none)."""
    venue = venue_of(request)
    if not venue.faults.maintenance:
        return ok([])
    now = venue.now_ms()
    return ok(
        [{"title": "Trading account system upgrade", "state": "ongoing",
          "begin": str(now - 600_000), "end": str(now + 3_600_000), "preOpenBegin": "",
          "href": "", "serviceType": "5", "system": "unified", "scheDesc": "",
          "maintType": "1", "env": "1"}]
    )  # fmt: skip


async def instruments(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst_type = request.query.get("instType", "")
    if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
        raise fail("51000", "Parameter instType error", 200)
    wanted = request.query.get("instId")
    if wanted:
        rows = [r for r in _instruments(venue, inst_type) if r["instId"] == wanted]
        if not rows:
            raise fail("51001", "Instrument ID does not exist", 200)
        return ok(rows)
    body = cached(venue, f"instruments:{inst_type}", lambda: _instruments(venue, inst_type))
    return web.Response(
        body=b'{"code":"0","msg":"","data":' + body + b"}", content_type="application/json"
    )


def spot_instrument(venue: Venue, inst_id: str | None) -> Instrument:
    inst = venue.engine.catalogue.by_kucoin_id.get(inst_id or "")  # BASE-QUOTE, as OKX's
    if inst is None:
        raise fail("51001", "Instrument ID does not exist", 200)
    return inst


def _ticker(venue: Venue, inst: Instrument) -> dict[str, Any]:
    now = venue.now_ms()
    last = venue.engine.last_price(inst.symbol, now)
    open_ = venue.engine.last_price(inst.symbol, now - _DAY_MS)
    bids, asks = book(venue.engine.feed, inst, now, 1)
    return {
        "instType": "SPOT", "instId": okx_id(inst), "last": decimal_str(last), "lastSz": "0.1",
        "askPx": decimal_str(asks[0][0]), "askSz": decimal_str(asks[0][1]),
        "bidPx": decimal_str(bids[0][0]), "bidSz": decimal_str(bids[0][1]),
        "open24h": decimal_str(open_), "high24h": decimal_str(max(last, open_)),
        "low24h": decimal_str(min(last, open_)), "volCcy24h": decimal_str(last * 1000),
        "vol24h": "1000", "ts": str(now), "sodUtc0": decimal_str(open_),
        "sodUtc8": decimal_str(open_),
    }  # fmt: skip


def swap_contracts(venue: Venue) -> dict[str, Contract]:
    """The swaps listed (those whose underlying the catalogue has) by instId."""
    by_symbol = venue.engine.catalogue.by_symbol
    out: dict[str, Contract] = {}
    for s in SWAPS:
        inst = by_symbol.get(s.underlying)
        if inst is not None:
            out[f"{inst.base}-{inst.quote}{SWAP_SUFFIX}"] = Contract(
                f"{inst.base}-{inst.quote}{SWAP_SUFFIX}", inst.symbol, inst.base,
                Decimal(s.ct_val), Decimal(s.tick), int(s.lever),
            )  # fmt: skip
    return out


def swap_contract(venue: Venue, inst_id: str | None) -> Contract:
    c = swap_contracts(venue).get(inst_id or "")
    if c is None:
        raise fail("51001", "Instrument ID does not exist", 200)
    return c


def is_swap(inst_id: object) -> bool:
    return isinstance(inst_id, str) and inst_id.endswith(SWAP_SUFFIX)


def _swap_ticker(venue: Venue, c: Contract) -> dict[str, Any]:
    now = venue.now_ms()
    feed = venue.engine.feed
    last, open_ = perp_price(feed, c, now), perp_price(feed, c, now - _DAY_MS)
    bids, asks = contract_book(feed, c, now, 1)
    return {
        "instType": "SWAP", "instId": c.id, "last": decimal_str(last), "lastSz": "1",
        "askPx": decimal_str(asks[0][0]), "askSz": str(asks[0][1]),
        "bidPx": decimal_str(bids[0][0]) if bids else "", "bidSz": str(bids[0][1]) if bids else "",
        "open24h": decimal_str(open_), "high24h": decimal_str(max(last, open_)),
        "low24h": decimal_str(min(last, open_)), "volCcy24h": "1000", "vol24h": "100000",
        "ts": str(now), "sodUtc0": decimal_str(open_), "sodUtc8": decimal_str(open_),
    }  # fmt: skip


async def ticker(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst_id = request.query.get("instId")
    if is_swap(inst_id):
        return ok([_swap_ticker(venue, swap_contract(venue, inst_id))])
    return ok([_ticker(venue, spot_instrument(venue, inst_id))])


async def tickers(request: web.Request) -> web.Response:
    venue = venue_of(request)
    inst_type = request.query.get("instType")
    if inst_type == "SWAP":
        return ok([_swap_ticker(venue, c) for c in swap_contracts(venue).values()])
    if inst_type != "SPOT":
        return ok([])
    return ok([_ticker(venue, i) for i in venue.engine.catalogue.spot])


async def books(request: web.Request) -> web.Response:
    """`GET /api/v5/market/books`: spot sizes in base, swap sizes in contracts."""
    venue = venue_of(request)
    inst_id = request.query.get("instId")
    try:
        size = min(max(int(request.query.get("sz", "1")), 1), 400)
    except ValueError:
        raise fail("51000", "Parameter sz error", 200) from None
    now = venue.now_ms()
    rows: tuple[list[list[str]], list[list[str]]]
    if is_swap(inst_id):
        cbids, casks = contract_book(venue.engine.feed, swap_contract(venue, inst_id), now, size)
        rows = ([[decimal_str(p), str(q), "0", "1"] for p, q in cbids],
                [[decimal_str(p), str(q), "0", "1"] for p, q in casks])  # fmt: skip
    else:
        bids, asks = book(venue.engine.feed, spot_instrument(venue, inst_id), now, size)
        rows = ([[decimal_str(p), decimal_str(q), "0", "1"] for p, q in bids],
                [[decimal_str(p), decimal_str(q), "0", "1"] for p, q in asks])  # fmt: skip
    return ok([{"asks": rows[1], "bids": rows[0], "ts": str(now), "seqId": now}])
