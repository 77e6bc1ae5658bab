"""The `backfuture` command. Each subcommand lives in backfuture_daemon/commands/<name>.py and is
imported only when used, so `validate` never pays for importing ccxt.

Exit codes: 0 success, 1 the checked thing is bad (invalid config, failed connection, changes
pending for `plan`) or an internal error (its traceback printed with secrets redacted), 2 usage
or config error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from backfuture_daemon import __version__
from backfuture_daemon.errors import UsageError
from backfuture_daemon.logs import install_redaction
from backfuture_daemon.redaction import GLOBAL_REDACTOR, scrub_text

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "decrypt and validate a config revision (0 valid, 1 invalid)"),
    "init": ("init", "scaffold a config repository with an age key and .sops.yaml"),
    "schema": ("schema", "print the JSON Schema of the config documents"),
    "check": ("check", "run the connection test for every connection"),
    "sandbox": ("sandbox", "serve the local MEXC + KuCoin exchange sandbox"),
    "run": ("run", "run the GitOps daemon"),
    "plan": ("plan", "show what `run` would do with a config (0 none, 1 changes)"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backfuture",
        description="GitOps daemon for exchange connections and health-gated trading bots.",
    )
    parser.add_argument("--version", action="version", version=f"backfuture {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (and so its dependencies).
        if wanted is None or name == wanted:
            mod = importlib.import_module(f"backfuture_daemon.commands.{module}")
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    if logging.lastResort is not None:
        # Commands that configure no logging (`check`, `plan`, ...) still print WARNING+ records
        # (asyncio's "Task exception was never retrieved", library errors) through lastResort.
        install_redaction(logging.lastResort)
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    except UsageError as e:
        print(f"backfuture {args.command}: {GLOBAL_REDACTOR(str(e))}", file=sys.stderr)
        return 2
    except Exception:
        # A bug: Python's own hook would print the exception chain raw (vendor messages, URLs
        # with keys); scrub it like a log line instead.
        print(
            f"backfuture {args.command}: internal error\n{scrub_text(traceback.format_exc())}",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
