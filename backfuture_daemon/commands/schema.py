"""`backfuture schema`: print the JSON Schema of one config document.

`make schema` writes it to schemas/backfuture.schema.json (editors use it through the
`# yaml-language-server: $schema=...` line); tests/unit/test_schema.py fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys

from backfuture_daemon.configuration.json_schema import config_json_schema


def render() -> str:
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    del args
    sys.stdout.write(render())
    return 0
