"""Expansion learnt per shape (core/credentials/skeletons.py) against the JSON-LD library's own
expansion and canonicalization, which the verifier used alone before: on every vector, on
tampered credentials and on generated documents, the findings (dropped terms, undefined types,
relative ids), the expanded form and the canonical N-Quads are the library's exactly, or the
shape is not learnt and the library is used."""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld  # type: ignore[import-untyped]

from registry_node.core.credentials import PinnedKeys, skeletons, verify_credential
from registry_node.core.credentials import contexts as ld
from registry_node.core.credentials.dataintegrity import jcs
from tests import credential_factory as cf

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COLLEGE = "https://college.example/issuers/1"
COLLEGE_KEY = COLLEGE + "#key-1"


# --- the library alone, as the verifier used it before ----------------------------------------


def _walk(value: Any, found: dict[str, Any]) -> None:
    """Undefined types and relative ids in expanded form (the walk the verifier had)."""
    if isinstance(value, list):
        for item in value:
            _walk(item, found)
        return
    if not isinstance(value, dict):
        return
    if "@value" in value:
        datatype = value.get("@type")
        if isinstance(datatype, str) and datatype != "@json" and not ld._is_absolute(datatype):
            found["types"].add(datatype)
        return
    for key, item in value.items():
        if key == "@type":
            for name in item if isinstance(item, list) else [item]:
                if (
                    isinstance(name, str)
                    and not ld._is_absolute(name)
                    and not name.startswith("_:")
                ):
                    found["types"].add(name)
        elif key == "@id":
            if isinstance(item, str) and not ld._is_absolute(item) and not item.startswith("_:"):
                found["relative"] += 1
        else:
            _walk(item, found)


def reference(document: Any) -> dict[str, Any] | str:
    """What the library alone says of ``document``, or ``"error"``."""
    dropped: list[str | None] = []
    try:
        expanded = jsonld.expand(
            copy.deepcopy(document), ld._options(), on_property_dropped=dropped.append
        )
    except Exception:
        return "error"
    names = {name for name in dropped if name is not None}
    if None in dropped:
        names |= set(ld._keyword_like_keys(document)) or {"(a term mapped to null)"}
    found: dict[str, Any] = {"types": set(), "relative": 0}
    _walk(expanded, found)
    options = ld._options()
    options.update(algorithm="URDNA2015", format="application/n-quads")
    try:
        nquads = jsonld.normalize(copy.deepcopy(document), options)
    except Exception:
        nquads = "error"
    return {
        "expanded": json.dumps(expanded),
        "dropped": sorted(names),
        "types": sorted(found["types"]),
        "relative": found["relative"],
        "nquads": nquads,
    }


def ours(document: Any) -> dict[str, Any] | str:
    """What contexts.expand and contexts.canonize say of ``document``."""
    try:
        expansion = ld.expand(document)
    except ld.JsonLdProblem:
        return "error"
    try:
        nquads = ld.canonize(expansion.expanded)
    except ld.JsonLdProblem:
        nquads = "error"
    return {
        "expanded": json.dumps(expansion.expanded),
        "dropped": expansion.dropped_terms,
        "types": expansion.undefined_types,
        "relative": expansion.relative_ids,
        "nquads": nquads,
    }


def learnt(document: Any) -> bool:
    """Is the shape of ``document`` learnt (so that expanding it uses the template)?"""
    shape = ld._skeleton(document)
    return shape is not None and ld._shapes().get(shape.key) is not None


def learn(document: Any) -> None:
    """Show ``document`` twice: a shape is learnt on its second sighting."""
    for _ in range(2):
        with contextlib.suppress(ld.JsonLdProblem):
            ld.expand(document)


@pytest.fixture(autouse=True)
def fresh_shapes() -> Iterator[None]:
    ld._shapes().clear()
    yield
    ld._shapes().clear()


def credential_documents() -> list[tuple[str, dict[str, Any]]]:
    """The vectors' Data Integrity credentials, each without its proofs and as each proof's
    configuration, and the tests' own Open Badges credential."""
    found = []
    for path in sorted(VECTORS.glob("*.json")):
        if path.name == "manifest.json" or "verification-method" in path.name:
            continue
        credential = json.loads(path.read_text())
        found.append((path.name, {k: v for k, v in credential.items() if k != "proof"}))
        proofs = credential["proof"]
        for n, proof in enumerate(proofs if isinstance(proofs, list) else [proofs]):
            config = {k: v for k, v in proof.items() if k != "proofValue"}
            config["@context"] = credential["@context"]
            found.append((f"{path.name} proof {n}", config))
    found.append(("open badge", cf.open_badge(COLLEGE)))
    return found


DOCUMENTS = credential_documents()


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_every_vector_expands_and_canonicalizes_as_the_library_does(
    name: str, document: dict[str, Any]
) -> None:
    expected = reference(document)
    assert ours(document) == expected  # the first sighting: the library alone
    learn(document)
    assert learnt(document), "a credential of pinned contexts has a shape that is learnt"
    assert ours(document) == expected


def test_the_published_canonical_n_quads_come_from_a_learnt_shape() -> None:
    credential = json.loads((VECTORS / "01-w3c-eddsa-rdfc-2022-alumni.json").read_text())
    document = {k: v for k, v in credential.items() if k != "proof"}
    learn(document)
    assert learnt(document)
    expected = (VECTORS / "01-w3c-eddsa-rdfc-2022-alumni.canon-doc.nq").read_text()
    assert ld.canonize(ld.expand(document).expanded) == expected


def test_a_shape_is_learnt_on_its_second_sighting_only() -> None:
    document = cf.open_badge(COLLEGE)
    ld.expand(document)
    assert not learnt(document)
    ld.expand(document)
    assert learnt(document)


def test_credentials_of_one_shape_share_a_template() -> None:
    first = cf.open_badge(COLLEGE)
    learn(first)
    other = cf.open_badge("did:web:other.example", validFrom="2026-02-02T10:00:00Z")
    other["credentialSubject"]["name"] = "Sam Other"
    other["credentialSubject"]["achievement"]["id"] = "urn:uuid:1234"
    assert learnt(other)
    assert ours(other) == reference(other)
    assert json.loads(str(ours(other)["expanded"]))[0]["https://www.w3.org/2018/credentials#issuer"]  # type: ignore[index]


# --- strings that expansion does not treat alike, in the places where the difference shows ---

#: Strings whose expansion depends on what they say: terms, compact IRIs with a term prefix,
#: blank nodes, keyword forms, "//" forms, white space in an IRI, the marker characters.
ODD_STRINGS = [
    "",
    "@foo",
    "@id",
    "@json",
    "_:b0",
    "xsd:string",
    "cred:issuer",
    "sec:proof",
    "Achievement",
    "OpenBadgeCredential",
    "name",
    "id",
    "http://ex ample.org/a",
    "ht tp://example.org/a",
    "urn:x\n",
    "//example.org/a",
    ":x",
    "a:b:c",
    "1:2",
    "relative/path",
    "#fragment",
    "Bachelor of Science",
    "did:example:123",
    "https://example.org/a#b",
    "x-slot:\ue0000\ue001",
    "\ue0000\ue001",
    "caf\u00e9 \U0001f600",
    "two words",
    "trailing\n",
]

#: Places in an Open Badges credential: (path to a member, what kind of place it is).
PLACES = [
    (("id",), "@id of the credential"),
    (("type", 1), "a type of the credential"),
    (("credentialSubject", "id"), "@id of the subject"),
    (("credentialSubject", "achievement", "achievementType"), "a vocab-coerced value"),
    (("credentialSubject", "achievement", "name"), "a literal"),
    (("credentialSubject", "achievement", "type", 0), "a scoped type"),
    (("validFrom",), "a typed literal"),
    (("issuer", "id"), "the issuer's @id"),
]


def _put(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


#: Contexts to try them under: Open Badges on VC 2.0 (no vocabulary IRI), VC 1.1 (prefixes
#: such as ``cred:`` and ``xsd:``) and the VC 2.0 examples (a vocabulary IRI).
BASES = {
    "ob": [cf.VC_V2, cf.OB_V3],
    "vc 1.1": [cf.VC_V1, cf.OB_V3],
    "examples": [cf.VC_V2, cf.EXAMPLES_V2],
}
CASES = [(base, path, place) for path, place in PLACES for base in BASES if base == "ob"] + [
    (base, path, place) for path, place in PLACES[:4] for base in BASES if base != "ob"
]


@pytest.mark.parametrize("odd", ODD_STRINGS)
@pytest.mark.parametrize(("base", "path", "place"), CASES, ids=[f"{b}-{p}" for b, _, p in CASES])
def test_an_odd_string_where_a_plain_one_was_learnt(
    base: str, path: tuple[Any, ...], place: str, odd: str
) -> None:
    for plain in ("urn:example:plain", "plain value"):
        ld._shapes().clear()
        first = cf.open_badge(COLLEGE, **{"@context": BASES[base]})
        _put(first, path, plain)
        learn(first)
        assert learnt(first) or reference(first) == "error"
        second = cf.open_badge(COLLEGE, **{"@context": BASES[base]})
        _put(second, path, odd)
        assert ours(second) == reference(second), (place, plain, odd)


@pytest.mark.parametrize("keyword", ["@language", "@direction", "@index"])
def test_values_of_keywords_that_expansion_checks_are_not_templated(keyword: str) -> None:
    learnt_value = {"@language": "en", "@direction": "ltr", "@index": "a"}[keyword]
    other_value = {"@language": "EN-GB", "@direction": "rtl", "@index": "B"}[keyword]
    first = cf.open_badge(COLLEGE)
    first["credentialSubject"]["achievement"]["name"] = {"@value": "W", keyword: learnt_value}
    learn(first)
    assert learnt(first)
    second = copy.deepcopy(first)
    second["credentialSubject"]["achievement"]["name"][keyword] = other_value
    assert ours(second) == reference(second)
    if keyword == "@language":  # the library writes language tags in lower case
        assert "en-gb" in str(ours(second)["expanded"])  # type: ignore[index]


@pytest.mark.parametrize("other", ["plain type", "type\n", "type\n\n", "\ttype", "type-2"])
def test_white_space_in_a_value_type_under_a_vocabulary(other: str) -> None:
    first = cf.open_badge(COLLEGE, **{"@context": [cf.VC_V2, cf.EXAMPLES_V2]})
    first["credentialSubject"]["nickname"] = {"@value": "W", "@type": "plaintype"}
    learn(first)
    assert learnt(first)
    second = copy.deepcopy(first)
    second["credentialSubject"]["nickname"]["@type"] = other
    assert ours(second) == reference(second)


def test_a_skeleton_whose_expansion_does_not_fit_is_not_learnt() -> None:
    document = cf.open_badge(COLLEGE)
    shape = ld._skeleton(document)
    assert shape is not None
    expanded, dropped = ld._expand_in_full(document)

    def askew(doc: Any) -> tuple[Any, list[str | None]]:  # an expansion that does not fit
        out, gone = ld._expand_in_full(doc)
        return json.loads(json.dumps(out).replace("#Achievement", "#Other")), gone

    ld._shapes().learn(shape, expanded, dropped, askew, ld._positions_to_judge, ld.claims_agree)
    assert ld._shapes().known(shape.key) and ld._shapes().get(shape.key) is None
    ld._shapes().clear()
    ld._shapes().learn(
        shape, expanded, dropped, ld._expand_in_full, ld._positions_to_judge, ld.claims_agree
    )
    assert ld._shapes().get(shape.key) is not None


# --- generated documents ------------------------------------------------------------------------

KEYS = [
    "name",
    "description",
    "achievement",
    "alignment",
    "targetUrl",
    "targetName",
    "image",
    "evidence",
    "result",
    "awardedDate",
    "narrative",
    "inLanguage",
    "creditsAvailable",
    "id",
    "type",
    "@id",
    "@type",
    "@value",
    "@language",
    "@list",
    "@set",
    "@index",
    "@foo",
    "undefinedTerm",
    "anotherOne",
    "http://example.org/vocab#p",
    "xsd:string",
]
TYPES = ["Achievement", "Alignment", "Profile", "Result", "FooType", "urn:t:1", "xsd:date", "_:t"]
LEAVES = st.one_of(
    st.sampled_from(ODD_STRINGS + TYPES),
    st.text(max_size=8),
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=10,
)
SPOTS = [(), ("credentialSubject",), ("credentialSubject", "achievement"), ("issuer",)]


def _strings(value: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of every string in ``value``, the contexts left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "@context":
                continue
            if isinstance(item, str):
                yield value, key
            else:
                yield from _strings(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield value, index
            else:
                yield from _strings(item)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    spot=st.sampled_from(SPOTS),
    key=st.sampled_from(KEYS),
    extra=VALUES,
    types=st.lists(st.sampled_from(TYPES), max_size=2),
    replacements=st.lists(st.sampled_from(ODD_STRINGS + TYPES + ["plain", "urn:p:1"])),
    base=st.sampled_from(["open badge", "vc 2.0"]),
)
def test_generated_documents_and_their_variants(
    spot: tuple[str, ...],
    key: str,
    extra: Any,
    types: list[str],
    replacements: list[str],
    base: str,
) -> None:
    ld._shapes().clear()
    document = cf.open_badge(COLLEGE)
    if base == "vc 2.0":
        document["@context"] = [cf.VC_V2, cf.EXAMPLES_V2] if types else [cf.VC_V2]
    target: Any = document
    for step in spot:
        target = target[step]
    target[key] = extra
    if isinstance(target.get("type"), list):
        target["type"] = target["type"] + types
    learn(document)
    assert ours(document) == reference(document)
    # the same shape with other strings: every string, one after the other, replaced
    variant = copy.deepcopy(document)
    places = list(_strings(variant))
    for n, replacement in enumerate(replacements):
        if not places:
            break
        container, where = places[n % len(places)]
        container[where] = replacement
    assert ours(variant) == reference(variant)


# --- what the verifier makes of it ------------------------------------------------------------


@pytest.mark.parametrize("cryptosuite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_an_undefined_term_added_to_a_signed_credential_of_a_learnt_shape_is_caught(
    cryptosuite: str,
) -> None:
    key = cf.ed25519()
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(COLLEGE_KEY, key))
    credential = cf.sign_data_integrity(
        cf.open_badge(COLLEGE),
        key,
        COLLEGE_KEY,
        cryptosuite=cryptosuite,
    )
    for _ in range(3):
        report = verify_credential(credential, keys=keys, now=NOW, clock_skew=timedelta(0))
        assert report.all_valid, report.to_dict()
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["achievement"]["grade"] = "A+"
    for _ in range(3):  # and once its own shape is learnt too
        report = verify_credential(tampered, keys=keys, now=NOW, clock_skew=timedelta(0))
        failing = {c.name: c.code for c in report.failed()}
        assert failing.get("undefined_terms") == "undefined_terms", report.to_dict()
        assert "grade" in report.check("undefined_terms").detail  # type: ignore[union-attr]
        assert not report.all_valid


def test_a_changed_value_in_a_learnt_shape_breaks_the_rdf_signature() -> None:
    key = cf.ed25519()
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(COLLEGE_KEY, key))
    credential = cf.sign_data_integrity(cf.open_badge(COLLEGE), key, COLLEGE_KEY)
    for _ in range(3):
        assert verify_credential(credential, keys=keys, now=NOW, clock_skew=timedelta(0)).all_valid
    changed = copy.deepcopy(credential)
    changed["credentialSubject"]["achievement"]["name"] = "Welding Level 9"
    assert learnt({k: v for k, v in changed.items() if k != "proof"})
    report = verify_credential(changed, keys=keys, now=NOW, clock_skew=timedelta(0))
    assert report.check("signature").code == "bad_signature"  # type: ignore[union-attr]


# --- the bound on canonicalization ------------------------------------------------------------


def _clique(size: int) -> list[dict[str, Any]]:
    """Blank nodes that all point at each other: every first-degree hash is the same, and
    telling them apart takes factorial work."""
    ids = [f"_:n{i}" for i in range(size)]
    return [
        {"@id": me, "http://example.org/p": [{"@id": other} for other in ids if other != me]}
        for me in ids
    ]


def test_blank_node_poisoning_ends_quickly_with_a_clear_failure() -> None:
    started = time.monotonic()
    with pytest.raises(ld.JsonLdProblem) as caught:
        ld.canonize(_clique(9))
    assert caught.value.code == "not_canonicalizable"
    assert f"more than {ld.MAX_CANON_STEPS} steps" in caught.value.detail
    assert time.monotonic() - started < 30  # unbounded, this clique takes hours


def test_a_poisoned_credential_fails_its_signature_check_as_not_canonicalizable() -> None:
    credential = cf.open_badge(COLLEGE)
    credential["credentialSubject"]["achievement"]["alignment"] = [
        {"type": ["Alignment"], "targetName": "same", "targetUrl": "https://example.org/a"}
    ] * 2
    key = cf.ed25519()
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(COLLEGE_KEY, key))
    signed = cf.sign_data_integrity(credential, key, COLLEGE_KEY)
    assert verify_credential(signed, keys=keys, now=NOW, clock_skew=timedelta(0)).all_valid
    original = ld.MAX_CANON_STEPS
    try:
        ld.MAX_CANON_STEPS = 1  # two identical alignments need a few steps
        report = verify_credential(signed, keys=keys, now=NOW, clock_skew=timedelta(0))
    finally:
        ld.MAX_CANON_STEPS = original
    assert report.check("signature").code == "not_canonicalizable"  # type: ignore[union-attr]


def test_blank_nodes_that_need_a_few_steps_still_canonicalize_as_the_library_does() -> None:
    expanded = _clique(3)
    options = ld._options()
    options.update(algorithm="URDNA2015", format="application/n-quads")
    assert ld.canonize(expanded) == jsonld.normalize(copy.deepcopy(expanded), options)


# --- what is never learnt ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"@context": [cf.VC_V2, cf.OB_V3, {"grade": "https://example.org/grade"}]},
        {"@context": [cf.VC_V2, {"@import": cf.OB_V3}]},
        {"credentialSubject": {"@context": {"name": "@id"}, "name": "urn:x"}},
        {"name": "has \ue000 a marker character"},
        {"na\ue001me": "a marker character in a key"},
    ],
)
def test_documents_the_skeleton_does_not_model_are_expanded_in_full(
    change: dict[str, Any],
) -> None:
    document = {**cf.open_badge(COLLEGE), **change}
    assert ld._skeleton(document) is None
    learn(document)
    assert not learnt(document)
    assert ours(document) == reference(document)


def test_an_unpinned_context_is_still_refused() -> None:
    document = cf.open_badge(COLLEGE, **{"@context": [cf.VC_V2, "https://example.org/ctx"]})
    for _ in range(3):
        with pytest.raises(ld.JsonLdProblem) as caught:
            ld.expand(document)
        assert caught.value.code == "context_not_pinned"


def test_a_skeleton_keeps_terms_and_keyword_values_and_marks_data() -> None:
    shape = skeletons.skeleton(
        {
            "@context": [cf.VC_V2, cf.OB_V3],
            "type": ["VerifiableCredential", "urn:t"],
            "name": "Jo",
            "x": {"@value": "v", "@language": "en"},
            "y": "Achievement:x",
        },
        ld._vocabulary,
    )
    assert shape.slots == ["urn:t", "Jo", "v"]
    assert shape.kinds == ["A", "B", "B"]
    assert shape.document["x"]["@language"] == "en"
    assert shape.document["y"] == "Achievement:x"
    assert shape.document["type"][0] == "VerifiableCredential"


# --- JCS ----------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


def _rfc8785(value: Any) -> bytes | str:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return "error"


def _ours_jcs(value: Any) -> bytes | str:
    try:
        return jcs(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return "error"


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_jcs_writes_what_rfc8785_writes(value: Any) -> None:
    assert _ours_jcs(value) == _rfc8785(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code-point order
        {"a": "\ud800"},  # a lone surrogate
        {"n": 2**53},  # beyond the double-precision integers
        {"f": 1.0, "g": 1e21, "h": -0.0},
        {"s": '\x00\x1f\x7f\u2028"\\/\b\f\n\r\t'},
        [True, False, None, 0, -1],
    ],
)
def test_jcs_on_the_edges(value: Any) -> None:
    assert _ours_jcs(value) == _rfc8785(value)


def test_a_nested_context_url_brings_its_terms_into_the_skeleton() -> None:
    asked: list[tuple[str, ...]] = []

    def vocabulary_of(urls: tuple[str, ...]) -> skeletons.Vocabulary:
        asked.append(urls)
        terms = {"zz"} if "urn:ctx:inner" in urls else set()
        return skeletons.Vocabulary(frozenset(terms), frozenset())

    document = {"@context": "urn:ctx:outer", "a": {"@context": ["urn:ctx:inner"], "b": "zz:x"}}
    shape = skeletons.skeleton(document, vocabulary_of)
    assert asked == [("urn:ctx:outer",), ("urn:ctx:outer", "urn:ctx:inner")]
    assert shape.slots == []  # zz is a term of the inner context: zz:x is a compact IRI
    alone = skeletons.skeleton({"@context": "urn:ctx:outer", "b": "zz:x"}, vocabulary_of)
    assert alone.slots == ["zz:x"]


# --- a quick check only (the event loop's) ----------------------------------------------------


def test_a_quick_check_stops_before_what_takes_long() -> None:
    """Within quick_only: canonicalisation past QUICK_CANON_STEPS and any full expansion
    raise WouldTakeLong (no finding); what needs neither goes through unchanged."""
    with ld.quick_only(), pytest.raises(ld.WouldTakeLong):
        ld.canonize(_clique(9))
    few = _clique(2)  # 12 steps: within the quick bound
    with ld.quick_only():
        quick = ld.canonize(few)
    assert quick == ld.canonize(few)
    with ld.quick_only(), pytest.raises(ld.WouldTakeLong):
        ld.canonize(_clique(3))  # 75 steps
    unseen = cf.open_badge("did:web:quick.example", name=f"Shape {time.monotonic_ns()}")
    unseen["credentialSubject"]["achievement"][f"quick{time.monotonic_ns()}"] = "x"
    with ld.quick_only(), pytest.raises(ld.WouldTakeLong):
        ld.expand(unseen)
    for _ in range(2):  # seen twice in full: learnt
        ld.expand(unseen)
    assert learnt(unseen)
    with ld.quick_only():
        assert ld.expand(unseen).dropped_terms == ld.expand(unseen).dropped_terms


def test_a_quick_check_is_not_a_finding_of_the_credential() -> None:
    """A poisoned credential stopped in a quick check is not judged by it: outside, the same
    credential fails as not_canonicalizable, as before."""
    credential = {
        "@context": [cf.VC_V2],
        "type": ["VerifiableCredential"],
        "issuer": COLLEGE,
        "validFrom": "2025-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:learner", "@included": _clique(9)},
    }
    key = cf.ed25519()
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(COLLEGE_KEY, key))
    signed = cf.sign_data_integrity(credential, key, COLLEGE_KEY, cryptosuite="eddsa-jcs-2022")
    signed["proof"]["cryptosuite"] = "eddsa-rdfc-2022"
    for _ in range(3):  # its shapes learnt: only canonicalisation is left to stop it
        report = verify_credential(signed, keys=keys, now=NOW, clock_skew=timedelta(0))
    assert report.check("signature").code == "not_canonicalizable"  # type: ignore[union-attr]
    with ld.quick_only(), pytest.raises(ld.WouldTakeLong):
        verify_credential(signed, keys=keys, now=NOW, clock_skew=timedelta(0))


IRI_LIKE = st.text(alphabet=st.sampled_from("aZ9_:+-./#? \t\n\u00e9\u3000@x"), max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.one_of(IRI_LIKE, st.sampled_from(["http://a b", "_:b0", "urn:x\n", ":x", "1a:b"])))
def test_the_compiled_absolute_iri_test_answers_as_the_librarys(value: str) -> None:
    ours = ld._is_absolute_iri(value)
    theirs = ld.library_is_absolute_iri(value)
    assert bool(ours) == bool(theirs)
    assert jsonld._is_absolute_iri is ld._is_absolute_iri


def test_canonicalization_with_the_shallow_component_copy_matches_the_librarys() -> None:
    """Blank nodes whose first-degree hashes need the modified components (two nodes pointing
    at each other and at a third): the node's canonical N-Quads equal the library's own."""
    doc = {
        "@context": {"@vocab": "https://example.org/"},
        "@id": "_:x",
        "knows": [
            {"@id": "_:y", "knows": {"@id": "_:x"}, "name": "y"},
            {"@id": "_:z", "knows": [{"@id": "_:y"}, {"@id": "_:x"}], "name": "z"},
        ],
        "name": "x",
    }
    expanded = jsonld.expand(doc)
    ours = ld.canonize(expanded)
    theirs = jsonld.normalize(expanded, {"algorithm": "URDNA2015", "format": "application/n-quads"})
    assert ours == theirs
    assert ours.count("_:c14n") >= 3


def test_the_positions_left_out_of_a_template_are_absolute_whatever_fills_them() -> None:
    """A learnt template keeps only the IRI positions filling may leave relative: judging
    those gives what judging every position of the filled expansion gives."""
    found = []
    for base in ("ob", "examples"):
        for other in ["plain", "relative/path", "urn:x:y", "did:example:1", "zz:top", "a b"]:
            document = cf.open_badge(COLLEGE, **{"@context": BASES[base]})
            document["credentialSubject"]["id"] = other
            document["credentialSubject"]["type"] = ["AchievementSubject", other]
            document["credentialSubject"]["achievement"]["alignment"] = [
                {"type": ["Alignment"], "targetUrl": other, "targetName": "x"}
            ]
            learn(document)
            shape = ld._skeleton(document)
            assert shape is not None
            template = ld._shapes().get(shape.key)
            if template is None:
                continue
            every = ld.Expansion([])
            filled = skeletons.fill(template.expanded, shape.slots)
            ld._judge_iris(ld._iri_positions(filled), every)
            kept = ld.Expansion([])
            ld._judge_iris(
                [(w, skeletons.fill(v, shape.slots)) for w, v in template.positions], kept
            )
            assert (every.undefined_types, every.relative_ids) == (
                kept.undefined_types,
                kept.relative_ids,
            )
            assert len(template.positions) < len(list(ld._iri_positions(template.expanded)))
            found.append((every.undefined_types, every.relative_ids))
    assert ([], 0) in found and any(types for types, _ in found) and any(n for _, n in found)


# --- a member the report reads, stated again under another name -------------------------------

OB_VOCAB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"
CRED_VOCAB = "https://www.w3.org/2018/credentials#"
CLR_VOCAB = "https://purl.imsglobal.org/spec/vc/clr/vocab.html#"


def _achievement(credential: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = credential["credentialSubject"]["achievement"]
    return found


def _achievement_type_by_iri(credential: dict[str, Any]) -> None:
    _achievement(credential)[OB_VOCAB + "achievementType"] = "Degree"


def _issuer_by_iri(credential: dict[str, Any]) -> None:
    credential[CRED_VOCAB + "issuer"] = {"id": "did:web:other.example"}


def _subject_by_iri(credential: dict[str, Any]) -> None:
    other = copy.deepcopy(credential["credentialSubject"])
    other["id"] = "did:example:someone-else"
    credential[CRED_VOCAB + "credentialSubject"] = other


def _type_by_keyword(credential: dict[str, Any]) -> None:
    credential["@context"] = [cf.VC_V2, cf.OB_V3, cf.CLR_V2]
    credential["@type"] = ["ClrCredential"]


def _achievement_by_iri(credential: dict[str, Any]) -> None:
    other = {**_achievement(credential), "id": "urn:uuid:5678", "achievementType": "Degree"}
    credential["credentialSubject"][OB_VOCAB + "achievement"] = other


def _valid_until_by_iri(credential: dict[str, Any]) -> None:
    credential["validUntil"] = "2030-01-01T00:00:00Z"  # what the member shows; its twin ends sooner
    credential[CRED_VOCAB + "validUntil"] = {
        "@value": "2025-02-01T00:00:00Z",
        "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
    }


def _status_by_iri(credential: dict[str, Any]) -> None:
    credential[CRED_VOCAB + "credentialStatus"] = {
        "id": "https://college.example/status/1#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": "https://college.example/status/1",
    }


def _endorsement_by_iri(credential: dict[str, Any]) -> None:
    credential["endorsement"] = [cf.endorsement("did:web:endorser.example")]
    credential[OB_VOCAB + "endorsement"] = cf.endorsement("did:web:endorser.example")


def _issuer_endorsement_by_iri(credential: dict[str, Any]) -> None:
    credential["issuer"][OB_VOCAB + "endorsementJwt"] = "e30.e30.c2ln"


def _achievement_endorsement_by_iri(credential: dict[str, Any]) -> None:
    _achievement(credential)[OB_VOCAB + "endorsement"] = cf.endorsement("did:web:endorser.example")


@pytest.mark.parametrize("cryptosuite", ["eddsa-jcs-2022", "eddsa-rdfc-2022"])
@pytest.mark.parametrize(
    "restate",
    [
        _endorsement_by_iri,
        _issuer_endorsement_by_iri,
        _achievement_endorsement_by_iri,
        _valid_until_by_iri,
        _status_by_iri,
        _achievement_type_by_iri,
        _issuer_by_iri,
        _subject_by_iri,
        _type_by_keyword,
        _achievement_by_iri,
    ],
)
def test_a_member_the_report_reads_stated_again_under_another_name_fails(
    restate: Any, cryptosuite: str
) -> None:
    """JSON-LD merges the two, so the credential signs a type, issuer, subject or achievement
    type that the members the node reads (and judges trust on) do not show: it is invalid,
    whether its shape is expanded in full or from a learnt template."""
    key = cf.ed25519()
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(COLLEGE_KEY, key))
    credential = cf.open_badge(COLLEGE)
    restate(credential)
    signed = cf.sign_data_integrity(credential, key, COLLEGE_KEY, cryptosuite=cryptosuite)
    for sighting in range(3):  # in full twice (learnt on the second), then from the template
        report = verify_credential(signed, keys=keys, now=NOW, clock_skew=timedelta(0))
        failing = {c.name: c.code for c in report.failed()}
        assert failing == {"undefined_terms": "duplicate_claims"}, (sighting, report.to_dict())
    assert learnt({k: v for k, v in signed.items() if k != "proof"})


@pytest.mark.parametrize("vocabulary", [CLR_VOCAB, CRED_VOCAB])
def test_a_credential_a_clr_carries_under_another_name_fails(vocabulary: str) -> None:
    """A CLR that carries one credential under its member and another under the property's
    IRI would have only the first checked: the CLR is invalid."""
    key = cf.ed25519()
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(COLLEGE_KEY, key))
    inner = cf.sign_data_integrity(cf.open_badge(COLLEGE), key, COLLEGE_KEY)
    hidden = cf.open_badge(COLLEGE)  # unsigned: it would fail its own checks
    clr = cf.clr(COLLEGE, [inner])
    clr["credentialSubject"][vocabulary + "verifiableCredential"] = {"@graph": hidden}
    signed = cf.sign_data_integrity(clr, key, COLLEGE_KEY, cryptosuite="eddsa-jcs-2022")
    report = verify_credential(signed, keys=keys, now=NOW, clock_skew=timedelta(0))
    assert {c.name: c.code for c in report.failed()} == {"undefined_terms": "duplicate_claims"}
    clean = cf.sign_data_integrity(cf.clr(COLLEGE, [inner]), key, COLLEGE_KEY)
    assert verify_credential(clean, keys=keys, now=NOW, clock_skew=timedelta(0)).all_valid


def test_members_stated_once_agree_with_their_expansion() -> None:
    listed = cf.open_badge(COLLEGE)
    subject = listed["credentialSubject"]
    subject["achievement"] = [
        {**subject["achievement"], "achievementType": ["Certificate", "Certificate"]},
        {**subject["achievement"], "id": "urn:uuid:5678", "achievementType": None},
        # a null in a list is dropped: fewer values than the member, and nothing hidden
        {**subject["achievement"], "id": "urn:uuid:9abc", "achievementType": [None, "Degree"]},
    ]
    no_achievement = cf.open_badge(COLLEGE)
    del no_achievement["credentialSubject"]["achievement"]
    clr = cf.clr(COLLEGE, [])
    del clr["credentialSubject"]["verifiableCredential"]
    endorsed = cf.open_badge(COLLEGE)
    endorsed["endorsement"] = [
        cf.endorsement("did:web:endorser.example"),
        cf.endorsement("did:web:endorser.example"),
    ]
    endorsed["issuer"]["endorsementJwt"] = ["e30.e30.c2ln"]
    _achievement(endorsed)["endorsement"] = cf.endorsement("did:web:endorser.example")
    carrying = cf.clr(COLLEGE, [cf.open_badge(COLLEGE), endorsed])
    for document in (cf.open_badge(COLLEGE), listed, no_achievement, clr, endorsed, carrying):
        for _ in range(3):
            expansion = ld.expand(document)
            assert expansion.clean and expansion.claims_agree, document
        assert learnt(document)
    restated = cf.open_badge(COLLEGE)
    _achievement_type_by_iri(restated)
    assert not ld.claims_agree(restated, ld.expand(restated).expanded)
