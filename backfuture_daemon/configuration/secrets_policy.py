"""The secret rules of a revision, checked on the raw (still encrypted) documents.

Called by configuration/loading.py before decryption: secrets only as ENC[...] values in sops
files, nothing but secrets encrypted (PR-readable), no key source that names its own server, a MAC
over every value of a file with connections. Also builds the placeholder view (`--no-decrypt`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from backfuture_daemon.configuration import sops
from backfuture_daemon.configuration.documents import Document, object_label
from backfuture_daemon.configuration.models import SECRET_FIELDS
from backfuture_daemon.errors import ConfigErrorClass, ConfigIssue

#: Stands in for a secret that was not decrypted (--no-decrypt, or a file with issues).
PLACEHOLDER = "<encrypted>"

#: What sops writes for an encrypted string (sops 3.x, AES256-GCM).
ENC_VALUE = re.compile(
    r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:str\]$"
)

#: Any value sops encrypted, whatever its original type (sops keeps it in `type:`).
_ENC_ANY = re.compile(r"^ENC\[AES256_GCM,data:[^\]]*,type:(?P<type>[a-z]+)\]$")

#: What Go yaml.v3 (sops) decodes as false into a bool: YAML 1.1 and 1.2 spellings. Anything
#: else that is set (true, y, yes, "yes", on, 1...) may turn the MAC off, so it is refused.
_FALSE_WORDS = frozenset({"false", "no", "n", "off", ""})

#: sops key sources whose server address is written in the (committed) file's metadata.
_ADDRESSED_KEY_SOURCES = ("hc_vault", "azure_kv")


def is_enc(value: Any) -> bool:
    return isinstance(value, str) and bool(ENC_VALUE.match(value))


def check_secrets(doc: Document) -> None:
    """Append to `doc.issues` every breach of the secret rules (see the module docstring)."""
    conns = doc.raw.get("connections")
    if isinstance(conns, list):
        for i, c in enumerate(conns):
            if isinstance(c, Mapping):
                _check_connection(doc, i, c)
    meta = doc.raw.get("sops")
    for where in _addressed_key_sources(meta):
        doc.issues.append(
            ConfigIssue(
                doc.file,
                where,
                "a key source that names its own server address is refused: sops would send "
                "this daemon's credentials (VAULT_TOKEN, Azure token) to whatever address a "
                "commit writes there. Encrypt to age recipients (see .sops.yaml)",
                ConfigErrorClass.POLICY_VIOLATION,
            )
        )
    if (
        isinstance(conns, list)
        and conns
        and isinstance(meta, Mapping)
        and _set(meta.get("mac_only_encrypted"))
    ):
        # The MAC would not cover cleartext fields: a commit could re-point these keys
        # (endpoints, exchange) at another host without being able to decrypt them.
        doc.issues.append(
            ConfigIssue(
                doc.file,
                "sops.mac_only_encrypted",
                "a file with connections must be encrypted with a MAC over every value: "
                "with mac_only_encrypted, its cleartext endpoints and exchange could be "
                "changed by anyone and the keys sent elsewhere. Remove mac_only_encrypted "
                f"from .sops.yaml and re-encrypt {doc.path.name} (sops decrypt, then "
                "sops encrypt)",
                ConfigErrorClass.POLICY_VIOLATION,
            )
        )
    for where in _encrypted_non_secrets(doc.raw, ""):
        doc.issues.append(
            ConfigIssue(
                doc.file,
                where,
                "only api_key, api_secret and passphrase may be encrypted; other fields must stay "
                f"readable in pull requests (set encrypted_regex: '{sops.SECRET_REGEX}' in "
                ".sops.yaml and re-encrypt)",
                ConfigErrorClass.SCHEMA_INVALID,
            )
        )


_KINDS = {"int": "a number", "float": "a number", "bool": "a boolean", "list": "a list"}


def _set(flag: Any) -> bool:
    """Whether sops may read `flag` as true (the guard errs on the side of "set")."""
    if flag is None or flag is False:
        return False
    return not (isinstance(flag, str) and flag.strip().lower() in _FALSE_WORDS)


def _enc_type(value: Any) -> str | None:
    """The original type of an ENC[...] value, or of every leaf of an encrypted list/mapping
    ("list"/"mapping" when all leaves are encrypted); None when it is not encrypted."""
    if isinstance(value, str):
        m = _ENC_ANY.match(value)
        return m.group("type") if m else None
    if isinstance(value, list | Mapping):
        leaves = list(value.values()) if isinstance(value, Mapping) else value
        if leaves and all(_enc_type(v) is not None for v in leaves):
            return "mapping" if isinstance(value, Mapping) else "list"
    return None


def _check_connection(doc: Document, i: int, c: Mapping[str, Any]) -> None:
    label = object_label(c, "connection")
    for f in SECRET_FIELDS:
        if f not in c or c[f] is None:
            continue
        where = f"connections[{i}].{f}"
        kind = _enc_type(c[f])
        if doc.encrypted and kind not in (None, "str"):
            doc.issues.append(
                ConfigIssue(
                    doc.file,
                    where,
                    f"encrypted, but as {_KINDS.get(kind, 'a ' + kind)}, not a string{label}: "
                    f"{f} is one string. "
                    f"Set it as a quoted string with `sops edit {doc.path.name}`",
                    ConfigErrorClass.SCHEMA_INVALID,
                )
            )
            continue
        if not doc.encrypted:
            hint = (
                "the value looks encrypted but the file has no `sops:` metadata (deleted?)"
                if kind is not None
                else "a plaintext secret in a file that is not SOPS-encrypted"
            )
            message = (
                f"{hint}{label}. Secrets must be committed encrypted: `sops encrypt "
                f"-i {doc.path.name}` with encrypted_regex '{sops.SECRET_REGEX}'; if "
                "this secret was ever pushed, rotate the key on the exchange"
            )
        elif not is_enc(c[f]):
            message = (
                f"not an ENC[...] value{label}: a plaintext secret was pasted into an "
                "encrypted file. Rotate that key on the exchange, then set the new "
                f"value with `sops edit {doc.path.name}`"
            )
        else:
            continue
        doc.issues.append(ConfigIssue(doc.file, where, message, ConfigErrorClass.PLAINTEXT_SECRET))


def _addressed_key_sources(meta: Any) -> list[str]:
    """Paths of `sops:` key sources that would make sops call a server the file chooses."""
    if not isinstance(meta, Mapping):
        return []
    found = [f"sops.{k}" for k in _ADDRESSED_KEY_SOURCES if meta.get(k)]
    groups = meta.get("key_groups")
    for i, group in enumerate(groups if isinstance(groups, list) else []):
        if isinstance(group, Mapping):
            found += [f"sops.key_groups[{i}].{k}" for k in _ADDRESSED_KEY_SOURCES if group.get(k)]
    return found


def _encrypted_non_secrets(node: Any, where: str) -> list[str]:
    out: list[str] = []
    if isinstance(node, Mapping):
        for k, v in node.items():
            if where == "" and k == "sops":
                continue
            sub = f"{where}.{k}" if where else str(k)
            if str(k) in SECRET_FIELDS and where.startswith("connections["):
                continue
            out += _encrypted_non_secrets(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _encrypted_non_secrets(v, f"{where}[{i}]")
    elif isinstance(node, str) and node.startswith("ENC["):
        out.append(where)
    return out


def with_placeholders(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The document without `sops:` and with every present secret replaced by PLACEHOLDER."""
    data = {k: v for k, v in raw.items() if k != "sops"}
    conns = data.get("connections")
    if isinstance(conns, list):
        data["connections"] = [
            {k: (PLACEHOLDER if k in SECRET_FIELDS and v is not None else v) for k, v in c.items()}
            if isinstance(c, Mapping)
            else c
            for c in conns
        ]
    return data
