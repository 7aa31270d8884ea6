"""The trust answer's precedence rules (docs/protocol.md section 11.2), as a table.

Each row gives the listings of one issuer in one or more sources and a question, and the
outcome, reason and deciding sources the answer must carry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from registry_node.core.timeutil import parse_rfc3339
from registry_node.core.trust import Interner, Question, Source, decide, listing
from tests.helpers import issuer

OH = "https://registry.ohio.example"
IN = "https://registry.indiana.example"
MI = "https://registry.michigan.example"
JURISDICTION = {OH: "US-OH", IN: "US-IN", MI: "US-MI"}
CTID = "ce-5de320e1-370c-4bf3-acec-b1ef5e33d1aa"


def source(node: str, *, stale: bool = False) -> Source:
    return Source(node, JURISDICTION[node], node == OH, 7, "d" * 43, 0, 2_000_000_000, None, stale)


def history(*steps: tuple[str, str]) -> list[dict[str, str]]:
    return [{"status": status, "from": when} for status, when in steps]


ACTIVE_STEPS = [("active", "2020-01-01T00:00:00Z")]
ACTIVE = history(*ACTIVE_STEPS)
AUTHS = [
    {
        "credential_types": ["OpenBadgeCredential", "AchievementCredential"],
        "achievement_types": ["License"],
        "ctids": [CTID],
        "jurisdiction": "US-OH",
    },
    {"credential_types": ["OpenBadgeCredential"], "jurisdiction": "US-OH"},
]


def entry(**changes: Any) -> dict[str, Any]:
    return issuer(1, **{"status_history": ACTIVE, "authorizations": AUTHS, **changes})


def ask(at: str = "2025-06-01T00:00:00Z", **types: str) -> Question:
    return Question(issuer(1)["id"], parse_rfc3339(at).timestamp(), **types)


ROWS: list[
    tuple[str, list[tuple[Source, dict[str, Any]]], Question, tuple[str, str, list[str]]]
] = [
    ("active", [(source(OH), entry())], ask(), ("trusted", "active", [OH])),
    (
        "suspended",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("suspended", "2024-01-01T00:00:00Z"))),
            )
        ],
        ask(),
        ("not_trusted", "suspended", [OH]),
    ),
    (
        "revoked",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("revoked", "2024-01-01T00:00:00Z"))),
            )
        ],
        ask(),
        ("not_trusted", "revoked", [OH]),
    ),
    (
        "retired",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("retired", "2024-01-01T00:00:00Z"))),
            )
        ],
        ask(),
        ("not_trusted", "retired", [OH]),
    ),
    (
        "credential issued before retirement is judged at issuance",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("retired", "2024-01-01T00:00:00Z"))),
            )
        ],
        ask("2023-05-01T00:00:00Z"),
        ("trusted", "active", [OH]),
    ),
    (
        "future revocation, asked before it takes effect",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("revoked", "2026-01-01T00:00:00Z"))),
            )
        ],
        ask("2025-12-31T23:59:59Z"),
        ("trusted", "active", [OH]),
    ),
    (
        "future revocation, asked the instant it takes effect",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("revoked", "2026-01-01T00:00:00Z"))),
            )
        ],
        ask("2026-01-01T00:00:00Z"),
        ("not_trusted", "revoked", [OH]),
    ),
    (
        "suspension lifted",
        [
            (
                source(OH),
                entry(
                    status_history=history(
                        *ACTIVE_STEPS,
                        ("suspended", "2024-01-01T00:00:00Z"),
                        ("active", "2024-03-01T00:00:00Z"),
                    )
                ),
            )
        ],
        ask(),
        ("trusted", "active", [OH]),
    ),
    (
        "at before the issuer was listed",
        [(source(OH), entry())],
        ask("2019-12-31T23:59:59Z"),
        ("not_trusted", "not_yet_listed", [OH]),
    ),
    (
        "inside the validity window",
        [
            (
                source(OH),
                entry(valid_from="2021-01-01T00:00:00Z", valid_until="2027-01-01T00:00:00Z"),
            )
        ],
        ask(),
        ("trusted", "active", [OH]),
    ),
    (
        "after the validity window (valid_until is exclusive)",
        [(source(OH), entry(valid_until="2025-06-01T00:00:00Z"))],
        ask(),
        ("not_trusted", "outside_validity", [OH]),
    ),
    (
        "before the validity window",
        [(source(OH), entry(valid_from="2025-07-01T00:00:00Z"))],
        ask(),
        ("not_trusted", "outside_validity", [OH]),
    ),
    (
        "credential type authorised",
        [(source(OH), entry())],
        ask(credential_type="AchievementCredential"),
        ("trusted", "active", [OH]),
    ),
    (
        "credential type not authorised",
        [(source(OH), entry())],
        ask(credential_type="ClrCredential"),
        ("not_trusted", "not_authorized", [OH]),
    ),
    (
        "achievement type authorised",
        [(source(OH), entry())],
        ask(achievement_type="License"),
        ("trusted", "active", [OH]),
    ),
    (
        "achievement type not authorised",
        [(source(OH), entry())],
        ask(achievement_type="Diploma"),
        ("not_trusted", "not_authorized", [OH]),
    ),
    (
        "CTID authorised",
        [(source(OH), entry())],
        ask(ctid=CTID),
        ("trusted", "active", [OH]),
    ),
    (
        "types must be covered by one authorization",
        [(source(OH), entry())],
        ask(credential_type="AchievementCredential", achievement_type="License"),
        ("trusted", "active", [OH]),
    ),
    (
        "an authorization without achievement types does not cover one (fail closed)",
        [(source(OH), entry(authorizations=[AUTHS[1]]))],
        ask(credential_type="OpenBadgeCredential", achievement_type="License"),
        ("not_trusted", "not_authorized", [OH]),
    ),
    (
        "suspended and not authorised: the suspension is the reason",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("suspended", "2024-01-01T00:00:00Z"))),
            )
        ],
        ask(credential_type="ClrCredential"),
        ("not_trusted", "suspended", [OH]),
    ),
    (
        "conflicting sources: a suspension elsewhere outweighs active",
        [
            (source(OH), entry()),
            (
                source(IN),
                entry(status_history=history(*ACTIVE_STEPS, ("suspended", "2024-01-01T00:00:00Z"))),
            ),
        ],
        ask(),
        ("not_trusted", "suspended", [IN]),
    ),
    (
        "conflicting sources: revocation outweighs suspension",
        [
            (
                source(IN),
                entry(status_history=history(*ACTIVE_STEPS, ("suspended", "2024-01-01T00:00:00Z"))),
            ),
            (
                source(MI),
                entry(status_history=history(*ACTIVE_STEPS, ("revoked", "2024-02-01T00:00:00Z"))),
            ),
        ],
        ask(),
        ("not_trusted", "revoked", [MI]),
    ),
    (
        "one source authorises the type, another does not: trusted",
        [(source(OH), entry(authorizations=[AUTHS[1]])), (source(IN), entry())],
        ask(achievement_type="License"),
        ("trusted", "active", [IN]),
    ),
    (
        "two sources agree: both decide",
        [(source(OH), entry()), (source(IN), entry())],
        ask(),
        ("trusted", "active", [OH, IN]),
    ),
    (
        "retired in one source, active in another: trusted",
        [
            (
                source(OH),
                entry(status_history=history(*ACTIVE_STEPS, ("retired", "2024-01-01T00:00:00Z"))),
            ),
            (source(IN), entry()),
        ],
        ask(),
        ("trusted", "active", [IN]),
    ),
    ("no source lists it", [], ask(), ("unknown", "not_listed", [])),
]


@pytest.mark.parametrize(("name", "listed", "question", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_precedence(
    name: str,
    listed: list[tuple[Source, dict[str, Any]]],
    question: Question,
    expected: tuple[str, str, list[str]],
) -> None:
    interner = Interner()
    answer = decide(question, [(s, listing(e, interner)) for s, e in listed])
    assert (answer["outcome"], answer["reason"], answer["decided_by"]) == expected
    assert len(answer["evidence"]) == len(listed)
    assert answer["stale"] is False


def test_stale_source_set_aside_under_reject_makes_the_answer_unknown() -> None:
    answer = decide(ask(), [], unavailable=[source(IN, stale=True)])
    assert (answer["outcome"], answer["reason"]) == ("unknown", "sources_stale")
    assert answer["unavailable"][0]["source"] == IN
    assert answer["unavailable"][0]["reason"] == "stale"
    assert answer["unavailable"][0]["list"]["seq"] == 7


def test_stale_source_used_under_warn_is_marked() -> None:
    answer = decide(ask(), [(source(IN, stale=True), listing(entry()))])
    assert (answer["outcome"], answer["stale"]) == ("trusted", True)
    assert answer["evidence"][0]["stale"] is True


def test_a_fresh_source_does_not_make_a_stale_one_decisive() -> None:
    answer = decide(ask(), [(source(OH), listing(entry()))], unavailable=[source(IN, stale=True)])
    assert (answer["outcome"], answer["stale"], answer["decided_by"]) == ("trusted", False, [OH])


def test_evidence_carries_the_list_the_entry_and_the_matching_authorization() -> None:
    answer = decide(ask(achievement_type="License"), [(source(IN), listing(entry()))])
    (evidence,) = answer["evidence"]
    assert evidence["source"] == IN
    assert evidence["jurisdiction"] == "US-IN"
    assert evidence["list"] == {
        "seq": 7,
        "digest": "d" * 43,
        "iat": "1970-01-01T00:00:00Z",
        "exp": "2033-05-18T03:33:20Z",
        "fetched_at": None,
    }
    assert evidence["entry"]["status"] == "active"
    assert evidence["entry"]["status_since"] == "2020-01-01T00:00:00Z"
    assert list(evidence["entry"]["authorization"]["achievement_types"]) == ["License"]
    assert answer["question"] == {
        "id": issuer(1)["id"],
        "at": "2025-06-01T00:00:00Z",
        "achievement_type": "License",
    }
    assert "US-IN" in answer["detail"] and "'License'" in answer["detail"]


def test_equal_authorizations_are_shared_between_listings() -> None:
    interner = Interner()
    a, b = listing(entry(), interner), listing(issuer(2, authorizations=AUTHS), interner)
    assert a.authorizations[0] is b.authorizations[0]


def test_an_entry_without_authorizations_vouches_for_nothing() -> None:
    bare = entry()
    del bare["authorizations"]
    for question in (ask(), ask(credential_type="OpenBadgeCredential")):
        answer = decide(question, [(source(OH), listing(bare))])
        assert (answer["outcome"], answer["reason"]) == ("not_trusted", "not_authorized")
    revoked = {**bare, "status_history": history(("revoked", "2021-01-01T00:00:00Z"))}
    answer = decide(ask(), [(source(OH), listing(revoked))])
    assert (answer["outcome"], answer["reason"]) == ("not_trusted", "revoked")  # its veto holds


def test_a_veto_counts_only_within_the_sources_scope() -> None:
    """Indiana is trusted for CLRs only: its revocation says nothing about badges."""
    indiana = replace(source(IN), scope_types=frozenset({"ClrCredential"}))
    revoked = entry(
        status_history=history(*ACTIVE_STEPS, ("revoked", "2024-01-01T00:00:00Z")),
        authorizations=[{"credential_types": ["ClrCredential"], "jurisdiction": "US-IN"}],
    )
    listed = [(source(OH), listing(entry())), (indiana, listing(revoked))]
    badge = decide(ask(credential_type="OpenBadgeCredential"), listed)
    assert (badge["outcome"], badge["decided_by"]) == ("trusted", [OH])
    assert [e["source"] for e in badge["evidence"]] == [OH]
    for question in (ask(credential_type="ClrCredential"), ask()):
        answer = decide(question, listed)
        assert (answer["outcome"], answer["reason"], answer["decided_by"]) == (
            "not_trusted",
            "revoked",
            [IN],
        )


# --- a whole credential (POST /v1/verify): what the credential claims must all be covered ---

NARROWED = {
    "credential_types": ["OpenBadgeCredential"],
    "achievement_types": ["License"],
    "jurisdiction": "US-OH",
}
OPEN = {"credential_types": ["OpenBadgeCredential"], "jurisdiction": "US-OH"}
BY_CTID = {"credential_types": ["OpenBadgeCredential"], "ctids": [CTID], "jurisdiction": "US-OH"}


def whole(**types: Any) -> Question:
    return replace(ask(**types), whole=True)


@pytest.mark.parametrize(
    ("authorizations", "question", "reason"),
    [
        # the lookup's question names only what it asks about: a narrowed authorisation covers it
        ([NARROWED], ask(credential_type="OpenBadgeCredential"), "active"),
        ([BY_CTID], ask(credential_type="OpenBadgeCredential"), "active"),
        ([NARROWED], ask(), "active"),
        # a whole credential with no specific type is covered by no authorisation
        ([OPEN], whole(), "not_authorized"),
        ([NARROWED], whole(achievement_type="License"), "not_authorized"),
        # an achievement of no type: only an authorisation not narrowed to achievement types
        (
            [NARROWED],
            whole(credential_type="OpenBadgeCredential", untyped_achievement=True),
            "not_authorized",
        ),
        (
            [NARROWED, OPEN],
            whole(credential_type="OpenBadgeCredential", untyped_achievement=True),
            "active",
        ),
        (
            [NARROWED],
            whole(credential_type="OpenBadgeCredential"),
            "active",
        ),  # no achievement asked
        (
            [NARROWED],
            whole(credential_type="OpenBadgeCredential", achievement_type="License"),
            "active",
        ),
        (
            [NARROWED],
            whole(credential_type="OpenBadgeCredential", achievement_type="Degree"),
            "not_authorized",
        ),
        # the node reads no CTID from a credential: a CTID-narrowed authorisation covers none
        ([BY_CTID], whole(credential_type="OpenBadgeCredential"), "not_authorized"),
        ([BY_CTID, OPEN], whole(credential_type="OpenBadgeCredential"), "active"),
    ],
)
def test_what_an_authorisation_covers(
    authorizations: list[dict[str, Any]], question: Question, reason: str
) -> None:
    answer = decide(question, [(source(OH), listing(entry(authorizations=authorizations)))])
    assert answer["reason"] == reason, answer["detail"]


def test_a_refusal_names_what_the_credential_claims() -> None:
    untyped = whole(credential_type="OpenBadgeCredential", untyped_achievement=True)
    answer = decide(untyped, [(source(OH), listing(entry(authorizations=[NARROWED])))])
    assert answer["detail"] == (
        "listed by US-OH but not authorised for credential type 'OpenBadgeCredential' and an "
        "achievement of no type"
    )
    answer = decide(whole(), [(source(OH), listing(entry(authorizations=[OPEN])))])
    assert (
        answer["detail"]
        == "listed by US-OH but not authorised for a credential of no specific type"
    )
