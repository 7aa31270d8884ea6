"""Credential status (docs/protocol.md section 13.2, docs/adr/0019): every credentialStatus
entry is judged against a status list that verifies with a key of the credential's issuer, is
the issuer's own, is within its dates and fresh; a revoked or suspended credential is invalid;
status that cannot be established makes the verdict indeterminate, never valid.

The credentials and lists are signed with the real suites (tests/credential_factory.py) and
checked through the verifier the node and the command line use, against an in-memory trust
index (tests/services/test_verify_sources.py)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry_node.core.credentials import PinnedKeys, verify_credential
from registry_node.core.credentials.status import (
    MIN_BITSTRING_BYTES,
    StatusListCopy,
    decode_bitstring,
    encode_bitstring,
    status_value,
)
from registry_node.services.statuslists import StatusLists
from registry_node.services.verifier import Verifier
from tests import credential_factory as cf
from tests.helpers import FakeClock
from tests.services.test_verify_sources import COLLEGE, OHIO, SKEW, entry, trust_index

OTHER = "did:web:other.ohio.example"
LIST_URL = "https://status.college.ohio.example/lists/1"
SUSPENSIONS = "https://status.college.ohio.example/lists/2"
LEGACY_URL = "https://status.college.ohio.example/legacy/1"
REVOCATIONS = "https://status.college.ohio.example/revocations"
BADGE_ID = "urn:uuid:0f5c2f52-1111-4c4e-9f5e-3a3a8a1f0001"
#: StatusList2021's own context is not shipped with the node (docs/adr/0019): these tests
#: define its terms inline, as an issuer could.
OB_EXTENSIONS = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
LEGACY_TERMS = {
    "StatusList2021Entry": "https://w3id.org/vc/status-list#StatusList2021Entry",
    "StatusList2021Credential": "https://w3id.org/vc/status-list#StatusList2021Credential",
    "StatusList2021": "https://w3id.org/vc/status-list#StatusList2021",
    "statusListIndex": "https://w3id.org/vc/status-list#statusListIndex",
    "statusListCredential": {
        "@id": "https://w3id.org/vc/status-list#statusListCredential",
        "@type": "@id",
    },
    "statusPurpose": "https://w3id.org/vc/status-list#statusPurpose",
    "encodedList": "https://w3id.org/vc/status-list#encodedList",
}


def method(did: str) -> str:
    return f"{did}#key-1"


def bits(*set_entries: int, size: int = 1, value: int = 1) -> bytes:
    """A 16 KB bitstring with the entries ``set_entries`` (of ``size`` bits) set to ``value``."""
    data = bytearray(MIN_BITSTRING_BYTES)
    for index in set_entries:
        for offset in range(size):
            if value >> (size - 1 - offset) & 1:
                position = index * size + offset
                data[position // 8] |= 0x80 >> (position % 8)
    return bytes(data)


def status_list(
    url: str,
    key: Ed25519PrivateKey,
    *,
    issuer: str = COLLEGE,
    purpose: str = "revocation",
    revoked: tuple[int, ...] = (),
    legacy: bool = False,
    sign: bool = True,
    signer: str | None = None,
    **members: Any,
) -> dict[str, Any]:
    """A signed BitstringStatusListCredential (or StatusList2021Credential) of ``issuer``."""
    subject: dict[str, Any] = {
        "id": f"{url}#list",
        "type": "StatusList2021" if legacy else "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": encode_bitstring(bits(*revoked), multibase=not legacy),
    }
    subject.update(members.pop("subject", {}))
    document: dict[str, Any] = {
        "@context": [cf.VC_V2, LEGACY_TERMS] if legacy else [cf.VC_V2],
        "id": url,
        "type": [
            "VerifiableCredential",
            "StatusList2021Credential" if legacy else "BitstringStatusListCredential",
        ],
        "issuer": issuer,
        "validFrom": "2026-03-01T00:00:00Z",
        "credentialSubject": subject,
        **members,
    }
    if not sign:
        return document
    return cf.sign_data_integrity(document, key, method(signer or issuer))


def entry_for(url: str, index: int, purpose: str = "revocation", **members: Any) -> dict[str, Any]:
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
        **members,
    }


def badge(key: Ed25519PrivateKey, status: Any, *, legacy: bool = False, **members: Any) -> Any:
    contexts: list[Any] = [cf.VC_V2, cf.OB_V3, OB_EXTENSIONS]
    if legacy:
        contexts.append(LEGACY_TERMS)
    credential = cf.open_badge(COLLEGE, **{"@context": contexts}, **members)
    if status is not None:
        credential["credentialStatus"] = status
    return cf.sign_data_integrity(credential, key, method(COLLEGE))


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return cf.ed25519()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return cf.ed25519()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def index_for(clock: FakeClock, key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> Any:
    return trust_index(
        clock,
        {
            OHIO: [
                entry(COLLEGE, [cf.multikey_method(method(COLLEGE), key)]),
                entry(OTHER, [cf.multikey_method(method(OTHER), other_key)]),
            ]
        },
    )


def verify_offline(
    clock: FakeClock,
    keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey],
    credential: Any,
    lists: dict[str, Any],
    **options: Any,
) -> dict[str, Any]:
    status = StatusLists(clock, bundled=lists, **options)
    verifier = Verifier(index_for(clock, *keys), SKEW, status_lists=status)
    result: dict[str, Any] = verifier.verify_now(credential)
    return result


def status_of(result: dict[str, Any]) -> dict[str, Any]:
    check = next(c for c in result["credential"]["checks"] if c["name"] == "status")
    return dict(check)


# --- the bitstring ------------------------------------------------------------------------


def test_the_first_entry_is_the_most_significant_bit_of_the_first_byte() -> None:
    data = bytes([0b1000_0000, 0b0000_0001]) + bytes(MIN_BITSTRING_BYTES)
    assert status_value(data, 0, 1) == 1
    assert status_value(data, 1, 1) == 0
    assert status_value(data, 15, 1) == 1
    assert status_value(data, 7, 2) == 1  # bits 14 and 15
    assert decode_bitstring(encode_bitstring(bits(3)), multibase=True)[0] == 0b0001_0000


@pytest.mark.parametrize(
    ("encoded", "multibase", "why"),
    [
        (encode_bitstring(bits(), multibase=False), True, "multibase"),
        ("u" + "!" * 20, True, "base64url"),
        ("uAAAA", True, "GZIP"),
        (encode_bitstring(bytes(100)), True, "under the minimum"),
        (encode_bitstring(bytes(17 * 1024 * 1024)), True, "over"),
    ],
)
def test_a_bitstring_that_cannot_be_read(encoded: str, multibase: bool, why: str) -> None:
    from registry_node.core.credentials.status import _Unsure

    with pytest.raises(_Unsure, match=why) as caught:
        decode_bitstring(encoded, multibase)
    assert caught.value.code == "status_list_malformed"


# --- Bitstring Status List ----------------------------------------------------------------


def test_not_revoked(clock: FakeClock, key: Any, other_key: Any) -> None:
    lists = {LIST_URL: status_list(LIST_URL, key, revoked=(5,))}
    result = verify_offline(clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), lists)
    assert result["verdict"] == "valid", result["summary"]
    assert status_of(result)["code"] == "status_clear"
    assert status_of(result)["outcome"] == "passed"
    assert result["credential"]["status"][0]["list"] == LIST_URL
    assert "not revoked" in result["summary"]


def test_revoked(clock: FakeClock, key: Any, other_key: Any) -> None:
    lists = {LIST_URL: status_list(LIST_URL, key, revoked=(4,))}
    result = verify_offline(clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), lists)
    assert result["verdict"] == "invalid"
    assert status_of(result) | {"detail": ""} == {
        "name": "status",
        "passed": False,
        "outcome": "failed",
        "code": "status_revoked",
        "detail": "",
    }
    assert result["summary"].startswith("Not valid: status: revoked")


def test_suspended(clock: FakeClock, key: Any, other_key: Any) -> None:
    lists = {SUSPENSIONS: status_list(SUSPENSIONS, key, purpose="suspension", revoked=(9,))}
    status = entry_for(SUSPENSIONS, 9, purpose="suspension")
    result = verify_offline(clock, (key, other_key), badge(key, status), lists)
    assert result["verdict"] == "invalid"
    assert (status_of(result)["outcome"], status_of(result)["code"]) == (
        "failed",
        "status_suspended",
    )


def test_a_message_status_is_reported(clock: FakeClock, key: Any, other_key: Any) -> None:
    messages = [{"status": "0x0", "message": "fine"}, {"status": "0x1", "message": "pending"}]
    messages += [{"status": "0x2", "message": "x"}, {"status": "0x3", "message": "y"}]
    encoded = encode_bitstring(bits(2, size=2, value=1))
    lists = {
        LIST_URL: status_list(LIST_URL, key, purpose="message", subject={"encodedList": encoded})
    }
    status = entry_for(LIST_URL, 2, purpose="message", statusSize=2, statusMessage=messages)
    result = verify_offline(clock, (key, other_key), badge(key, status), lists)
    assert result["verdict"] == "valid", result["summary"]
    assert status_of(result)["code"] == "status_reported"
    assert "status 0x1 (pending)" in status_of(result)["detail"]


def test_two_entries_where_only_the_second_is_revoked(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    lists = {
        SUSPENSIONS: status_list(SUSPENSIONS, key, purpose="suspension"),
        LIST_URL: status_list(LIST_URL, key, revoked=(7,)),
    }
    entries = [entry_for(SUSPENSIONS, 7, purpose="suspension"), entry_for(LIST_URL, 7)]
    result = verify_offline(clock, (key, other_key), badge(key, entries), lists)
    assert result["verdict"] == "invalid"
    check = status_of(result)
    assert check["code"] == "status_revoked"
    assert check["detail"].startswith("entry 2 of 2: ")
    assert [e["code"] for e in result["credential"]["status"]] == ["status_clear", "status_revoked"]


def test_a_forged_list_establishes_nothing(clock: FakeClock, key: Any, other_key: Any) -> None:
    """A list whose proof does not verify cannot clear a credential, nor revoke it."""
    forged = status_list(LIST_URL, key, revoked=())
    forged["credentialSubject"]["encodedList"] = encode_bitstring(bits(1))
    result = verify_offline(
        clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), {LIST_URL: forged}
    )
    assert result["verdict"] == "indeterminate"
    assert (status_of(result)["outcome"], status_of(result)["code"]) == (
        "indeterminate",
        "status_list_invalid",
    )
    assert "signature bad_signature" in status_of(result)["detail"]
    # Signed by a key that is not the issuer's, it does not verify either.
    stranger = cf.ed25519()
    wrong = status_list(LIST_URL, stranger)
    result = verify_offline(
        clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), {LIST_URL: wrong}
    )
    assert status_of(result)["code"] == "status_list_invalid"
    # And an unsigned list is not believed.
    bare = status_list(LIST_URL, key, sign=False)
    result = verify_offline(
        clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), {LIST_URL: bare}
    )
    assert result["verdict"] == "indeterminate"
    assert status_of(result)["code"] == "status_list_invalid"


def test_a_list_of_another_issuer_is_not_the_issuers(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    """A list another trusted issuer signed properly says nothing of this issuer's
    credentials: it cannot clear them."""
    theirs = status_list(LIST_URL, other_key, issuer=OTHER)
    result = verify_offline(
        clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), {LIST_URL: theirs}
    )
    assert result["verdict"] == "indeterminate"
    assert (status_of(result)["outcome"], status_of(result)["code"]) == (
        "indeterminate",
        "status_list_issuer_mismatch",
    )


def test_a_list_past_its_valid_until(clock: FakeClock, key: Any, other_key: Any) -> None:
    ended = status_list(LIST_URL, key, validUntil="2026-03-01T06:00:00Z")
    result = verify_offline(
        clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), {LIST_URL: ended}
    )
    assert result["verdict"] == "indeterminate"
    assert status_of(result)["code"] == "status_list_expired"


def test_a_list_older_than_the_freshness_bound(clock: FakeClock, key: Any, other_key: Any) -> None:
    """A bundle's copy is as old as its validFrom: within the bound it is used, past it it is
    stale; the list's own ttl shortens the bound."""
    lists = {LIST_URL: status_list(LIST_URL, key)}
    credential = badge(key, entry_for(LIST_URL, 4))
    keys = (key, other_key)
    fresh = verify_offline(clock, keys, credential, lists, max_age=timedelta(hours=13))
    assert fresh["verdict"] == "valid", fresh["summary"]
    stale = verify_offline(clock, keys, credential, lists, max_age=timedelta(hours=11))
    assert stale["verdict"] == "indeterminate"
    assert status_of(stale)["code"] == "status_list_stale"
    short = {LIST_URL: status_list(LIST_URL, key, subject={"ttl": 3600 * 1000})}
    ttl = verify_offline(clock, keys, credential, short, max_age=timedelta(hours=13))
    assert status_of(ttl)["code"] == "status_list_stale"
    clock.advance(hours=2)
    later = verify_offline(clock, keys, credential, lists, max_age=timedelta(hours=13))
    assert status_of(later)["code"] == "status_list_stale"


def test_no_copy_of_the_list(clock: FakeClock, key: Any, other_key: Any) -> None:
    result = verify_offline(clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), {})
    assert result["verdict"] == "indeterminate"
    assert (status_of(result)["outcome"], status_of(result)["code"]) == (
        "indeterminate",
        "status_list_unavailable",
    )
    assert "fetching status lists is off" in status_of(result)["detail"]
    assert result["summary"].startswith("Could not be verified: status:")


def test_without_status_lists_at_all_status_is_not_checked(key: Any) -> None:
    """The core without status lists (the caller consults none): not valid either."""
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(method(COLLEGE), key))
    credential = badge(key, entry_for(LIST_URL, 4))
    report = verify_credential(credential, keys=keys, now=FakeClock()(), clock_skew=SKEW)
    assert report.verdict == "indeterminate"
    assert report.check("status") is not None
    assert report.check("status").code == "status_not_checked"  # type: ignore[union-attr]
    plain = badge(key, None)
    clean = verify_credential(plain, keys=keys, now=FakeClock()(), clock_skew=SKEW)
    assert clean.verdict == "valid"
    assert clean.check("status").code == "no_status"  # type: ignore[union-attr]


MALFORMED = "status_entry_malformed"


@pytest.mark.parametrize(
    ("status", "code", "verdict"),
    [
        ({"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}, MALFORMED, "invalid"),
        (entry_for(LIST_URL, 4) | {"statusListIndex": "-1"}, MALFORMED, "invalid"),
        (entry_for(LIST_URL, 4) | {"statusSize": 2}, MALFORMED, "invalid"),
        # an entry type no context defines also fails undefined_terms: invalid
        ({"type": "CredentialStatusList2017", "id": LIST_URL}, "status_unsupported", "invalid"),
        (entry_for(LIST_URL, 4, purpose="suspension"), "status_purpose_mismatch", "indeterminate"),
        (
            entry_for(LIST_URL, MIN_BITSTRING_BYTES * 8),
            "status_index_out_of_range",
            "indeterminate",
        ),
    ],
)
def test_entries_that_cannot_be_judged(
    clock: FakeClock, key: Any, other_key: Any, status: dict[str, Any], code: str, verdict: str
) -> None:
    lists = {LIST_URL: status_list(LIST_URL, key)}
    result = verify_offline(clock, (key, other_key), badge(key, status), lists)
    assert status_of(result)["code"] == code
    assert result["verdict"] == verdict


# --- StatusList2021 -------------------------------------------------------------------------


def legacy_entry(index: int) -> dict[str, Any]:
    return {
        "id": f"{LEGACY_URL}#{index}",
        "type": "StatusList2021Entry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": LEGACY_URL,
    }


@pytest.mark.parametrize(("revoked", "verdict"), [((3,), "invalid"), ((), "valid")])
def test_status_list_2021(
    clock: FakeClock, key: Any, other_key: Any, revoked: tuple[int, ...], verdict: str
) -> None:
    lists = {LEGACY_URL: status_list(LEGACY_URL, key, legacy=True, revoked=revoked)}
    credential = badge(key, legacy_entry(3), legacy=True)
    result = verify_offline(clock, (key, other_key), credential, lists)
    assert result["verdict"] == verdict, result["summary"]
    assert status_of(result)["code"] == ("status_revoked" if revoked else "status_clear")


def test_status_list_2021_list_forged_or_of_another_issuer(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    credential = badge(key, legacy_entry(3), legacy=True)
    forged = status_list(LEGACY_URL, key, legacy=True, revoked=(3,))
    forged["credentialSubject"]["encodedList"] = encode_bitstring(bits(), multibase=False)
    result = verify_offline(clock, (key, other_key), credential, {LEGACY_URL: forged})
    assert (result["verdict"], status_of(result)["code"]) == (
        "indeterminate",
        "status_list_invalid",
    )
    theirs = status_list(LEGACY_URL, other_key, legacy=True, issuer=OTHER)
    result = verify_offline(clock, (key, other_key), credential, {LEGACY_URL: theirs})
    assert status_of(result)["code"] == "status_list_issuer_mismatch"


# --- 1EdTech Revocation List ----------------------------------------------------------------


def revocation_list(issuer: str = COLLEGE, *ids: str) -> dict[str, Any]:
    return {
        "id": REVOCATIONS,
        "issuer": {"id": issuer},
        "revokedCredentials": [{"id": i, "revocationReason": "issued in error"} for i in ids],
    }


def one_edtech(key: Ed25519PrivateKey, copy_of: StatusListCopy | None, clock: FakeClock) -> Any:
    keys = PinnedKeys()
    keys.pin(COLLEGE, cf.multikey_method(method(COLLEGE), key))
    credential = badge(key, {"id": REVOCATIONS, "type": "1EdTechRevocationList"})
    lists = {} if copy_of is None else {REVOCATIONS: copy_of}
    return verify_credential(
        credential, keys=keys, now=clock(), clock_skew=SKEW, status_lists=lists
    )


def test_1edtech_revocation_list(clock: FakeClock, key: Any) -> None:
    fetched = clock() - timedelta(minutes=5)

    def fetched_copy(document: dict[str, Any]) -> StatusListCopy:
        return StatusListCopy(REVOCATIONS, document, fetched, authenticated=True)

    revoked = one_edtech(key, fetched_copy(revocation_list(COLLEGE, "urn:x", BADGE_ID)), clock)
    assert revoked.verdict == "invalid"
    assert revoked.check("status").code == "status_revoked"  # type: ignore[union-attr]
    clear = one_edtech(key, fetched_copy(revocation_list(COLLEGE, "urn:x")), clock)
    assert clear.verdict == "valid"
    assert clear.check("status").code == "status_clear"  # type: ignore[union-attr]
    # Another issuer's list says nothing of this issuer's credentials.
    theirs = one_edtech(key, fetched_copy(revocation_list(OTHER, BADGE_ID)), clock)
    assert theirs.verdict == "indeterminate"
    assert theirs.check("status").code == "status_list_issuer_mismatch"  # type: ignore[union-attr]
    # An unsigned list that did not come from an allowed origin is not believed.
    unsigned = StatusListCopy(REVOCATIONS, revocation_list(COLLEGE), fetched, authenticated=False)
    doubtful = one_edtech(key, unsigned, clock)
    assert doubtful.verdict == "indeterminate"
    assert doubtful.check("status").code == "status_list_unsigned"  # type: ignore[union-attr]
    # A copy older than the bound is stale; no copy at all is unavailable.
    old = StatusListCopy(
        REVOCATIONS, revocation_list(COLLEGE), clock() - timedelta(days=2), authenticated=True
    )
    assert one_edtech(key, old, clock).check("status").code == "status_list_stale"  # type: ignore[union-attr]
    missing = one_edtech(key, None, clock)
    assert missing.check("status").code == "status_list_unavailable"  # type: ignore[union-attr]


# --- verdicts --------------------------------------------------------------------------------


def test_an_empty_or_partial_set_of_checks_is_never_valid() -> None:
    from registry_node.core.credentials import Check, CredentialReport

    empty = CredentialReport("vc-di", COLLEGE, [], [], None, [])
    assert empty.verdict == "indeterminate"
    partial = CredentialReport(
        "vc-di", COLLEGE, [], [], None, [Check("signature", True, "signature_valid", "")]
    )
    assert partial.verdict == "indeterminate"
    assert not partial.all_valid
    unsure = Check("contexts", False, "context_not_pinned", "")
    wrong = Check("signature", False, "bad_signature", "")
    assert (unsure.outcome, wrong.outcome) == ("indeterminate", "failed")
    both = CredentialReport("vc-di", COLLEGE, [], [], None, [unsure, wrong])
    assert both.verdict == "invalid"
    with pytest.raises(ValueError, match="outcome"):
        Check("signature", True, "signature_valid", "", "failed")


def test_a_report_without_its_trust_checks_is_not_valid(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    from registry_node.services.verifier import IndexKeys, add_trust

    index = index_for(clock, key, other_key)
    report = verify_credential(
        badge(key, None), keys=IndexKeys(index), now=clock(), clock_skew=SKEW, status_lists={}
    )
    add_trust(index, report, clock())
    assert report.verdict == "valid"
    report.checks = [c for c in report.checks if not c.name.startswith("trusted_")]
    assert report.verdict == "indeterminate"


def test_the_trust_checks_have_outcomes(clock: FakeClock, key: Any, other_key: Any) -> None:
    """An issuer listed but not authorised is a proof (failed); one no list names could not be
    established (indeterminate)."""
    stranger = cf.ed25519()
    unknown = cf.sign_data_integrity(
        cf.open_badge(cf.did_key(stranger)), stranger, cf.did_key_method(stranger)
    )
    result = verify_offline(clock, (key, other_key), unknown, {})
    trusted = {c["name"]: c["outcome"] for c in result["credential"]["checks"]}
    assert result["verdict"] == "indeterminate"
    assert trusted["trusted_now"] == trusted["trusted_at_issuance"] == "indeterminate"
    unauthorised = copy.deepcopy(cf.open_badge(COLLEGE))
    unauthorised["credentialSubject"]["achievement"]["achievementType"] = "Diploma"
    signed = cf.sign_data_integrity(unauthorised, key, method(COLLEGE))
    refused = verify_offline(clock, (key, other_key), signed, {})
    assert refused["verdict"] == "invalid"
    outcomes = {c["name"]: (c["outcome"], c["code"]) for c in refused["credential"]["checks"]}
    assert outcomes["trusted_now"] == ("failed", "not_authorized")


# --- fetching: https, allowed origins only ---------------------------------------------------


@pytest.fixture
async def status_server(key: Ed25519PrivateKey) -> Any:
    """An https server on loopback for status.college.ohio.example, with a certificate the
    test client trusts, serving the lists in ``server.lists`` (and counting requests)."""
    import datetime as dt
    import ssl
    import tempfile
    from pathlib import Path

    from aiohttp import web
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    host = "status.college.ohio.example"
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp())
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client_ctx = ssl.create_default_context(cafile=str(folder / "cert.pem"))

    class Server:
        lists: dict[str, Any] = {}
        hits: list[str] = []
        origin = ""

    async def serve(request: web.Request) -> web.Response:
        Server.hits.append(request.path)
        document = Server.lists.get(request.path)
        if document is None:
            return web.Response(status=404)
        return web.json_response(document)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    Server.origin = f"https://{host}:{port}"
    Server.client_ctx = client_ctx  # type: ignore[attr-defined]
    yield Server
    await runner.cleanup()


def fetching(clock: FakeClock, server: Any, **options: Any) -> StatusLists:
    """A status list service that fetches, through a client that resolves the test host to
    loopback and trusts the test certificate: injected here only (no configuration can make
    the node connect to a non-public address)."""
    import aiohttp

    from tests.services.test_didweb import FixedResolver

    connector = aiohttp.TCPConnector(ssl=server.client_ctx, resolver=FixedResolver("127.0.0.1"))
    session = aiohttp.ClientSession(connector=connector)
    return StatusLists(clock, fetch=True, session=session, **options)


def origins_index(clock: FakeClock, key: Any, origins: list[str]) -> Any:
    college = entry(COLLEGE, [cf.multikey_method(method(COLLEGE), key)])
    if origins:
        college["status_origins"] = origins
    return trust_index(clock, {OHIO: [college]})


async def test_a_list_is_fetched_only_from_an_allowed_origin(
    clock: FakeClock, key: Any, status_server: Any
) -> None:
    url = f"{status_server.origin}/lists/1"
    status_server.lists["/lists/1"] = status_list(url, key, revoked=(4,))
    revoked = badge(key, entry_for(url, 4))
    clear = badge(key, entry_for(url, 5))

    # Allowed: fetched over https, verified, judged; the copy is cached for the bound.
    allowed = Verifier(
        origins_index(clock, key, [status_server.origin]),
        SKEW,
        None,
        status_lists=fetching(clock, status_server),
    )
    try:
        result = await allowed.verify(revoked)
        assert (result["verdict"], status_of(result)["code"]) == ("invalid", "status_revoked")
        result = await allowed.verify(clear)
        assert result["verdict"] == "valid", result["summary"]
        assert status_server.hits == ["/lists/1"]  # the second came from the cache
        # Past the freshness bound it is fetched again; when that fails the old copy is stale.
        clock.advance(hours=25)
        status_server.lists.clear()
        result = await allowed.verify(clear)
        assert (result["verdict"], status_of(result)["code"]) == (
            "indeterminate",
            "status_list_stale",
        )
        assert status_server.hits == ["/lists/1", "/lists/1"]
    finally:
        await allowed.close()

    # An origin the issuer's entry does not name is never contacted.
    status_server.hits.clear()
    status_server.lists["/lists/1"] = status_list(url, key, revoked=(4,))
    for origins in ([], ["https://elsewhere.ohio.example"]):
        refused = Verifier(
            origins_index(clock, key, origins),
            SKEW,
            None,
            status_lists=fetching(clock, status_server),
        )
        try:
            result = await refused.verify(clear)
        finally:
            await refused.close()
        assert result["verdict"] == "indeterminate"
        assert status_of(result)["code"] == "status_origin_not_allowed"
    assert status_server.hits == []


async def test_an_unreachable_list(clock: FakeClock, key: Any, status_server: Any) -> None:
    url = f"{status_server.origin}/lists/gone"
    verifier = Verifier(
        origins_index(clock, key, [status_server.origin]),
        SKEW,
        None,
        status_lists=fetching(clock, status_server),
    )
    try:
        result = await verifier.verify(badge(key, entry_for(url, 4)))
    finally:
        await verifier.close()
    assert result["verdict"] == "indeterminate"
    check = status_of(result)
    assert (check["outcome"], check["code"]) == ("indeterminate", "status_list_unavailable")
    assert "http_status" in check["detail"]


async def test_only_https_lists_are_fetched(clock: FakeClock, key: Any) -> None:
    url = "http://status.college.ohio.example/lists/1"
    verifier = Verifier(
        origins_index(clock, key, ["https://status.college.ohio.example"]),
        SKEW,
        None,
        status_lists=StatusLists(clock, fetch=True),
    )
    try:
        result = await verifier.verify(badge(key, entry_for(url, 4)))
    finally:
        await verifier.close()
    assert status_of(result)["code"] == "status_origin_not_allowed"
    assert "only https lists are fetched" in status_of(result)["detail"]


async def test_fetching_is_off_by_default(tmp_path: Any) -> None:
    from registry_node.services.node import Node
    from tests.helpers import make_config

    node = await Node.open(make_config(tmp_path), FakeClock())
    try:
        assert node.verifier.status_lists is not None
        assert node.verifier.status_lists.fetch_enabled is False
    finally:
        await node.close()


# --- embedded credentials: endorsements and nested -----------------------------------------


def endorsement(key: Ed25519PrivateKey, issuer: str, **members: Any) -> dict[str, Any]:
    return cf.sign_data_integrity(cf.endorsement(issuer, **members), key, method(issuer))


def test_an_expired_endorsement_is_reported_and_does_not_invalidate(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    expired = endorsement(other_key, OTHER, validUntil="2026-01-01T00:00:00Z")
    credential = cf.open_badge(COLLEGE)
    credential["credentialSubject"]["achievement"]["endorsement"] = [expired]
    signed = cf.sign_data_integrity(credential, key, method(COLLEGE))
    result = verify_offline(clock, (key, other_key), signed, {})
    tree = result["credential"]
    assert result["verdict"] == "valid", result["summary"]
    assert result["all_valid"] is False
    assert "0 of 1 endorsements valid" in result["summary"]
    [child] = tree["children"]
    assert child["role"] == "endorsement"
    assert child["issuer"] == OTHER
    assert child["verdict"] == "invalid"
    checks = {c["name"]: (c["outcome"], c["code"]) for c in child["checks"]}
    assert checks["signature"] == ("passed", "signature_valid")
    assert checks["dates"] == ("failed", "expired")


def test_endorsements_of_the_issuer_profile_and_the_credential_are_checked(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    forged = endorsement(other_key, OTHER)
    forged["name"] = "Altered after signing"
    credential = cf.open_badge(COLLEGE)
    credential["issuer"]["endorsement"] = [endorsement(other_key, OTHER)]
    credential["endorsement"] = [forged]
    signed = cf.sign_data_integrity(credential, key, method(COLLEGE))
    result = verify_offline(clock, (key, other_key), signed, {})
    children = result["credential"]["children"]
    assert [c["role"] for c in children] == ["endorsement", "endorsement"]
    assert children[0]["checks"][3]["code"] == "bad_signature"  # the credential's own
    assert children[0]["verdict"] == "invalid"
    # The issuer profile's endorsement verifies; its issuer is not authorised to endorse.
    assert children[1]["checks"][3]["code"] == "signature_valid"
    assert result["verdict"] == "valid"


def test_a_clr_with_nested_credentials_of_two_issuers_one_untrusted(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    stranger = cf.ed25519()
    theirs = cf.sign_data_integrity(
        cf.open_badge(cf.did_key(stranger)), stranger, cf.did_key_method(stranger)
    )
    ours = badge(key, None)
    clr = cf.clr(COLLEGE, [ours, theirs])
    signed = cf.sign_data_integrity(clr, key, method(COLLEGE))
    result = verify_offline(clock, (key, other_key), signed, {})
    tree = result["credential"]
    assert result["verdict"] == "valid", result["summary"]
    assert result["all_valid"] is False
    assert "1 of 2 nested credentials valid" in result["summary"]
    assert [(c["role"], c["verdict"]) for c in tree["children"]] == [
        ("nested", "valid"),
        ("nested", "indeterminate"),
    ]
    untrusted = {c["name"]: (c["outcome"], c["code"]) for c in tree["children"][1]["checks"]}
    assert untrusted["signature"] == ("passed", "signature_valid")
    assert untrusted["trusted_now"] == ("indeterminate", "not_listed")
    assert tree["children"][0]["trust"]["now"]["outcome"] == "trusted"


def test_the_work_on_embedded_credentials_is_bounded(
    clock: FakeClock, key: Any, other_key: Any
) -> None:
    from registry_node.core.credentials.verify import MAX_EMBEDDED

    one = endorsement(other_key, OTHER)
    credential = cf.open_badge(COLLEGE)
    credential["endorsement"] = [one] * (MAX_EMBEDDED + 3)
    signed = cf.sign_data_integrity(credential, key, method(COLLEGE))
    result = verify_offline(clock, (key, other_key), signed, {})
    assert len(result["credential"]["children"]) == MAX_EMBEDDED
    assert result["credential"]["skipped"] == 3
    assert result["all_valid"] is False
    assert "3 embedded credentials not checked" in result["summary"]


def test_a_list_signed_with_a_key_only_another_list_pins_cannot_clear(
    clock: FakeClock, key: Any
) -> None:
    """Keys and trust from the same lists (ADR 0010), for status lists too: a peer's list that
    pins another key for the issuer cannot vouch for a status list that clears a credential
    signed with the key the node's own list pins."""
    from tests.services.test_verify_sources import INDIANA

    rogue = cf.ed25519()
    index = trust_index(
        clock,
        {
            OHIO: [entry(COLLEGE, [cf.multikey_method(method(COLLEGE), key)])],
            INDIANA: [entry(COLLEGE, [cf.multikey_method(f"{COLLEGE}#key-2", rogue)])],
        },
    )
    clearing = status_list(LIST_URL, rogue, sign=False)
    clearing = cf.sign_data_integrity(clearing, rogue, f"{COLLEGE}#key-2")
    genuine = status_list(LIST_URL, key)
    credential = badge(key, entry_for(LIST_URL, 4))
    for document, verdict, code in (
        (clearing, "indeterminate", "status_list_invalid"),
        (genuine, "valid", "status_clear"),
    ):
        status = StatusLists(clock, bundled={LIST_URL: document})
        result = Verifier(index, SKEW, status_lists=status).verify_now(credential)
        assert (result["verdict"], status_of(result)["code"]) == (verdict, code), result["summary"]


# --- the entry member status_origins ---------------------------------------------------------


def test_status_origins_in_an_issuer_source_file() -> None:
    from registry_node.core import schema
    from registry_node.core.errors import SchemaInvalid

    source = "urn:ler-trust-registry:schema:issuer-source:v1"
    college = entry(COLLEGE, status_origins=["https://status.college.ohio.example"])
    schema.validate(source, {"jurisdiction": "US-OH", "issuers": [college]})
    for bad in (
        ["http://status.college.ohio.example"],
        ["https://status.college.ohio.example/lists"],
        ["https://Status.College.example"],
    ):
        with pytest.raises(SchemaInvalid) as caught:
            schema.validate(
                source, {"jurisdiction": "US-OH", "issuers": [college | {"status_origins": bad}]}
            )
        assert caught.value.field == "issuers[0].status_origins[0]"


async def test_status_origins_travel_in_the_published_list(tmp_path: Any) -> None:
    """Imported from trust_lists YAML, published in the signed list, read back by the index."""
    from registry_node.services.node import Node
    from tests.helpers import make_config

    config = make_config(tmp_path)
    assert config.trust_list is not None
    config.trust_list.parent.mkdir(parents=True)
    config.trust_list.write_text(
        "jurisdiction: US-OH\n"
        "issuers:\n"
        f"  - id: {COLLEGE}\n"
        "    name: Example State College\n"
        "    org_type: higher_education\n"
        "    status_origins: [https://status.college.ohio.example]\n"
        "    authorizations:\n"
        "      - {credential_types: [OpenBadgeCredential], jurisdiction: US-OH}\n"
        "    status_history: [{status: active, from: '2020-01-01T00:00:00Z'}]\n"
    )
    node = await Node.open(config, FakeClock())
    try:
        await node.publisher.publish("test")
        await node.resolver.catch_up()
        origins = node.resolver.status_origins(COLLEGE)
    finally:
        await node.close()
    assert origins == frozenset({"https://status.college.ohio.example"})


def test_a_jws_status_list_from_a_bundle_folder(
    tmp_path: Any, clock: FakeClock, key: Any, other_key: Any
) -> None:
    """A status list secured as a vc+jwt, read from a bundle's status/ folder by its id."""
    import json

    from registry_node.core.errors import InvalidInput
    from registry_node.services.statuslists import load_folder

    document = status_list(LIST_URL, key, revoked=(4,), sign=False)
    token = cf.sign_jws(document, key, "Ed25519", kid=method(COLLEGE))
    folder = tmp_path / "status"
    folder.mkdir()
    (folder / "college.jwt").write_text(token + "\n")
    (folder / "notes.txt").write_text("not a list")
    lists = load_folder(folder)
    assert list(lists) == [LIST_URL]
    revoked = verify_offline(clock, (key, other_key), badge(key, entry_for(LIST_URL, 4)), lists)
    assert (revoked["verdict"], status_of(revoked)["code"]) == ("invalid", "status_revoked")
    clear = verify_offline(clock, (key, other_key), badge(key, entry_for(LIST_URL, 3)), lists)
    assert clear["verdict"] == "valid", clear["summary"]
    (folder / "broken.json").write_text(json.dumps({"type": "no id"}))
    with pytest.raises(InvalidInput, match=r"broken\.json: id"):
        load_folder(folder)
