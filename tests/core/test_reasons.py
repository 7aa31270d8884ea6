"""core/reasons.py is the one home of every reason code: the source uses no code that it lacks,
it lists no code that the source does not use, each code is defined once with a one-line hint,
and errors and Problem Details take their hint from it.

The source is read with ``ast``, not with a regular expression. A code is *used* where a string
literal stands in a code position:

- the keyword argument ``code="..."`` of any call, and a parameter ``code`` whose default is a
  string literal;
- the positional argument in the place of a ``code`` parameter (or dataclass field) of a
  callable defined in the package: ``problem(404, "...")``, ``Check(name, False, "...", ...)``,
  ``KeyProblem("...", ...)``, ``SyncResult(peer, "failed", None, "...", ...)``, ...;
- a ``default_code = "..."`` or ``code = "..."`` assignment, a ``"code": "..."`` dict member,
  a comparison ``x.code == "..."``;
- the signature report's ``problems.append(("...", detail))``;
- module constants named ``*_CODES`` (and the answer reasons ``VETOES``, ``REFUSALS``,
  ``BLAMELESS``), and the default of ``_HTTP_CODES.get(..., "...")``;
- in core/trust.py, where an answer's ``reason`` is written (a ``reason`` field, variable or
  dict member).

Either branch of ``a if c else b`` counts.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from registry_node.core import reasons
from registry_node.core.errors import (
    ConfigError,
    FetchFailed,
    FetchTimeout,
    InvalidInput,
    RegistryError,
    Rejected,
    SchemaInvalid,
)
from registry_node.http.problems import _HTTP_CODES, from_error, problem

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "registry_node"
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()

#: Callables with a ``code`` parameter that is not a reason code (a state's code, US-OH).
NOT_REASONS = frozenset({"DemoState"})
#: Module constants that hold reason codes.
CODE_CONSTANTS = re.compile(r"^_?[A-Z_]*_CODES$|^(VETOES|REFUSALS|BLAMELESS)$")
#: The registry itself: its functions look codes up.
REGISTRY_FILE = "registry_node/core/reasons.py"
#: Files where ``reason`` names an answer's reason code, like ``code`` everywhere.
REASON_FILES = frozenset({"registry_node/core/trust.py"})


def _strings(node: ast.AST | None) -> Iterator[str]:
    """The string literals a code-valued expression can evaluate to."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)


def _is_dataclass(node: ast.ClassDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Name) and target.id == "dataclass":
            return True
    return False


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _parsed() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _code_positions(trees: dict[str, ast.Module]) -> dict[str, set[tuple[str, int]]]:
    """Callable name -> (parameter name, positional index) of its code parameters."""
    out: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for rel, tree in trees.items():
        if rel == REGISTRY_FILE:  # reasons.get(code) looks a code up; its name is dict.get's
            continue
        names = {"code", "reason"} if rel in REASON_FILES else {"code"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name not in NOT_REASONS:
                if _is_dataclass(node):
                    fields = [
                        s.target.id
                        for s in node.body
                        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                    ]
                    out[node.name] |= {(f, fields.index(f)) for f in names & set(fields)}
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        params = [a.arg for a in item.args.args][1:]
                        out[node.name] |= {(p, params.index(p)) for p in names & set(params)}
            elif isinstance(node, ast.FunctionDef) and node.name != "__init__":
                params = [a.arg for a in node.args.args]
                if params[:1] in (["self"], ["cls"]):
                    params = params[1:]
                out[node.name] |= {(p, params.index(p)) for p in names & set(params)}
    return out


def used_codes() -> dict[str, list[str]]:
    """Every reason code written in the package -> where (``path:line``)."""
    trees = _parsed()
    positions = _code_positions(trees)
    found: dict[str, list[str]] = defaultdict(list)
    for rel, tree in trees.items():
        names = {"code", "reason"} if rel in REASON_FILES else {"code"}

        def add(expr: ast.AST | None, line: int, rel: str = rel) -> None:
            for code in _strings(expr):
                found[code].append(f"{rel}:{line}")

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in names:
                        add(kw.value, node.lineno)
                callee = _callee(node)
                for name, index in positions.get(callee or "", ()):
                    if index < len(node.args) and not any(k.arg == name for k in node.keywords):
                        add(node.args[index], node.lineno)
                func = node.func
                if (
                    callee == "append"
                    and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Attribute)
                    and func.value.attr == "problems"
                    and node.args
                    and isinstance(node.args[0], ast.Tuple)
                ):
                    add(node.args[0].elts[0], node.lineno)
                if (
                    callee == "get"
                    and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and CODE_CONSTANTS.match(func.value.id)
                    and len(node.args) == 2
                ):
                    add(node.args[1], node.lineno)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                positional = args.args[len(args.args) - len(args.defaults) :]
                pairs = [
                    *zip(positional, args.defaults, strict=True),
                    *zip(args.kwonlyargs, args.kw_defaults, strict=True),
                ]
                for arg, default in pairs:
                    if arg.arg in names:
                        add(default, node.lineno)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and (
                        target.id in names or target.id == "default_code"
                    ):
                        add(node.value, node.lineno)
                    elif isinstance(target, ast.Name) and CODE_CONSTANTS.match(target.id):
                        for inner in ast.walk(node.value) if node.value else ():
                            add(inner, node.lineno)
                    elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        for t, v in zip(target.elts, node.value.elts, strict=False):
                            if isinstance(t, ast.Name) and t.id in names:
                                add(v, node.lineno)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value in names:
                        add(value, node.lineno)
            elif (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Attribute)
                and node.left.attr in names
            ):
                for right in node.comparators:
                    add(right, node.lineno)
    return dict(found)


USED = used_codes()


# -- the walk itself --------------------------------------------------------------------


def test_the_walk_finds_codes_in_every_kind_of_place() -> None:
    """A guard on the guard: codes known to sit in each kind of place are found there."""
    where = {code: " ".join(places) for code, places in USED.items()}
    assert "core/acceptance.py" in where["rollback"]  # code="..."
    assert "core/signing.py" in where["typ_mismatch"]  # problems.append(("...", ...))
    assert "http/public.py" in where["version_not_found"]  # problem(404, "...")
    assert "http/queries.py" in where["bad_query"]  # def _bad(..., code="bad_query")
    assert "http/queries.py" in where["batch_too_large"]  # _bad(field, detail, "...")
    assert "core/credentials/report.py" not in where["signature_valid"]
    assert "core/credentials/jose.py" in where["signature_valid"]  # Check(..., "...", ...)
    assert "core/credentials/keys.py" in where["weak_key"]  # KeyProblem("...", ...)
    assert "core/credentials/verify.py" in where["vc_jose"]  # "..." if ... else "..."
    assert "core/errors.py" in where["fetch_failed"]  # default_code = "..."
    assert "services/federation.py" in where["terms_changed"]  # {"code": "..."}
    assert "services/federation.py" in where["internal_error"]  # SyncResult(..., "...")
    assert "core/credentials/dataintegrity.py" in where["bad_signature"]  # exc.code != "..."
    assert "http/problems.py" in where["method_not_allowed"]  # _HTTP_CODES
    assert "http/problems.py" in where["http_error"]  # _HTTP_CODES.get(..., "...")
    assert "core/acceptance.py" in where["alg_key_mismatch"]  # UNSIGNED_CODES
    assert "core/trust.py" in where["not_authorized"]  # REFUSALS, Finding(..., "...")
    assert "core/trust.py" in where["sources_stale"]  # reason = "..." if ... else "..."
    assert "core/trust.py" in where["stale"]  # {"reason": "stale"}
    assert "US-OH" not in USED  # DemoState's code is a state's code, not a reason


# -- the registry against the source ----------------------------------------------------


def test_every_code_the_source_uses_is_registered() -> None:
    missing = {code: places for code, places in USED.items() if not reasons.known(code)}
    assert not missing, f"reason codes used but not in core/reasons.py: {missing}"


def test_every_registered_code_is_used() -> None:
    unused = sorted(code for code in reasons.REASONS if code not in USED)
    assert not unused, f"registered in core/reasons.py but used nowhere: {unused}"


def _calls_of(names: set[str]) -> Iterator[tuple[str, ast.Call]]:
    for tree in _parsed().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node) in names:
                yield _callee(node) or "", node


def test_raise_sites_agree_with_the_family_of_their_code() -> None:
    """A refused peer list names a code with a ``list`` use, a failed fetch one with a
    ``fetch`` (or did:web) use: the class of the error and the registry say the same."""
    allowed: dict[str, set[str]] = {
        "Rejected": {"list"},
        "FetchFailed": {"fetch", "did_web"},
        "FetchTimeout": {"fetch"},
    }
    wrong = []
    for callee, call in _calls_of(set(allowed)):
        for kw in call.keywords:
            for code in _strings(kw.value) if kw.arg == "code" else ():
                families = {u.family for u in reasons.get(code).uses}
                if not families & allowed[callee]:
                    wrong.append(f"{callee}(code={code!r}) at line {call.lineno}")
    assert not wrong


def test_problem_statuses_agree_with_the_registry() -> None:
    """``problem(status, "code")`` and the HTTP error table answer with a status the
    registry gives the code."""
    pairs = [(status, code) for status, code in _HTTP_CODES.items()]
    for _, call in _calls_of({"problem"}):
        status, code = call.args[:2]
        if isinstance(status, ast.Constant) and isinstance(code, ast.Constant):
            pairs.append((status.value, code.value))
    assert len(pairs) >= len(_HTTP_CODES) + 5
    wrong = [
        (status, code)
        for status, code in pairs
        if status not in {u.leads_to for u in reasons.get(code).uses}
    ]
    assert not wrong


# -- the registry's shape ---------------------------------------------------------------


def test_each_code_is_defined_once_with_what_it_leads_to_and_a_one_line_hint() -> None:
    families = set(get_args(reasons.Family))
    assert len(reasons.REASONS) == len(list(reasons.codes())) >= 100
    for code, reason in reasons.REASONS.items():
        assert reason.code == code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert reason.uses, code
        for use in reason.uses:
            assert use.family in families, code
            assert isinstance(use.leads_to, int) or use.leads_to in get_args(
                get_args(reasons.LeadsTo)[0]
            ), code
            if isinstance(use.leads_to, int):
                assert 400 <= use.leads_to < 600, code
            assert use.hint.strip() == use.hint and "\n" not in use.hint and use.hint, code
            assert use.hint[0].isupper() and use.hint.endswith("."), code
        assert len(set(reason.uses)) == len(reason.uses), code


def test_reasons_are_frozen() -> None:
    reason = reasons.get("rollback")
    with pytest.raises(dataclasses.FrozenInstanceError):
        reason.code = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reason.uses[0].hint = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        reasons.REASONS["other"] = reason  # type: ignore[index]


def test_lookup() -> None:
    rollback = reasons.get("rollback")
    assert (rollback.family, rollback.leads_to) == ("list", "rejected")
    assert reasons.hint("rollback") == rollback.hint
    assert reasons.get("version_not_found").leads_to == 404
    with pytest.raises(KeyError, match="no_such_code"):
        reasons.get("no_such_code")
    assert not reasons.known("no_such_code")
    assert reasons.hint("no_such_code") == ""  # a code another node reported, say
    assert "timeout" in reasons.codes("fetch") and "rollback" not in reasons.codes("fetch")


def test_a_shared_code_has_one_hint_per_use() -> None:
    too_large = reasons.get("too_large")
    assert {u.leads_to for u in too_large.uses} == {"failed", "rejected"}
    schema = reasons.get("schema_invalid")
    assert reasons.hint("schema_invalid", family="list") != reasons.hint("schema_invalid")
    assert reasons.hint("schema_invalid", leads_to="rejected") == schema.use(family="list").hint
    assert schema.use(family="answer") == schema.uses[0]  # no such use: the main one


# -- hints reach errors and Problem Details ---------------------------------------------


def test_an_error_without_a_hint_takes_the_registry_hint_of_its_family() -> None:
    assert Rejected("x", code="rollback").hint == reasons.hint("rollback")
    assert FetchTimeout("x").hint == reasons.hint("timeout", family="fetch")
    # schema_invalid means a refused peer list here, a refused document there
    assert Rejected("x", code="schema_invalid").hint == reasons.hint(
        "schema_invalid", family="list"
    )
    assert SchemaInvalid("x", []).hint == reasons.get("schema_invalid").hint
    assert ConfigError("x", code="peers_invalid").hint == reasons.hint("peers_invalid")
    assert FetchFailed("x", code="did_invalid").hint == reasons.hint("did_invalid")
    # a hint given at the raise site wins, also an empty one
    assert InvalidInput("x", code="yaml_invalid", hint="do this").hint == "do this"
    assert InvalidInput("x", code="yaml_invalid", hint="").hint == ""
    assert RegistryError("x", code="not_registered").hint == ""
    error = Rejected("the seq went back", code="rollback")
    assert error.diagnostics() == f"rollback: the seq went back ({reasons.hint('rollback')})"


def test_problem_details_carry_the_registry_hint_unless_one_is_given() -> None:
    import json

    def body(response: object) -> dict[str, object]:
        text = getattr(response, "body")  # noqa: B009 - aiohttp's Response.body
        return dict(json.loads(text))

    assert body(problem(404, "version_not_found", "no version 9"))["hint"] == reasons.hint(
        "version_not_found"
    )
    assert body(problem(404, "version_not_found", "x", hint="mine"))["hint"] == "mine"
    assert "hint" not in body(problem(400, "not_registered", "x"))
    refused = body(from_error(InvalidInput("x", code="id_immutable"), "/admin/v1/issuers/a"))
    assert (refused["status"], refused["hint"]) == (422, reasons.hint("id_immutable"))
    # the status selects the use of a shared code
    assert body(problem(400, "schema_invalid", "x"))["hint"] == reasons.hint(
        "schema_invalid", leads_to=400
    )


# -- the operations guide's table -------------------------------------------------------


def _section_6_rows() -> list[tuple[str, str, str]]:
    """(outcome, code, what to do) of each row of docs/operations.md section 6."""
    section = OPERATIONS.split("## 6. Peer-list rejection reasons", 1)[1].split("\n## ", 1)[0]
    rows = []
    outcome = ""
    for line in section.splitlines():
        if line.startswith("Failures to fetch"):
            outcome = "failed"
        elif line.startswith("Refused lists"):
            outcome = "rejected"
        match = re.fullmatch(r"\| `([a-z_]+)` \| .* \| (.*) \|", line)
        if match:
            rows.append((outcome, match[1], match[2]))
    return rows


def _plain(text: str) -> str:
    """Markdown cell text as a hint says it: no emphasis, no code marks."""
    return text.replace("**", "").replace("`", "")


def test_the_hints_of_federation_codes_are_what_the_operations_guide_says_to_do() -> None:
    rows = _section_6_rows()
    assert {o for o, _, _ in rows} == {"failed", "rejected"}
    documented = {(o, c) for o, c, _ in rows}
    registered = {
        (str(u.leads_to), r.code)
        for r in reasons.REASONS.values()
        for u in r.uses
        if u.family in ("fetch", "list")
    }
    assert documented == registered
    for outcome, code, todo in rows:
        hint = reasons.get(code).use(leads_to=outcome).hint
        assert hint.replace("docs/operations.md section", "section") == _plain(todo), code
