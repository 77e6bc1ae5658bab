"""The one exception tree of backfuture-daemon. Every module raises from here.

Split by what happens next (httpx `_exceptions.py` style)::

    BackfutureError
    ├── PermanentError            fix the config or the key; retrying the same input cannot help
    │   ├── ConfigError           a config revision is invalid (carries every ConfigIssue found)
    │   ├── DecryptError          sops could not decrypt a document (error_class from a closed set)
    │   └── UsageError            the command line is wrong (exit code 2)
    └── TemporaryError            retry later, with backoff (exchange down, rate limited, timeout)

Exchange failures are not raised across the port: the exchange layer classifies them into
`ErrorClass` values (exchanges/base.py) and reports them as data. Messages never carry secrets:
anything that may echo vendor text is passed through `redaction.redact` first.
"""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config revision: `FILE: path.to.field: message`."""

    file: str
    path: str
    message: str
    error_class: str = "schema_invalid"

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
    """sops failed on one file. `error_class` is one of configuration.sops.DECRYPT_ERROR_CLASSES."""

    def __init__(self, file: str, error_class: str, message: str) -> None:
        self.file = file
        self.error_class = error_class
        super().__init__(f"{file}: {message}")
