"""node.yaml: the node's configuration, validated against ``node-config-v1.json``.

A state writes its file with ``registry-node init``. A file names the node's identity
(``node_id``, ``jurisdiction``, ``name``): a node never takes its identity from a default, so an
empty or partial file is refused. :class:`NodeConfig`'s defaults are the example identity that
tests and commands which need no registry (``init``, ``demo``, ``peers check``) start from; the
command line refuses every command that works on a registry when there is no file
(docs/adr/0014). Relative paths are relative to the directory that holds node.yaml (or the
working directory when there is none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from registry_node.core import schema
from registry_node.core.errors import ConfigError, InvalidInput
from registry_node.core.jwks import DEFAULT_RECEIPT_RETENTION
from registry_node.core.model import NodeIdentity
from registry_node.core.peers import DEFAULT_MAX_VALIDITY
from registry_node.core.timeutil import format_duration, parse_duration
from registry_node.core.yamlsafe import dump_yaml, load_yaml

DEFAULT_CONFIG_FILE = "node.yaml"
DEMO_NODE_ID = "https://registry.ohio.example"
DEMO_JURISDICTION = "US-OH"
DEMO_NAME = "Ohio Learning and Employment Record Trust Registry"
#: The settings a node.yaml must name: the node's identity is never a default.
IDENTITY_SETTINGS = ("node_id", "jurisdiction", "name")


@dataclass(frozen=True)
class FederationConfig:
    max_list_bytes: int = 16 * 1024 * 1024
    connect_timeout: timedelta = timedelta(seconds=5)
    read_timeout: timedelta = timedelta(seconds=10)
    deadline: timedelta = timedelta(seconds=30)
    #: syncs in flight: four keep one judging worker busy; each may hold a body (memory)
    concurrency: int = 4
    clock_skew: timedelta = timedelta(minutes=5)
    backoff_max: timedelta = timedelta(hours=1)
    allow_http_loopback: bool = True
    #: worker processes that judge fetched lists (0: a thread of the node's own process)
    judge_processes: int = 1


@dataclass(frozen=True)
class RetentionConfig:
    """Which old version bodies are kept (docs/adr/0015): the newest ``keep_versions``, and
    every version replaced by a newer one less than ``keep_for`` ago (at least an hour, the
    longest a signed answer citing it stays valid). Seqs, digests, ``prev`` links and issuers'
    histories are always kept."""

    keep_versions: int = 100
    keep_for: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class OperatorContext:
    """A JSON-LD context the operator pins (node.yaml ``credentials.contexts``): its URL, the
    file that holds it and the file's expected sha256 (read and checked at start)."""

    url: str
    file: Path
    sha256: str


@dataclass(frozen=True)
class NodeConfig:
    node_id: str = DEMO_NODE_ID
    jurisdiction: str = DEMO_JURISDICTION
    name: str = DEMO_NAME
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    data_dir: Path = Path("data")
    #: a PostgreSQL server's URL (postgresql://user@host:5432/dbname, no password); None:
    #: the SQLite file in data_dir (docs/operations.md, Running on PostgreSQL)
    database: str | None = None
    #: the file that holds the database user's password (else PGPASSWORD, else none)
    database_password_file: Path | None = None
    #: the signing keys' folder when it is not data_dir/keys: replicas on one database mount
    #: the same one (docs/operations.md, Running replicas)
    shared_keys_dir: Path | None = None
    #: how this process is named among the replicas of one database (default: host:pid)
    replica_name: str | None = None
    trust_list: Path | None = None
    peers_file: Path = Path("peers.yaml")
    list_validity: timedelta = timedelta(hours=24)
    cache_max_age: timedelta = timedelta(minutes=5)
    publish_debounce: timedelta = timedelta(seconds=2)
    max_body_bytes: int = 1024 * 1024
    signing_alg: str = "Ed25519"
    #: how long a receipt is meant to be kept: its key stays in /jwks.json that long
    receipt_retention: timedelta = DEFAULT_RECEIPT_RETENTION
    log_format: str = "auto"
    log_level: str = "INFO"
    #: one structured log line per answered request (logger registry_node.access)
    access_log: bool = True
    federation: FederationConfig = field(default_factory=FederationConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    #: fetch did:web documents for issuers the lists pin no key for (docs/protocol.md 13.2)
    resolve_did_web: bool = False
    #: JSON-LD contexts pinned by the operator, beside those shipped with the node
    contexts: tuple[OperatorContext, ...] = ()
    #: (DID, file of its DID document): keys for this node's own checks only (docs/adr/0020)
    did_documents: tuple[tuple[str, Path], ...] = ()
    #: fetch the status lists credentials name (docs/protocol.md 13.2; off by default)
    fetch_status_lists: bool = False
    #: how long a status list copy may be used (a list's ttl may shorten it)
    status_list_max_age: timedelta = timedelta(hours=24)
    #: the URL of the state's governance framework for its issuers, for GET /trqp/metadata
    governance_framework: str | None = None
    source: Path | None = None  # the node.yaml it came from, if any

    @property
    def identity(self) -> NodeIdentity:
        return NodeIdentity(self.node_id, self.jurisdiction, self.name)

    @property
    def base_url(self) -> str:
        """Where this node is reachable, for the endpoint URLs it advertises."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "registry.sqlite3"

    @property
    def where(self) -> str:
        """The database, as messages name it: the SQLite file, or the server's URL."""
        return self.database if self.database is not None else str(self.db_path)

    @property
    def keys_dir(self) -> Path:
        """The signing keys' folder: node.yaml's ``keys_dir``, else data_dir/keys."""
        return self.shared_keys_dir or self.data_dir / "keys"

    @property
    def trust_list_path(self) -> Path:
        """The state's issuer source file: trust_lists/<jurisdiction in lower case>.yaml."""
        if self.trust_list is not None:
            return self.trust_list
        base = self.source.parent if self.source else Path()
        return base / "trust_lists" / f"{self.jurisdiction.lower()}.yaml"


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def from_document(doc: dict[str, Any], source: Path | None) -> NodeConfig:
    where = str(source) if source else "configuration"
    try:
        schema.validate(schema.NODE_CONFIG, doc, where)
    except InvalidInput as exc:
        raise ConfigError(exc.detail, code="config_invalid", field=exc.field) from exc
    base = source.parent if source else Path()
    listen = doc.get("listen", {})
    fed = doc.get("federation", {})
    fed_defaults = FederationConfig()
    federation = FederationConfig(
        max_list_bytes=fed.get("max_list_bytes", fed_defaults.max_list_bytes),
        connect_timeout=_duration(fed, "connect_timeout", fed_defaults.connect_timeout),
        read_timeout=_duration(fed, "read_timeout", fed_defaults.read_timeout),
        deadline=_duration(fed, "deadline", fed_defaults.deadline),
        concurrency=fed.get("concurrency", fed_defaults.concurrency),
        clock_skew=_duration(fed, "clock_skew", fed_defaults.clock_skew),
        backoff_max=_duration(fed, "backoff_max", fed_defaults.backoff_max),
        allow_http_loopback=fed.get("allow_http_loopback", fed_defaults.allow_http_loopback),
        judge_processes=fed.get("judge_processes", fed_defaults.judge_processes),
    )
    kept = doc.get("retention", {})
    retention = RetentionConfig(
        keep_versions=kept.get("keep_versions", RetentionConfig.keep_versions),
        keep_for=_duration(kept, "keep_for", RetentionConfig.keep_for),
    )
    credentials = doc.get("credentials", {})
    defaults = NodeConfig()
    config = NodeConfig(
        node_id=doc.get("node_id", defaults.node_id),
        jurisdiction=doc.get("jurisdiction", defaults.jurisdiction),
        name=doc.get("name", defaults.name),
        host=listen.get("host", defaults.host),
        port=listen.get("port", defaults.port),
        public_url=doc.get("public_url"),
        data_dir=_resolve(base, doc.get("data_dir", "data")),
        database=_database_url(doc, where),
        database_password_file=(
            _resolve(base, doc["database_password_file"])
            if "database_password_file" in doc
            else None
        ),
        shared_keys_dir=_resolve(base, doc["keys_dir"]) if "keys_dir" in doc else None,
        replica_name=doc.get("replica_name"),
        trust_list=_resolve(base, doc["trust_list"]) if "trust_list" in doc else None,
        peers_file=_resolve(base, doc.get("peers_file", "peers.yaml")),
        list_validity=_duration(doc, "list_validity", defaults.list_validity),
        cache_max_age=_duration(doc, "cache_max_age", defaults.cache_max_age),
        publish_debounce=_duration(doc, "publish_debounce", defaults.publish_debounce),
        max_body_bytes=doc.get("max_body_bytes", defaults.max_body_bytes),
        signing_alg=doc.get("signing_alg", defaults.signing_alg),
        receipt_retention=_duration(doc, "receipt_retention", defaults.receipt_retention),
        log_format=doc.get("log_format", defaults.log_format),
        log_level=doc.get("log_level", defaults.log_level),
        access_log=doc.get("access_log", defaults.access_log),
        federation=federation,
        retention=retention,
        resolve_did_web=credentials.get("resolve_did_web", False),
        contexts=tuple(
            OperatorContext(item["url"], _resolve(base, item["file"]), item["sha256"])
            for item in credentials.get("contexts", ())
        ),
        did_documents=tuple(
            (did, _resolve(base, file))
            for did, file in credentials.get("did_documents", {}).items()
        ),
        fetch_status_lists=credentials.get("fetch_status_lists", False),
        status_list_max_age=_duration(
            credentials, "status_list_max_age", defaults.status_list_max_age
        ),
        governance_framework=doc.get("governance_framework"),
        source=source,
    )
    if config.list_validity < timedelta(minutes=10):
        raise ConfigError(f"{where}: list_validity: must be at least 10m", field="list_validity")
    if config.list_validity > DEFAULT_MAX_VALIDITY:
        # Peers refuse a list valid for longer than their max_validity (default 3d).
        raise ConfigError(
            f"{where}: list_validity: must be at most {format_duration(DEFAULT_MAX_VALIDITY)}, "
            "the longest validity a peer accepts by default",
            field="list_validity",
        )
    if config.receipt_retention < RECEIPT_RETENTION_MIN:
        # A receipt may be relied on for up to an hour after it was signed.
        raise ConfigError(
            f"{where}: receipt_retention: must be at least "
            f"{format_duration(RECEIPT_RETENTION_MIN)}",
            field="receipt_retention",
        )
    if config.retention.keep_for < RETENTION_KEEP_FOR_MIN:
        raise ConfigError(
            f"{where}: retention.keep_for: must be at least 1h, the longest a signed answer "
            "citing a version stays valid",
            field="retention.keep_for",
        )
    for name, least in _FEDERATION_MINIMUMS.items():
        if getattr(federation, name) < least:
            raise ConfigError(
                f"{where}: federation.{name}: must be at least {format_duration(least)}",
                field=f"federation.{name}",
            )
    return config


RECEIPT_RETENTION_MIN = timedelta(hours=1)

#: A signed answer is valid for an hour at most and cites the version newest when it was
#: signed: that version's body stays for at least this long after it was replaced.
RETENTION_KEEP_FOR_MIN = timedelta(hours=1)

#: A zero timeout would switch the timeout off, a zero deadline fail every fetch, a zero
#: backoff retry a failing peer in a tight loop.
_FEDERATION_MINIMUMS = {
    "connect_timeout": timedelta(seconds=1),
    "read_timeout": timedelta(seconds=1),
    "deadline": timedelta(seconds=1),
    "clock_skew": timedelta(0),
    "backoff_max": timedelta(seconds=30),
}


def _database_url(doc: dict[str, Any], where: str) -> str | None:
    """The PostgreSQL URL, refused when it carries a password (which belongs in
    database_password_file or PGPASSWORD, so that node.yaml and every message may be shown);
    the URL itself is never repeated in the refusal."""
    url = doc.get("database")
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError as exc:
        raise ConfigError(
            f"{where}: database: not a PostgreSQL URL: {exc}", field="database"
        ) from None
    if parts.password is not None:
        raise ConfigError(
            f"{where}: database: the URL carries a password: put it in database_password_file "
            "or the PGPASSWORD environment variable instead",
            field="database",
        )
    if not (parts.hostname or "host=" in parts.query) or parts.path.strip("/") == "":
        raise ConfigError(
            f"{where}: database: name the server and the database "
            "(postgresql://user@host:5432/dbname)",
            field="database",
        )
    return str(url)


def _duration(doc: dict[str, Any], key: str, default: timedelta) -> timedelta:
    return parse_duration(doc[key]) if key in doc else default


def locate(path: Path | None = None) -> Path | None:
    """The configuration file a command uses: ``path``, or ./node.yaml when it exists."""
    if path is not None:
        return path
    candidate = Path(DEFAULT_CONFIG_FILE)
    return candidate if candidate.exists() else None


def load(path: Path | None = None) -> NodeConfig:
    """Load ``path`` (or ./node.yaml when present); the example defaults when there is no
    file. A file must name the node's identity (:data:`IDENTITY_SETTINGS`)."""
    path = locate(path)
    if path is None:
        return NodeConfig()
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", code="config_unreadable") from exc
    try:
        doc = load_yaml(text, str(path))
    except InvalidInput as exc:
        raise ConfigError(exc.detail, code="config_invalid") from exc
    if doc is None or doc == {}:
        raise ConfigError(
            f"{path}: is empty: a node's configuration names at least "
            f"{', '.join(IDENTITY_SETTINGS)}",
            code="config_invalid",
            hint="Write one with registry-node init, or restore node.yaml from your backup.",
        )
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: must be a mapping of settings", code="config_invalid")
    config = from_document(doc, path.resolve())
    missing = [name for name in IDENTITY_SETTINGS if name not in doc]
    if missing:
        raise ConfigError(
            f"{path}: {missing[0]}: missing: a node's configuration names its identity "
            f"({', '.join(IDENTITY_SETTINGS)}); it is never a default",
            code="config_invalid",
            field=missing[0],
        )
    return config


def template(
    node_id: str,
    jurisdiction: str,
    name: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    trust_list: str | None = None,
    public_url: str | None = None,
    data_dir: str = "data",
    access_log: bool | None = None,
) -> str:
    """The node.yaml that ``registry-node init`` writes, with every setting spelled out.

    ``access_log`` defaults to off when ``public_url`` is https: the node itself speaks plain
    http, so a TLS-terminating proxy is in front of it, and that proxy logs each request."""
    defaults = NodeConfig()
    if access_log is None:
        access_log = not (public_url or "").startswith("https://")
    doc = {
        "node_id": node_id,
        "jurisdiction": jurisdiction,
        "name": name,
        "listen": {"host": host, "port": port},
        "public_url": public_url or f"http://{host}:{port}",
        "data_dir": data_dir,
        "trust_list": trust_list or f"trust_lists/{jurisdiction.lower()}.yaml",
        "peers_file": "peers.yaml",
        "list_validity": format_duration(defaults.list_validity),
        "cache_max_age": format_duration(defaults.cache_max_age),
        "publish_debounce": format_duration(defaults.publish_debounce),
        "max_body_bytes": defaults.max_body_bytes,
        "signing_alg": defaults.signing_alg,
        "receipt_retention": format_duration(defaults.receipt_retention),
        "log_format": defaults.log_format,
        "log_level": defaults.log_level,
        "access_log": access_log,
        "retention": {
            "keep_versions": defaults.retention.keep_versions,
            "keep_for": format_duration(defaults.retention.keep_for),
        },
    }
    header = (
        "# registry-node configuration (schema: /schemas/node-config-v1.json).\n"
        "# node_id is this state's registry identifier, an https URL that appears as `iss`\n"
        "# in every list; public_url is where verifiers and peers reach this node.\n"
        "# access_log: one log line per request; off where a proxy in front logs them.\n"
    )
    return header + dump_yaml(doc)
