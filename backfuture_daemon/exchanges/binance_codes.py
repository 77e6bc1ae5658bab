"""Binance's own error codes -> ErrorClass: the table classify.py consults before ccxt's class.

Plugged into classify.CODES / FAMILY (one line each); kept here so the Binance addition stays in
Binance files. Why a table: against a non-production URL ccxt applies only its top-level tables,
and after any successful private call it turns -2015 into DDoSProtection (reference §C.1, §C.2).
"""

from __future__ import annotations

from backfuture_daemon.health import ErrorClass

E = ErrorClass

#: Sources: errors.md (binance-spot-api-docs), reference/exchanges-more.md §1.4; ⚠ -2008 from
#: field reports (ccxt#11045, ccxt#16777, freqtrade#11401): a well-formed key Binance does not
#: know (deleted, or a testnet key on the main API).
CODES: dict[str, ErrorClass] = {
    # key unknown / malformed / wrong secret / not authorised at all
    **dict.fromkeys(["-2014", "-2008", "-1022", "-1002", "-1099"], E.INVALID_KEY),
    # "Invalid API-key, IP, or permissions for action." Binance keys always read
    # (enableReading cannot be switched off) and an unknown key answers -2008, so on a read it
    # means the caller's IP is not on the key's whitelist (or a temporary IP ban). Where it
    # means a missing permission (order/test without trading) the adapter reads it itself.
    "-2015": E.IP_NOT_ALLOWED,
    "-1021": E.CLOCK_SKEW,
    # request weight / order rate; HTTP 418 is an IP ban with the same code
    **dict.fromkeys(["-1003", "-1015"], E.RATE_LIMITED),
    # internal error, disconnected, unexpected answer, backend timeout, overloaded, retired
    **dict.fromkeys(["-1000", "-1001", "-1006", "-1007", "-1008", "-1016"], E.EXCHANGE_UNAVAILABLE),
    "-1121": E.PAIR_NOT_TRADABLE,
}

#: USDⓈ-M "Margin is insufficient." / "Balance is insufficient.": the order's funds, not the key.
INSUFFICIENT_FUNDS: frozenset[str] = frozenset({"-2019", "-2018"})

#: The code meaning "this key lacks the permission for this call" on a TRADE endpoint.
PERMISSION_CODE = "-2015"

#: ccxt ids sharing Binance's code namespace (spot and USDⓈ-M futures).
FAMILY: dict[str, str] = {"binance": "binance", "binanceusdm": "binance"}
