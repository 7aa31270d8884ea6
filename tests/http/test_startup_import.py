"""``serve`` opens its port before a long import of the issuer source file is done: /readyz is
not ready and says how far the import got, nothing is published until it is done (so no list
lacks an issuer of the file), and verifiers get what the node published before.

The import is held at a gate (an event the test opens), so the window is there for as long as
the test looks; every wait is on an event or a bounded poll, never a sleep."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError
from registry_node.core.signing import parse_jws
from registry_node.core.yamlsafe import dump_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.services import progress as phases
from registry_node.services.issuers import IssuerService
from registry_node.services.node import Node
from registry_node.services.progress import Progress, ignore
from tests.helpers import FakeClock, issuer

BOUND = 30  # seconds: the longest any wait below may take


def write_source(config: NodeConfig, count: int) -> None:
    doc = {"jurisdiction": "US-OH", "issuers": [issuer(n) for n in range(1, count + 1)]}
    config.trust_list_path.parent.mkdir(parents=True, exist_ok=True)
    config.trust_list_path.write_text(dump_yaml(doc))


class Gate:
    """Holds every issuer import at its start until :meth:`open`."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    original = IssuerService.import_entries

    async def held(
        self: IssuerService,
        entries: list[dict[str, Any]],
        actor: str,
        progress: Progress = ignore,
    ) -> Any:
        progress(phases.IMPORTING, 0, len(entries))
        gate.reached.set()
        await gate.opened.wait()
        return await original(self, entries, actor, progress)

    monkeypatch.setattr(IssuerService, "import_entries", held)
    yield gate
    gate.open()


async def _start(
    aiohttp_client: Any,
    config: NodeConfig,
    clock: FakeClock,
    fatal: list[BaseException] | None = None,
) -> TestClient:
    app = create_app(
        config,
        clock,
        run_scheduler=False,
        import_in_background=True,
        on_fatal=None if fatal is None else fatal.append,
    )
    async with asyncio.timeout(BOUND):  # an import that held the start up would time out here
        client: TestClient = await aiohttp_client(app)  # returns once the port is open
    return client


async def _token(client: TestClient) -> dict[str, str]:
    _, token = await client.app[NODE].tokens.create("tests", "test")
    return {"Authorization": f"Bearer {token}"}


async def _ready_when_done(client: TestClient) -> dict[str, Any]:
    """Poll /readyz (bounded) until the import check is gone."""
    async with asyncio.timeout(BOUND):
        while True:
            doc: dict[str, Any] = await (await client.get("/readyz")).json()
            if "issuer_source" not in doc["checks"]:
                return doc
            await asyncio.sleep(0)  # let the import go on; no time passes


async def test_a_first_start_listens_before_the_import_is_done_and_publishes_nothing_before(
    aiohttp_client: Any, config: NodeConfig, clock: FakeClock, gate: Gate
) -> None:
    write_source(config, 30)
    client = await _start(aiohttp_client, config, clock)
    async with asyncio.timeout(BOUND):
        await gate.reached.wait()
    node = client.app[NODE]

    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 503
    doc = await resp.json()
    assert doc["status"] == "not_ready"
    assert doc["checks"]["issuer_source"] == {
        "ok": False,
        "detail": f"importing 0 of 30 issuers from {config.trust_list_path}",
        "phase": "importing",
        "done": 0,
        "total": 30,
    }
    # No list yet, and none is made of the half-imported state.
    resp = await client.get("/trust-list")
    assert resp.status == 503
    assert (await resp.json())["code"] == "not_published"
    answer = await (await client.get(f"/v1/issuers/{issuer(1)['id']}")).json()
    assert answer["outcome"] == "unknown"
    auth = await _token(client)
    resp = await client.post("/admin/v1/publish", headers=auth)
    assert resp.status == 409
    problem = await resp.json()
    assert problem["code"] == "publication_held"
    assert "importing 0 of 30 issuers" in problem["detail"]
    assert await node.publisher.tick() is None
    assert await node.publisher.latest_seq() == 0

    job = node.startup_import
    gate.open()
    async with asyncio.timeout(BOUND):
        await job.finished.wait()
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert "issuer_source" not in (await resp.json())["checks"]
    resp = await client.get("/trust-list")
    assert resp.status == 200
    payload = json.loads(parse_jws(await resp.read()).payload)
    assert payload["seq"] == 1
    assert len(payload["issuers"]) == 30
    answer = await (await client.get(f"/v1/issuers/{issuer(30)['id']}")).json()
    assert answer["outcome"] == "trusted"


async def test_a_restart_serves_the_list_it_published_before_until_the_import_is_done(
    aiohttp_client: Any, config: NodeConfig, clock: FakeClock, gate: Gate
) -> None:
    write_source(config, 2)
    gate.open()  # the first start imports at once
    node = await Node.open(config, clock)
    assert await node.publisher.latest_seq() == 1
    await node.close()

    gate.__init__()  # type: ignore[misc]  # closed again for the restart
    write_source(config, 30)
    client = await _start(aiohttp_client, config, clock)
    async with asyncio.timeout(BOUND):
        await gate.reached.wait()
    node = client.app[NODE]
    doc = await (await client.get("/readyz")).json()
    assert doc["status"] == "not_ready"
    assert doc["checks"]["trust_list"]["seq"] == 1
    payload = json.loads(parse_jws(await (await client.get("/trust-list")).read()).payload)
    assert (payload["seq"], len(payload["issuers"])) == (1, 2)
    known = await (await client.get(f"/v1/issuers/{issuer(1)['id']}")).json()
    assert known["outcome"] == "trusted"  # the signed list still says so
    clock.advance(hours=20)  # a refresh is due, but nothing is published during the import
    assert await node.publisher.tick() is None

    gate.open()
    assert (await _ready_when_done(client))["status"] == "ready"
    version = await node.publisher.latest(with_body=True)
    assert version is not None
    payload = json.loads(parse_jws(version.body).payload)
    assert (payload["seq"], len(payload["issuers"])) == (2, 30)


async def test_a_mistake_in_the_file_stops_the_node_and_publishes_nothing(
    aiohttp_client: Any, config: NodeConfig, clock: FakeClock
) -> None:
    bad = issuer(2)
    del bad["name"]
    config.trust_list_path.parent.mkdir(parents=True, exist_ok=True)
    config.trust_list_path.write_text(
        dump_yaml({"jurisdiction": "US-OH", "issuers": [issuer(1), bad]})
    )
    fatal: list[BaseException] = []
    client = await _start(aiohttp_client, config, clock, fatal)
    node = client.app[NODE]
    job = node.startup_import
    async with asyncio.timeout(BOUND):
        await job.finished.wait()
    [error] = fatal
    assert isinstance(error, ConfigError)
    assert str(config.trust_list_path) in error.detail
    assert "issuers[1]" in error.detail
    doc = await (await client.get("/readyz")).json()
    check = doc["checks"]["issuer_source"]
    assert check["ok"] is False
    assert check["code"] == error.code
    assert "failed" in check["detail"]
    assert await node.publisher.tick() is None
    assert await node.publisher.latest_seq() == 0


async def test_an_unchanged_file_is_not_imported_again_and_the_node_is_ready_at_once(
    aiohttp_client: Any, config: NodeConfig, clock: FakeClock
) -> None:
    write_source(config, 3)
    node = await Node.open(config, clock)
    await node.close()
    client = await _start(aiohttp_client, config, clock)
    assert client.app[NODE].startup_import is None
    resp = await client.get("/readyz")
    assert resp.status == 200


async def test_the_import_reports_its_progress(config: NodeConfig, clock: FakeClock) -> None:
    write_source(config, 5)
    node = await Node.open(config, clock, import_source=False)
    reports: list[tuple[str, int, int]] = []
    try:
        result = await node.import_source_file(
            progress=lambda *report: reports.append(report)  # type: ignore[arg-type]
        )
    finally:
        await node.close()
    assert result is not None and result.created == 5
    size = Path(config.trust_list_path).stat().st_size
    assert reports[0][0] == phases.READING
    assert (phases.READING, size, size) in reports
    validating = [r for r in reports if r[0] == phases.VALIDATING]
    importing = [r for r in reports if r[0] == phases.IMPORTING]
    assert validating == [(phases.VALIDATING, n, 5) for n in range(6)]
    assert importing == [(phases.IMPORTING, n, 5) for n in range(6)]
    assert reports.index(validating[0]) > reports.index((phases.READING, size, size))
