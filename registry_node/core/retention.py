"""The node's own versions: their hash chain, checked with or without their bodies, and a
list of its own as a neighbour holds it, checked before a restored node relies on it.

Retention (docs/adr/0015) removes the bodies of old versions and keeps each version's seq,
digest and ``prev``. The chain stays checkable: each ``prev`` must name the digest of the
version before it, and every body still kept must hash to its recorded digest and carry the
recorded seq and ``prev``. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from registry_node.core.acceptance import parse_list
from registry_node.core.errors import Rejected
from registry_node.core.keys import PublicKey
from registry_node.core.model import digest
from registry_node.core.signing import parse_jws, verify_signatures

#: (seq, digest, prev) of one version
Link = tuple[int, str, str | None]


def chain_problems(links: Sequence[Link], bodies: Mapping[int, bytes]) -> list[str]:
    """What is wrong with the chain ``links`` (in seq order) and the ``bodies`` still kept;
    empty when nothing is. A gap in seq (versions lost in a restore, section 10 of
    docs/operations.md) is not a fault: the link across it cannot be compared."""
    problems: list[str] = []
    before: Link | None = None
    for seq, own, prev in links:
        if before is None:
            if seq == 1 and prev is not None:
                problems.append("seq 1: prev must be null")
        elif seq <= before[0]:
            problems.append(f"seq {seq}: not after seq {before[0]}")
        elif seq == before[0] + 1 and prev != before[1]:
            problems.append(f"seq {seq}: prev does not name the digest of seq {before[0]}")
        body = bodies.get(seq)
        if body is not None:
            if digest(body) != own:
                problems.append(f"seq {seq}: body does not match its digest")
            else:
                payload = json.loads(parse_jws(body).payload)
                if payload.get("seq") != seq or payload.get("prev") != prev:
                    problems.append(f"seq {seq}: body's seq or prev differs from the record")
        before = (seq, own, prev)
    return problems


def own_list(
    body: bytes, node_id: str, jurisdiction: str, trusted: Mapping[str, PublicKey]
) -> dict[str, Any]:
    """The payload of ``body`` if it is a list of this node's own: valid under the published
    schema, issued by ``node_id`` for ``jurisdiction``, and signed by one of ``trusted`` (the
    node's own keys). Raises Rejected. Time is not checked: a list a neighbour still holds may
    have expired and still tell what the node published (docs/adr/0015)."""
    parsed, payload, _ = parse_list(body)
    if payload["iss"] != node_id or payload["jurisdiction"] != jurisdiction:
        raise Rejected(
            f"the list is {payload['iss']}'s ({payload['jurisdiction']}), not this node's",
            code="wrong_issuer",
        )
    if not verify_signatures(parsed, trusted).verified:
        raise Rejected("no signature by a key of this node verifies", code="unknown_key")
    return dict(payload)
