"""Seeing what the node answers: requests counted and timed by route template and status in
``/metrics``, the process's own metrics, and the structured access log (on, off, no secrets)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from registry_node import config as configmod
from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError, StorageUnavailable
from registry_node.core.yamlsafe import load_yaml
from registry_node.http.app import create_app
from registry_node.http.appkeys import NODE
from registry_node.http.cors import EXPOSE_HEADERS
from registry_node.logs import JsonFormatter, TextFormatter
from registry_node.services.metrics import HTTP_BUCKETS, METHODS, Metrics
from tests.helpers import FakeClock, make_config

#: each request is timed as exactly this long by the stepping timer below
STEP = 0.25


class SteppingTimer:
    """A monotonic timer that moves by ``STEP`` at every reading: a request, read at its start
    and at its end, takes exactly ``STEP`` seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += STEP
        return self.now


async def _client(aiohttp_client: Any, config: NodeConfig, clock: FakeClock) -> TestClient:
    app = create_app(config, clock, run_scheduler=False, timer=SteppingTimer())
    client: TestClient = await aiohttp_client(app)
    return client


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def sample(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def test_requests_are_counted_and_timed_by_route_template_and_status(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, make_config(tmp_path), clock)
    for name in ("did:web:a.example", "did:web:b.example", "did:web:c.example"):
        assert (await client.get(f"/v1/issuers/{name}")).status == 200
    assert (await client.get("/trust-list/999")).status == 404
    assert (await client.get("/no/such/path/at/all")).status == 404
    assert (await client.request("PROPFIND", "/healthz")).status == 405
    assert (await client.post("/admin/v1/publish")).status == 401
    text = await (await client.get("/metrics")).text()
    found = samples(text)

    lookups = {"route": "/v1/issuers/{name}", "method": "GET", "status": "200"}
    assert sample(found, "registry_http_requests_total", **lookups) == 3
    assert sample(found, "registry_http_request_duration_seconds_count", **lookups) == 3
    assert sample(found, "registry_http_request_duration_seconds_sum", **lookups) == 3 * STEP
    hist = "registry_http_request_duration_seconds_bucket"
    assert sample(found, hist, le="0.25", **lookups) == 3
    assert sample(found, hist, le="0.1", **lookups) == 0
    version = {"route": "/trust-list/{seq}", "method": "GET", "status": "404"}
    assert sample(found, "registry_http_requests_total", **version) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert sample(found, "registry_http_requests_total", **unmatched) == 1
    # A method the node does not serve counts as "other": no label value at a client's will.
    other = {"route": "unmatched", "method": "other", "status": "405"}
    assert sample(found, "registry_http_requests_total", **other) == 1
    admin = {"route": "/admin/v1/publish", "method": "POST", "status": "401"}
    assert sample(found, "registry_http_requests_total", **admin) == 1
    # Raw paths never become label values.
    values = {value for _, labels in found for _, value in labels}
    assert not [v for v in values if "a.example" in v or "999" in v or "/no/such" in v]
    assert "PROPFIND" not in values
    assert "a.example" not in text


async def test_the_process_metrics_are_exported(client: TestClient) -> None:
    found = samples(await (await client.get("/metrics")).text())
    assert (sample(found, "process_resident_memory_bytes") or 0) > 1_000_000
    assert (sample(found, "process_open_fds") or 0) > 0
    assert sample(found, "process_cpu_seconds_total") is not None
    assert (sample(found, "process_start_time_seconds") or 0) > 0
    assert any(name == "python_info" for name, _ in found)


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "registry_node.access"]


async def test_the_access_log_has_one_structured_line_a_request_and_no_secrets(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="registry_node.access")
    client = await _client(aiohttp_client, make_config(tmp_path, access_log=True), clock)
    resp = await client.get(
        "/v1/issuers/did:web:a.example?at=2026-01-01T00:00:00Z&token=query-secret-123",
        headers={"X-Request-ID": "req-42", "User-Agent": "verifier/1.0"},
    )
    assert resp.status == 400  # an unknown query parameter; the request is logged all the same
    resp = await client.post(
        "/admin/v1/publish",
        headers={"Authorization": "Bearer rnt_header-secret-456", "Cookie": "s=cookie-secret"},
    )
    assert resp.status == 401
    records = _access_records(caplog)
    assert len(records) == 2
    lookup, admin = (json.loads(JsonFormatter().format(r)) for r in records)
    assert lookup["msg"] == "request"
    assert lookup["method"] == "GET"
    assert lookup["path"] == "/v1/issuers/did:web:a.example"
    assert lookup["route"] == "/v1/issuers/{name}"
    assert lookup["status"] == 400
    assert lookup["duration_ms"] == STEP * 1000
    assert lookup["request_id"] == "req-42"
    assert lookup["user_agent"] == "verifier/1.0"
    assert lookup["bytes"] > 0
    assert lookup["remote"] == "127.0.0.1"
    assert admin["route"] == "/admin/v1/publish"
    assert admin["status"] == 401
    for record in records:
        for text in (JsonFormatter().format(record), TextFormatter().format(record)):
            for secret in ("query-secret-123", "token=", "rnt_header-secret", "cookie-secret"):
                assert secret not in text
            assert "authorization" not in text.lower()


async def test_a_path_cannot_break_a_text_log_line(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="registry_node.access")
    client = await _client(aiohttp_client, make_config(tmp_path, access_log=True), clock)
    await client.get("/v1/issuers/did:web:a.example%0Aforged%20line")
    [record] = _access_records(caplog)
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert "%0A" in line


async def test_the_access_log_can_be_switched_off(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="registry_node.access")
    client = await _client(aiohttp_client, make_config(tmp_path, access_log=False), clock)
    assert (await client.get("/healthz")).status == 200
    assert _access_records(caplog) == []
    found = samples(await (await client.get("/metrics")).text())
    health = {"route": "/healthz", "method": "GET", "status": "200"}
    assert sample(found, "registry_http_requests_total", **health) == 1  # still counted


def test_node_yaml_sets_the_access_log_and_init_turns_it_off_behind_a_tls_proxy(
    tmp_path: Path,
) -> None:
    def written(**kw: Any) -> Any:
        text = configmod.template("https://registry.ohio.gov", "US-OH", "Ohio", **kw)
        return load_yaml(text, "node.yaml")

    assert written()["access_log"] is True
    assert written(public_url="https://registry.ohio.gov")["access_log"] is False
    assert written(public_url="https://registry.ohio.gov", access_log=True)["access_log"] is True
    assert configmod.from_document({"access_log": False}, None).access_log is False
    assert configmod.from_document({}, None).access_log is True
    with pytest.raises(ConfigError) as caught:
        configmod.from_document({"access_log": "yes"}, tmp_path / "node.yaml")
    assert caught.value.field == "access_log"


def _without_created(text: str) -> list[str]:
    """The exposition's lines, each ``*_created`` sample's value (a wall-clock instant) cut."""
    return [line.rpartition(" ")[0] if "_created{" in line else line for line in text.splitlines()]


def test_the_request_series_render_as_a_labelled_counter_and_histogram_would() -> None:
    """The node counts requests in plain numbers (no label lookup, no lock on each request):
    /metrics must show exactly what prometheus_client's Counter and Histogram would."""
    observed = [
        ("/v1/issuers/{name}", "GET", 200, 0.0004),
        ("/v1/issuers/{name}", "GET", 200, 0.001),  # on a bound: that bucket (le is <=)
        ("/v1/issuers/{name}", "GET", 200, 0.0011),
        ("/trust-list/{seq}", "GET", 404, 0.3),
        ("/v1/issuers/{name}", "GET", 404, 31.0),  # past the last bound: +Inf only
        ("unmatched", "PROPFIND", 405, 0.02),
        ("unmatched", "MKCOL", 405, 2.5),  # another unknown method: the same "other" series
        ("/v1/issuers/{name}", "GET", 200, 7.0),
        ("/trqp/authorization", "POST", 200, 0.0),
    ]
    metrics = Metrics(lambda: 0.0)
    reference = CollectorRegistry()
    counter = Counter(
        "registry_http_requests",
        "HTTP requests by route template, method and status",
        ["route", "method", "status"],
        registry=reference,
    )
    histogram = Histogram(
        "registry_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template, method and status",
        ["route", "method", "status"],
        buckets=HTTP_BUCKETS,
        registry=reference,
    )
    for route, method, status, seconds in observed:
        metrics.observe_request(route, method, status, seconds)
        labels = (route, method if method in METHODS else "other", str(status))
        counter.labels(*labels).inc()
        histogram.labels(*labels).observe(seconds)
    expected = _without_created(generate_latest(reference).decode())
    rendered = _without_created(metrics.render().decode())
    start = rendered.index(expected[0])
    assert rendered[start : start + len(expected)] == expected
    assert sum(1 for line in expected if "_created{" in line) == 2 * 5  # every series has one
    # The families stay where they were: after the credential checks, before the replica's.
    types = [line.split()[2] for line in rendered if line.startswith("# TYPE")]
    names = [name for name in types if not name.endswith("_created")]
    at = names.index("registry_http_requests_total")
    assert names[at - 1 : at + 3] == [
        "registry_credential_verifications_total",
        "registry_http_requests_total",
        "registry_http_request_duration_seconds",
        "registry_replica_lease_held",
    ]


def test_a_request_series_is_created_once_and_counted_ever_after() -> None:
    metrics = Metrics(lambda: 0.0)
    for method in ("PROPFIND", "MKCOL", "PROPFIND", "GET"):
        metrics.observe_request("unmatched", method, 405, 0.002)
    found = samples(metrics.render().decode())
    other = {"route": "unmatched", "method": "other", "status": "405"}
    assert sample(found, "registry_http_requests_total", **other) == 3
    assert sample(found, "registry_http_request_duration_seconds_bucket", le="0.005", **other) == 3
    assert sample(found, "registry_http_request_duration_seconds_bucket", le="0.001", **other) == 0
    assert sample(found, "registry_http_request_duration_seconds_sum", **other) == 3 * 0.002
    get = {"route": "unmatched", "method": "GET", "status": "405"}
    assert sample(found, "registry_http_requests_total", **get) == 1
    assert len(metrics.http_series) == 2


async def test_one_edge_counts_answers_problems_and_preflights_in_the_layers_order(
    aiohttp_client: Any,
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The edge middleware does the work of four: an error in the admin token check is a
    Problem Details answer (not a bare 500), every answer carries the request id, only public
    answers the CORS headers, and each is counted and logged with the status sent."""
    caplog.set_level(logging.INFO, logger="registry_node.access")
    client = await _client(aiohttp_client, make_config(tmp_path, access_log=True), clock)
    node = client.app[NODE]

    async def unwritable(token: str) -> str | None:
        raise StorageUnavailable("the disk is full")

    monkeypatch.setattr(node.tokens, "authenticate", unwritable)
    rid = {"X-Request-ID": "edge-1"}
    admin = await client.get("/admin/v1/issuers", headers={"Authorization": "Bearer x", **rid})
    assert admin.status == 503
    assert admin.content_type == "application/problem+json"
    assert (await admin.json())["code"] == "database_unwritable"
    assert admin.headers["X-Request-ID"] == "edge-1"
    assert "Access-Control-Allow-Origin" not in admin.headers
    preflight = await client.options(
        "/v1/issuers/did:web:a.example", headers={"Access-Control-Request-Method": "GET", **rid}
    )
    assert preflight.status == 204
    assert preflight.headers["X-Request-ID"] == "edge-1"
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Expose-Headers" not in preflight.headers
    lookup = await client.get("/v1/issuers/did:web:a.example", headers={"X-Request-ID": "a b"})
    assert lookup.status == 200
    assert lookup.headers["Access-Control-Allow-Origin"] == "*"
    assert lookup.headers["Access-Control-Expose-Headers"] == EXPOSE_HEADERS
    assert "X-Request-ID" not in lookup.headers  # not a valid id: not echoed
    found = samples(await (await client.get("/metrics")).text())
    counted = {
        ("/admin/v1/issuers", "GET", "503"): 1,
        ("unmatched", "OPTIONS", "204"): 1,  # no route has OPTIONS: the edge answers it
        ("/v1/issuers/{name}", "GET", "200"): 1,
    }
    for (route, method, status), n in counted.items():
        labels = {"route": route, "method": method, "status": status}
        assert sample(found, "registry_http_requests_total", **labels) == n
    logged = [(r.__dict__["route"], r.__dict__["status"]) for r in _access_records(caplog)]
    assert logged[:3] == [
        ("/admin/v1/issuers", 503),
        ("unmatched", 204),
        ("/v1/issuers/{name}", 200),
    ]


async def test_what_no_route_answers_is_a_problem_from_the_edges_last_route(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> None:
    """The application has no middleware: each route's handler is behind the edge, and a last
    route answers the rest as the router would (405 with the methods the path has, else 404),
    as Problem Details with the CORS headers and the request id, counted as ``unmatched``."""
    client = await _client(aiohttp_client, make_config(tmp_path), clock)
    assert not client.app.middlewares
    rid = {"X-Request-ID": "edge-2"}
    wrong = await client.put("/v1/issuers/did:web:a.example", headers=rid)
    assert wrong.status == 405
    assert wrong.content_type == "application/problem+json"
    assert (await wrong.json())["code"] == "method_not_allowed"
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert wrong.headers["Access-Control-Allow-Origin"] == "*"
    assert wrong.headers["X-Request-ID"] == "edge-2"
    for path in ("/no/such/path", "/v1/issuers/did:web:a.example%0Aline", "/v1"):
        missing = await client.get(path, headers=rid)
        assert missing.status == 404, path
        assert missing.content_type == "application/problem+json", path
        assert (await missing.json())["code"] == "not_found"
        assert missing.headers["X-Request-ID"] == "edge-2"
    head = await client.head("/no/such/path")
    assert head.status == 404
    found = samples(await (await client.get("/metrics")).text())
    counted = {("PUT", "405"): 1, ("GET", "404"): 3, ("HEAD", "404"): 1}
    for (method, status), n in counted.items():
        labels = {"route": "unmatched", "method": method, "status": status}
        assert sample(found, "registry_http_requests_total", **labels) == n


def test_only_plain_handlers_go_behind_the_edge() -> None:
    from aiohttp import web

    from registry_node.http.edge import Edge

    class View(web.View):
        async def get(self) -> web.Response:
            return web.Response()

    table = web.RouteTableDef()
    table.view("/view")(View)
    with pytest.raises(TypeError, match="plain handler"):
        Edge(False, lambda: 0.0).install(web.Application(), [table])


async def test_each_route_is_counted_under_its_own_template(aiohttp_client: Any) -> None:
    """The edge names each route by the template of the resource it joins, also when one path
    has methods in two route tables, and everything else ``unmatched``."""
    from aiohttp import web

    from registry_node.http.edge import Edge

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    first, second = web.RouteTableDef(), web.RouteTableDef()
    first.get("/things/{name:.+}")(ok)
    first.post("/plain")(ok)
    second.put("/things/{name:.+}")(ok)
    app = web.Application()
    edge = Edge(False, lambda: 0.0)
    edge.metrics = Metrics(lambda: 0.0)
    edge.install(app, [first, second])
    client = await aiohttp_client(app)
    for method, path in [
        ("GET", "/things/a"),
        ("HEAD", "/things/b"),
        ("PUT", "/things/c"),
        ("POST", "/plain"),
        ("GET", "/plain"),
        ("GET", "/elsewhere"),
    ]:
        await (await client.request(method, path)).read()
    assert set(edge.metrics.http_series) == {
        ("/things/{name}", "GET", "200"),
        ("/things/{name}", "HEAD", "200"),
        ("/things/{name}", "PUT", "200"),
        ("/plain", "POST", "200"),
        ("unmatched", "GET", "405"),
        ("unmatched", "GET", "404"),
    }


@pytest.mark.parametrize(
    ("template", "public", "admin"),
    [
        ("/v1/issuers/{name}", True, False),  # the lookup: decided once
        ("/v1/issuers", True, False),
        ("/trust-list/{seq}", True, False),
        ("/healthz", False, False),
        ("/", False, False),
        ("/admin/v1", False, True),
        ("/admin/v1/issuers/{issuer_id}", False, True),
        ("/admin/{rest}", False, None),  # /admin/v1/... or not: the path decides
        ("/v{rest}", None, False),  # /v1/... is public, /v2 is not
        ("/{path}", None, None),  # the last route
        ("/v1%2Fissuers/{x}", None, None),  # the router reads %2F decoded: never decided
    ],
)
def test_a_routes_public_and_admin_rules_are_decided_once_only_when_every_path_agrees(
    template: str, public: bool | None, admin: bool | None
) -> None:
    from registry_node.http import admin as admin_api
    from registry_node.http import cors
    from registry_node.http.edge import path_rule

    assert path_rule(template, cors.PUBLIC_PATHS, cors.PUBLIC_PREFIXES) is public
    assert path_rule(template, admin_api.PATHS, admin_api.PREFIXES) is admin


def test_every_routes_decided_rules_hold_for_the_paths_it_matches(tmp_path: Path) -> None:
    """What the edge decides once per route (public: the CORS headers; admin: the token) is
    what the per-request rules say of every path the route matches."""
    import re

    from registry_node.http import admin as admin_api
    from registry_node.http import cors
    from registry_node.http.edge import path_rule

    app = create_app(make_config(tmp_path), run_scheduler=False, handle_sighup=False)
    values = ("x", "1", "", "issuers", "v1/issuers", "admin/v1", "admin/v1/issuers", "a/b")
    decided = 0
    for resource in app.router.resources():
        template = resource.canonical
        info = resource.get_info()
        pattern = info["pattern"] if "pattern" in info else re.compile(re.escape(info["path"]))
        public = path_rule(template, cors.PUBLIC_PATHS, cors.PUBLIC_PREFIXES)
        admin = path_rule(template, admin_api.PATHS, admin_api.PREFIXES)
        decided += public is not None and admin is not None
        for value in values:
            path = re.sub(r"\{[^}]*\}", value, template)
            if not pattern.fullmatch(path):
                continue
            assert public in (None, cors.is_public(path)), (template, path)
            assert admin in (None, admin_api.is_admin(path)), (template, path)
    assert decided == len(app.router.resources()) - 1  # all but the last route's
