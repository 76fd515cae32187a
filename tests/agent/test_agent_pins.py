"""Pinned hubs on disk: owner-only, atomic, and a damaged file never stops the agent."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from smartsession.agent.pins import PinStore
from smartsession.core.candidates import Pin

PIN = Pin("hub1", "ab" * 32, "wss://10.0.0.5:8765/")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_pins_are_owner_only_and_come_back(tmp_path: Path) -> None:
    store = PinStore(tmp_path / "data" / "pins" / "physics.json")
    assert store.load() == {}
    store.save({"hub1": PIN})
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700
    assert PinStore(store.path).load() == {"hub1": PIN}
    assert [p.name for p in store.path.parent.iterdir()] == ["physics.json"]  # no temporary left


def test_an_existing_folder_is_made_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "pins"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    PinStore(folder / "physics.json").save({"hub1": PIN})
    assert mode(folder) == 0o700


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"{not json", "malformed"), (b'{"format": 9, "hubs": {}}', "format 9"), (b'{"format": 1}', "hubs")],
)
def test_a_damaged_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, why: str
) -> None:
    path = tmp_path / "physics.json"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with caplog.at_level(logging.WARNING):
        assert PinStore(path).load() == {}
    assert f"ignoring the pinned hubs in {path}" in caplog.text
    assert why in caplog.text.lower()


def test_a_file_others_can_write_is_not_trusted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = PinStore(tmp_path / "physics.json")
    store.save({"hub1": PIN})
    os.chmod(store.path, 0o666)
    with caplog.at_level(logging.WARNING):
        assert store.load() == {}
    assert "other users can access it" in caplog.text
    store.save({"hub1": PIN})  # the next save makes it owner-only again
    assert mode(store.path) == 0o600 and store.load() == {"hub1": PIN}
