"""The data folder: telling a first start from a lost database, and one serving node at a time.

A node's identity is its signing keys and the database that records them, its published
versions and its tokens (docs/adr/0014). A folder with neither is a first start. Key files with
no database (deleted, or emptied to zero bytes) mean the database was lost: creating a new one
would give the node a new key and restart its list at ``seq 1``, which every neighbour refuses,
so the node stops and says how to proceed. A database whose keys are gone stops at the key check
(``key_missing``, services/keystore.py); a database recorded for another ``node_id`` stops here.

The lock is ``flock`` on ``node.lock`` in the data folder, held by ``serve`` for the life of its
process: the kernel drops it when the process ends, however it ends, so a crash never leaves a
stale lock behind. Admin commands take no lock: they write through the same database while the
node runs (SQLite WAL serialises the writers), as they were designed to.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from registry_node.core.errors import ConfigError

LOCK_FILE = "node.lock"
#: meta key of the node_id a database belongs to, written when the database is first opened
NODE_ID = "node_id"


def key_files(keys_dir: Path) -> list[Path]:
    """The private key files in ``keys_dir`` (none when it does not exist)."""
    try:
        return sorted(p for p in keys_dir.iterdir() if p.suffix == ".pem")
    except (FileNotFoundError, NotADirectoryError):
        return []


def database_present(db_path: Path) -> bool:
    """Is there a database file with anything in it? (SQLite treats a zero-byte file as a new,
    empty database.)"""
    try:
        return db_path.stat().st_size > 0
    except (FileNotFoundError, NotADirectoryError):
        return False


def refuse_lost_database(db_path: Path, keys_dir: Path) -> None:
    """Stop when the folder holds signing keys but no database: never a quiet new identity."""
    if database_present(db_path):
        return
    refuse_new_database(str(db_path), "is empty" if db_path.exists() else "is missing", keys_dir)


def refuse_new_database(where: str, state: str, keys_dir: Path) -> None:
    """Stop before a database with nothing in it (``state``) is given a schema, when the data
    folder holds signing keys: the node has run before on another database."""
    keys = key_files(keys_dir)
    if not keys:
        return
    raise ConfigError(
        f"{where}: the database {state}, but {keys_dir} holds {len(keys)} signing key "
        "file(s): this node has run before, and a new database would give it a new identity "
        "(a new key and seq 1) that every neighbour refuses",
        code="database_lost",
        field="data_dir",
    )


def check_identity(recorded: str | None, node_id: str, where: Path | str) -> None:
    """Stop when the database belongs to another node_id than node.yaml names."""
    if recorded is not None and recorded != node_id:
        raise ConfigError(
            f"{where}: the database belongs to node_id {recorded}, but the configuration "
            f"names {node_id}",
            code="identity_mismatch",
            field="node_id",
        )


def serving(data_dir: Path) -> bool:
    """Does a ``serve`` process hold the data folder's lock now? (Opens the lock file read-only
    and never creates it.)"""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class DataLock:
    """An exclusive ``flock`` on the data folder's lock file, held until :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataLock:
        path = data_dir / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"data_dir: {path}: {exc.strerror or exc}",
                code="data_dir_unusable",
                field="data_dir",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                pid = int(os.pread(fd, 32, 0).decode().strip() or "0")
                holder = f" (pid {pid})" if pid else ""
            os.close(fd)
            raise ConfigError(
                f"data_dir: {data_dir}: another registry-node serve{holder} is running on "
                "this data folder",
                code="data_dir_locked",
                field="data_dir",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
