"""`backfuture init DIR`: scaffold a config repository that validates out of the box.

Writes an age identity (mode 0600, OUTSIDE the repository by default: `<DIR>/../<name>.age.key`),
`.sops.yaml`, an encrypted example `connections.yaml` with the brief's connection names, a
`strategies.yaml`, a pre-commit hook running `backfuture validate --no-decrypt .`, a `.gitignore`,
the JSON Schema for editors, and a short README. Never overwrites a file (exit 1, naming it).
Refuses (exit 2) a key path inside DIR, or inside a git work tree that does not ignore it.
`--sandbox` points the example at the local exchange sandbox with its demo keys (`make demo`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from backfuture_daemon.commands.schema import render as render_schema
from backfuture_daemon.configuration.agekeys import generate_identity, write_key_file
from backfuture_daemon.configuration.sops import SECRET_REGEX, encrypt_file
from backfuture_daemon.errors import DecryptError

SANDBOX_MEXC = "http://127.0.0.1:9101"
SANDBOX_KUCOIN = "http://127.0.0.1:9201"
SANDBOX_KUCOIN_FUTURES = "http://127.0.0.1:9202"


@dataclass(frozen=True)
class ExampleConnection:
    name: str
    exchange: str
    markets: str
    api_key: str
    api_secret: str
    passphrase: str | None = None


#: Placeholders: obviously fake; the connection test reports invalid_key until replaced.
PLACEHOLDER_CONNECTIONS = (
    ExampleConnection(
        "MEXC Spot Main", "mexc", "[spot]", "REPLACE-ME-mexc-spot-main-key", "REPLACE-ME-secret-1"
    ),
    ExampleConnection(
        "KuCoin Futures Conservative",
        "kucoin",
        "[futures]",
        "REPLACE-ME-kucoin-futures-key",
        "REPLACE-ME-secret-2",
        "REPLACE-ME-passphrase-2",
    ),
    ExampleConnection(
        "Recovery PRO Connection",
        "mexc",
        "[spot]",
        "REPLACE-ME-mexc-recovery-pro-key",
        "REPLACE-ME-secret-3",
    ),
    ExampleConnection(
        "BTC ETH New Groups",
        "kucoin",
        "[spot]",
        "REPLACE-ME-kucoin-new-groups-key",
        "REPLACE-ME-secret-4",
        "REPLACE-ME-passphrase-4",
    ),
)

#: The exchange sandbox's demo keys (config/sandbox-keys.demo.yaml). DEMO ONLY.
SANDBOX_CONNECTIONS = (
    ExampleConnection(
        "MEXC Spot Main",
        "mexc",
        "[spot]",
        "mx0demoSpotMain0000000001",
        "demo-mexc-secret-spot-main",
    ),
    ExampleConnection(
        "KuCoin Futures Conservative",
        "kucoin",
        "[futures]",
        "kc-demo-futures-conservative",
        "demo-kucoin-secret-futures",
        "demo-kucoin-pass",
    ),
    ExampleConnection(
        "Recovery PRO Connection",
        "mexc",
        "[spot]",
        "mx0demoRecoveryPro00000001",
        "demo-mexc-secret-recovery-pro",
    ),
    ExampleConnection(
        "BTC ETH New Groups",
        "kucoin",
        "[spot]",
        "kc-demo-spot-new-groups",
        "demo-kucoin-secret-new-groups",
        "demo-kucoin-pass-new-groups",
    ),
)


def connections_yaml(*, sandbox: bool, schema_ref: str) -> str:
    """The example connections document (plaintext; encrypted right after writing)."""
    conns = SANDBOX_CONNECTIONS if sandbox else PLACEHOLDER_CONNECTIONS
    lines = [
        f"# yaml-language-server: $schema={schema_ref}",
        "# Exchange connections: one API key each, named for what it is used for.",
        "# api_key / api_secret / passphrase are SOPS-encrypted; everything else stays readable",
        "# in pull requests. Edit with `sops edit connections.yaml` (never by hand: MAC check).",
    ]
    if sandbox:
        lines.append("# DEMO ONLY: keys of the local exchange sandbox, endpoints on 127.0.0.1.")
    lines += [
        "version: 1",
        "policy:",
        "  egress_ips: [203.0.113.10]     # the daemon's public IPs; keys should whitelist them",
        "  require_ip_whitelist: false    # true: a key without IP restriction fails the test",
        "  allow_key_reuse: false         # the same API key in two connections is an error",
        "  allow_remote_endpoints: false  # endpoints must stay on loopback",
        "connections:",
    ]
    for c in conns:
        lines += [
            f"  - name: {c.name}",
            f"    exchange: {c.exchange}",
            f"    markets: {c.markets}",
            f"    api_key: {c.api_key}",
            f"    api_secret: {c.api_secret}",
        ]
        if c.passphrase:
            lines.append(f"    passphrase: {c.passphrase}")
        if sandbox:
            if c.exchange == "mexc":
                lines.append(f"    endpoints: {{spot: '{SANDBOX_MEXC}'}}")
            else:
                lines.append(
                    f"    endpoints: {{spot: '{SANDBOX_KUCOIN}', "
                    f"futures: '{SANDBOX_KUCOIN_FUTURES}'}}"
                )
    return "\n".join(lines) + "\n"


def strategies_yaml(*, schema_ref: str) -> str:
    return f"""# yaml-language-server: $schema={schema_ref}
# Strategies (bots). name, connection, pairs and margin_limit suffice: risk_level presets fill
# the sizing so that all groups with all adds fit margin_limit (checked by `backfuture validate`).
# mode: paper (default) simulates fills on real market data; live places real orders.
version: 1
strategies:
  - name: Main DCA BTC
    connection: MEXC Spot Main
    pairs: [BTC/USDT]
    risk_level: balanced
    margin_limit: 500          # USDT; hard cap on funds this bot may commit
  - name: Conservative Futures BTC
    connection: KuCoin Futures Conservative
    market: futures
    leverage: 2
    pairs: [BTC/USDT]
    risk_level: conservative
    margin_limit: 300
  - name: Recovery PRO
    connection: Recovery PRO Connection
    pairs: [ETH/USDT]
    margin_limit: 400
    adding: {{max_adds: 4, volume_scale: 1.3}}
    recovery_mode: {{enabled: true}}   # adds only if they improve the average and fit the margin
  - name: BTC ETH New Groups
    connection: BTC ETH New Groups
    pairs: [BTC/USDT, ETH/USDT]
    margin_limit: 500
    take_profit_pct: 1.2
"""


def sops_yaml(recipients: list[str]) -> str:
    return (
        "# Which files sops encrypts, to whom, and which fields (only the secrets: the rest\n"
        "# stays reviewable). Add a break-glass or teammate key with a comma, then run\n"
        "# `sops updatekeys connections.yaml`.\n"
        "creation_rules:\n"
        "  - path_regex: \\.ya?ml$\n"
        f"    encrypted_regex: '{SECRET_REGEX}'\n"
        f"    age: {','.join(recipients)}\n"
    )


PRE_COMMIT = """# Validate before every commit, without keys (secrets must already be ENC[...]).
repos:
  - repo: local
    hooks:
      - id: backfuture-validate
        name: backfuture validate --no-decrypt
        entry: backfuture validate --no-decrypt .
        language: system
        pass_filenames: false
        files: \\.ya?ml$
"""

GITIGNORE = """# Private age keys never belong in git.
*.key
*.agekey
keys.txt
# Decrypted copies
*.dec.yaml
*.decrypted.*
"""


def readme(name: str, key_file: str, public_key: str) -> str:
    return f"""# {name}: backfuture config repository

Every `*.yaml` here is one config document (`version: 1`) read by the backfuture daemon.
Secrets (`api_key`, `api_secret`, `passphrase`) are encrypted with [sops](https://getsops.io)
to the age recipient(s) in `.sops.yaml`; everything else stays readable in pull requests.

- Daemon/owner public key: `{public_key}`
- Its private key was written to `{key_file}` (mode 0600, outside this repository). Give it to
  the daemon as `SOPS_AGE_KEY_FILE`; never commit it.

## Add a connection
1. On the exchange, create an API key with read + trade only (never withdraw), IP whitelist set.
2. `SOPS_AGE_KEY_FILE={key_file} sops edit connections.yaml` and add an entry:
   name, exchange (mexc | kucoin), markets, api_key, api_secret (KuCoin: passphrase).
3. `backfuture validate .` then commit; the daemon tests the connection before any bot runs.

## Rotate
- A leaked or old exchange key: create a new key on the exchange, `sops edit` the values,
  commit, then delete the old key on the exchange.
- Add or remove an age recipient: edit `.sops.yaml`, then `sops updatekeys connections.yaml`
  (`sops rotate -i FILE` only renews the data key).

## Checks
- `backfuture validate .` (needs the key) / `backfuture validate --no-decrypt .` (CI, no key).
- The pre-commit hook (`.pre-commit-config.yaml`) runs the latter.
- Never edit encrypted files by hand: sops's MAC covers cleartext fields too.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="directory to scaffold (created)")
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="where to write the new age private key (default: DIR/../<name>.age.key)",
    )
    parser.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="AGE_PUBLIC_KEY",
        help="also encrypt to this age public key (a teammate, break-glass); repeatable",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="example points at the local exchange sandbox with its demo keys (DEMO ONLY)",
    )


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git here: nothing can commit the key by accident either


def key_file_problem(key_file: Path, directory: Path) -> str | None:
    """Why the private key must not be written at `key_file` (None: fine there).

    Inside DIR it ships with the config; inside any git work tree that does not ignore it, one
    `git add -A` commits it (the default DIR/../NAME.age.key is inside the enclosing repository
    when DIR is a sub-directory of one).
    """
    key_file, directory = key_file.resolve(), directory.resolve()
    if key_file.is_relative_to(directory):
        return (
            f"{key_file} is inside {directory}; the private key must live outside the config "
            "repository"
        )
    existing = next(p for p in key_file.parents if p.exists())
    top = _git(existing, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return None
    ignored = _git(existing, "check-ignore", "-q", str(key_file))
    if ignored is not None and ignored.returncode == 0:
        return None
    return (
        f"{key_file} would be inside the git work tree {top.stdout.strip()} and is not "
        "ignored there, so a commit could publish the private key"
    )


def run(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    if directory.exists() and not directory.is_dir():
        print(f"backfuture init: {directory} exists and is not a directory", file=sys.stderr)
        return 2
    name = directory.resolve().name or "config"
    key_file: Path = args.key_file or directory.resolve().parent / f"{name}.age.key"
    for r in args.recipient:
        if not r.startswith("age1"):
            print(f"backfuture init: --recipient {r!r} is not an age public key", file=sys.stderr)
            return 2
    files = {
        ".gitignore": GITIGNORE,
        ".sops.yaml": "",
        ".pre-commit-config.yaml": PRE_COMMIT,
        "backfuture.schema.json": render_schema(),
        "connections.yaml": connections_yaml(
            sandbox=args.sandbox, schema_ref="./backfuture.schema.json"
        ),
        "strategies.yaml": strategies_yaml(schema_ref="./backfuture.schema.json"),
        "README.md": "",
    }
    problem = key_file_problem(key_file, directory)
    if problem is not None:
        print(
            f"backfuture init: {problem}; choose --key-file outside any repository "
            "(e.g. ~/.config/sops/age/keys.txt) or ignore it in that repository's .gitignore",
            file=sys.stderr,
        )
        return 2
    existing = [str(directory / f) for f in files if (directory / f).exists()]
    if key_file.exists():
        existing.append(str(key_file))
    if existing:
        print(
            f"backfuture init: refusing to overwrite {', '.join(existing)}; "
            "choose an empty directory (or --key-file for another key path)",
            file=sys.stderr,
        )
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    secret, public = generate_identity()
    write_key_file(key_file, secret, public)
    recipients = [public, *args.recipient]
    files[".sops.yaml"] = sops_yaml(recipients)
    files["README.md"] = readme(name, str(key_file), public)

    tmp = directory / ".connections.init.yaml"
    tmp.write_text(files.pop("connections.yaml"), encoding="utf-8")
    try:
        encrypt_file(tmp, recipients)
    except DecryptError as exc:
        tmp.unlink(missing_ok=True)
        print(f"backfuture init: encrypting the example failed: {exc}", file=sys.stderr)
        return 1
    for fname, text in files.items():
        _write_new(directory / fname, text)
    os.replace(tmp, directory / "connections.yaml")

    print(f"created config repository {directory}/")
    for fname in sorted([*files, "connections.yaml"]):
        print(f"  {directory / fname}")
    print(f"age private key: {key_file} (mode 0600; keep it out of git, give it to the daemon)")
    print(f"age public key:  {public}")
    print("next:")
    print(f"  export SOPS_AGE_KEY_FILE={key_file}")
    print(f"  backfuture validate {directory}")
    return 0


def _write_new(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as fh:  # "x": never overwrite (raced or not)
        fh.write(text)
