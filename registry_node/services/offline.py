"""What the operator hands the node for checking credentials offline, read from files once.

- JSON-LD contexts (node.yaml ``credentials.contexts``): each file is read, checked against its
  sha256 and parsed here, then handed to the pure core as data, one immutable
  :class:`~registry_node.core.credentials.contexts.PinnedContexts` registry built at start.
- DID documents, which pin an issuer's keys without the network (docs/adr/0020):
  node.yaml ``credentials.did_documents`` (DID -> file) for this node's own checks only, and
  ``did_document`` beside an issuer in trust_lists/*.yaml, whose keys become the entry's pinned
  ``keys`` and so are published, signed, to neighbours.

Every problem is a ConfigError (or, for a source file, InvalidInput) naming the file and field
in one line, so a node with a broken entry refuses to start rather than run without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from registry_node.config import NodeConfig
from registry_node.core import reasons, strictjson
from registry_node.core.credentials.contexts import ContextRefused, PinnedContexts
from registry_node.core.credentials.diddoc import DidDocumentProblem, assertion_methods
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.strictjson import StrictJSONError

log = logging.getLogger("registry_node.credentials")

#: The largest context or DID document file read (the packaged contexts are below 40 KiB).
MAX_FILE_BYTES = 1024 * 1024
#: The member of a source file's issuer entry that names its DID document.
DID_DOCUMENT_MEMBER = "did_document"


def read_file(path: Path) -> bytes:
    """The file's bytes; OSError as the one-line reason otherwise."""
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(f"larger than {MAX_FILE_BYTES} bytes")
    return data


def refused_context(detail: str, field: str) -> InvalidInput:
    """A context refused on the command line (``contexts add``, ``verify --context``)."""
    hint = reasons.get("context_refused").use(leads_to="command_refused").hint
    return InvalidInput(detail, code="context_refused", field=field, hint=hint)


def _why(exc: OSError) -> str:
    return str(exc.strerror or exc)


def load_contexts(config: NodeConfig) -> PinnedContexts:
    """The packaged contexts plus the operator's (node.yaml ``credentials.contexts``). Raises
    ConfigError (``context_refused``) naming the entry's field and file."""
    registry = PinnedContexts.packaged()
    where = str(config.source) if config.source else "configuration"
    seen: set[str] = set()
    for index, item in enumerate(config.contexts):
        field = f"credentials.contexts[{index}]"
        if item.url in seen:
            raise ConfigError(
                f"{where}: {field}.url: {item.url} is pinned twice",
                code="context_refused",
                field=f"{field}.url",
            )
        seen.add(item.url)
        try:
            data = read_file(item.file)
        except OSError as exc:
            raise ConfigError(
                f"{where}: {field}.file: {item.file}: {_why(exc)}",
                code="context_refused",
                field=f"{field}.file",
            ) from None
        try:
            registry = registry.with_operator({item.url: (data, item.sha256)})
        except ContextRefused as exc:
            raise ConfigError(
                f"{where}: {field}.{exc.field}: {item.file}: {exc.detail}",
                code="context_refused",
                field=f"{field}.{exc.field}",
            ) from None
    if registry.operator:
        log.info("operator contexts pinned", extra={"urls": sorted(registry.operator)})
    return registry


def contexts_from_files(base: PinnedContexts, pairs: Mapping[str, Path]) -> PinnedContexts:
    """``base`` plus contexts the caller vouches for as they are (``verify --context
    URL=FILE``: the file's bytes are the pin). Raises InvalidInput (``context_refused``)."""
    registry = base
    for url, path in pairs.items():
        try:
            data = read_file(path)
            registry = registry.with_operator({url: (data, None)})
        except OSError as exc:
            raise refused_context(f"--context {url}={path}: {_why(exc)}", "context") from None
        except ContextRefused as exc:
            raise refused_context(
                f"--context {url}={path}: {exc.field}: {exc.detail}", "context"
            ) from None
    return registry


def read_did_document(path: Path, dids: Sequence[str]) -> tuple[str, list[dict[str, Any]]]:
    """The DID of the document in ``path`` (its ``id``, one of ``dids``) and its methods that
    may sign the DID's credentials (the rules of core/credentials/diddoc.py), at least one.
    Raises ValueError with the one-line reason."""
    try:
        document = strictjson.loads(read_file(path))
    except OSError as exc:
        raise ValueError(_why(exc)) from None
    except StrictJSONError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    named = document.get("id") if isinstance(document, dict) else None
    if named not in dids:
        raise ValueError(f"id: {named!r} is not {' or '.join(dids)}")
    assert isinstance(named, str)
    try:
        methods = assertion_methods(document, named)
    except DidDocumentProblem as exc:
        raise ValueError(exc.detail) from None
    if not methods:
        raise ValueError(
            f"no usable key: no verification method of {named}, controlled by it, that "
            "assertionMethod names (Multikey, Ed25519VerificationKey2020, JsonWebKey, "
            "JsonWebKey2020)"
        )
    return named, methods


def load_did_documents(config: NodeConfig) -> dict[str, list[dict[str, Any]]]:
    """DID -> usable methods of the documents node.yaml names (``credentials.did_documents``).
    Raises ConfigError (``did_document_refused``) naming the DID's entry and the file."""
    where = str(config.source) if config.source else "configuration"
    found: dict[str, list[dict[str, Any]]] = {}
    for did, path in config.did_documents:
        field = f"credentials.did_documents.{did}"
        try:
            found[did] = read_did_document(path, [did])[1]
        except ValueError as exc:
            raise ConfigError(
                f"{where}: {field}: {path}: {exc}", code="did_document_refused", field=field
            ) from None
    if found:
        log.info("operator DID documents read", extra={"dids": sorted(found)})
    return found


def _is_did(name: Any) -> bool:
    return isinstance(name, str) and name.startswith("did:") and not name.startswith("did:key:")


class NamedDidDocument(NamedTuple):
    """An issuer entry of a source file that names a DID document file."""

    position: int  # in ``issuers``
    field: str  # ``issuers[<position>].did_document``
    entry: dict[str, Any]
    path: Path


def did_document_files(doc: Any, folder: Path, source: str) -> list[NamedDidDocument]:
    """Each issuer entry of a source file that names a DID document
    (``did_document``: a file name relative to ``folder``, the source file's). Raises
    InvalidInput (``did_document_refused``) for a member that names no file, or whose issuer
    has no DID for its id or an aka."""
    entries = doc.get("issuers") if isinstance(doc, dict) else None
    found: list[NamedDidDocument] = []
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(entry, dict) or DID_DOCUMENT_MEMBER not in entry:
            continue
        field = f"issuers[{index}].{DID_DOCUMENT_MEMBER}"
        name = entry[DID_DOCUMENT_MEMBER]
        if not isinstance(name, str) or not name or not _dids(entry):
            raise InvalidInput(
                f"{source}: {field}: must name a file beside {source}, for an issuer whose id "
                "or an aka is a DID",
                code="did_document_refused",
                field=field,
            )
        path = Path(name) if Path(name).is_absolute() else folder / name
        found.append(NamedDidDocument(index, field, entry, path))
    return found


def _dids(entry: dict[str, Any]) -> list[str]:
    return [n for n in (entry.get("id"), *(entry.get("aka") or ())) if _is_did(n)]


def attach_did_documents(doc: Any, folder: Path, source: str) -> list[Path]:
    """Replace each ``did_document`` of a source file's issuer entries (a file name relative to
    ``folder``, the source file's) with the document's usable methods, added to the entry's
    ``keys``. Returns the files read, so that the caller can tell when one changed. Raises
    InvalidInput (``did_document_refused``) naming the entry and the file."""
    read: list[Path] = []
    for _, field, entry, path in did_document_files(doc, folder, source):
        del entry[DID_DOCUMENT_MEMBER]
        try:
            _, methods = read_did_document(path, _dids(entry))
        except ValueError as exc:
            raise InvalidInput(
                f"{source}: {field}: {path}: {exc}", code="did_document_refused", field=field
            ) from None
        read.append(path)
        keys = entry.get("keys")
        pinned = list(keys) if isinstance(keys, list) else []
        entry["keys"] = pinned + [m for m in methods if m not in pinned]
    return read


__all__ = [
    "DID_DOCUMENT_MEMBER",
    "attach_did_documents",
    "contexts_from_files",
    "did_document_files",
    "load_contexts",
    "load_did_documents",
    "read_did_document",
    "read_file",
    "refused_context",
]
