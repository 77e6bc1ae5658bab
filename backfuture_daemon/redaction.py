"""Secret masking and redaction, used by every layer that prints, logs or exports anything.

`mask` renders a secret for humans (`mx0v…9f2c`); `Redactor` scrubs known secret values out of
arbitrary text (vendor error bodies, sops stderr) before it can reach a log, metric or exception;
`scrub_text` is the last line of defence before text leaves the process (logs, /status): registered
secrets and key-like tokens out, git object ids, digests and file paths kept. A leaf: imports
nothing from the package.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence

REDACTED = "<redacted>"
#: A secret shorter than this cannot be redacted without rewriting ordinary words ("Main",
#: "true"); the config rules refuse such secrets (`unsafe_secret_reason`), and the redactor
#: never registers them, so it can never turn a name or a JSON literal into `<redacted>`.
MIN_SECRET_LEN = 7
#: From this length a secret is cut out wherever it appears, even inside a longer token; shorter
#: ones only where they stand as a whole token (not inside a longer run of letters and digits).
_SUBSTRING_LEN = 16
_LITERALS = frozenset(
    {
        *("true", "false", "yes", "no", "on", "off", "null", "none"),
        *("nan", "inf", "infinity", "undefined"),
        *("password", "passphrase", "secret", "apikey", "changeme"),
    }
)
# Vendor text can carry secrets we were never told about (sops echoes a raw field value;
# exchanges echo signatures and keys in some errors). Cut these shapes out as well.
_SOPS_INPUT_STRING = re.compile(r"Input string .*? does not match", re.DOTALL)
_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9+/=_\-]{32,}\b")


def unsafe_secret_reason(secret: str) -> str | None:
    """Why a secret value cannot be redacted safely (never echoes it); None when it can."""
    if len(secret) < MIN_SECRET_LEN:
        return f"shorter than {MIN_SECRET_LEN} characters"
    if secret.strip().lower() in _LITERALS:
        return "a common word or YAML/JSON literal"
    if secret.isdigit() and len(secret) < 12:
        return "a short number"
    if len(set(secret)) == 1:
        return "one character repeated"
    return None


def mask(secret: str | None) -> str:
    """Show a secret the way the brief allows after saving: never in full."""
    if not secret:
        return "<unset>"
    if len(secret) <= 8:
        return "…" + "*" * 4
    return f"{secret[:4]}…{secret[-4:]}"


class Redactor:
    """Cuts every registered secret out of text, as `<redacted>`. Thread-safe.

    Redaction only ever removes secrets: a short secret is replaced only where it stands as a
    whole token, so it never rewrites a name or a word that merely contains it, and secrets that
    cannot be redacted safely are not registered at all (the config rules refuse them). A secret
    is also matched in its JSON-escaped form, so text dumped as JSON before redaction is covered.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            before = len(self._secrets)
            for s in secrets:
                if s and unsafe_secret_reason(s) is None:
                    self._secrets.add(s)
                    escaped = json.dumps(s, ensure_ascii=False)[1:-1]
                    if escaped != s:
                        self._secrets.add(escaped)
            if len(self._secrets) != before:
                self._pattern = self._compile()

    def clear(self) -> None:
        """Forget every secret (tests start each case from an empty redactor)."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def _compile(self) -> re.Pattern[str] | None:
        if not self._secrets:
            return None
        parts = []
        for secret in sorted(self._secrets, key=len, reverse=True):
            body = re.escape(secret)
            if len(secret) < _SUBSTRING_LEN:
                body = f"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"
            parts.append(body)
        return re.compile("|".join(parts))

    def __call__(self, text: str) -> str:
        out = _SOPS_INPUT_STRING.sub("Input string <redacted> does not match", text)
        pattern = self._pattern
        return out if pattern is None else pattern.sub(REDACTED, out)


def scrub_tokens(text: str) -> str:
    """Remove long opaque tokens (keys, signatures) from vendor text we do not control."""
    return _LONG_TOKEN.sub("<redacted>", text)


def shorten(text: str, limit: int = 300) -> str:
    """Vendor messages are cut short so a secret can never ride along in a long body."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: The process-wide redactor: the loader registers every decrypted secret here, and the
#: logging filter, the HTTP status endpoint and the CLI pass their output through it.
GLOBAL_REDACTOR = Redactor()


_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: An age *public* key (a recipient, bech32): it names who can decrypt, never a secret, and the
#: "none of the age keys held" diagnosis is useless without it. Private keys start AGE-SECRET-KEY-.
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")


def _looks_like_path(token: str) -> bool:
    # File paths name the file at fault and must stay; base64 secrets almost always carry + or =.
    parts = token.split("/")
    return (
        len(parts) > 1 and "+" not in token and "=" not in token and all(len(p) < 32 for p in parts)
    )


def _keep_object_ids(match: re.Match[str]) -> str:
    token = match.group(0)
    if _OBJECT_ID.fullmatch(token) or _AGE_RECIPIENT.fullmatch(token) or _looks_like_path(token):
        return token
    return REDACTED


def scrub_text(text: str) -> str:
    """Registered secrets and key-like tokens out; revisions and digests stay."""
    return _LONG_TOKEN.sub(_keep_object_ids, GLOBAL_REDACTOR(text))


def redact_tree(value: object) -> object:
    """Registered secrets out of every string (keys too) of a JSON-like tree."""
    # Keys and enum values repeat thousands of times in a big /status: redact each text once.
    cache: dict[str, str] = {}

    def text(s: str) -> str:
        out = cache.get(s)
        if out is None:
            out = cache[s] = GLOBAL_REDACTOR(s)
        return out

    def walk(v: object) -> object:
        if isinstance(v, str):
            return text(v)
        if isinstance(v, Mapping):
            return {text(str(k)): walk(x) for k, x in v.items()}
        if isinstance(v, Sequence) and not isinstance(v, bytes | bytearray):
            return [walk(x) for x in v]
        return v

    return walk(value)
