"""The command line for people: help for every flag, issuers added with what they may issue
and since when, paging and filters on ``issuers list`` and ``audit``, readable durations and
absent values, and errors that say what a pin or a date-time looks like."""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from registry_node.cli import build_parser, main
from registry_node.core.timeutil import describe_duration
from tests import credential_factory as cf

COLLEGE = "did:web:college.indiana.example"
PIN = "A" * 43


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    args = ["init", "--node-id", "https://registry.indiana.example", "--jurisdiction", "US-IN"]
    assert main([*args, "--name", "Indiana LER Trust Registry"]) == 0
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _parsers(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, Any]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_flag_and_argument_has_help() -> None:
    missing = []
    commands = _parsers(build_parser(), "registry-node")
    assert len(commands) > 20
    for path, parser in commands:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            if not action.help:
                missing.append(f"{path}: {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (2, "2 s"),
        (300, "5 min"),
        (5400, "1 h 30 min"),
        (86400, "1 d"),
        (90061, "1 d 1 h"),
    ],
)
def test_durations_read_as_people_write_them(seconds: int, text: str) -> None:
    assert describe_duration(timedelta(seconds=seconds)) == text


# -- issuers add: what the issuer may issue, and since when -----------------------------------


def _add(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run(
        capsys,
        "issuers",
        "add",
        "--id",
        COLLEGE,
        "--name",
        "Indiana College",
        "--org-type",
        "higher_education",
        *extra,
    )


def test_an_issuer_added_with_authorizations_and_a_start_date_verifies_older_credentials(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = cf.ed25519()
    code, out, err = _add(
        capsys,
        "--key",
        cf.multikey(key.public_key()),
        "--credential-type",
        "OpenBadgeCredential",
        "--achievement-type",
        "Certificate",
        "--legal-basis",
        "Indiana Code 21-18",
        "--active-from",
        "2021-03-01",
    )
    assert code == 0, err
    assert out.startswith(f"added {COLLEGE}, active from 2021-03-01T00:00:00Z; change saved; ")
    # No node serves the folder: the note says so instead of promising a publication.
    assert "no node is serving" in out and "now with `registry-node publish`" in out
    assert "0:00:02" not in out
    assert err == ""
    code, out, _ = run(capsys, "issuers", "show", COLLEGE)
    entry = json.loads(out)
    assert entry["authorizations"] == [
        {
            "credential_types": ["OpenBadgeCredential"],
            "jurisdiction": "US-IN",
            "achievement_types": ["Certificate"],
            "legal_basis": "Indiana Code 21-18",
        }
    ]
    assert entry["keys"][0]["id"] == f"{COLLEGE}#key-1"
    assert run(capsys, "publish")[0] == 0

    # Issued in 2025, long before today: valid, because the issuer was active then.
    badge = state / "badge.json"
    credential = cf.sign_data_integrity(cf.open_badge(COLLEGE), key, f"{COLLEGE}#key-1")
    badge.write_text(json.dumps(credential))
    code, out, _ = run(capsys, "verify", str(badge), "--json")
    result = json.loads(out)
    assert (code, result["verdict"]) == (0, "valid"), out
    assert result["credential"]["trust"]["at_issuance"]["outcome"] == "trusted"


def test_an_issuer_active_only_from_now_fails_older_credentials(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --active-from the issuer is active from today: what it issued before is not
    vouched for (the case --active-from exists for)."""
    key = cf.ed25519()
    code, _, err = _add(
        capsys, "--key", cf.multikey(key.public_key()), "--credential-type", "OpenBadgeCredential"
    )
    assert code == 0, err
    assert run(capsys, "publish")[0] == 0
    badge = state / "badge.json"
    credential = cf.sign_data_integrity(cf.open_badge(COLLEGE), key, f"{COLLEGE}#key-1")
    badge.write_text(json.dumps(credential))
    code, out, _ = run(capsys, "verify", str(badge), "--json")
    result = json.loads(out)
    assert (code, result["verdict"]) == (1, "invalid"), out
    assert result["credential"]["trust"]["at_issuance"]["reason"] == "not_yet_listed"


def test_an_issuer_added_without_authorizations_is_warned_about(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _add(capsys)
    assert code == 0
    assert err.startswith(
        f"registry-node: warning: {COLLEGE} has no authorizations, "
        "so it is trusted to issue nothing"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--active-from", "March 2021"), "--active-from: 'March 2021' is not an RFC 3339"),
        (
            ("--active-from", "2021-02-30"),
            "--active-from: '2021-02-30T00:00:00Z' is not a date-time",
        ),
        (("--legal-basis", "IC 21-18"), "--credential-type is needed with"),
        (("--credential-type", "Bad Type"), "authorizations[0].credential_types[0]"),
        (("--authorized-in", "Indiana", "--credential-type", "X"), "jurisdiction"),
    ],
)
def test_bad_authorization_flags_are_refused_in_one_line(
    state: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    code, _, err = _add(capsys, *extra)
    assert code == 2
    assert err.startswith("registry-node: error: "), err
    assert message in err.splitlines()[0], err
    assert run(capsys, "issuers", "list")[1] == ""  # nothing was written


# -- paging and filters -----------------------------------------------------------------------


def _source(state: Path) -> Path:
    def entry(n: int, org_type: str, history: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "id": f"did:web:issuer{n}.indiana.example",
            "name": f"Indiana Issuer {n}",
            "org_type": org_type,
            "status_history": history,
        }

    active = [{"status": "active", "from": "2020-01-01T00:00:00Z"}]
    suspended = [*active, {"status": "suspended", "from": "2023-01-01T00:00:00Z"}]
    issuers = [entry(n, "k12", active) for n in range(1, 5)]
    issuers += [entry(5, "employer", suspended), entry(6, "k12", suspended)]
    path = state / "many.yaml"
    path.write_text(json.dumps({"jurisdiction": "US-IN", "issuers": issuers}))
    return path


def _ids(out: str) -> list[int]:
    return [
        int(line.split("\t")[0].split(".")[0].removeprefix("did:web:issuer"))
        for line in out.splitlines()
    ]


def test_issuers_list_pages_and_filters(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "issuers", "import", str(_source(state)))[0] == 0
    code, out, err = run(capsys, "issuers", "list", "--limit", "4")
    assert (_ids(out), code) == ([1, 2, 3, 4], 0)
    last = "did:web:issuer4.indiana.example"
    assert err.splitlines() == [
        "4 issuers",
        f"stopped at --limit 4; more follow: continue with --after {last}",
    ]
    code, out, err = run(capsys, "issuers", "list", "--limit", "4", "--after", last)
    assert _ids(out) == [5, 6]
    assert err.splitlines() == ["2 issuers"]  # the end: no note

    assert _ids(run(capsys, "issuers", "list", "--status", "suspended")[1]) == [5, 6]
    # As of 2022 nobody was suspended yet; --at also takes a date alone.
    out = run(capsys, "issuers", "list", "--status", "suspended", "--at", "2022-06-01")[1]
    assert out == ""
    assert _ids(run(capsys, "issuers", "list", "--org-type", "employer")[1]) == [5]
    assert _ids(run(capsys, "issuers", "list", "--match", "ISSUER6")[1]) == [6]
    out = run(capsys, "issuers", "list", "--json", "--status", "active", "--limit", "2")[1]
    assert [e["id"] for e in json.loads(out)] == [
        f"did:web:issuer{n}.indiana.example" for n in (1, 2)
    ]

    code, _, err = run(capsys, "issuers", "list", "--at", "yesterday")
    assert code == 2
    assert err.splitlines()[1].startswith("registry-node: hint: give an RFC 3339 date-time such as")


def test_audit_pages_filters_and_says_where_it_stopped(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "issuers", "import", str(_source(state)))[0] == 0
    target = "did:web:issuer2.indiana.example"
    assert run(capsys, "issuers", "set-status", target, "retired", "--reason", "merged")[0] == 0

    def records(*extra: str) -> tuple[list[dict[str, Any]], str]:
        code, out, err = run(capsys, "audit", *extra)
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()], err

    everything, err = records("--limit", "1000")
    assert err == ""
    assert len(everything) == 8  # the key, six issuers, one status change
    first, err = records("--limit", "3")
    assert first == everything[:3]
    assert err.strip() == (
        f"stopped at --limit 3; more records follow: continue with --after {first[-1]['id']}"
    )
    rest, err = records("--after", str(first[-1]["id"]))
    assert (rest, err) == (everything[3:], "")

    about, _ = records("--issuer", target)
    assert [r["action"] for r in about] == ["issuer.create", "issuer.status"]
    system = everything[0]["actor"]
    assert system != everything[-1]["actor"]
    mine, _ = records("--actor", everything[-1]["actor"], "--issuer", target)
    assert [r["action"] for r in mine] == ["issuer.create", "issuer.status"]
    assert [r["action"] for r in records("--actor", system)[0]] == ["key.create"]
    assert records("--actor", "token:nobody")[0] == []
    stamp = everything[-1]["at"]
    assert [r["id"] for r in records("--since", stamp)[0]] == [
        r["id"] for r in everything if r["at"] >= stamp
    ]
    assert records("--until", "2000-01-01")[0] == []
    assert len(records("--since", "2000-01-01")[0]) == len(everything)

    with pytest.raises(SystemExit) as stopped:
        run(capsys, "audit", "--limit", "0")
    assert stopped.value.code == 2
    assert "--limit: '0' is not a whole number of at least 1" in capsys.readouterr().err


# -- peers: readable status and pin errors --------------------------------------------------------


def test_peers_status_says_never_synced_not_none(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (state / "peers.yaml").write_text(
        "peers:\n  - id: https://registry.ohio.example\n    jurisdiction: US-OH\n"
        f"    url: http://127.0.0.1:9/trust-list\n    keys: ['{PIN}']\n"
    )
    assert run(capsys, "publish")[0] == 0  # the first start: status only reads
    code, out, _ = run(capsys, "peers", "status")
    assert code == 0
    columns = out.rstrip("\n").split("\t")
    assert columns[2:5] == ["never_synced", "never synced", "no list held"]
    assert "None" not in out
    code, out, _ = run(capsys, "peers", "status", "--json")
    assert json.loads(out)[0]["seq"] is None  # the machine-readable form keeps its null
    code, out, _ = run(capsys, "peers", "sync")
    assert "\tno list accepted\t" in out and "None" not in out


@pytest.mark.parametrize(
    ("pin", "shown"),
    [
        (PIN[:-1], f"'{PIN[:-1]}' (42 characters)"),
        (PIN + "=", f"'{PIN}=' (44 characters)"),
        ("sha256:" + PIN[:36], "(43 characters)"),
        ("42", "int '42'"),
    ],
)
def test_a_malformed_pin_is_told_what_a_pin_looks_like(
    state: Path, capsys: pytest.CaptureFixture[str], pin: str, shown: str
) -> None:
    value = pin if pin == "42" else f"'{pin}'"
    (state / "peers.yaml").write_text(
        "peers:\n  - id: https://registry.ohio.example\n    jurisdiction: US-OH\n"
        f"    url: https://registry.ohio.example/trust-list\n    keys: ['{PIN}', {value}]\n"
    )
    code, _, err = run(capsys, "peers", "check")
    assert code == 2
    line = err.splitlines()[0]
    assert line.startswith(
        f"registry-node: error: {state / 'peers.yaml'}: peers[0] (https://registry.ohio.example): "
        "keys[1]: "
    ), line
    assert shown in line
    assert line.endswith(
        "is not a pin; a pin is 43 base64url characters: the RFC 7638 SHA-256 thumbprint of "
        "the neighbour's key, as printed by `registry-node peers invite` (or the key itself as "
        "a public JWK)"
    )
    assert "is not of type" not in err


# -- a date where a date-time is expected -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "example"),
    [("2022-05-01", "2022-05-01T00:00:00Z"), ("yesterday", "2022-05-01T00:00:00Z")],
)
async def test_a_date_alone_gets_a_hint_in_the_problem(
    client: TestClient, value: str, example: str
) -> None:
    resp = await client.get(f"/v1/issuers/did:web:a.example?at={value}")
    assert resp.status == 400
    problem = await resp.json()
    assert problem["code"] == "bad_query"
    assert problem["field"] == "at"
    assert problem["hint"] == f"an RFC 3339 date-time is expected, e.g. {example}"


# -- the README's quick start, as pasted ------------------------------------------------------


def test_the_quick_start_publishes_before_it_syncs_and_its_files_exist() -> None:
    """The suspension example cannot race the publication (tests/test_demo.py runs it), and
    every repository file the README's commands name exists."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    start = readme.index("Suspend an Ohio issuer and watch Indiana follow")
    snippet = readme[start : readme.index("```\n", readme.index("```sh", start) + 5)]
    publish = snippet.index("http://127.0.0.1:8081/admin/v1/publish")
    assert snippet.index("/status") < publish < snippet.index("/admin/v1/peers/sync")
    named = set(re.findall(r"@?(examples/[\w./-]+)", readme))
    assert named == {"examples/badge.json"}
    for name in named:
        assert (root / name).is_file(), name


def test_a_pin_that_begins_with_a_dash_is_given_with_an_equals_sign() -> None:
    # base64url uses '-': one key in 64 has a thumbprint argparse would take for an option
    pin = "-XUS1a1Nl7P9I5fn1isYqDTJV4ClyCBOICtrKQaOrFg"
    args = build_parser().parse_args(
        ["peers", "add", "https://registry.ohio.example", f"--thumbprint={pin}", "--yes"]
    )
    assert args.thumbprint == [pin]
