"""Adding a neighbour: fetch its metadata (an explicit network use of the operator's command,
with the federation's timeouts and a small size limit), and write its entry into peers.yaml
atomically (a temporary file renamed over the old one), keeping the file's comments when its
form allows, never leaving a half-written file.

Which keys to pin is the operator's word, not the metadata's (core/neighbours.py).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_node.config import NodeConfig
from registry_node.core import strictjson
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.neighbours import (
    MAX_METADATA_BYTES,
    Metadata,
    append_entry,
    metadata_url,
    parse_metadata,
)
from registry_node.core.peers import parse_peers, url_allowed
from registry_node.core.strictjson import StrictJSONError
from registry_node.core.yamlsafe import dump_yaml, load_yaml
from registry_node.services.fetcher import Fetcher, new_session


async def fetch_metadata(config: NodeConfig, url: str) -> Metadata:
    """GET the neighbour's ``/.well-known/ler-trust-registry`` (``url``: its base URL).
    Raises FetchFailed (no answer, too large, an HTTP error) or ConfigError."""
    target = metadata_url(url)
    fed = config.federation
    if not url_allowed(target, allow_http_loopback=fed.allow_http_loopback):
        raise ConfigError(
            f"{url}: must be https (plain http is allowed only to a loopback address)",
            code="peers_invalid",
            field="url",
        )
    session = new_session(fed)
    try:
        fetcher = Fetcher(session, replace(fed, max_list_bytes=MAX_METADATA_BYTES))
        fetched = await fetcher.fetch(target, accept="application/json")
    finally:
        await session.close()
    try:
        doc = strictjson.loads(fetched.body)
    except StrictJSONError as exc:
        raise ConfigError(f"{target}: not JSON: {exc}", code="metadata_invalid") from None
    meta = parse_metadata(doc, target)
    if meta.id == config.node_id:
        raise ConfigError(
            f"{target}: describes this node ({meta.id}), not a neighbour",
            code="metadata_invalid",
        )
    return meta


@dataclass(frozen=True)
class PeersFileEdit:
    path: Path
    text: str
    #: the file's other lines (its comments) are kept as they were
    kept: bool
    peers: int


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", code="peers_invalid") from None


def _peers_of(text: str, source: str, allow_http_loopback: bool) -> list[dict[str, Any]]:
    """The peers of a peers.yaml text, which must be valid."""
    try:
        doc = load_yaml(text, source) if text.strip() else None
    except InvalidInput as exc:
        raise ConfigError(exc.detail, code="peers_invalid") from None
    parse_peers(doc, source, allow_http_loopback=allow_http_loopback)  # raises ConfigError
    peers: list[dict[str, Any]] = [] if doc is None else doc["peers"]
    return peers


def plan_addition(
    path: Path, entry: dict[str, Any], comment: str, *, allow_http_loopback: bool = True
) -> PeersFileEdit:
    """The text of ``path`` with ``entry`` added as its last peer. The file as it is must be
    valid and must not have the peer already; the result is checked to parse to exactly the
    old peers plus the new one, else the file is written afresh from its peers (its leading
    comments kept)."""
    source = str(path)
    text = _read(path)
    old = _peers_of(text, source, allow_http_loopback)
    for index, peer in enumerate(old):
        if peer["id"] == entry["id"]:
            raise ConfigError(
                f"{source}: peers[{index}] is {entry['id']} already; to re-pin it, edit its "
                "keys there and reload the node",
                code="peer_exists",
                field=f"peers[{index}]",
            )
    wanted = [*old, entry]
    edited = append_entry(text, entry, comment)
    if edited is not None:
        with contextlib.suppress(InvalidInput, ConfigError):
            if _peers_of(edited, source, allow_http_loopback) == wanted:
                return PeersFileEdit(path, edited, True, len(wanted))
    header = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        header.append(line)
    fresh = "\n".join(header).rstrip() + "\n" if any(h.strip() for h in header) else ""
    fresh += dump_yaml({"peers": wanted})
    if _peers_of(fresh, source, allow_http_loopback) != wanted:  # raises for a bad entry
        raise ConfigError(f"{source}: the new entry does not survive a round trip")
    return PeersFileEdit(path, fresh, False, len(wanted))


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: written to a temporary file in the same folder, flushed
    to disk, then renamed over it (the old file's permissions kept), so that a reader or a
    crash sees the old file or the new one, never part of either."""
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dirfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
