"""Backup and restore without loss, end to end: Ohio and Indiana as real node processes.

Ohio's operator backs Ohio up while it runs (``registry-node backup``); after the backup Ohio
suspends its nursing board and publishes, and Indiana follows. Ohio's database is then lost and
restored from the backup (``registry-node restore``). The restored database knows nothing of
the suspension; on its next start Ohio must take it back from the newest list of Ohio's that
Indiana holds, continue the seq from there, and never publish the board as active again: both
nodes keep answering ``not_trusted``/``suspended``. Without a neighbour to confirm, a restored
node publishes nothing until its operator decides. Time moves only through the shared clock.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from tests.e2e_harness import OHIO, NodeProcess, eventually, parse_list
from tests.test_key_compromise_e2e import SYNCED, two_states

BOARD = OHIO.licensing_board
LICENSE = {"achievement_type": "License"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def _answer(node: NodeProcess) -> tuple[str, str]:
    answer = await node.lookup(BOARD, **LICENSE)
    return answer["outcome"], answer["reason"]


async def _backup(ohio: NodeProcess, folder: Path) -> dict[str, Any]:
    out = await ohio.cli("backup", str(folder))
    assert "backed up seq" in out, out
    manifest: dict[str, Any] = json.loads((folder / "backup.json").read_text())
    # Keys are secret: the folders are 0700 and every file 0600.
    assert _mode(folder) == 0o700
    assert _mode(folder / "keys") == 0o700
    for name in manifest["files"]:
        assert _mode(folder / name) == 0o600, name
    assert any(name.startswith("keys/") for name in manifest["files"])
    assert {"config/node.yaml", "config/peers.yaml", "registry.sqlite3"} <= set(manifest["files"])
    return manifest


async def test_a_suspension_made_after_the_backup_survives_the_restore(tmp_path: Path) -> None:
    async with two_states(tmp_path) as (ohio, indiana):
        await indiana.sync(ohio)
        assert await _answer(indiana) == ("trusted", "active")

        # 1. An online backup, while Ohio runs.
        manifest = await _backup(ohio, tmp_path / "backup")
        backed_up = manifest["seq"]
        assert backed_up == (await ohio.current_list()).seq

        # 2. After the backup: the board is suspended, published twice, and Indiana follows.
        await ohio.set_status(BOARD, "suspended", "board audit")
        first = await ohio.publish()
        second = await ohio.publish()
        assert second == first + 1 > backed_up + 1
        assert (await indiana.sync(ohio))[ohio.id]["outcome"] == "accepted"
        assert (await indiana.peers())[ohio.id]["seq"] == second
        assert await _answer(indiana) == ("not_trusted", "suspended")

        # 3. Ohio's database is lost and the backup restored, the node stopped.
        await ohio.stop()
        out = await ohio.cli("restore", str(tmp_path / "backup"))
        assert f"restored seq {backed_up}" in out, out
        data = ohio.folder / "data"
        kept = [p.name for p in data.iterdir() if p.name.startswith("registry.sqlite3.replaced-")]
        assert kept, "the replaced database is kept"

        # 4. On start, Ohio takes back what Indiana holds of it: the suspension is there.
        await ohio.start()
        status, ready = await ohio.readyz()
        assert "restore" not in ready["checks"]["trust_list"], ready
        assert await _answer(ohio) == ("not_trusted", "suspended")
        held = await ohio.version(second)
        assert held is not None and held.digest == (await indiana.peers())[ohio.id]["digest"]

        async def republished() -> int | None:
            current = await ohio.current_list()
            return current.seq if current.seq > second else None

        newest = await eventually(republished, "Ohio to publish after the restore")
        current = await ohio.current_list()
        assert current.payload["prev"] == held.digest  # the chain continues from seq `second`
        entry = next(i for i in current.payload["issuers"] if i["id"] == BOARD)
        assert entry["status_history"][-1]["status"] == "suspended"
        # The version between the backup and the one recovered is gone, and says so.
        async with ohio.http.get(f"{ohio.url}/trust-list/{first}") as resp:
            assert resp.status == 410
            assert (await resp.json(content_type=None))["code"] == "version_gone"

        # 5. Indiana accepts the new list (no rollback, no broken chain) and still answers
        # not_trusted: the suspension was never undone.
        result = (await indiana.sync(ohio))[ohio.id]
        assert result["outcome"] in SYNCED, result
        assert (await indiana.peers())[ohio.id]["seq"] == newest
        assert (await indiana.peers())[ohio.id]["state"] == "fresh"
        assert await _answer(indiana) == ("not_trusted", "suspended")
        status, ready = await ohio.readyz()
        assert status == 200, ready
        code, audit = await ohio.admin("GET", "/audit?limit=1000")
        assert code == 200
        actions = [r["action"] for r in audit["records"]]
        assert "restore" in actions and "restore.recovered" in actions


async def test_without_a_neighbour_to_confirm_a_restored_node_publishes_nothing(
    tmp_path: Path,
) -> None:
    async with two_states(tmp_path) as (ohio, indiana):
        await indiana.sync(ohio)
        await _backup(ohio, tmp_path / "backup")
        await ohio.set_status(BOARD, "suspended", "board audit")
        suspended_seq = await ohio.publish()
        assert (await indiana.sync(ohio))[ohio.id]["outcome"] == "accepted"

        # Indiana is down while Ohio is restored and started.
        await indiana.stop()
        await ohio.stop()
        await ohio.cli("restore", str(tmp_path / "backup"))
        await ohio.start()

        status, ready = await ohio.readyz()
        assert status == 503, ready
        check = ready["checks"]["trust_list"]
        assert not check["ok"] and "restored from a backup" in check["detail"]
        assert indiana.id in json.dumps(check["restore"]["last_attempt"]), check
        # Nothing is published, and the restored (older) list is neither served nor used.
        code, problem = await ohio.admin("POST", "/publish")
        assert (code, problem["code"]) == (409, "restore_unconfirmed")
        async with ohio.http.get(f"{ohio.url}/trust-list") as resp:
            assert resp.status == 503
            assert (await resp.json(content_type=None))["code"] == "restore_unconfirmed"
        assert (await _answer(ohio))[0] != "trusted"
        # Time passes: still nothing is published, however due a refresh would be.
        ohio.clock.advance(600)
        assert (await ohio.readyz())[0] == 503
        code, _ = await ohio.admin("POST", "/publish")
        assert code == 409

        # Indiana comes back: the next attempt (here: at Ohio's restart) confirms the restore
        # and takes the suspension back.
        await indiana.start()
        await ohio.stop()
        await ohio.start()
        assert "restore" not in (await ohio.readyz())[1]["checks"]["trust_list"]
        assert await _answer(ohio) == ("not_trusted", "suspended")

        async def republished() -> int | None:
            current = await ohio.current_list()
            return current.seq if current.seq > suspended_seq else None

        await eventually(republished, "Ohio to publish after the restore")
        entry = next(i for i in (await ohio.current_list()).payload["issuers"] if i["id"] == BOARD)
        assert entry["status_history"][-1]["status"] == "suspended"


async def test_the_operator_can_decide_without_a_neighbour(tmp_path: Path) -> None:
    async with two_states(tmp_path) as (ohio, indiana):
        await _backup(ohio, tmp_path / "backup")
        await indiana.stop()
        await ohio.stop()
        await ohio.cli("restore", str(tmp_path / "backup"))
        await ohio.start()
        assert (await ohio.readyz())[0] == 503
        out = await ohio.cli("restore", "--confirm")
        assert "restore confirmed" in out
        seq = await ohio.publish()
        body = await ohio.current_list()
        assert body.seq == seq
        assert parse_list(body.body).seq == seq
