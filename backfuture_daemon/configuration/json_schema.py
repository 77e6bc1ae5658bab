"""The JSON Schema of one config document: `backfuture schema` prints it and
schemas/backfuture.schema.json holds it (tests/unit/test_schema.py fails when it is stale).

Built from configuration/models.py (`ConfigDocument`); adds what pydantic cannot know (the `sops:`
block, write-only secrets).
"""

from __future__ import annotations

from backfuture_daemon.configuration.models import SECRET_FIELDS, ConfigDocument


def config_json_schema() -> dict[str, object]:
    """JSON Schema of one config document (`backfuture schema`, schemas/backfuture.schema.json).

    Adds the `sops:` metadata block (written by sops, not by users) so editors using the schema
    accept encrypted files, and marks the secret fields as ENC[...] strings.
    """
    schema = ConfigDocument.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "backfuture config document"
    props = schema.setdefault("properties", {})
    assert isinstance(props, dict)
    props["sops"] = {
        "type": "object",
        "title": "SOPS metadata",
        "description": "Written by sops when the file is encrypted; never edit by hand.",
    }
    defs = schema.get("$defs", {})
    assert isinstance(defs, dict)
    conn = defs.get("Connection", {})
    for name in SECRET_FIELDS:
        field = conn.get("properties", {}).get(name)
        if isinstance(field, dict):
            field.pop("format", None)
            field["writeOnly"] = True
    return schema
