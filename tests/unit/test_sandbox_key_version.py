"""Sandbox keys file: the KuCoin `api_version` field (1 refused with 400008, 2 reported)."""

from __future__ import annotations

import pytest

from backfuture_daemon.errors import ConfigError
from backfuture_daemon.sandbox.keys import parse_key

KUCOIN = {"exchange": "kucoin", "api_key": "k1", "api_secret": "s", "passphrase": "p"}


def test_default_is_v3_and_the_field_parses() -> None:
    assert parse_key(KUCOIN).api_version == 3
    assert parse_key({**KUCOIN, "api_version": 2}).api_version == 2


@pytest.mark.parametrize("value", [0, 4, "2", True, None])
def test_bad_versions_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="api_version"):
        parse_key({**KUCOIN, "api_version": value})


def test_only_kucoin_keys_have_a_version() -> None:
    mexc = {"exchange": "mexc", "api_key": "m", "api_secret": "s", "api_version": 2}
    with pytest.raises(ConfigError, match="only KuCoin"):
        parse_key(mexc)
