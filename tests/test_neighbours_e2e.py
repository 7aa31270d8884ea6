"""Two states federate with the commands of docs/operations.md alone: each runs
``peers invite``, the other ``peers add URL --thumbprint ...`` and reloads; and a reload that
fixes a wrong pin fetches the peer at once. Ohio and Indiana are real node processes.

The nodes share the module (starting processes is the slow part): the tests run in order,
each from where the one before left off. Time never needs to move: nothing here waits for a
schedule, which is the point of the last test.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from registry_node.core.yamlsafe import load_yaml
from tests.e2e_harness import INDIANA, OHIO, NodeProcess, SharedClock, eventually, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

LICENSE = {"achievement_type": "License"}
HEADER = "# Indiana's neighbours: the states whose lists we fetch\n"


class Pair:
    def __init__(self, oh: NodeProcess, in_: NodeProcess) -> None:
        self.oh = oh
        self.in_ = in_


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    root = tmp_path_factory.mktemp("two-states")
    clock = SharedClock(root / "clock-offset")
    async with aiohttp.ClientSession() as http:
        nodes = [NodeProcess(state, root, clock, http) for state in (OHIO, INDIANA)]
        try:
            for node in nodes:
                node.write_config()
            await asyncio.gather(*(node.initialise() for node in nodes))
            nodes[1].peers_file.write_text(HEADER + "peers: []\n")
            await asyncio.gather(*(node.start() for node in nodes))
            yield Pair(*nodes)
        finally:
            await asyncio.gather(*(node.stop() for node in nodes))


async def command(node: NodeProcess, *args: str, answer: str = "") -> tuple[int, str, str]:
    """``registry-node -c node.yaml ARGS`` at ``node``, with ``answer`` on standard input."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "registry_node",
        "-c",
        str(node.node_yaml),
        *args,
        env=node.env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):  # a loaded machine starts Python slowly
            out, err = await proc.communicate(answer.encode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def invite(node: NodeProcess) -> dict[str, Any]:
    code, out, err = await command(node, "peers", "invite", "--json")
    assert code == 0, err
    return dict(json.loads(out))


async def peer_state(node: NodeProcess, other: NodeProcess) -> dict[str, Any] | None:
    return (await node.peers()).get(other.id)


async def held_fresh(node: NodeProcess, other: NodeProcess, seq: int | None = None) -> None:
    """Wait (for the node's own work, not for time) until ``node`` holds ``other``'s list,
    fresh, with no error; at ``seq`` when given."""

    async def check() -> bool | None:
        peer = await peer_state(node, other)
        if peer is None or peer["state"] != "fresh" or peer["last_error"] is not None:
            return None
        return True if seq is None or peer["seq"] == seq else None

    await eventually(check, f"{node} to hold {other}'s list", describe=node.log_tail)


async def test_invite_prints_the_entry_a_neighbour_pastes(pair: Pair) -> None:
    oh = pair.oh
    entry = await invite(oh)
    assert entry == {
        "id": OHIO.node_id,
        "jurisdiction": "US-OH",
        "url": f"{oh.url}/trust-list",
        "keys": [oh.kid],
    }
    code, out, err = await command(oh, "peers", "invite")
    assert code == 0, err
    assert load_yaml(out, "invite") == [entry]  # pasted under `peers:`, it is the entry
    assert f"peers add {oh.url} --thumbprint={oh.kid}" in out
    assert f"registry-node: warning: {oh.url}/trust-list is plain http" in err


async def test_add_refuses_a_thumbprint_the_neighbour_does_not_offer(pair: Pair) -> None:
    oh, in_ = pair.oh, pair.in_
    before = in_.peers_file.read_text()
    code, _, err = await command(in_, "peers", "add", oh.url, f"--thumbprint={in_.kid}", "--yes")
    assert code == 2
    assert f"registry-node: error: {OHIO.node_id}: offers no key with thumbprint {in_.kid}" in err
    assert "never pin a key only because its metadata offers it" in err
    code, _, err = await command(in_, "peers", "add", oh.url, f"--thumbprint={oh.kid[:-1]}")
    assert code == 2
    assert "is not a pin; a pin is 43 base64url characters" in err
    code, _, err = await command(in_, "peers", "add", in_.url, f"--thumbprint={in_.kid}")
    assert code == 2
    assert f"describes this node ({INDIANA.node_id}), not a neighbour" in err
    nobody = f"http://127.0.0.1:{free_port()}"
    code, _, err = await command(in_, "peers", "add", nobody, f"--thumbprint={oh.kid}")
    assert code == 1
    assert f"registry-node: error: connection_failed: {nobody}/.well-known/" in err, err
    # Without --yes the command asks; anything but yes writes nothing.
    code, out, err = await command(
        in_, "peers", "add", oh.url, f"--thumbprint={oh.kid}", answer="n\n"
    )
    assert code == 1
    assert f"key           {oh.kid}  Ed25519, current: pinned (the thumbprint you gave)" in out
    assert "nothing written" in err
    assert in_.peers_file.read_text() == before


async def test_two_states_federate_with_invite_add_and_reload(pair: Pair) -> None:
    oh, in_ = pair.oh, pair.in_
    # Indiana adds Ohio with the thumbprint Ohio's operator read out, answering the question.
    ohio = await invite(oh)
    code, out, err = await command(
        in_, "peers", "add", oh.url, f"--thumbprint={ohio['keys'][0]}", answer="y\n"
    )
    assert code == 0, err
    assert "Add it to" in out and "wrote" in out
    text = in_.peers_file.read_text()
    assert text.startswith(HEADER)  # the file's comments are kept
    assert load_yaml(text, "peers.yaml") == {"peers": [ohio]}
    assert await in_.reload_peers() == {"added": [oh.id], "removed": [], "changed": []}
    await held_fresh(in_, oh)
    answer = await in_.lookup(OHIO.licensing_board, **LICENSE)
    assert (answer["outcome"], answer["decided_by"]) == ("trusted", [oh.id]), answer

    # And the other way round, scripted.
    indiana = await invite(in_)
    code, _, err = await command(oh, "peers", "add", in_.url, f"--thumbprint={in_.kid}", "--yes")
    assert code == 0, err
    assert load_yaml(oh.peers_file.read_text(), "peers.yaml") == {"peers": [indiana]}
    assert (await oh.reload_peers())["added"] == [in_.id]
    await held_fresh(oh, in_)
    answer = await oh.lookup(INDIANA.licensing_board, **LICENSE)
    assert (answer["outcome"], answer["decided_by"]) == ("trusted", [in_.id]), answer

    # Adding a neighbour twice is refused: re-pinning is an edit of its entry.
    code, _, err = await command(in_, "peers", "add", oh.url, f"--thumbprint={oh.kid}", "--yes")
    assert code == 2
    assert f"peers[0] is {oh.id} already" in err


async def test_a_reload_that_fixes_a_pin_fetches_at_once(pair: Pair) -> None:
    oh, in_ = pair.oh, pair.in_
    good = in_.peers_file.read_text()
    assert oh.kid in good
    in_.peers_file.write_text(good.replace(oh.kid, in_.kid))  # a wrong pin
    assert (await in_.reload_peers())["changed"] == [oh.id]

    async def failing() -> dict[str, Any] | None:
        peer = await peer_state(in_, oh)
        return peer if peer and peer["last_error"] else None

    # Fetched at once under the wrong pin (no sync asked for): the error shows.
    peer = await eventually(failing, "the wrong pin to fail", describe=in_.log_tail)
    assert peer["last_error"]["code"] == "unknown_key", peer
    assert peer["consecutive_failures"] >= 1

    # Ohio publishes meanwhile; the fixed pin fetches the new version at once, although the
    # failure put the peer on a backoff of 30 s or more, and the old error is gone.
    seq = await oh.publish()
    in_.peers_file.write_text(good)
    assert (await in_.reload_peers())["changed"] == [oh.id]
    await held_fresh(in_, oh, seq)
    peer = await peer_state(in_, oh)
    assert peer is not None
    assert (peer["consecutive_failures"], peer["last_error"]) == (0, None)
    code, out, _ = await command(in_, "peers", "status")
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith(oh.id))
    assert line.split("\t")[2:4] == ["fresh", f"seq {seq}"]
    assert "unknown_key" not in line
