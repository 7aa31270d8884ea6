"""Bundles of signed lists, for checking credentials fully offline (docs/protocol.md 13.5).

``save`` writes the node's own latest list and every peer's held list, byte for byte, with a
``bundle.json`` naming for each the node id, jurisdiction, the thumbprints of the keys that
signed it, its scope and ``on_stale``. ``load`` verifies every list against those keys with the
same acceptance rules as a peer's list (core/acceptance.py) and builds a trust index from the
lists that pass. The bundle's ``bundle.json`` is the trust anchor: carry it as carefully as a
peers.yaml. A bundle may also carry status list credentials in a ``status/`` folder (one file
each, JSON or compact JWS, named by anything; found by their ``id``): ``verify --bundle``
judges credentials' ``credentialStatus`` against them (services/statuslists.py), each list
verified with the keys of the bundle's lists like any credential of its issuer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from registry_node.config import NodeConfig
from registry_node.core.acceptance import accept
from registry_node.core.errors import ConfigError, Rejected
from registry_node.core.peers import PeerConfig, Scope
from registry_node.core.signing import parse_jws
from registry_node.core.timeutil import Clock, format_rfc3339
from registry_node.services.federation import Federation, in_use
from registry_node.services.index import Snapshot, TrustIndex, source_index
from registry_node.services.recovery import RESTORE_PENDING
from registry_node.services.statuslists import STATUS_FOLDER, load_folder
from registry_node.services.store import Store

BUNDLE_FILE = "bundle.json"
BUNDLE_VERSION = 1


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Holder(Protocol):
    """What a bundle is saved from (the node, services/node.py, provides it)."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> Store: ...

    @property
    def federation(self) -> Federation: ...


async def save(node: Holder, folder: Path) -> dict[str, Any]:
    """Write the bundle into ``folder``; ``bundle.json`` last, so a bundle is whole or absent."""
    folder.mkdir(parents=True, exist_ok=True)
    config = node.config
    lists: list[dict[str, Any]] = []
    latest = await node.store.read.latest_version()
    if latest is not None and await node.store.read.meta(RESTORE_PENDING) is None:
        # (A restored list not yet confirmed may predate a change: services/recovery.py.)
        payload = json.loads(parse_jws(latest.body).payload)
        places = {config.jurisdiction} | {
            a["jurisdiction"] for e in payload["issuers"] for a in e.get("authorizations", ())
        }
        name = f"{config.jurisdiction.lower()}.jws"
        _write(folder / name, latest.body)
        lists.append(
            {
                "id": config.node_id,
                "jurisdiction": config.jurisdiction,
                "file": name,
                "keys": sorted(latest.signed_by),
                "scope": {"jurisdictions": sorted(places)},
                "on_stale": "warn",
                "local": True,
            }
        )
    for _, peer in node.federation.peers.items():
        held = await node.store.read.peer_list(peer.id, with_body=True)
        if held is None or not in_use(peer, held):
            continue  # a withdrawn list, or one not judged under today's terms, is left out
        name = f"{peer.jurisdiction.lower()}.jws"
        _write(folder / name, held.body)
        scope: dict[str, Any] = {"jurisdictions": sorted(peer.scope.jurisdictions)}
        if peer.scope.credential_types is not None:
            scope["credential_types"] = sorted(peer.scope.credential_types)
        lists.append(
            {
                "id": peer.id,
                "jurisdiction": peer.jurisdiction,
                "file": name,
                "keys": sorted(held.verified_kids),
                "scope": scope,
                "on_stale": peer.on_stale,
                "local": False,
            }
        )
    doc = {
        "version": BUNDLE_VERSION,
        "created": format_rfc3339(node.clock()),
        "by": config.node_id,
        "lists": lists,
    }
    _write(folder / BUNDLE_FILE, json.dumps(doc, indent=2).encode() + b"\n")
    return doc


@dataclass(frozen=True)
class Loaded:
    index: TrustIndex
    used: list[str]
    refused: list[str]  # "<file>: <reason>", one per list left out
    #: the status list documents of the bundle's status/ folder, by their id (URL)
    status_lists: Mapping[str, Any] = field(default_factory=dict)


def _field(doc: Mapping[str, Any], key: str, where: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {key}: missing or not a {kind.__name__}", field=key)
    return value


def _document(folder: Path) -> tuple[Path, dict[str, Any]]:
    path = folder / BUNDLE_FILE
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no bundle here (write one with `bundle save`)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != BUNDLE_VERSION:
        raise ConfigError(f"{path}: version: not a version {BUNDLE_VERSION} bundle")
    return path, doc


def keys_of(folder: Path, node_id: str, clock: Clock, max_bytes: int) -> list[dict[str, Any]]:
    """The keys (``keys`` and ``next_keys``) of ``node_id``'s list in the bundle, once the list
    verifies against the bundle's pins: the keys a receipt signed by that node is checked with.
    The list's time is not judged (a receipt is checked long after it was signed)."""
    path, doc = _document(folder)
    for i, item in enumerate(_field(doc, "lists", str(path), list)):
        where = f"{path}: lists[{i}]"
        if not isinstance(item, dict) or item.get("id") != node_id:
            continue
        file, peer = _list_item(item, where)
        try:
            body = (folder / file).read_bytes()
            decision = accept(
                body,
                peer,
                None,
                clock(),
                max_bytes=max_bytes,
                clock_skew=timedelta(0),
                rejudge=True,
            )
        except OSError as exc:
            raise ConfigError(f"{folder / file}: {exc.strerror or exc}") from None
        except Rejected as exc:
            raise ConfigError(f"{folder / file}: {exc.code}: {exc.detail}", code=exc.code) from None
        return [dict(jwk) for jwk in decision.state.trusted_keys]
    raise ConfigError(f"{path}: lists: no list of {node_id!r} in this bundle", field="lists")


def _list_item(item: Mapping[str, Any], where: str) -> tuple[str, PeerConfig]:
    """An item of ``lists``: its file, and the terms its list is judged under."""
    node_id = _field(item, "id", where, str)
    jurisdiction = _field(item, "jurisdiction", where, str)
    file = _field(item, "file", where, str)
    if "/" in file or file.startswith("."):
        raise ConfigError(f"{where}: file: must name a file in the bundle folder")
    scope = _field(item, "scope", where, dict)
    types = scope.get("credential_types")
    peer = PeerConfig(
        id=node_id,
        jurisdiction=jurisdiction,
        url=node_id,
        pinned_thumbprints=frozenset(_field(item, "keys", where, list)),
        scope=Scope(
            frozenset(scope.get("jurisdictions", ())),
            None if types is None else frozenset(types),
        ),
        on_stale=item.get("on_stale", "reject"),
    )
    return file, peer


def load(folder: Path, clock: Clock, clock_skew: timedelta, max_bytes: int) -> Loaded:
    """Verify the bundle's lists and build a trust index from those that pass."""
    path, doc = _document(folder)
    now = clock()
    sources = {}
    policies: dict[str, str] = {}
    used: list[str] = []
    refused: list[str] = []
    for i, item in enumerate(_field(doc, "lists", str(path), list)):
        where = f"{path}: lists[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: not an object")
        file, peer = _list_item(item, where)
        node_id, jurisdiction = peer.id, peer.jurisdiction
        try:
            body = (folder / file).read_bytes()
            decision = accept(body, peer, None, now, max_bytes=max_bytes, clock_skew=clock_skew)
        except OSError as exc:
            refused.append(f"{file}: {exc.strerror or exc}")
            continue
        except Rejected as exc:
            refused.append(f"{file}: {exc.code}: {exc.detail}")
            continue
        state = decision.state
        local = bool(item.get("local", False))
        sources[node_id] = source_index(
            node_id,
            jurisdiction,
            local,
            (state.seq, state.digest, state.iat, state.exp, None),
            decision.entries,
            decision.aliases,
        )
        policies[node_id] = peer.on_stale
        used.append(file)
    index = TrustIndex(clock, policies.get)
    index.snapshot = Snapshot(sources)
    return Loaded(index, used, refused, load_folder(folder / STATUS_FOLDER))
