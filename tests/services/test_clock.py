"""The offset clock that lets end-to-end tests move node processes through time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry_node.core.timeutil import system_clock
from registry_node.services.clock import CLOCK_OFFSET_ENV, OffsetClock, clock_from_env


def test_offset_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    clock = OffsetClock(path)
    assert abs(clock() - datetime.now(UTC)) < timedelta(seconds=5)  # no file: no offset
    path.write_text("7200\n")
    assert timedelta(hours=2) - timedelta(seconds=5) < clock() - datetime.now(UTC)
    path.write_text("-86400.5")
    assert clock() < datetime.now(UTC) - timedelta(hours=23)
    path.write_text("")
    assert abs(clock() - datetime.now(UTC)) < timedelta(seconds=5)


def test_only_used_when_the_environment_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CLOCK_OFFSET_ENV, raising=False)
    assert clock_from_env() is system_clock
    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(tmp_path / "offset"))
    assert isinstance(clock_from_env(), OffsetClock)
