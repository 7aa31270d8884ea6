"""Backups (online) and restores (into a stopped node), as commands.

A backup is a folder (0700) holding a consistent copy of the database made with SQLite's
online backup, the signing key files, copies of node.yaml, peers.yaml and the issuer source
file, and ``backup.json`` (written last: a backup without it is incomplete) naming each file
with its SHA-256 digest and the newest version the database held. Every file is 0600.

The files those name and a rebuilt node needs to verify as this one does are copied too, each
in a folder of its own so that two files of one name are both kept: the operator's JSON-LD
contexts (node.yaml ``credentials.contexts``: ``config/contexts/<n>/<name>``), the DID
documents of node.yaml (``credentials.did_documents``: ``config/did_documents/<n>/<name>``)
and those beside issuer entries of the source file (``issuers[n].did_document``:
``config/issuer_did_documents/<n>/<name>``). backup.json says where each came from and which
field names it. One that is missing or unreadable (or a context that no longer matches its
pinned sha256) fails the backup, naming the field, before anything is written.
``database_password_file`` is not copied: it is a secret, and only a PostgreSQL node (which
this backup refuses) has one.

A restore checks every digest, keeps the database it replaces beside it, copies the key files
that are missing, and marks the restored database "restored, unconfirmed": the node then
publishes nothing until its peers confirm the newest version it had published, or the
operator decides (services/recovery.py, docs/adr/0015).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_node import __version__
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.model import canonical_json
from registry_node.core.timeutil import Clock, format_rfc3339
from registry_node.core.yamlsafe import load_yaml
from registry_node.services.offline import did_document_files
from registry_node.services.recovery import RESTORE_CHECK, RESTORE_PENDING
from registry_node.services.store import Store, sqlite_only

MANIFEST = "backup.json"
FORMAT = 1
DATABASE = "registry.sqlite3"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_private(source: Path, target: Path) -> str:
    """Copy ``source`` to a new file ``target`` readable by the node's user only; the sha256
    of the bytes copied (read once: what the manifest records is what was written)."""
    h = hashlib.sha256()
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            h.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest()


def _invalid(detail: str, field: str | None = None) -> ConfigError:
    return ConfigError(detail, code="backup_invalid", field=field)


def refuse_postgresql(config: NodeConfig, what: str) -> None:
    """Backups and restores here are of the SQLite file; a PostgreSQL database is the
    server's to dump and restore (pg_dump, pg_restore)."""
    if config.database is not None:
        raise sqlite_only(what, config.where, "pg_dump and pg_restore")


@dataclass(frozen=True)
class Referenced:
    """A file node.yaml or the issuer source file names, that a rebuilt node needs."""

    #: where it goes in the backup (``config/contexts/0/ctx.json``)
    name: str
    #: the file, as the node reads it
    path: Path
    #: the file that names it (node.yaml, the source file) and its field there
    where: str
    field: str
    #: the code of the refusal (that of the node's refusal to start for the same reason)
    code: str
    #: the sha256 the field pins (an operator's context), if any
    sha256: str | None = None

    def refused(self, why: str) -> ConfigError:
        detail = f"{self.where}: {self.field}: {self.path}: {why}"
        return ConfigError(detail, code=self.code, field=self.field)


def _why(exc: OSError) -> str:
    return str(exc.strerror or exc)


def referenced_files(config: NodeConfig) -> list[Referenced]:
    """The context and DID document files node.yaml and the issuer source file name, each with
    its place in a backup. Raises ConfigError for a source file that cannot be read or parsed
    for its ``did_document`` members: a backup would not know what it lacks."""
    where = str(config.source) if config.source else "configuration"
    found = [
        Referenced(
            f"config/contexts/{index}/{item.file.name}",
            item.file,
            where,
            f"credentials.contexts[{index}].file",
            "context_refused",
            item.sha256,
        )
        for index, item in enumerate(config.contexts)
    ]
    found += [
        Referenced(
            f"config/did_documents/{index}/{path.name}",
            path,
            where,
            f"credentials.did_documents.{did}",
            "did_document_refused",
        )
        for index, (did, path) in enumerate(config.did_documents)
    ]
    source = config.trust_list_path
    if not source.is_file():
        return found
    try:
        doc = load_yaml(source.read_bytes(), str(source))
    except OSError as exc:
        raise ConfigError(
            f"{source}: {_why(exc)}", code="config_unreadable", field="trust_list"
        ) from None
    except InvalidInput as exc:
        raise ConfigError(
            f"{exc.detail} (the backup cannot tell which DID documents it names)",
            code=exc.code,
            field=exc.field,
        ) from None
    try:
        named = did_document_files(doc, source.parent, str(source))
    except InvalidInput as exc:
        raise ConfigError(exc.detail, code=exc.code, field=exc.field) from None
    for index, field, _, path in named:
        name = f"config/issuer_did_documents/{index}/{path.name}"
        found.append(Referenced(name, path, str(source), field, "did_document_refused"))
    return found


def _private_dirs(folder: Path, name: str) -> Path:
    """The folders of ``name`` inside ``folder``, each created 0700; the file's path."""
    target = folder
    for part in Path(name).parts[:-1]:
        target = target / part
        target.mkdir(mode=0o700, exist_ok=True)
        os.chmod(target, 0o700)
    return target / Path(name).name


def _check(item: Referenced) -> None:
    """``item`` is a readable file, and the one its field pins if it pins one."""
    try:
        if not stat.S_ISREG(item.path.stat().st_mode):
            raise item.refused("not a file")
        found = _sha256(item.path)
    except OSError as exc:
        raise item.refused(_why(exc)) from None
    if item.sha256 is not None and found != item.sha256:
        # The node refuses to start with it (services/offline.py): so would a rebuilt one.
        raise item.refused(f"its sha256 is {found}, not the {item.sha256} pinned")


async def backup(config: NodeConfig, store: Store, folder: Path, clock: Clock) -> dict[str, Any]:
    """Write a backup of the node into ``folder`` (new, or empty). Safe while it runs."""
    refuse_postgresql(config, "backup")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise _invalid(f"{folder}: exists and is not an empty folder", "DIR")
    # Every file the configuration names is there before anything is written.
    referenced = await asyncio.to_thread(referenced_files, config)
    for item in referenced:
        _check(item)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    await store.backup_to(folder / DATABASE)
    #: name in the backup -> (the file written, the sha256 of its bytes)
    files = {DATABASE: (folder / DATABASE, _sha256(folder / DATABASE))}
    keys = folder / "keys"
    keys.mkdir(mode=0o700)
    for record in await store.read.keys():
        source = config.keys_dir / record.file
        if source.exists():
            target = keys / record.file
            files[f"keys/{record.file}"] = (target, _copy_private(source, target))
    conf = folder / "config"
    conf.mkdir(mode=0o700)
    for named in (config.source, config.peers_file, config.trust_list_path):
        if named is not None and named.is_file():
            source, target = named, conf / named.name
            if not target.exists():
                files[f"config/{source.name}"] = (target, _copy_private(source, target))
    origins: dict[str, dict[str, str]] = {}
    for item in referenced:
        target = _private_dirs(folder, item.name)
        try:
            copied = _copy_private(item.path, target)
        except OSError as exc:
            raise item.refused(_why(exc)) from None
        if item.sha256 is not None and copied != item.sha256:
            # It changed after it was checked: the copy is not the file its field pins.
            raise item.refused(f"its sha256 is {copied}, not the {item.sha256} pinned")
        files[item.name] = (target, copied)
        origins[item.name] = {
            "from": str(item.path.absolute()),
            "named_by": f"{item.where}: {item.field}",
        }
    latest = await store.read.latest_version(with_body=False)
    manifest = {
        "format": FORMAT,
        "node_id": config.node_id,
        "jurisdiction": config.jurisdiction,
        "created_at": format_rfc3339(clock()),
        "software": f"registry-node/{__version__}",
        "seq": None if latest is None else latest.seq,
        "digest": None if latest is None else latest.digest,
        "files": {
            name: {"sha256": digest, "bytes": path.stat().st_size, **origins.get(name, {})}
            for name, (path, digest) in sorted(files.items())
        },
    }
    tmp = folder / (MANIFEST + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(json.dumps(manifest, indent=2).encode() + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, folder / MANIFEST)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The backup's manifest, with every file it names present and matching its digest."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _invalid(f"{path}: missing: not a complete backup", MANIFEST) from None
    except (OSError, ValueError) as exc:
        raise _invalid(f"{path}: unreadable: {exc}", MANIFEST) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _invalid(f"{path}: format: not a backup of format {FORMAT}", "format")
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE not in files:
        raise _invalid(f"{path}: files: must name {DATABASE}", "files")
    for name, entry in files.items():
        target = (folder / name).resolve()
        if folder.resolve() not in target.parents:
            raise _invalid(f"{path}: files: {name}: outside the backup", "files")
        if not target.is_file():
            raise _invalid(f"{folder / name}: missing", f"files.{name}")
        if not isinstance(entry, dict) or _sha256(target) != entry.get("sha256"):
            raise _invalid(f"{folder / name}: does not match its digest in {MANIFEST}", name)
    return manifest


def restore(config: NodeConfig, folder: Path, clock: Clock, actor: str) -> dict[str, Any]:
    """Restore the backup in ``folder`` into the (stopped) node's data folder."""
    refuse_postgresql(config, "restore")
    manifest = read_manifest(folder)
    if manifest.get("node_id") != config.node_id:
        raise _invalid(
            f"{folder / MANIFEST}: node_id: the backup is of {manifest.get('node_id')}, "
            f"not of this node ({config.node_id})",
            "node_id",
        )
    data = config.data_dir
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = config.keys_dir
    keys.mkdir(mode=0o700, exist_ok=True)
    # Key files first: a key the database names must be there; an existing one is kept.
    copied = []
    for name in manifest["files"]:
        if not name.startswith("keys/"):
            continue
        source, target = folder / name, keys / Path(name).name
        if target.exists():
            if _sha256(target) != _sha256(source):
                raise _invalid(f"{target}: differs from the backup's copy: not replaced", name)
            continue
        _copy_private(source, target)
        copied.append(target.name)
    stamp = format_rfc3339(clock())
    staged = data / f"{DATABASE}.restoring"
    staged.unlink(missing_ok=True)
    _copy_private(folder / DATABASE, staged)
    mark = {
        "restored_at": stamp,
        "backup": str(folder.resolve()),
        "backup_created_at": manifest.get("created_at"),
        "seq": manifest.get("seq"),
    }
    db = sqlite3.connect(str(staged), isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            (RESTORE_PENDING, canonical_json(mark).decode()),
        )
        db.execute("DELETE FROM meta WHERE key = ?", (RESTORE_CHECK,))
        db.execute(
            "INSERT INTO audit(at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            (stamp, actor, "restore", str(folder.resolve()), None, canonical_json(mark).decode()),
        )
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = DELETE")
    finally:
        db.close()
    # The replaced database (and its log) stays beside, renamed: nothing is lost.
    kept = None
    current = config.db_path
    if current.exists():
        kept = data / f"{DATABASE}.replaced-{stamp.replace(':', '')}"
        os.replace(current, kept)
    for suffix in ("-wal", "-shm"):
        left = Path(f"{current}{suffix}")
        if left.exists():
            if kept is not None:
                os.replace(left, Path(f"{kept}{suffix}"))
            else:
                left.unlink()
    os.replace(staged, current)
    # Configuration stays the operator's: its copies are only checked (docs/operations.md 10.2).
    configuration = sorted(n for n in manifest["files"] if n.startswith("config/"))
    return {
        "mark": mark,
        "keys_copied": copied,
        "replaced": None if kept is None else str(kept),
        "config_left": configuration,
    }
