from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registry_node.config import NodeConfig
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
