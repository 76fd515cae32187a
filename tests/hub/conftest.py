from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from smartsession.config import ClassConfig, Config, HubConfig, NetworkConfig, StorageConfig
from smartsession.hub import Hub

from .wsagent import CLASS_ID

SECRET = bytes(range(32))


@pytest.fixture
def secret() -> bytes:
    return SECRET


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def make(**hub: Any) -> Config:
        discovery = hub.pop("discovery", False)
        return Config(
            class_=ClassConfig(id=CLASS_ID),
            network=NetworkConfig(interfaces=("127.0.0.1",), discovery=discovery),
            hub=msgspec.structs.replace(
                HubConfig(host="127.0.0.1", port=0, hub_id="testhub", join_timeout=5.0), **hub
            ),
            storage=StorageConfig(database=str(tmp_path / "hub.db"), batch_interval=0.02),
        )

    return make


@pytest.fixture
async def hub(make_config: Callable[..., Config], secret: bytes) -> AsyncIterator[Hub]:
    async with Hub(make_config(), secret) as running:
        yield running
