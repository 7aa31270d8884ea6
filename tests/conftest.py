from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.config import NodeConfig
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.services.node import Node
from tests.helpers import FakeClock, make_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(tmp_path: Path) -> NodeConfig:
    return make_config(tmp_path)


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
