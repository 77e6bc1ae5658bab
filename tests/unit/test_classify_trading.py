"""classify.trading_error: an order call's failure as what its caller does next — the real error
bodies of reference/exchanges.md §5, §6 raised by ccxt's own handle_errors (no mock of ccxt).
"""

from __future__ import annotations

import pytest

from backfuture_daemon.exchanges.classify import trading_error
from backfuture_daemon.exchanges.port import OrderRejected, TradingErrorClass, TradingUnavailable
from tests.unit.test_classify import raised

T = TradingErrorClass

CASES = [
    ("mexc", 400, {"code": 30004, "msg": "Insufficient position"}, T.INSUFFICIENT_FUNDS),
    ("mexc", 400, {"code": 10101, "msg": "Insufficient balance"}, T.INSUFFICIENT_FUNDS),
    ("kucoin", 200, {"code": "200004", "msg": "Balance insufficient!"}, T.INSUFFICIENT_FUNDS),
    ("mexc", 400, {"code": -2011, "msg": "Unknown order sent."}, T.ORDER_REJECTED),
    ("mexc", 400, {"code": -2013, "msg": "Order does not exist."}, T.ORDER_REJECTED),
    ("mexc", 400, {"code": 30002, "msg": "The minimum transaction volume"}, T.ORDER_REJECTED),
    ("mexc", 400, {"code": 10007, "msg": "symbol not support api"}, T.ORDER_REJECTED),
    (
        "mexc",
        400,
        {"code": 700004, "msg": "Mandatory parameter 'quantity' was not sent"},
        T.ORDER_REJECTED,
    ),
    (
        "mexc",
        400,
        {"code": 700004, "msg": "Mandatory parameter 'signature' was not sent"},
        T.AUTH_REJECTED,
    ),
    ("kucoin", 400, {"code": "400100", "msg": "Parameter Error"}, T.ORDER_REJECTED),
    ("kucoin", 200, {"code": "126044", "msg": "clientOid duplicate"}, T.ORDER_REJECTED),
    (
        "mexc",
        400,
        {"code": 700007, "msg": "No permission to access the endpoint."},
        T.AUTH_REJECTED,
    ),
    (
        "mexc",
        400,
        {"code": 700006, "msg": "IP [1.2.3.4] not in the ip white list"},
        T.AUTH_REJECTED,
    ),
    ("kucoin", 400, {"code": "400007", "msg": "Access denied"}, T.AUTH_REJECTED),
    ("kucoin", 400, {"code": "400002", "msg": "Invalid KC-API-TIMESTAMP"}, T.AUTH_REJECTED),
    ("mexc", 429, {"code": 429, "msg": "Too Many Requests"}, T.RATE_LIMITED),
    ("kucoin", 429, {"code": "429000", "msg": "Too Many Requests"}, T.RATE_LIMITED),
    ("mexc", 503, {"code": 503, "msg": "service not available"}, T.EXCHANGE_UNAVAILABLE),
    ("kucoin", 500, {"code": "500000", "msg": "Internal Server Error"}, T.EXCHANGE_UNAVAILABLE),
    ("mexc", 502, "<html>bad gateway</html>", T.EXCHANGE_UNAVAILABLE),
]


@pytest.mark.parametrize(("exchange", "status", "body", "expected"), CASES)
def test_trading_error_class(exchange: str, status: int, body: object, expected: T) -> None:
    err = trading_error(raised(exchange, status, body), exchange, http_status=status)
    assert err.error_class is expected, err
    temporary = expected in (T.RATE_LIMITED, T.EXCHANGE_UNAVAILABLE)
    assert isinstance(err, TradingUnavailable if temporary else OrderRejected)


def test_retry_after_only_for_rate_limits() -> None:
    limited = trading_error(raised("mexc", 429, ""), "mexc", http_status=429, retry_after=12.0)
    assert isinstance(limited, TradingUnavailable)
    assert limited.retry_after == 12.0
    down = trading_error(raised("mexc", 503, ""), "mexc", http_status=503, retry_after=12.0)
    assert isinstance(down, TradingUnavailable)
    assert down.retry_after is None


def test_a_failure_without_code_or_class_leaves_the_outcome_open() -> None:
    # e.g. a response we could not parse after the order was sent: look it up by client id.
    err = trading_error(ValueError("unexpected shape"), "mexc")
    assert isinstance(err, TradingUnavailable)
    assert err.error_class is T.EXCHANGE_UNAVAILABLE


def test_the_message_is_redacted() -> None:
    exc = raised("mexc", 400, {"code": 30004, "msg": "Insufficient position for s3cr3t-VALUE-1"})
    err = trading_error(exc, "mexc", redact=lambda t: t.replace("s3cr3t-VALUE-1", "<redacted>"))
    assert "s3cr3t-VALUE-1" not in str(err)
    assert "<redacted>" in err.detail
