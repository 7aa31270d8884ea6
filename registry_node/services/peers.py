"""The configured peers: peers.yaml as the node runs with it.

One registry is shared by the services that need to know the peers (federation syncs them,
the lookup index uses their lists under their current terms, the scheduler plans their
fetches, bundles and TRQP name them). Only :meth:`PeerRegistry.replace` changes it; each
change bumps ``generation``, so that answers made under the old peers are not reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from registry_node.core.errors import ConfigError, NotFound
from registry_node.core.model import digest
from registry_node.core.peers import PeerConfig, parse_peers
from registry_node.core.yamlsafe import load_yaml
from registry_node.services.changes import PeersReconfigured


class PeerRegistry:
    def __init__(self, path: Path, *, allow_http_loopback: bool = True) -> None:
        self.path = path
        self.allow_http_loopback = allow_http_loopback
        self._peers: dict[str, PeerConfig] = {}
        #: counts changes of the configured peers
        self.generation = 0
        #: the digest of the peers.yaml in force (None: peers not read from the file)
        self.applied: str | None = None

    def _raw(self) -> bytes:
        """peers.yaml's bytes; a missing file reads as empty."""
        return self.path.read_bytes() if self.path.exists() else b""

    def file_digest(self) -> str:
        """The digest of peers.yaml as it is now (of nothing, when it is missing)."""
        return digest(self._raw())

    def read_file(self) -> tuple[list[PeerConfig], str]:
        """Validate peers.yaml (a missing file means no peers): its peers, and the digest of
        the bytes they were read from. Raises ConfigError."""
        raw = self._raw()
        if not raw and not self.path.exists():
            return [], digest(raw)
        try:
            doc = load_yaml(raw, str(self.path))
        except Exception as exc:
            raise ConfigError(getattr(exc, "detail", str(exc)), code="peers_invalid") from exc
        peers = parse_peers(doc, str(self.path), allow_http_loopback=self.allow_http_loopback)
        return peers, digest(raw)

    def replace(self, peers: list[PeerConfig], applied: str | None = None) -> PeersReconfigured:
        """Put ``peers`` in force (``applied``: the digest of the file they were read from)."""
        new = {p.id: p for p in peers}
        old = self._peers
        diff = PeersReconfigured(
            added=tuple(sorted(new.keys() - old.keys())),
            removed=tuple(sorted(old.keys() - new.keys())),
            changed=tuple(sorted(k for k in new.keys() & old.keys() if new[k] != old[k])),
        )
        self._peers = new
        self.generation += 1
        self.applied = applied
        return diff

    def get(self, peer_id: str) -> PeerConfig | None:
        return self._peers.get(peer_id)

    def peer(self, peer_id: str) -> PeerConfig:
        try:
            return self._peers[peer_id]
        except KeyError:
            raise NotFound(f"no configured peer {peer_id!r}", code="peer_not_found") from None

    def on_stale(self, peer_id: str) -> str | None:
        """The peer's ``on_stale``, or None for a peer that is not configured."""
        peer = self._peers.get(peer_id)
        return None if peer is None else peer.on_stale

    def by_authority(self, authority: str) -> PeerConfig | None:
        """The peer whose node id or jurisdiction is ``authority``."""
        return next((p for p in self._peers.values() if authority in (p.id, p.jurisdiction)), None)

    def ids(self) -> list[str]:
        return sorted(self._peers)

    def items(self) -> list[tuple[str, PeerConfig]]:
        return sorted(self._peers.items())

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._peers))
