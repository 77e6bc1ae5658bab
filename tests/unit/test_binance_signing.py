"""Binance request signing as the sandbox verifies it: the documented test vector, and what is
signed when the signature rides in the query or the body (reference §B)."""

from __future__ import annotations

from backfuture_daemon.sandbox.binance.signing import sign, split_signed, verify

DOC_SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_documented_vector() -> None:
    assert sign(DOC_SECRET, DOC_PAYLOAD) == DOC_SIGNATURE
    assert verify(DOC_SECRET, DOC_PAYLOAD, DOC_SIGNATURE.upper())
    assert not verify(DOC_SECRET, DOC_PAYLOAD.replace("0.1", "0.2"), DOC_SIGNATURE)


def test_signature_in_query_last_first_or_in_body() -> None:
    assert split_signed(f"/api/v3/order?{DOC_PAYLOAD}&signature=ab", "") == (DOC_PAYLOAD, "ab")
    assert split_signed(f"/api/v3/order?signature=ab&{DOC_PAYLOAD}", "") == (DOC_PAYLOAD, "ab")
    assert split_signed("/api/v3/order", f"{DOC_PAYLOAD}&signature=ab") == (DOC_PAYLOAD, "ab")


def test_query_and_body_are_concatenated_without_separator() -> None:
    """rest-api.md example 3: query `...timeInForce=GTC`, body `quantity=1...`: the signed
    payload is `...timeInForce=GTCquantity=1...`."""
    query, body = DOC_PAYLOAD.split("&quantity=")
    target = f"/api/v3/order?{query}"
    assert split_signed(target, f"quantity={body}&signature=ab") == (
        f"{query}quantity={body}",
        "ab",
    )


def test_no_signature_and_percent_encoding_kept() -> None:
    assert split_signed(f"/api/v3/account?{DOC_PAYLOAD}", "") is None
    assert split_signed("/x?a=%2C&signature=ff", "") == ("a=%2C", "ff")
