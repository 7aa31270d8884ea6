"""A stolen signing key, end to end: the runbook of docs/operations.md, "A stolen signing key",
walked with two real node processes.

Ohio is the victim and Indiana its neighbour. An attacker who holds Ohio's signing key signs a
list for Ohio with a huge ``seq`` and serves it to Indiana, which accepts it: it is validly
signed by the key Indiana trusts. Ohio's operator then rotates to a new key, and Indiana's
operator re-pins Ohio to that key alone; the stolen list is withdrawn at once, a new trust
epoch begins, and Ohio's genuine list, with its much lower ``seq``, is accepted at the next
sync. Removing Ohio from peers.yaml and adding it back with the old pin is shown to be no way
around the stolen list's ``seq``. Time moves only through the shared clock offset file.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from registry_node.core.model import canonical_json, digest
from registry_node.core.signing import sign_list
from registry_node.core.timeutil import format_rfc3339, from_numeric_date
from registry_node.services.keystore import KeyStore
from tests.e2e_harness import (
    FRESH_HORIZON,
    INDIANA,
    LIST_VALIDITY,
    OHIO,
    NodeProcess,
    Published,
    SharedClock,
    eventually,
    replay_proxy,
    signer_kids,
)

#: The attacker's sequence number: far beyond anything Ohio will publish for years.
STOLEN_SEQ = 10**9
#: Longest validity a peer list may have by default (``max_validity``, protocol section 9.1).
MAX_VALIDITY = 3 * 24 * 3600
#: Ohio's licensing board, which the attacker revokes, and the issuer the attacker invents.
BOARD = OHIO.licensing_board
FAKE = "did:web:nursing-licences-online.ohio.example"
LICENSE = {"achievement_type": "License"}
#: Outcomes of a successful sync (a node's own scheduled sync may have fetched the same list
#: just before the test's explicit one).
SYNCED = ("accepted", "unchanged", "not_modified")


@asynccontextmanager
async def two_states(root: Path) -> AsyncIterator[tuple[NodeProcess, NodeProcess]]:
    """Ohio and Indiana, each pinning the other's key, running on one shared clock."""
    async with aiohttp.ClientSession() as http:
        clock = SharedClock(root / "clock-offset")
        ohio, indiana = (NodeProcess(s, root, clock, http) for s in (OHIO, INDIANA))
        try:
            for node in (ohio, indiana):
                node.write_config()
                await node.initialise()
            for node, other in ((ohio, indiana), (indiana, ohio)):
                node.baseline_peers = node.peers_document([other])
                node.peers_file.write_text(node.baseline_peers)
                await node.start()
            yield ohio, indiana
        finally:
            for node in (ohio, indiana):
                await node.stop()


def peers_yaml(victim: NodeProcess, url: str, pins: list[str]) -> str:
    """Indiana's peers.yaml: Ohio alone, fetched from ``url``, pinned to ``pins``."""
    quoted = ", ".join(f"'{pin}'" for pin in pins)
    return (
        "peers:\n"
        f"  - id: {victim.id}\n"
        f"    jurisdiction: {victim.state.code}\n"
        f"    url: {url}\n"
        f"    keys: [{quoted}]\n"
    )


def forged_list(victim: NodeProcess, genuine: Published, now: float) -> bytes:
    """What the attacker signs with the victim's stolen key: the victim's list with a huge
    ``seq``, valid for as long as a peer allows, the licensing board revoked and an invented
    issuer added. Nothing is removed, so the history only grows."""
    kid = victim.kid
    stolen = KeyStore(victim.folder / "data" / "keys").load(f"{kid}.pem", "Ed25519", kid)
    payload = json.loads(json.dumps(genuine.payload))
    iat = int(now)
    revoked_at = format_rfc3339(from_numeric_date(iat - 60))
    for entry in payload["issuers"]:
        if entry["id"] == BOARD:
            entry["status_history"].append(
                {"status": "revoked", "from": revoked_at, "reason": "licence fraud"}
            )
    payload["issuers"].append(
        {
            "id": FAKE,
            "name": "Ohio Nursing Licences Online",
            "org_type": "licensing_board",
            "authorizations": [
                {
                    "credential_types": ["OpenBadgeCredential"],
                    "achievement_types": ["License"],
                    "jurisdiction": victim.state.code,
                }
            ],
            "status_history": [{"status": "active", "from": revoked_at}],
        }
    )
    payload.update(
        seq=STOLEN_SEQ, iat=iat, exp=iat + MAX_VALIDITY, prev=genuine.digest, next_keys=[]
    )
    return sign_list(canonical_json(payload), [stolen])


def sources(answer: dict[str, Any]) -> list[str]:
    return [item["source"] for item in answer["evidence"]]


def assert_trusted_by(answer: dict[str, Any], node: NodeProcess, seq: int) -> None:
    assert (answer["outcome"], answer["reason"]) == ("trusted", "active"), answer
    assert answer["decided_by"] == [node.id], answer
    (item,) = answer["evidence"]
    assert (item["source"], item["list"]["seq"]) == (node.id, seq), answer


def assert_not_listed(answer: dict[str, Any]) -> None:
    assert (answer["outcome"], answer["reason"]) == ("unknown", "not_listed"), answer
    assert (answer["decided_by"], answer["evidence"]) == ([], []), answer


async def audit(node: NodeProcess, action: str) -> list[dict[str, Any]]:
    """The records of ``action`` in the node's audit log, read with ``registry-node audit``."""
    out = await node.cli("audit", "--limit", "10000")
    records = [json.loads(line) for line in out.splitlines()]
    return [r for r in records if r["action"] == action]


def peer_events(node: NodeProcess, peer: NodeProcess) -> list[tuple[str, Any]]:
    """``peer``'s events in ``node``'s database (kind, detail), oldest first, read as the
    runbook reads them: a read-only connection beside the running node."""
    database = node.folder / "data" / "registry.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT kind, detail FROM peer_events WHERE peer_id = ? ORDER BY id", (peer.id,)
        ).fetchall()
    return [(kind, json.loads(detail)) for kind, detail in rows]


async def list_in_use(node: NodeProcess, peer: NodeProcess) -> float:
    """The gauge ``registry_peer_list_in_use`` of ``peer`` in ``node``'s /metrics."""
    async with node.http.get(f"{node.url}/metrics") as resp:
        text = await resp.text()
    prefix = f'registry_peer_list_in_use{{peer="{peer.id}"}} '
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


async def test_recovery_from_a_stolen_signing_key(tmp_path: Path) -> None:
    async with two_states(tmp_path) as (ohio, indiana):
        await run_the_runbook(ohio, indiana)


async def run_the_runbook(ohio: NodeProcess, indiana: NodeProcess) -> None:
    clock = ohio.clock
    real_url = f"{ohio.url}/trust-list"
    stolen_kid = ohio.kid

    # Federated: Indiana holds Ohio's genuine list and vouches for its licensing board.
    for node in (ohio, indiana):
        await node.keep_list_fresh(FRESH_HORIZON)
    genuine = await ohio.current_list()
    assert (await indiana.sync(ohio))[ohio.id]["outcome"] in SYNCED
    assert_trusted_by(await indiana.lookup(BOARD, **LICENSE), ohio, genuine.seq)
    assert_not_listed(await indiana.lookup(FAKE))

    # The attack: a list signed with Ohio's stolen key reaches Indiana (here through a server
    # that Indiana's peers.yaml points at: a hijacked name or proxy). Indiana accepts it.
    forged = forged_list(ohio, genuine, clock.now())
    assert signer_kids(forged) == [stolen_kid]
    async with replay_proxy(forged) as attacker:
        indiana.peers_file.write_text(peers_yaml(ohio, attacker.url, [stolen_kid]))
        assert await indiana.reload_peers() == {"added": [], "removed": [], "changed": [ohio.id]}
        result = (await indiana.sync(ohio))[ohio.id]
        assert (result["outcome"], result["seq"]) in {(o, STOLEN_SEQ) for o in SYNCED}, result
    peer = (await indiana.peers())[ohio.id]
    assert (peer["state"], peer["seq"], peer["digest"]) == ("fresh", STOLEN_SEQ, digest(forged))
    assert peer["trusted_keys"] == [stolen_kid]
    assert await list_in_use(indiana, ohio) == 1
    # The only trace of the jump: a gap event.
    gap = {"skipped": STOLEN_SEQ - genuine.seq - 1, "seq": STOLEN_SEQ}
    assert ("gap", gap) in peer_events(indiana, ohio)

    # What a verifier asking Indiana now gets: the attacker's answers.
    answer = await indiana.lookup(BOARD, **LICENSE)
    assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked"), answer
    assert answer["decided_by"] == [ohio.id]
    assert_trusted_by(await indiana.lookup(FAKE, **LICENSE), ohio, STOLEN_SEQ)

    # The symptom on Indiana's side: Ohio's genuine lists are refused as a rollback.
    indiana.peers_file.write_text(indiana.baseline_peers)
    assert await indiana.reload_peers() == {"added": [], "removed": [], "changed": [ohio.id]}
    genuine_seq = await ohio.publish()
    result = (await indiana.sync(ohio))[ohio.id]
    assert (result["outcome"], result["code"]) == ("rejected", "rollback"), result
    peer = (await indiana.peers())[ohio.id]
    assert (peer["state"], peer["seq"]) == ("failing", STOLEN_SEQ), peer
    assert peer["last_error"]["code"] == "rollback"

    # No shortcut: removing Ohio and adding it back with the same pin resumes from the held
    # list, which still binds (protocol section 9.1): the stolen seq is still the reference.
    indiana.peers_file.write_text("peers: []\n")
    assert await indiana.reload_peers() == {"added": [], "removed": [ohio.id], "changed": []}
    assert (await indiana.peers()) == {}
    assert_not_listed(await indiana.lookup(FAKE))
    indiana.peers_file.write_text(indiana.baseline_peers)
    assert await indiana.reload_peers() == {"added": [ohio.id], "removed": [], "changed": []}
    peer = (await indiana.peers())[ohio.id]
    assert (peer["seq"], peer["digest"], peer["withdrawn"]) == (STOLEN_SEQ, digest(forged), None)
    assert_trusted_by(await indiana.lookup(FAKE, **LICENSE), ohio, STOLEN_SEQ)
    result = (await indiana.sync(ohio))[ohio.id]
    assert (result["outcome"], result["code"]) == ("rejected", "rollback"), result
    assert (await indiana.peers())[ohio.id]["seq"] == STOLEN_SEQ

    # Ohio's operator: a new key (announced; the stolen key still signs this version), and
    # the new thumbprint sent to the neighbours out of band.
    out = await ohio.cli("keys", "rotate")
    new_kid = out.split("announced next key ", 1)[1].split()[0]
    announced = await ohio.current_list()
    assert announced.seq == genuine_seq + 1
    assert [k["kid"] for k in announced.payload["next_keys"]] == [new_kid]
    assert signer_kids(announced.body) == [stolen_kid]

    # Indiana's operator re-pins Ohio to the new key only, and reloads: the stolen list is
    # withdrawn at once, before any fetch, and a new trust epoch begins.
    epochs_before = len(await audit(indiana, "peer.epoch"))
    indiana.peers_file.write_text(peers_yaml(ohio, real_url, [new_kid]))
    assert await indiana.reload_peers() == {"added": [], "removed": [], "changed": [ohio.id]}
    peer = (await indiana.peers())[ohio.id]
    assert peer["state"] == "withdrawn", peer
    assert peer["withdrawn"]["code"] == "unknown_key", peer
    assert peer["withdrawn"]["new_epoch"] is True, peer
    assert peer["seq"] == STOLEN_SEQ  # kept for the record
    assert peer["trusted_keys"] == [new_kid]
    assert_not_listed(await indiana.lookup(FAKE, **LICENSE))
    assert_not_listed(await indiana.lookup(BOARD, **LICENSE))
    epochs = await audit(indiana, "peer.epoch")
    assert len(epochs) == epochs_before + 1, epochs
    assert epochs[-1]["target"] == ohio.id
    assert epochs[-1]["after"] == {"seq": STOLEN_SEQ, "digest": digest(forged), "pins": [new_kid]}
    recorded = [e for e in peer_events(indiana, ohio) if e[0] in ("withdrawn", "epoch")]
    assert [kind for kind, _ in recorded] == ["withdrawn", "epoch"], recorded
    assert (recorded[0][1]["seq"], recorded[0][1]["code"]) == (STOLEN_SEQ, "unknown_key")
    assert recorded[1][1] == epochs[-1]["after"]

    # Until Ohio completes its rotation, its lists are signed by the stolen key alone, which
    # Indiana no longer trusts: they are refused, and the stolen list stays withdrawn.
    result = (await indiana.sync(ohio))[ohio.id]
    assert (result["outcome"], result["code"]) == ("rejected", "unknown_key"), result
    peer = (await indiana.peers())[ohio.id]
    assert (peer["state"], peer["withdrawn"]["new_epoch"]) == ("withdrawn", True), peer
    assert_not_listed(await indiana.lookup(FAKE, **LICENSE))

    # One list validity later Ohio completes the rotation: the new key signs (with the old).
    clock.advance(LIST_VALIDITY + 5)
    for node in (ohio, indiana):
        await node.wait_list_fresh()
    out = await ohio.cli("keys", "rotate", "--complete")
    assert f"key {new_kid} now signs" in out, out
    completing = await ohio.current_list()
    assert signer_kids(completing.body) == [new_kid, stolen_kid]
    assert completing.seq < STOLEN_SEQ

    # At its next sync Indiana accepts Ohio's genuine list, with its much lower seq.
    result = (await indiana.sync(ohio))[ohio.id]
    assert (result["outcome"], result["seq"]) in {(o, completing.seq) for o in SYNCED}, result
    peer = (await indiana.peers())[ohio.id]
    assert (peer["state"], peer["seq"], peer["withdrawn"]) == ("fresh", completing.seq, None)
    assert peer["digest"] == completing.digest
    assert peer["trusted_keys"] == [new_kid]
    assert await list_in_use(indiana, ohio) == 1
    assert_trusted_by(await indiana.lookup(BOARD, **LICENSE), ohio, completing.seq)
    assert_not_listed(await indiana.lookup(FAKE, **LICENSE))

    # Afterwards the new key signs alone and is followed; the stolen key is worth nothing:
    # neither its old list nor a new one it signs is accepted.
    seq = await ohio.publish()
    assert signer_kids((await ohio.current_list()).body) == [new_kid]
    result = (await indiana.sync(ohio))[ohio.id]
    assert (result["outcome"], result["seq"]) in {(o, seq) for o in SYNCED}, result
    again = forged_list(ohio, await ohio.current_list(), clock.now())
    for body in (forged, again):
        async with replay_proxy(body) as attacker:
            indiana.peers_file.write_text(peers_yaml(ohio, attacker.url, [new_kid]))
            await indiana.reload_peers()
            result = (await indiana.sync(ohio))[ohio.id]
            assert (result["outcome"], result["code"]) == ("rejected", "unknown_key"), result
    indiana.peers_file.write_text(peers_yaml(ohio, real_url, [new_kid]))
    await indiana.reload_peers()

    async def fresh_again() -> bool | None:
        await indiana.sync(ohio)
        peer = (await indiana.peers())[ohio.id]
        return True if (peer["state"], peer["seq"]) == ("fresh", seq) else None

    await eventually(fresh_again, "Indiana to hold Ohio's newest list", describe=indiana.log_tail)
    assert_trusted_by(await indiana.lookup(BOARD, **LICENSE), ohio, seq)
