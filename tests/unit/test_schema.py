"""schemas/backfuture.schema.json is generated from the models; this test fails when it is stale."""

from __future__ import annotations

import json
from pathlib import Path

from backfuture_daemon.commands.schema import render

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "backfuture.schema.json"


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), (
        "schemas/backfuture.schema.json is stale: regenerate it with `make schema` and commit it"
    )


def test_schema_describes_the_contract() -> None:
    schema = json.loads(render())
    assert schema["properties"]["version"]["const"] == 1
    assert "sops" in schema["properties"]  # encrypted files validate in editors too
    conn = schema["$defs"]["Connection"]
    assert conn["additionalProperties"] is False
    assert {"name", "exchange", "api_key", "api_secret"} <= set(conn["required"])
    assert conn["properties"]["api_key"]["writeOnly"] is True
    assert "description" in schema["$defs"]["Strategy"]
