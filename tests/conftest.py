from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.config import NodeConfig
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.services import postgres
from registry_node.services.node import Node
from registry_node.services.store import Store
from tests.helpers import FakeClock, make_config
from tests.pg import TEMPLATE, Cluster

#: the databases the store's tests run on
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server of the session's own (tests/pg.py), with a migrated template."""
    cluster = Cluster()
    try:
        cluster.start()

        async def migrate() -> None:
            store = await postgres.open_store(cluster.url(TEMPLATE), _password(cluster))
            await store.close()

        asyncio.run(migrate())
        yield cluster
    finally:
        cluster.stop()


def _password(cluster: Cluster) -> str:
    return cluster.password_file.read_text().strip()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A fresh, migrated database of its own for the test."""
    return pg_cluster.fresh_database()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> NodeConfig:
    """A node's configuration on each database in turn: SQLite in its data folder, then a
    fresh PostgreSQL database (its password in a file, as an operator would keep it)."""
    config = make_config(tmp_path)
    if backend == "sqlite":
        return config
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return dataclasses.replace(
        config,
        database=cluster.fresh_database(),
        database_password_file=cluster.password_file,
    )


@pytest.fixture
async def backend_node(backend_config: NodeConfig, clock: FakeClock) -> AsyncIterator[Node]:
    """A node on each database in turn (:func:`backend_config`)."""
    opened = await Node.open(backend_config, clock)
    yield opened
    await opened.close()


async def open_backend_store(config: NodeConfig) -> Store:
    """The store of ``config``'s database, opened as the node opens it."""
    if config.database is None:
        return await Store.open(config.db_path)
    return await postgres.open_store(
        config.database, postgres.password(config.database_password_file)
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: REGISTRY_TEST_DATABASE=postgresql runs every test that takes the ``config`` fixture on
#: PostgreSQL (a run by hand: the suite's own runs cover both through ``backend_config``)
ALL_ON = os.environ.get("REGISTRY_TEST_DATABASE", "sqlite")


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> NodeConfig:
    config = make_config(tmp_path)
    if ALL_ON != "postgresql":
        return config
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return dataclasses.replace(
        config, database=cluster.fresh_database(), database_password_file=cluster.password_file
    )


@pytest.fixture
async def node(config: NodeConfig, clock: FakeClock) -> AsyncIterator[Node]:
    opened = await Node.open(config, clock)
    yield opened
    await opened.close()


@pytest.fixture
async def client(aiohttp_client: Any, config: NodeConfig, clock: FakeClock) -> TestClient:
    app = create_app(config, clock, run_scheduler=False)
    client: TestClient = await aiohttp_client(app)
    return client


@pytest.fixture
async def admin_token(client: TestClient) -> str:
    node = client.app[NODE]
    _, token = await node.tokens.create("tests", "test")
    return token


@pytest.fixture
def auth(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}
