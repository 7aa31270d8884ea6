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

Expansion is learnt per shape (``skeletons``): a document whose contexts are all named by URL
and whose skeleton was seen before is expanded by putting its strings into the skeleton's
expansion, which the library computed and which was checked against a full expansion when it was
learnt. Canonicalization converts the expanded form to RDF without expanding it again, and
bounds the work spent telling blank nodes apart (``MAX_CANON_STEPS``).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from pyld import jsonld  # type: ignore[import-untyped]
from pyld.canon import URDNA2015  # type: ignore[import-untyped]
from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]
from pyld.identifier_issuer import IdentifierIssuer  # type: ignore[import-untyped]

from registry_node.core import strictjson
from registry_node.core.credentials import skeletons

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
    thread, and so do the shapes learnt from documents expanded with these contexts
    (skeletons.py), so that two registries never share a URL's processed form nor what was
    learnt from it."""

    __slots__ = ("_documents", "_local", "operator", "shapes")

    def __init__(self, documents: Mapping[str, Any], operator: frozenset[str] = frozenset()):
        self._documents: Mapping[str, Any] = MappingProxyType(dict(documents))
        self.operator = operator
        self._local = threading.local()
        self.shapes = skeletons.Skeletons()

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


class WouldTakeLong(BaseException):
    """Raised inside :func:`quick_only` where the work would go on to what can take long: a
    full expansion (a shape not learnt yet), or canonicalisation past
    :data:`QUICK_CANON_STEPS` steps. Nothing is judged: the caller does the whole check
    again without the limit, which gives the same results. A BaseException, so that no
    handler of the library's errors turns it into a finding."""


#: Canonicalisation steps a quick check may take (credentials need none or a handful).
QUICK_CANON_STEPS = 32

_quick: contextvars.ContextVar[bool] = contextvars.ContextVar("quick_only", default=False)


@contextlib.contextmanager
def quick_only() -> Iterator[None]:
    """Within the block, raise :class:`WouldTakeLong` instead of expanding a document in full
    or canonicalising past :data:`QUICK_CANON_STEPS` steps (a check made on an event loop)."""
    token = _quick.set(True)
    try:
        yield
    finally:
        _quick.reset(token)


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


class Expansion:
    """A document in JSON-LD expanded form, and what expansion could not express. The expanded
    form of a document expanded by shape is built when first asked for."""

    def __init__(
        self,
        expanded: list[Any] | Callable[[], list[Any]],
        dropped_terms: list[str] | None = None,
        undefined_types: list[str] | None = None,
        relative_ids: int = 0,
    ) -> None:
        self._expanded: list[Any] | None = None
        self._build: Callable[[], list[Any]] | None = None
        if callable(expanded):
            self._build = expanded
        else:
            self._expanded = expanded
        self.dropped_terms: list[str] = dropped_terms or []
        self.undefined_types: list[str] = undefined_types or []
        self.relative_ids = relative_ids
        #: see :func:`claims_agree`
        self.claims_agree = True

    @property
    def expanded(self) -> list[Any]:
        if self._expanded is None:
            assert self._build is not None
            self._expanded = self._build()
        return self._expanded

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


def _iri_positions(value: Any) -> Iterator[tuple[str, Any]]:
    """The values of the expanded form that must be absolute IRIs: ``("type", v)`` for a node's
    type, ``("datatype", v)`` for a value's, ``("id", v)`` for a node's id."""
    if isinstance(value, list):
        for item in value:
            yield from _iri_positions(item)
        return
    if not isinstance(value, dict):
        return
    if "@value" in value:
        yield "datatype", value.get("@type")
        return
    for key, item in value.items():
        if key == "@type":
            for name in item if isinstance(item, list) else [item]:
                yield "type", name
        elif key == "@id":
            yield "id", item
        else:
            yield from _iri_positions(item)


def _judge_iris(positions: Iterable[tuple[str, Any]], result: Expansion) -> None:
    """Record undefined types and relative ids among ``positions``."""
    for where, name in positions:
        if not isinstance(name, str) or _is_absolute(name):
            continue
        if where == "datatype":
            if name != "@json":
                result.undefined_types.append(name)
        elif name.startswith("_:"):
            continue
        elif where == "type":
            result.undefined_types.append(name)
        else:
            result.relative_ids += 1


def _positions_to_judge(template: Any) -> list[tuple[str, Any]]:
    """The IRI positions of a learnt template that filling may leave short of an absolute
    IRI: every other one is skipped by :func:`_judge_iris` whatever fills it, so it is left
    out once, when the template is learnt. A template string that is an absolute IRI stays one
    when filled: without a marker it is its own filling; an "A" marker (``x-slot:`` and the
    marker) is filled with an absolute IRI; any other marker follows the text it stands after,
    so the scheme and colon that text has are the filling's (a marker has no colon)."""
    return [
        (where, value)
        for where, value in _iri_positions(template)
        if isinstance(value, str) and not _is_absolute(value)
    ]


_CRED = "https://www.w3.org/2018/credentials#"
_OB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"
_CLR = "https://purl.imsglobal.org/spec/vc/clr/vocab.html#"

#: What the report reads of a node: (member, the properties it may expand to in the contexts
#: the node ships, what is read of each of its values, if anything).
_Read = tuple[tuple[str, tuple[str, ...], "_Read | None"], ...]
_ENDORSED: _Read = (
    ("endorsement", (_OB + "endorsement",), None),
    ("endorsementJwt", (_OB + "endorsementJwt",), None),
)
_ACHIEVEMENT: _Read = (("achievementType", (_OB + "achievementType",), None), *_ENDORSED)
_SUBJECT: _Read = (
    ("achievement", (_OB + "achievement",), _ACHIEVEMENT),
    # the CLR context's term, or the credentials vocabulary's where a context maps it there
    ("verifiableCredential", (_CLR + "verifiableCredential", _CRED + "verifiableCredential"), None),
)
#: A credential: its types, its issuer (and the endorsements of its profile), its validity
#: period (VC 2.0 and VC 1.1), its status entries, its subjects and its endorsements.
_CREDENTIAL: _Read = (
    ("type", ("@type",), None),
    ("issuer", (_CRED + "issuer",), _ENDORSED),
    *(
        (name, (_CRED + name,), None)
        for name in ("validFrom", "validUntil", "issuanceDate", "expirationDate")
    ),
    ("credentialStatus", (_CRED + "credentialStatus",), None),
    ("credentialSubject", (_CRED + "credentialSubject",), _SUBJECT),
    *_ENDORSED,
)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _agree(document: Any, expanded: Any, read: _Read) -> bool:
    """Does no property of ``read`` hold more values in the ``expanded`` node than its member
    holds in the ``document`` node, here and, value by value, in what is read of its values?
    A value that is not an object (an issuer given by its id, say) reads as one holding
    nothing. A property with fewer values than its member is one the member does not expand
    to (an operator's context may map it elsewhere): nothing more is read of it."""
    if not isinstance(document, dict):
        document = {}
    if not isinstance(expanded, dict):
        expanded = {}
    for name, iris, inner in read:
        mine = _listed(document.get(name))
        theirs = [v for iri in iris for v in _expanded_values(expanded.get(iri))]
        if len(theirs) > len(mine):
            return False
        if inner is None or len(theirs) < len(mine):
            continue
        if not all(_agree(m, t, inner) for m, t in zip(mine, theirs, strict=True)):
            return False
    return True


def _expanded_values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def claims_agree(document: Any, expanded: Any) -> bool:
    """Do the members the report, the trust questions and the embedded credentials' checks
    read (:data:`_CREDENTIAL`: the types, the issuer, the validity period, the status entries,
    the subjects, their achievements and achievement types, the carried credentials and the
    endorsements) hold every value of the properties they expand to? They do not when the
    document states one of them a second time under another name (``@type``, a full or
    compact IRI, another alias): JSON-LD merges the two, so the credential signs a value
    those members do not show."""
    if not (isinstance(expanded, list) and len(expanded) == 1 and isinstance(expanded[0], dict)):
        return False
    return _agree(document, expanded[0], _CREDENTIAL)


def _expand_in_full(document: Any) -> tuple[list[Any], list[str | None]]:
    """The library's expansion of ``document`` and the properties it dropped."""
    dropped: list[str | None] = []
    try:
        expanded = jsonld.expand(document, _options(), on_property_dropped=dropped.append)
    except Exception as exc:  # the library raises its own error type and plain ones
        raise _problem(exc) from None
    return expanded, dropped


def _context_document(url: str) -> Any:
    return load_pinned(url)["document"]


def _shapes() -> skeletons.Skeletons:
    """The shapes learnt, and the vocabularies read, from the contexts the loader serves: those
    of the registry in force. They hold only while a URL serves the same document, so each
    registry has its own."""
    return in_force().shapes


def _vocabulary(urls: tuple[str, ...]) -> skeletons.Vocabulary:
    return _shapes().vocabulary(urls, _context_document)


def _skeleton(document: Any) -> skeletons.Skeleton | None:
    try:
        return skeletons.skeleton(document, _vocabulary)
    except skeletons.Declined:
        return None


def _expansion(
    document: Any,
    expanded: list[Any] | Callable[[], list[Any]],
    dropped: list[str | None],
    positions: Iterable[tuple[str, Any]],
) -> Expansion:
    result = Expansion(expanded)
    names = {name for name in dropped if name is not None}
    if None in dropped:  # the library names neither keyword-like keys nor null-mapped terms
        names |= set(_keyword_like_keys(document)) or {"(a term mapped to null)"}
    result.dropped_terms = sorted(names)
    _judge_iris(positions, result)
    result.undefined_types = sorted(set(result.undefined_types))
    return result


def expand(document: Any) -> Expansion:
    """Expand ``document`` with the pinned contexts and record what it could not express.
    Raises JsonLdProblem (``context_not_pinned`` or ``jsonld_error``)."""
    shape = _skeleton(document)
    if shape is not None:
        template = _shapes().get(shape.key)
        if template is not None:
            slots = shape.slots
            positions = [(where, skeletons.fill(v, slots)) for where, v in template.positions]
            result = _expansion(
                document,
                lambda: skeletons.fill(template.expanded, slots),
                template.dropped,
                positions,
            )
            result.claims_agree = template.claims_agree
            return result
    if _quick.get():
        raise WouldTakeLong
    expanded, dropped = _expand_in_full(document)
    learnt = _shapes()
    if shape is not None and not learnt.known(shape.key) and learnt.sighted(shape.key):
        learnt.learn(shape, expanded, dropped, _expand_in_full, _positions_to_judge, claims_agree)
    result = _expansion(document, expanded, dropped, _iri_positions(expanded))
    result.claims_agree = claims_agree(document, expanded)
    return result


#: Steps (N-degree hashes and related-blank-node hashes) that canonicalization may spend telling
#: apart blank nodes whose first-degree hashes are equal. Credentials need none or a handful;
#: inputs built to need exponentially many fail quickly instead.
MAX_CANON_STEPS = 2000


class _TooComplex(Exception):
    pass


class _BoundedURDNA2015(URDNA2015):  # type: ignore[misc]
    """RDFC-1.0 (URDNA2015) that stops after ``MAX_CANON_STEPS`` steps."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.limit = QUICK_CANON_STEPS if _quick.get() else None

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_CANON_STEPS:
            raise _TooComplex
        if self.limit is not None and self.steps > self.limit:
            raise WouldTakeLong

    def hash_n_degree_quads(self, id_: str, issuer: Any) -> Any:
        self._step()
        return super().hash_n_degree_quads(id_, issuer)

    def hash_related_blank_node(self, related: str, quad: Any, issuer: Any, position: str) -> Any:
        self._step()
        return super().hash_related_blank_node(related, quad, issuer, position)

    def modify_first_degree_component(self, id_: str, component: Any, key: str) -> Any:
        """The library's step, with a shallow copy where it makes a deep one: a blank node
        component holds two strings."""
        if component["type"] != "blank node":
            return component
        return {**component, "value": "_:a" if component["value"] == id_ else "_:z"}


#: The library's test for an absolute IRI (``jsonld._is_absolute_iri``), its pattern compiled
#: once: the library names the pattern in each call, so that every IRI of a conversion to RDF
#: goes through the regular-expression cache. Installed in its place below; it answers alike.
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*|_):[^\s]*$")


def _is_absolute_iri(value: Any) -> Any:
    return isinstance(value, str) and _ABSOLUTE_IRI.match(value)


#: the library's own, kept so that a test can hold the two to answering alike
library_is_absolute_iri = jsonld._is_absolute_iri
jsonld._is_absolute_iri = _is_absolute_iri

_RDF_OPTIONS = {
    "produceGeneralizedRdf": False,
    "processingMode": "json-ld-1.1",
    "rdfDirection": None,
}


def _dataset(expanded: list[Any]) -> dict[str, Any]:
    """The RDF dataset of a document in expanded form: the library's conversion to RDF, less
    the expansion it would do first (expanding expanded form changes nothing)."""
    processor = jsonld.JsonLdProcessor()
    issuer = IdentifierIssuer("_:b")
    node_map: dict[str, Any] = {"@default": {}}
    processor._create_node_map(expanded, node_map, "@default", issuer)
    dataset = {}
    for graph_name, graph in sorted(node_map.items()):
        if graph_name == "@default" or jsonld._is_absolute_iri(graph_name):
            dataset[graph_name] = processor._graph_to_rdf(graph, issuer, dict(_RDF_OPTIONS))
    return dataset


def canonize(expanded: list[Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a document already in expanded form. Raises JsonLdProblem
    (``not_canonicalizable`` when telling its blank nodes apart takes more than
    ``MAX_CANON_STEPS`` steps)."""
    try:
        text = _BoundedURDNA2015().main(_dataset(expanded), {"format": "application/n-quads"})
    except _TooComplex:
        raise JsonLdProblem(
            "not_canonicalizable",
            f"canonicalization needs more than {MAX_CANON_STEPS} steps to tell its blank nodes "
            "apart",
        ) from None
    except Exception as exc:  # the library raises its own error type and plain ones
        raise _problem(exc) from None
    if not isinstance(text, str):
        raise JsonLdProblem("jsonld_error", "canonicalization produced no N-Quads")
    return text


__all__ = [
    "BASE_CONTEXTS",
    "MAX_CANON_STEPS",
    "QUICK_CANON_STEPS",
    "VC_V1",
    "VC_V2",
    "ContextNotPinned",
    "ContextRefused",
    "Expansion",
    "JsonLdProblem",
    "PinnedContexts",
    "WouldTakeLong",
    "canonize",
    "context_document",
    "context_urls",
    "expand",
    "in_force",
    "is_context_document",
    "load_pinned",
    "operator_pinned",
    "pinned_contexts",
    "quick_only",
    "sha256_hex",
    "unpinned",
    "using",
]
