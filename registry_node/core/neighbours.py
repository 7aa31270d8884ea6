"""Exchanging keys with a neighbouring state: the entry one node offers (``peers invite``), the
neighbour's metadata read back (``peers add``), and that entry written into peers.yaml text.

Nothing is pinned because the metadata says so: the operator gives the thumbprint obtained out
of band, and :func:`entry_for` refuses when the neighbour's metadata offers no key with it
(docs/protocol.md section 9.1, "Adding a neighbour"). The text functions keep the file's
comments: they insert lines, and the caller checks that the result parses to the old peers
plus the new one before writing it. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.keys import import_public_jwk
from registry_node.core.peers import PIN_FORM, PIN_PATTERN

#: Where a node describes itself (docs/protocol.md section 6)
WELL_KNOWN = "/.well-known/ler-trust-registry"
#: The largest metadata document ``peers add`` reads
MAX_METADATA_BYTES = 1024 * 1024

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:/._~%?&=+@-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class OfferedKey:
    thumbprint: str
    alg: str
    #: ``current`` (signs the lists now) or ``next`` (announced successor)
    state: str


@dataclass(frozen=True)
class Metadata:
    """What a neighbour's ``/.well-known/ler-trust-registry`` says about it."""

    id: str
    jurisdiction: str
    name: str
    list_url: str
    keys: tuple[OfferedKey, ...]


def metadata_url(url: str) -> str:
    """The metadata URL for a node's base URL (or for the metadata URL itself)."""
    base = url.rstrip("/")
    return base if base.endswith(WELL_KNOWN) else base + WELL_KNOWN


def _bad(source: str, why: str) -> ConfigError:
    return ConfigError(f"{source}: {why}", code="metadata_invalid")


def parse_metadata(doc: Any, source: str) -> Metadata:
    """Read a node's metadata document; raise ConfigError ``metadata_invalid``."""
    if not isinstance(doc, dict):
        raise _bad(source, "not a JSON object")
    for member in ("id", "jurisdiction", "name"):
        if not isinstance(doc.get(member), str) or not doc[member]:
            raise _bad(source, f"{member}: missing or not a string")
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, dict) or not isinstance(endpoints.get("trust_list"), str):
        raise _bad(source, "endpoints.trust_list: missing or not a string")
    jwks = doc.get("jwks")
    current = jwks.get("keys") if isinstance(jwks, dict) else None
    upcoming = doc.get("next_keys", [])
    if not isinstance(current, list) or not current or not isinstance(upcoming, list):
        raise _bad(source, "jwks.keys: missing, empty or not a list")
    keys = []
    for state, listed in (("current", current), ("next", upcoming)):
        for pos, jwk in enumerate(listed):
            where = "jwks.keys" if state == "current" else "next_keys"
            if not isinstance(jwk, dict):
                raise _bad(source, f"{where}[{pos}]: not a JWK")
            try:
                key = import_public_jwk(jwk)
            except InvalidInput as exc:
                raise _bad(source, f"{where}[{pos}]: {exc.detail}") from None
            alg = jwk.get("alg")
            keys.append(OfferedKey(key.thumbprint(), alg if isinstance(alg, str) else "?", state))
    return Metadata(
        id=doc["id"],
        jurisdiction=doc["jurisdiction"],
        name=_CONTROL.sub(" ", doc["name"])[:200],
        list_url=doc["endpoints"]["trust_list"],
        keys=tuple(keys),
    )


def check_thumbprints(thumbprints: Sequence[str]) -> None:
    """Every thumbprint given on the command line has the form of a pin."""
    for given in thumbprints:
        if PIN_PATTERN.fullmatch(given) is None:
            raise ConfigError(
                f"--thumbprint: {given[:60]!r} ({len(given)} characters) is not a pin; {PIN_FORM}",
                code="peers_invalid",
                field="thumbprint",
            )


def entry_for(
    meta: Metadata, thumbprints: Sequence[str], *, refresh: str | None = None
) -> dict[str, Any]:
    """The peers.yaml entry for the neighbour, pinning exactly ``thumbprints``, each of which
    must be a key its metadata offers."""
    offered = {key.thumbprint for key in meta.keys}
    missing = [t for t in thumbprints if t not in offered]
    if missing:
        raise ConfigError(
            f"{meta.id}: offers no key with thumbprint {', '.join(missing)} "
            f"(its keys: {', '.join(sorted(offered))}); nothing was written",
            code="pin_not_offered",
            field="thumbprint",
        )
    entry: dict[str, Any] = {
        "id": meta.id,
        "jurisdiction": meta.jurisdiction,
        "url": meta.list_url,
        "keys": list(dict.fromkeys(thumbprints)),
    }
    if refresh is not None:
        entry["refresh"] = refresh
    return entry


def invite_entry(
    node_id: str, jurisdiction: str, base_url: str, thumbprints: Sequence[str]
) -> dict[str, Any]:
    """The entry a neighbour pastes into its peers.yaml to fetch this node's list."""
    return {
        "id": node_id,
        "jurisdiction": jurisdiction,
        "url": f"{base_url.rstrip('/')}/trust-list",
        "keys": list(thumbprints),
    }


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value) and not value.endswith(":"):
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def render_entry(entry: Mapping[str, Any], indent: str = "  ", comment: str = "") -> str:
    """The entry as a block sequence item of peers.yaml, indented by ``indent``."""
    lines = [f"{indent}# {_CONTROL.sub(' ', comment)}"] if comment else []
    lead = f"{indent}- "
    for member, value in entry.items():
        if isinstance(value, list):
            text = "[" + ", ".join(_scalar(v) for v in value) + "]"
        else:
            text = _scalar(value)
        lines.append(f"{lead}{member}: {text}")
        lead = f"{indent}  "
    return "\n".join(lines) + "\n"


_PEERS_KEY = re.compile(r"^peers:[ \t]*(?P<value>[^#\n]*?)[ \t]*(?:#[^\n]*)?$", re.MULTILINE)
_ITEM = re.compile(r"^(?P<indent>[ \t]*)- ", re.MULTILINE)


def append_entry(text: str, entry: Mapping[str, Any], comment: str = "") -> str | None:
    """``text`` (a peers.yaml) with ``entry`` added as the last peer, every other line kept;
    None when the file's form leaves no safe place for it (the caller then rewrites it)."""
    if text and not text.endswith("\n"):
        text += "\n"
    found = list(_PEERS_KEY.finditer(text))
    if not found:
        if any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
            return None  # something other than comments and no peers key
        return text + "peers:\n" + render_entry(entry, comment=comment)
    if len(found) > 1:
        return None
    key = found[0]
    value = key.group("value")
    if value in ("[]", "null", "~"):
        before, after = text[: key.start()], text[key.end() :]
        return before + "peers:" + "\n" + render_entry(entry, comment=comment) + after.lstrip("\n")
    if value:
        return None  # a flow sequence with items, or something else: no safe place
    items = list(_ITEM.finditer(text, key.end()))
    indent = items[0].group("indent") if items else "  "
    return text + render_entry(entry, indent, comment)
