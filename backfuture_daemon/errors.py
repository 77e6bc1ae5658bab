"""The one exception tree of backfuture-daemon. Every module raises from here.

Split by what happens next (httpx `_exceptions.py` style)::

    BackfutureError
    ├── PermanentError            fix the config or the key; retrying the same input cannot help
    │   ├── ConfigError           a config revision is invalid (carries every ConfigIssue found)
    │   ├── DecryptError          sops could not decrypt a document (error_class from a closed set)
    │   └── UsageError            the command line is wrong (exit code 2)
    └── TemporaryError            retry later, with backoff (exchange down, rate limited, timeout)

Exchange failures are not raised across the port: the exchange layer classifies them into
`ErrorClass` values (health.py) and reports them as data. A rejected config revision carries one
`ConfigErrorClass` per issue (the closed set metrics, `/status` and `validate --json` report).
Messages never carry secrets: anything that may echo vendor text is passed through
`redaction.redact` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BackfutureError(Exception):
    """Root of every error this package raises on purpose."""


class PermanentError(BackfutureError):
    """Fix the input (config, key); the same input will fail the same way."""


class TemporaryError(BackfutureError):
    """A transient failure: retry later with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UsageError(PermanentError):
    """The command line or settings are wrong."""


class ConfigErrorClass(StrEnum):
    """Every `error_class` a ConfigIssue can carry. Closed: metrics pre-declare one series each."""

    FILE_UNREADABLE = "file_unreadable"  # path or file cannot be read (missing, perms, too large)
    YAML_INVALID = "yaml_invalid"  # not YAML, several documents, duplicate keys, over a limit
    SCHEMA_INVALID = "schema_invalid"  # a document does not match the models
    REFERENCE_INVALID = "reference_invalid"  # a strategy names a missing connection or market
    DUPLICATE_NAME = "duplicate_name"  # two connections or strategies share a name; policy twice
    PLAINTEXT_SECRET = "plaintext_secret"  # noqa: S105 (a class name) — a secret outside an encrypted file, or not ENC[...]
    POLICY_VIOLATION = "policy_violation"  # e.g. a non-loopback endpoint, an unsafe secret
    MARGIN_EXCEEDED = "margin_exceeded"  # max funds of all groups with all adds > margin_limit
    SIZING_INVALID = "sizing_invalid"  # adding/recovery settings that cannot work
    DUPLICATE_KEY = "duplicate_key"  # the same API key in two connections (no allow_key_reuse)
    EMPTY_CONFIG = "empty_config"  # no connection at all where one is required
    # sops failures (configuration/sops.py; exit codes: reference/gitops.md §1.5)
    DECRYPT_NO_MATCHING_KEY = "decrypt_no_matching_key"  # exit 128: held keys not recipients
    DECRYPT_KEY_MISSING = "decrypt_key_missing"  # exit 128: no usable age identity at all
    DECRYPT_MAC_MISMATCH = "decrypt_mac_mismatch"  # exit 51: a value changed after encryption
    DECRYPT_CORRUPT = "decrypt_corrupt"  # exit 25: damaged ciphertext or a raw value in ENC
    DECRYPT_NOT_ENCRYPTED = "decrypt_not_encrypted"  # exit 1 "sops metadata not found"
    DECRYPT_PARSE_ERROR = "decrypt_parse_error"  # exit 1: sops cannot parse the YAML
    DECRYPT_TIMEOUT = "decrypt_timeout"  # sops did not finish within the timeout
    DECRYPT_FAILED = "decrypt_failed"  # any other exit code

    @property
    def is_decrypt(self) -> bool:
        return self.value.startswith("decrypt_")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config revision: `FILE: path.to.field: message`."""

    file: str
    path: str
    message: str
    error_class: str = ConfigErrorClass.SCHEMA_INVALID

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(PermanentError):
    """A config revision was rejected; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid config")

    @property
    def error_classes(self) -> tuple[str, ...]:
        return tuple(sorted({i.error_class for i in self.issues}))


class DecryptError(PermanentError):
    """sops failed on one file. `error_class` is a `ConfigErrorClass` whose name starts DECRYPT_."""

    def __init__(self, file: str, error_class: str, message: str) -> None:
        self.file = file
        self.error_class = error_class
        super().__init__(f"{file}: {message}")
