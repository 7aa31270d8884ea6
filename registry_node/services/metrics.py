"""Prometheus metrics of the node, in a registry of its own (one per node, so tests and
several nodes in one process never share counters): federation, the node's own list,
credential checks, HTTP requests (by route template, never by raw path, so that the number of
series stays bounded whatever paths clients send) and the process (CPU, memory, open files)."""

from __future__ import annotations

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
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the route label of a request that matched no route (404, or a 405 of no known resource)
UNMATCHED = "unmatched"
#: methods counted under their own name; any other is counted as "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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
        self.http_requests = Counter(
            "registry_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "registry_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status",
            ["route", "method", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        #: (route, method, status) -> its counter and histogram children, looked up once: the
        #: labels() lookup costs more than the count itself, on every request
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
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
        children = self._http_children.get(key)
        if children is None:
            labels = (route, method if method in METHODS else "other", str(status))
            children = self.http_requests.labels(*labels), self.http_seconds.labels(*labels)
            if len(self._http_children) < 10_000:  # bounded: methods beyond METHODS vary freely
                self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

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
