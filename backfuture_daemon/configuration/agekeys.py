"""age identities: generate one (`backfuture init`, tests); find the public keys the daemon holds.

configuration/sops.py uses `held_keys()` to explain a failed decryption ("the file is encrypted to
X, you hold Y" — sops #1900). Private keys never leave this module in any message: only public keys
(`age1…`) and the place a key came from are reported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyrage import x25519

SECRET_PREFIX = "AGE-SECRET-KEY-1"  # noqa: S105 (a format prefix, not a secret)


@dataclass(frozen=True, slots=True)
class HeldKey:
    """One age identity available to sops: its public key and where it came from."""

    public_key: str
    source: str  # "SOPS_AGE_KEY_FILE=/path", "SOPS_AGE_KEY", "~/.config/sops/age/keys.txt"


@dataclass(frozen=True, slots=True)
class HeldKeys:
    """Every identity sops would try, plus problems found while reading them (never key text)."""

    keys: tuple[HeldKey, ...]
    problems: tuple[str, ...]
    #: The private identity strings, for redacting sops stderr; never printed.
    secrets: tuple[str, ...]

    @property
    def public_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.public_key for k in self.keys))

    def describe(self) -> str:
        if not self.keys:
            return "no age identity (set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY)"
        return ", ".join(f"{k.public_key} ({k.source})" for k in self.keys)


def generate_identity() -> tuple[str, str]:
    """A fresh X25519 age identity: (secret "AGE-SECRET-KEY-1…", public "age1…")."""
    ident = x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def public_key_of(secret: str) -> str:
    """The public key of one identity string; ValueError (without the key text) if malformed."""
    try:
        return str(x25519.Identity.from_str(secret.strip()).to_public())
    except Exception as exc:
        raise ValueError("not a valid age X25519 identity") from exc


def parse_identities(text: str) -> tuple[list[str], int]:
    """Identity lines of an age key file (one per line, `#` comments): (identities, bad_lines)."""
    identities: list[str] = []
    bad = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith(SECRET_PREFIX):
            try:
                public_key_of(line)
            except ValueError:
                bad += 1
                continue
            identities.append(line)
        else:
            bad += 1  # plugin identities and garbage: sops may reject the whole file for these
    return identities, bad


def key_file_text(secret: str, public: str) -> str:
    """The age-keygen file format: comments naming the public key, then the identity."""
    return f"# public key: {public}\n{secret}\n"


def write_key_file(path: Path, secret: str, public: str) -> None:
    """Create `path` with mode 0600; refuses to overwrite (FileExistsError)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key_file_text(secret, public))


def default_key_file(env: Mapping[str, str]) -> Path | None:
    """Where sops looks when neither SOPS_AGE_KEY_FILE nor SOPS_AGE_KEY is set."""
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "sops" / "age" / "keys.txt"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".config" / "sops" / "age" / "keys.txt"
    return None


def held_keys(env: Mapping[str, str] | None = None) -> HeldKeys:
    """The age identities sops would use with this environment (same sources, same order)."""
    env = os.environ if env is None else env
    keys: list[HeldKey] = []
    problems: list[str] = []
    secrets: list[str] = []

    def add(text: str, source: str) -> None:
        idents, bad = parse_identities(text)
        if bad:
            problems.append(f"{source}: {bad} line(s) are not age X25519 identities")
        if not idents and not bad:
            problems.append(f"{source}: holds no identity")
        for ident in idents:
            secrets.append(ident)
            keys.append(HeldKey(public_key_of(ident), source))

    if env.get("SOPS_AGE_KEY"):
        add(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY")
    key_file = env.get("SOPS_AGE_KEY_FILE")
    if key_file:
        source = f"SOPS_AGE_KEY_FILE={key_file}"
        try:
            add(Path(key_file).read_text(encoding="utf-8"), source)
        except OSError as exc:
            problems.append(f"{source}: cannot read ({exc.strerror or type(exc).__name__})")
    if env.get("SOPS_AGE_KEY_CMD"):
        problems.append("SOPS_AGE_KEY_CMD is set: the identities it prints are not listed here")
    default = default_key_file(env)
    if default is not None and default.is_file():
        try:
            add(default.read_text(encoding="utf-8"), str(default))
        except OSError as exc:
            problems.append(f"{default}: cannot read ({exc.strerror or type(exc).__name__})")
    return HeldKeys(tuple(keys), tuple(problems), tuple(secrets))
