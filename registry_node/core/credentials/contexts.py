"""JSON-LD processing from pinned contexts only: expansion with undefined-term detection, and
RDF Dataset Canonicalization (RDFC-1.0, the algorithm first published as URDNA2015).

Contexts are read from the package (``contexts/index.json`` maps each URL to a file and its
sha256) and checked against their hashes once. An operator may pin more (node.yaml
``credentials.contexts``): the service reads and checks those files and hands them in as data,
a :class:`PinnedContexts` registry that :func:`using` makes the one in force for a verification
(docs/adr/0020). The document loader handed to the JSON-LD library serves the registry in force
and refuses every other URL, so nothing is ever fetched.

A term that no context defines is dropped by JSON-LD expansion, so it is not covered by an
RDF-canonicalized signature while a reader of the JSON still sees it. The JSON-LD library reports
each dropped property to a handler; relative type and id IRIs (which RDF conversion drops too)
are found by walking the expanded form.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from pyld import jsonld  # type: ignore[import-untyped]
from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]

from registry_node.core import strictjson

#: JSON-LD 1.1 keywords; any other key that starts with ``@`` is dropped by expansion.
KEYWORDS = frozenset(
    {
        "@base",
        "@container",
        "@context",
        "@direction",
        "@graph",
        "@id",
        "@import",
        "@included",
        "@index",
        "@json",
        "@language",
        "@list",
        "@nest",
        "@none",
        "@prefix",
        "@propagate",
        "@protected",
        "@reverse",
        "@set",
        "@type",
        "@value",
        "@version",
        "@vocab",
    }
)
VC_V1 = "https://www.w3.org/2018/credentials/v1"
VC_V2 = "https://www.w3.org/ns/credentials/v2"
BASE_CONTEXTS = (VC_V2, VC_V1)


class ContextNotPinned(Exception):
    """Raised by the document loader for a URL that is not pinned."""

    def __init__(self, url: str) -> None:
        super().__init__(f"context {url} is not pinned")
        self.url = url


class JsonLdProblem(Exception):
    """JSON-LD processing failed. ``code`` is stable; ``detail`` names no document values."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@cache
def _packaged_documents() -> Mapping[str, Any]:
    """URL -> parsed context document, for every context shipped in the package. Raises
    RuntimeError if a file does not match the sha256 recorded in the index (a broken
    installation)."""
    folder = resources.files("registry_node.core.credentials") / "contexts"
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    documents = {}
    for url, entry in index.items():
        data = (folder / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise RuntimeError(f"pinned context {entry['file']} does not match its sha256")
        documents[url] = json.loads(data)
    return MappingProxyType(documents)


class ContextRefused(ValueError):
    """An operator's context cannot be pinned. ``field`` names the member of its entry
    (``url``, ``file`` or ``sha256``) that is wrong."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def is_context_document(document: Any) -> bool:
    """A JSON-LD context document: an object whose ``@context`` is an object, a URL or a list
    of those (JSON-LD 1.1 section 3.1)."""
    if not isinstance(document, dict):
        return False
    context = document.get("@context")
    items = context if isinstance(context, list) else [context]
    return bool(items) and all(isinstance(item, dict | str) for item in items)


def context_document(data: bytes) -> dict[str, Any]:
    """Parse an operator's context file. Raises ContextRefused (``file``)."""
    try:
        document = strictjson.loads(data)
    except strictjson.StrictJSONError as exc:
        raise ContextRefused("file", f"not JSON: {exc}") from None
    if not is_context_document(document):
        raise ContextRefused("file", "not a JSON-LD context document (no @context object)")
    assert isinstance(document, dict)
    return document


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PinnedContexts:
    """An immutable registry of pinned contexts: URL -> parsed document, with the URLs the
    operator added. The JSON-LD processor's cache of processed contexts lives here, one per
    thread, so that two registries never share a URL's processed form."""

    __slots__ = ("_documents", "_local", "operator")

    def __init__(self, documents: Mapping[str, Any], operator: frozenset[str] = frozenset()):
        self._documents: Mapping[str, Any] = MappingProxyType(dict(documents))
        self.operator = operator
        self._local = threading.local()

    @classmethod
    def packaged(cls) -> PinnedContexts:
        """The contexts shipped in the package, and nothing else."""
        return _packaged_registry()

    def with_operator(self, added: Mapping[str, tuple[bytes, str | None]]) -> PinnedContexts:
        """This registry plus the operator's contexts: URL -> (file bytes, expected sha256 or
        None when the caller vouches for the bytes as they are). Raises ContextRefused naming
        the member that is wrong: a URL that is not http(s), a hash that does not match, a file
        that is not a context document, a URL pinned here already with other content."""
        documents = dict(self._documents)
        for url, (data, expected) in added.items():
            if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
                raise ContextRefused("url", f"{url!r} is not an http(s) URL")
            actual = sha256_hex(data)
            if expected is not None and actual != expected.lower():
                raise ContextRefused("sha256", f"the file's sha256 is {actual}, not {expected}")
            document = context_document(data)
            known = documents.get(url)
            if known is not None and known != document:
                who = "the node ships it" if url in _packaged_documents() else "given before"
                raise ContextRefused("url", f"{url} is pinned already with other content ({who})")
            documents[url] = document
        return PinnedContexts(
            documents, self.operator | (frozenset(added) - self._documents.keys())
        )

    @property
    def documents(self) -> Mapping[str, Any]:
        return self._documents

    def get(self, url: str) -> Any | None:
        return self._documents.get(url)

    def __contains__(self, url: object) -> bool:
        return url in self._documents

    def resolver_cache(self) -> _BoundedCache:
        """This thread's cache of processed contexts (the resolver's is not thread safe)."""
        shared = getattr(self._local, "cache", None)
        if shared is None:
            shared = self._local.cache = _BoundedCache()
        return shared


@cache
def _packaged_registry() -> PinnedContexts:
    return PinnedContexts(_packaged_documents())


_in_force: contextvars.ContextVar[PinnedContexts | None] = contextvars.ContextVar(
    "pinned_contexts", default=None
)


def in_force() -> PinnedContexts:
    """The registry in force: the one :func:`using` set, else the packaged contexts."""
    return _in_force.get() or PinnedContexts.packaged()


@contextlib.contextmanager
def using(registry: PinnedContexts | None) -> Iterator[PinnedContexts]:
    """Make ``registry`` (None: the packaged contexts) the one in force for the JSON-LD
    processing of this thread or task until the block ends."""
    token = _in_force.set(registry)
    try:
        yield in_force()
    finally:
        _in_force.reset(token)


def pinned_contexts() -> Mapping[str, Any]:
    """URL -> parsed context document, for every context of the registry in force."""
    return in_force().documents


def load_pinned(url: str, options: Any = None) -> dict[str, Any]:
    """The JSON-LD document loader: pinned copies only; any other URL is refused."""
    document = in_force().get(url)
    if document is None:
        raise ContextNotPinned(url)
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": copy.deepcopy(document),
        # lets the context resolver keep the processed context between documents
        "tag": "static",
    }


def context_urls(document: Any) -> list[str]:
    """Every context URL the document refers to, at any depth, in order of appearance."""
    found: list[str] = []

    def from_context(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for item in value:
                from_context(item)
        elif isinstance(value, dict):
            if isinstance(value.get("@import"), str):
                found.append(value["@import"])
            walk(value)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "@context":
                    from_context(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return list(dict.fromkeys(found))


def unpinned(urls: list[str]) -> list[str]:
    known = in_force()
    return [url for url in urls if url not in known]


def operator_pinned(urls: list[str]) -> list[str]:
    """The URLs among ``urls`` that the operator pinned (not shipped with the node)."""
    operator = in_force().operator
    return [url for url in urls if url in operator]


class _BoundedCache(dict[str, Any]):
    """The context resolver's shared cache, kept small: inline contexts of documents land in it
    too, and those come from outside."""

    MAX = 128

    def __setitem__(self, key: str, value: Any) -> None:
        if len(self) >= self.MAX and key not in self:
            del self[next(iter(self))]
        super().__setitem__(key, value)


def _options() -> dict[str, Any]:
    """Processing options: the pinned loader, a resolver whose shared cache lives per thread (it
    is not thread safe) in the registry in force, and no document base, so relative IRIs stay
    relative and are dropped from RDF as other processors drop them."""
    shared = in_force().resolver_cache()
    return {
        "documentLoader": load_pinned,
        "contextResolver": ContextResolver(shared, load_pinned),
        "base": None,
    }


@dataclass
class Expansion:
    """A document in JSON-LD expanded form, and what expansion could not express."""

    expanded: list[Any]
    dropped_terms: list[str] = field(default_factory=list)
    undefined_types: list[str] = field(default_factory=list)
    relative_ids: int = 0

    @property
    def clean(self) -> bool:
        return not (self.dropped_terms or self.undefined_types or self.relative_ids)


def _problem(exc: Exception) -> JsonLdProblem:
    """Map an exception from the JSON-LD library to a stable code, without document values."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ContextNotPinned):
            return JsonLdProblem("context_not_pinned", f"context {cause.url} is not pinned")
        cause = cause.__cause__ or cause.__context__
    code = getattr(exc, "code", None)
    reason = code if isinstance(code, str) else type(exc).__name__
    return JsonLdProblem("jsonld_error", f"JSON-LD processing failed: {reason}")


def _keyword_like_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("@") and key not in KEYWORDS:
                yield key
            if key != "@context":
                yield from _keyword_like_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keyword_like_keys(item)


def _is_absolute(iri: str) -> bool:
    scheme, colon, _ = iri.partition(":")
    return bool(colon) and scheme[:1].isalpha()


def _walk_expanded(value: Any, result: Expansion) -> None:
    if isinstance(value, list):
        for item in value:
            _walk_expanded(item, result)
        return
    if not isinstance(value, dict):
        return
    if "@value" in value:
        datatype = value.get("@type")
        if isinstance(datatype, str) and datatype != "@json" and not _is_absolute(datatype):
            result.undefined_types.append(datatype)
        return
    for key, item in value.items():
        if key == "@type":
            for name in item if isinstance(item, list) else [item]:
                if isinstance(name, str) and not _is_absolute(name) and not name.startswith("_:"):
                    result.undefined_types.append(name)
        elif key == "@id":
            if isinstance(item, str) and not _is_absolute(item) and not item.startswith("_:"):
                result.relative_ids += 1
        else:
            _walk_expanded(item, result)


def expand(document: Any) -> Expansion:
    """Expand ``document`` with the pinned contexts and record what it could not express.
    Raises JsonLdProblem (``context_not_pinned`` or ``jsonld_error``)."""
    dropped: list[str | None] = []
    try:
        expanded = jsonld.expand(document, _options(), on_property_dropped=dropped.append)
    except Exception as exc:  # the library raises its own error type and plain ones
        raise _problem(exc) from None
    result = Expansion(expanded)
    names = {name for name in dropped if name is not None}
    if None in dropped:  # the library names neither keyword-like keys nor null-mapped terms
        names |= set(_keyword_like_keys(document)) or {"(a term mapped to null)"}
    result.dropped_terms = sorted(names)
    _walk_expanded(expanded, result)
    result.undefined_types = sorted(set(result.undefined_types))
    return result


def canonize(expanded: list[Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a document already in expanded form."""
    options = _options()
    options.update(algorithm="URDNA2015", format="application/n-quads")
    try:
        text = jsonld.normalize(expanded, options)
    except Exception as exc:  # the library raises its own error type and plain ones
        raise _problem(exc) from None
    if not isinstance(text, str):
        raise JsonLdProblem("jsonld_error", "canonicalization produced no N-Quads")
    return text


__all__ = [
    "BASE_CONTEXTS",
    "VC_V1",
    "VC_V2",
    "ContextNotPinned",
    "ContextRefused",
    "Expansion",
    "JsonLdProblem",
    "PinnedContexts",
    "canonize",
    "context_document",
    "context_urls",
    "expand",
    "in_force",
    "is_context_document",
    "load_pinned",
    "operator_pinned",
    "pinned_contexts",
    "sha256_hex",
    "unpinned",
    "using",
]
