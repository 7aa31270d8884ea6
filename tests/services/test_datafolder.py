"""The data folder's lock and the signs of a node that has run (services/datafolder.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_node.core.errors import ConfigError
from registry_node.services import datafolder
from registry_node.services.datafolder import DataLock


def test_one_holder_at_a_time_and_the_lock_goes_with_its_holder(tmp_path: Path) -> None:
    assert not datafolder.serving(tmp_path)
    assert not (tmp_path / datafolder.LOCK_FILE).exists()  # asking creates nothing
    first = DataLock.acquire(tmp_path)
    assert datafolder.serving(tmp_path)
    with pytest.raises(ConfigError) as refused:
        DataLock.acquire(tmp_path)  # a second open file: flock refuses it, in one process too
    assert refused.value.code == "data_dir_locked"
    assert refused.value.detail == (
        f"data_dir: {tmp_path}: another registry-node serve (pid {os.getpid()}) is running on "
        "this data folder"
    )
    first.release()
    first.release()  # twice is harmless
    assert not datafolder.serving(tmp_path)
    DataLock.acquire(tmp_path).release()


def test_key_files_without_a_database_are_a_lost_database(tmp_path: Path) -> None:
    db, keys = tmp_path / "registry.sqlite3", tmp_path / "keys"
    datafolder.refuse_lost_database(db, keys)  # a first start: nothing at all
    keys.mkdir()
    (keys / "notes.txt").write_text("not a key")
    datafolder.refuse_lost_database(db, keys)  # only .pem files are keys
    (keys / "abc.pem").write_bytes(b"key")
    for content in (None, b""):
        if content is not None:
            db.write_bytes(content)
        with pytest.raises(ConfigError) as refused:
            datafolder.refuse_lost_database(db, keys)
        assert refused.value.code == "database_lost"
    db.write_bytes(b"SQLite format 3\x00")
    datafolder.refuse_lost_database(db, keys)  # a database is there: the node opens it


def test_a_database_of_another_node_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite3"
    datafolder.check_identity(None, "https://registry.ohio.example", db)
    datafolder.check_identity("https://registry.ohio.example", "https://registry.ohio.example", db)
    with pytest.raises(ConfigError) as refused:
        datafolder.check_identity("https://registry.ohio.example", "https://x.example", db)
    assert refused.value.code == "identity_mismatch"
