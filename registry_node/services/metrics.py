"""Prometheus metrics of the node, in a registry of its own (one per node, so tests and
several nodes in one process never share counters): federation, the node's own list,
credential checks, HTTP requests (by route template, never by raw path, so that the number of
series stays bounded whatever paths clients send) and the process (CPU, memory, open files)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import INF, floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the route label of a request that matched no route (404, or a 405 of no known resource)
UNMATCHED = "unmatched"
#: methods counted under their own name; any other is counted as "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: the histogram's upper bounds as prometheus_client has them: with +Inf last
_HTTP_BOUNDS = (*(float(b) for b in HTTP_BUCKETS), INF)
_HTTP_LE = tuple(floatToGoString(b) for b in _HTTP_BOUNDS)  # type: ignore[no-untyped-call]
REQUESTS_HELP = "HTTP requests by route template, method and status"
DURATION_HELP = "Time to answer an HTTP request, by route template, method and status"
#: bound on the distinct (route, method, status) keys remembered for the fast path: a method
#: beyond METHODS varies freely (its series is the one "other" series all the same)
_HTTP_KEYS = 10_000


@dataclass(frozen=True)
class OwnList:
    """This node's newest published list, as the scrape-time collector reports it."""

    seq: int
    iat: int
    exp: int


@dataclass
class PeerGauge:
    """What the scrape-time collector reports of one peer's accepted list."""

    iat: int | None = None
    exp: int | None = None
    seq: int | None = None
    entries: int = 0
    dropped: int = 0
    failures: int = 0
    #: the held list failed the peer's current terms and is not used
    withdrawn: bool = False


class _PeerCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.metrics.now()
        age = GaugeMetricFamily(
            "registry_peer_list_age_seconds",
            "Seconds since the accepted list was issued",
            labels=["peer"],
        )
        ttl = GaugeMetricFamily(
            "registry_peer_list_expires_in_seconds",
            "Seconds until the accepted list expires (negative: stale)",
            labels=["peer"],
        )
        seq = GaugeMetricFamily(
            "registry_peer_list_seq", "seq of the accepted list", labels=["peer"]
        )
        entries = GaugeMetricFamily(
            "registry_peer_entries", "Entries of the accepted list", labels=["peer", "kind"]
        )
        failures = GaugeMetricFamily(
            "registry_peer_consecutive_failures",
            "Failed syncs since the last success",
            labels=["peer"],
        )
        in_use = GaugeMetricFamily(
            "registry_peer_list_in_use",
            "1 while the held list is a source of answers, 0 once withdrawn",
            labels=["peer"],
        )
        own = self.metrics.own
        if own is not None:
            yield GaugeMetricFamily(
                "registry_trust_list_seq", "seq of this node's newest published list", own.seq
            )
            yield GaugeMetricFamily(
                "registry_trust_list_age_seconds",
                "Seconds since this node's newest published list was issued",
                now - own.iat,
            )
            yield GaugeMetricFamily(
                "registry_trust_list_expires_in_seconds",
                "Seconds until this node's newest published list expires (negative: expired)",
                own.exp - now,
            )
        for peer, gauge in sorted(self.metrics.peers.items()):
            if gauge.iat is not None and gauge.exp is not None and gauge.seq is not None:
                age.add_metric([peer], now - gauge.iat)
                ttl.add_metric([peer], gauge.exp - now)
                seq.add_metric([peer], gauge.seq)
                in_use.add_metric([peer], 0 if gauge.withdrawn else 1)
            entries.add_metric([peer, "accepted"], gauge.entries)
            entries.add_metric([peer, "dropped_scope"], gauge.dropped)
            failures.add_metric([peer], gauge.failures)
        yield from (age, ttl, seq, entries, failures, in_use)


class HttpSeries:
    """One (route, method, status) series of the request counter and the duration histogram:
    plain numbers, counted on the event loop, rendered at scrape time as prometheus_client
    renders a labelled Counter and Histogram. ``buckets[i]`` counts the requests that fell in
    bucket ``i`` alone (cumulated when rendered)."""

    __slots__ = ("buckets", "count", "created", "labels", "sum")

    def __init__(self, labels: tuple[str, str, str], created: float) -> None:
        self.labels = labels
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * len(_HTTP_BOUNDS)
        self.created = created


class _HttpCollector(Collector):
    """``registry_http_requests_total`` and ``registry_http_request_duration_seconds``: the
    families, samples and order a labelled prometheus_client Counter and Histogram would
    give, without their locks and label lookups on every request."""

    LABELS = ("route", "method", "status")

    def __init__(self, series: dict[tuple[str, str, str], HttpSeries]) -> None:
        self.series = series

    def collect(self) -> Iterator[Metric]:
        created = prometheus_metrics._use_created  # PROMETHEUS_DISABLE_CREATED_SERIES
        requests = Metric("registry_http_requests", REQUESTS_HELP, "counter")
        name = "registry_http_request_duration_seconds"
        seconds = Metric(name, DURATION_HELP, "histogram")
        for s in list(self.series.values()):
            labels = dict(zip(self.LABELS, s.labels, strict=True))
            requests.samples.append(Sample("registry_http_requests_total", labels, s.count))
            if created:
                requests.samples.append(Sample("registry_http_requests_created", labels, s.created))
            total = 0.0
            for le, n in zip(_HTTP_LE, s.buckets, strict=True):
                total += n
                seconds.samples.append(Sample(name + "_bucket", {**labels, "le": le}, total))
            seconds.samples.append(Sample(name + "_count", labels, total))
            seconds.samples.append(Sample(name + "_sum", labels, s.sum))
            if created:
                seconds.samples.append(Sample(name + "_created", labels, s.created))
        yield requests
        yield seconds


class Metrics:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.registry = CollectorRegistry()
        self.peers: dict[str, PeerGauge] = {}
        self._labels: dict[str, set[tuple[str, str]]] = {}
        #: this node's newest published list, set before each scrape (None: none published)
        self.own: OwnList | None = None
        self.syncs = Counter(
            "registry_peer_syncs",
            "Peer syncs by outcome",
            ["peer", "outcome"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "registry_peer_rejections",
            "Rejected peer lists and failed fetches by reason code",
            ["peer", "reason"],
            registry=self.registry,
        )
        self.alarms = Counter(
            "registry_peer_alarms",
            "Proof of misbehaviour or a stolen key at a peer (equivocation, history rewritten)",
            ["peer", "reason"],
            registry=self.registry,
        )
        self.fetch_seconds = Histogram(
            "registry_peer_fetch_duration_seconds",
            "Time to fetch a peer's list",
            ["peer"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.verifications = Counter(
            "registry_credential_verifications",
            "Credentials checked with POST /v1/verify, by verdict",
            ["verdict"],
            registry=self.registry,
        )
        #: verdict -> its labelled child (three verdicts: looked up once each)
        self._verdicts: dict[str, Counter] = {}
        #: the HTTP requests by their label values, in the order first seen
        self.http_series: dict[tuple[str, str, str], HttpSeries] = {}
        #: (route, method as sent, status) -> its series, so that a request looks it up once
        self._http_keys: dict[tuple[str, str, int], HttpSeries] = {}
        self.registry.register(_HttpCollector(self.http_series))
        self.lease_held = Gauge(
            "registry_replica_lease_held",
            "1 when this replica holds the lease (it publishes and syncs peers), else 0",
            ["replica"],
            registry=self.registry,
        )
        self.lease_takeovers = Gauge(
            "registry_replica_lease_takeovers",
            "How many times this replica took the lease since it started",
            ["replica"],
            registry=self.registry,
        )
        self.registry.register(_PeerCollector(self))
        # process_* (CPU seconds, resident and virtual memory, open and maximum file
        # descriptors, start time: from /proc, so on Linux only), python_info, python_gc_*.
        ProcessCollector(registry=self.registry)
        self.registry.register(PLATFORM_COLLECTOR)
        self.registry.register(GC_COLLECTOR)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request under its route template (``/v1/issuers/{id}``)."""
        key = (route, method, status)
        series = self._http_keys.get(key)
        if series is None:
            series = self._new_series(key)
        series.count += 1
        series.sum += seconds
        series.buckets[bisect_left(_HTTP_BOUNDS, seconds)] += 1  # the first bound >= seconds

    def _new_series(self, key: tuple[str, str, int]) -> HttpSeries:
        route, method, status = key
        labels = (route, method if method in METHODS else "other", str(status))
        series = self.http_series.get(labels)
        if series is None:
            series = self.http_series[labels] = HttpSeries(labels, time.time())
        if len(self._http_keys) < _HTTP_KEYS:
            self._http_keys[key] = series
        return series

    def replica(self, name: str, leading: bool, takeovers: int) -> None:
        """This replica's part (services/replicas.py), set before each rendering."""
        self.lease_held.labels(name).set(1 if leading else 0)
        self.lease_takeovers.labels(name).set(takeovers)

    def peer(self, peer_id: str) -> PeerGauge:
        return self.peers.setdefault(peer_id, PeerGauge())

    def count_sync(self, peer_id: str, outcome: str, reason: str | None = None) -> None:
        """Count a sync (and, for a failure, its reason), remembering the label values so
        that :meth:`forget` can remove the peer's series."""
        self.syncs.labels(peer_id, outcome).inc()
        self._labels.setdefault(peer_id, set()).add(("sync", outcome))
        if reason is not None:
            self.rejections.labels(peer_id, reason).inc()
            self._labels[peer_id].add(("rejection", reason))

    def count_alarm(self, peer_id: str, reason: str) -> None:
        self.alarms.labels(peer_id, reason).inc()
        self._labels.setdefault(peer_id, set()).add(("alarm", reason))

    def count_verification(self, verdict: str) -> None:
        """One ``POST /v1/verify`` answered with ``verdict``."""
        child = self._verdicts.get(verdict)
        if child is None:
            child = self._verdicts[verdict] = self.verifications.labels(verdict)
        child.inc()

    def observe_fetch(self, peer_id: str, seconds: float) -> None:
        self.fetch_seconds.labels(peer_id).observe(seconds)
        self._labels.setdefault(peer_id, set()).add(("fetch", ""))

    def forget(self, peer_id: str) -> None:
        """A peer removed from peers.yaml: its gauges and every series of it disappear."""
        self.peers.pop(peer_id, None)
        for kind, value in self._labels.pop(peer_id, set()):
            if kind == "sync":
                self.syncs.remove(peer_id, value)
            elif kind == "rejection":
                self.rejections.remove(peer_id, value)
            elif kind == "alarm":
                self.alarms.remove(peer_id, value)
            else:
                self.fetch_seconds.remove(peer_id)

    def render(self) -> bytes:
        return generate_latest(self.registry)
