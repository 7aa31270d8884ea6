"""Which verification methods of a DID document may sign the DID's credentials.

The same rules hold for a document fetched over did:web (services/didweb.py) and for one the
operator hands the node as a file (node.yaml ``credentials.did_documents``, or ``did_document``
beside an issuer in trust_lists/*.yaml; docs/adr/0020):

1. the document's ``id`` is the DID;
2. a method's ``id`` is the DID's (the part before ``#``; ``#key-1`` is made absolute);
3. its ``controller`` is the DID;
4. it is referenced from ``assertionMethod`` (by id, relative or absolute, or embedded there):
   a key the DID's controller published for authentication or key agreement has not been
   offered for signing credentials;
5. nothing in the document is private key material (``secretKeyMultibase``,
   ``privateKeyMultibase``, ``privateKeyJwk``, a JWK's ``d``, ``p``, ``q``, ``dp``, ``dq``,
   ``qi`` or ``k``): such a document is refused whole, since whoever holds it holds the key.

A method of a type the node cannot use (or whose key cannot be read) is left out. The methods
come back in the form a trust list pins them (``id``, ``type``, and ``publicKeyMultibase`` or
``publicKeyJwk``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from registry_node.core.credentials.keys import KeyProblem, controller_of, key_from_method

MULTIBASE_TYPES = frozenset({"Multikey", "Ed25519VerificationKey2020"})
JWK_TYPES = frozenset({"JsonWebKey", "JsonWebKey2020"})
#: Members that carry private key material, in a verification method or in a JWK.
PRIVATE_METHOD_MEMBERS = frozenset({"secretKeyMultibase", "privateKeyMultibase", "privateKeyJwk"})
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


class DidDocumentProblem(Exception):
    """A DID document that cannot be used at all. ``code`` is a reason code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def private_members(value: Any, path: str = "") -> Iterator[str]:
    """The paths of the private key members anywhere in ``value`` (a method, a document)."""
    if isinstance(value, Mapping):
        is_jwk = "kty" in value
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in PRIVATE_METHOD_MEMBERS or (is_jwk and key in PRIVATE_JWK_MEMBERS):
                yield where
            else:
                yield from private_members(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from private_members(item, f"{path}[{index}]")


def pinned_form(method: Mapping[str, Any]) -> dict[str, Any] | None:
    """The method as a trust list pins it, or None when the node cannot use it (an unknown
    type, a key member that does not fit the type, a key that cannot be read)."""
    kind = method.get("type")
    if kind in MULTIBASE_TYPES and isinstance(method.get("publicKeyMultibase"), str):
        member = "publicKeyMultibase"
    elif kind in JWK_TYPES and isinstance(method.get("publicKeyJwk"), Mapping):
        member = "publicKeyJwk"
    else:
        return None
    if "publicKeyMultibase" in method and "publicKeyJwk" in method:
        return None
    value = method[member]
    form = {
        "id": method["id"],
        "type": kind,
        member: dict(value) if member == "publicKeyJwk" else value,
    }
    try:
        key_from_method(form)
    except KeyProblem:
        return None
    return form


def _absolute(reference: str, did: str) -> str:
    return did + reference if reference.startswith("#") else reference


def assertion_methods(document: Any, did: str) -> list[dict[str, Any]]:
    """The methods of ``did``'s ``document`` that may sign its credentials (the rules above),
    in the pinned form. Raises DidDocumentProblem (``did_document_mismatch``,
    ``did_document_private_key``)."""
    if not isinstance(document, Mapping) or document.get("id") != did:
        raise DidDocumentProblem("did_document_mismatch", f"the DID document is not {did}'s")
    leaked = next(private_members(document), None)
    if leaked is not None:
        raise DidDocumentProblem(
            "did_document_private_key", f"the DID document holds private key material ({leaked})"
        )
    listed: dict[str, Mapping[str, Any]] = {}
    for method in document.get("verificationMethod", ()) or ():
        if isinstance(method, Mapping) and isinstance(method.get("id"), str):
            listed.setdefault(_absolute(method["id"], did), method)
    chosen: dict[str, Mapping[str, Any]] = {}
    assertion = document.get("assertionMethod", ())
    for item in assertion if isinstance(assertion, list) else ():
        if isinstance(item, str):
            method_id = _absolute(item, did)
            found = listed.get(method_id)
        elif isinstance(item, Mapping) and isinstance(item.get("id"), str):
            method_id, found = _absolute(item["id"], did), item
        else:
            continue
        if found is not None:
            chosen.setdefault(method_id, found)
    methods = []
    for method_id, method in chosen.items():
        if controller_of(method_id) != did or method.get("controller") != did:
            continue
        form = pinned_form({**method, "id": method_id})
        if form is not None:
            methods.append(form)
    return methods


__all__ = [
    "JWK_TYPES",
    "MULTIBASE_TYPES",
    "DidDocumentProblem",
    "assertion_methods",
    "pinned_form",
    "private_members",
]
