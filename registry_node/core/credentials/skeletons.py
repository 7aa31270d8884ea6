"""Expansion by shape: what JSON-LD expansion makes of a document, learnt once per shape.

Expanding a credential with pinned contexts costs milliseconds, almost all of it spent
processing the same contexts for the same keys and types again. Credentials of one kind differ
in their data (names, dates, identifiers), not in their keys, their types or their contexts, and
JSON-LD expansion treats most data strings alike whatever they say:

- a string the library takes for an absolute IRI (``scheme:rest``, no white space), whose
  scheme is no term of the contexts, is kept as it is wherever it stands: as an ``@id``, a
  ``@type``, an IRI-coerced value or a literal;
- any other string that is not a term, does not look like a keyword and has no prefix that is a
  term (nor a ``_`` blank-node prefix or a ``prefix://`` form) is kept as it is as a literal or a
  relative IRI, or has the vocabulary IRI put in front of it. One thing more is asked of it: a
  value's ``@type`` must come out an absolute IRI, which white space prevents; strings with
  white space (other than one final newline, as the library's test goes) are a kind of their
  own.

Nothing else in expansion looks at such a string: type-scoped contexts are found by term, and
expansion neither sorts nor removes values by their content. The *skeleton* of a document is the
document with each of those strings replaced by a marker of the same kind (``x-slot:`` +
private-use characters around a number for the first kind, the private-use characters alone for
the second, with a space before the closing one for the third). Documents with the same skeleton
expand to the same template, from which each one's expanded form is had by putting its strings
back where the markers stand.

A skeleton is only learnt from a document whose expansion the library computed in full, and only
when putting that document's own strings into the skeleton's expansion gives exactly that
expansion and the same dropped terms; the markers must stand alone or after a prefix where the
rules above say they can. Anything else is refused and expanded in full every time: contexts
other than pinned URLs (inline context objects define terms of their own), keys or values with
the private-use marker characters, values under keywords whose content expansion checks
(``@language``, ``@direction``, ``@index``, ...), and any term that aliases such a keyword.
A shape is learnt on its second sighting, so a stream of shapes never seen twice costs no more
than before.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from registry_node.core import jsonout

MARK = "\ue000"
END = "\ue001"
IRI_SCHEME = "x-slot"
#: The JSON-LD library's own test for an absolute IRI (``_is_absolute_iri``), with ``re.match``
#: semantics (so a final newline passes, as it does there).
ABSOLUTE = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*|_):[^\s]*$")
#: What must follow an IRI's scheme for the library to call it absolute (its regular expression's
#: tail, matched the same way): a string that fails it keeps an IRI it ends from being absolute.
_NO_SPACE = re.compile(r"[^\s]*$")
_SLOT = re.compile(MARK + r"([0-9]+) ?" + END)
#: Keywords whose values expansion treats as nodes, values or IRIs, like any property's.
OPEN_KEYWORDS = frozenset(
    {"@id", "@type", "@value", "@graph", "@list", "@set", "@included", "@nest", "@reverse"}
)
#: How many skeletons are kept, and the longest one kept (characters).
MAX_SKELETONS = 256
MAX_SKELETON_CHARS = 256 * 1024
#: How many unlearnt shapes are remembered as seen once; how many vocabularies are kept.
MAX_SEEN = 4096
MAX_VOCABULARIES = 64


class Declined(Exception):
    """The document has something the skeleton does not model: expand it in full."""


@dataclass(frozen=True)
class Vocabulary:
    """What the contexts a document names define: every name any of them defines, at any depth
    (the contexts they import or scope included), and the names that alias a keyword whose
    values are not templated."""

    terms: frozenset[str]
    closed_aliases: frozenset[str]


def vocabulary(urls: tuple[str, ...], load: Callable[[str], Any]) -> Vocabulary:
    """The vocabulary of the context documents at ``urls`` and of every context URL they name,
    read with ``load`` (URL -> parsed document). Raises Declined when one cannot be loaded."""
    terms: set[str] = set()
    closed: set[str] = set()
    pending = list(urls)
    seen: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("@context", "@import"):
                    for url in item if isinstance(item, list) else [item]:
                        if isinstance(url, str):
                            pending.append(url)
                if not key.startswith("@"):
                    terms.add(key)
                    target = item.get("@id") if isinstance(item, dict) else item
                    if (
                        isinstance(target, str)
                        and target.startswith("@")
                        and target not in ("@id", "@type")
                    ):
                        closed.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        try:
            document = load(url)
        except Exception:  # an unloadable context: the full path reports it
            raise Declined from None
        walk(document)
    if any(MARK in t or END in t for t in terms) or IRI_SCHEME in terms:
        raise Declined
    return Vocabulary(frozenset(terms), frozenset(closed))


def _kind(text: str, terms: frozenset[str]) -> str | None:
    """The kind of a string: "A" (kept as is everywhere), "B" (kept, or after the vocabulary
    IRI), "W" (as "B", with white space that keeps it, vocabulary IRI in front or not, from
    being an absolute IRI, which the library asks of a value's type), or None (the string stays
    in the skeleton)."""
    if not text or text[0] == "@" or text in terms:
        return None
    colon = text.find(":")
    if colon == 0:
        return None
    if colon > 0:
        prefix = text[:colon]
        if prefix == "_" or prefix in terms:
            return None
        if ABSOLUTE.match(text):
            return "A"
        if text.startswith("//", colon + 1):
            return None
    return "B" if _NO_SPACE.match(text) else "W"


@dataclass(frozen=True)
class Skeleton:
    key: bytes
    slots: list[str]
    kinds: list[str]
    document: Any


def skeleton(document: Any, vocabulary_of: Callable[[tuple[str, ...]], Vocabulary]) -> Skeleton:
    """The skeleton of ``document``, its strings judged by the vocabulary of every context URL
    it names (``vocabulary_of``). Raises Declined."""
    root = document.get("@context") if isinstance(document, dict) else None
    urls = () if root is None else _urls(root)
    shape, named = _build(document, vocabulary_of(urls))
    if not named <= set(urls):  # nested contexts beyond the document's own
        shape, _ = _build(document, vocabulary_of(tuple(dict.fromkeys([*urls, *named]))))
    return shape


def _urls(value: Any) -> tuple[str, ...]:
    """The URLs of a ``@context`` of URLs only (whether they are pinned is the loader's
    business); Declined for any other kind of context: inline contexts define terms of their
    own."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise Declined


def _build(document: Any, vocab: Vocabulary) -> tuple[Skeleton, set[str]]:
    slots: list[str] = []
    kinds: list[str] = []
    named: set[str] = set()
    terms = vocab.terms
    closed = vocab.closed_aliases

    def string(value: str, open_: bool) -> str:
        if MARK in value or END in value:
            raise Declined
        kind = _kind(value, terms) if open_ else None
        if kind is None:
            return value
        number = str(len(slots))
        slots.append(value)
        kinds.append(kind)
        if kind == "A":
            return IRI_SCHEME + ":" + MARK + number + END
        return MARK + number + (" " + END if kind == "W" else END)

    def build(value: Any, open_: bool) -> Any:
        # exact types: anything else (a subclass) stays in the skeleton as it is, which is safe
        kind = type(value)
        if kind is str:
            return string(value, open_)
        if kind is dict:
            out = {}
            for key, item in value.items():
                if MARK in key or END in key:
                    raise Declined
                if key == "@context":
                    named.update(_urls(item))
                    out[key] = item
                    continue
                inner = open_ and (key in OPEN_KEYWORDS if key[:1] == "@" else key not in closed)
                out[key] = string(item, inner) if type(item) is str else build(item, inner)
            return out
        if kind is list:
            return [string(i, open_) if type(i) is str else build(i, open_) for i in value]
        return value

    shape = build(document, True)
    try:
        key = jsonout.compact(shape)
    except jsonout.EncodeError:  # a lone surrogate, or nesting past the writer's depth
        raise Declined from None
    return Skeleton(key, slots, kinds, shape), named


def fill(template: Any, slots: list[str]) -> Any:
    """A fresh copy of ``template`` with each marker replaced by its string."""
    if isinstance(template, str):
        if MARK not in template:
            return template
        match = _SLOT.search(template)
        assert match is not None  # checked when the template was learnt
        return template[: match.start()].removesuffix(IRI_SCHEME + ":") + slots[int(match.group(1))]
    if isinstance(template, dict):
        return {key: fill(item, slots) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, slots) for item in template]
    return template


def _well_formed(template: Any, kinds: list[str]) -> bool:
    """Does every marker in ``template`` stand where the rules allow: an "A" marker alone, a
    "B" marker alone or after a prefix; never in a key, never twice in one string?"""
    if isinstance(template, str):
        if MARK not in template and END not in template:
            return True
        match = _SLOT.search(template)
        if match is None or match.end() != len(template):
            return False
        head = template[: match.start()]
        if MARK in head or END in head:
            return False
        number = int(match.group(1))
        if number >= len(kinds):
            return False
        if (" " in match.group(0)) != (kinds[number] == "W"):
            return False
        if kinds[number] == "A":
            return head == IRI_SCHEME + ":"
        return not head.endswith(IRI_SCHEME + ":")
    if isinstance(template, dict):
        return all(
            MARK not in key and END not in key and _well_formed(item, kinds)
            for key, item in template.items()
        )
    if isinstance(template, list):
        return all(_well_formed(item, kinds) for item in template)
    return True


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON, types included (Python's ``==`` takes ``True`` for ``1``)."""
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


@dataclass(frozen=True)
class Template:
    expanded: Any
    dropped: list[str | None]
    #: The IRI positions of ``expanded`` that must be judged once filled (see
    #: contexts._positions_to_judge), markers unfilled.
    positions: list[tuple[str, Any]]
    #: Do the members the report reads say all that the expansion says (contexts.claims_agree)?
    #: A matter of structure only, so the skeleton's answer is every filling's.
    claims_agree: bool


class Skeletons:
    """The learnt templates, keyed by skeleton, and the vocabularies of the context URLs
    documents name; safe to share between threads."""

    def __init__(self) -> None:
        self._templates: OrderedDict[bytes, Template | None] = OrderedDict()
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._vocabularies: OrderedDict[tuple[str, ...], Vocabulary] = OrderedDict()
        self._lock = threading.Lock()

    def vocabulary(self, urls: tuple[str, ...], load: Callable[[str], Any]) -> Vocabulary:
        """:func:`vocabulary`, remembered. Raises Declined."""
        with self._lock:
            known = self._vocabularies.get(urls)
        if known is not None:
            return known
        found = vocabulary(urls, load)
        with self._lock:
            self._vocabularies[urls] = found
            if len(self._vocabularies) > MAX_VOCABULARIES:
                self._vocabularies.popitem(last=False)
        return found

    def get(self, key: bytes) -> Template | None:
        with self._lock:
            template = self._templates.get(key)
            if template is not None:
                self._templates.move_to_end(key)
            return template

    def known(self, key: bytes) -> bool:
        """Has this shape been judged already (learnt, or found not to fit)?"""
        with self._lock:
            return key in self._templates

    def sighted(self, key: bytes) -> bool:
        """Record a sighting; True when the shape was seen before and should be learnt now."""
        if len(key) > MAX_SKELETON_CHARS:
            return False
        with self._lock:
            if key in self._seen:
                del self._seen[key]
                return True
            self._seen[key] = None
            if len(self._seen) > MAX_SEEN:
                self._seen.popitem(last=False)
            return False

    def learn(
        self,
        shape: Skeleton,
        expanded: Any,
        dropped: list[str | None],
        expand: Callable[[Any], tuple[Any, list[str | None]]],
        positions: Callable[[Any], Iterable[tuple[str, Any]]],
        agree: Callable[[Any, Any], bool],
    ) -> None:
        """Learn ``shape`` from a document whose full expansion was ``expanded`` (and dropped
        ``dropped``), when the skeleton's own expansion fits exactly; else remember that this
        shape is expanded in full."""
        template: Template | None = None
        try:
            shape_expanded, shape_dropped = expand(shape.document)
        except Exception:  # the skeleton does not expand: keep the full path for it
            shape_expanded = None
        if (
            shape_expanded is not None
            and shape_dropped == dropped
            and _well_formed(shape_expanded, shape.kinds)
            and _same(fill(shape_expanded, shape.slots), expanded)
        ):
            template = Template(
                shape_expanded,
                list(shape_dropped),
                list(positions(shape_expanded)),
                agree(shape.document, shape_expanded),
            )
        with self._lock:
            self._templates[shape.key] = template
            self._templates.move_to_end(shape.key)
            while len(self._templates) > MAX_SKELETONS:
                self._templates.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._templates.clear()
            self._seen.clear()
            self._vocabularies.clear()


__all__ = [
    "Declined",
    "Skeleton",
    "Skeletons",
    "Template",
    "Vocabulary",
    "fill",
    "skeleton",
    "vocabulary",
]
