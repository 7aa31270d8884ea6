"""Real node processes for end-to-end tests, driven the way an operator drives them.

Each node is a ``python -m registry_node -c node.yaml serve`` process with its own folder, port,
signing key, database and admin token, in its own process group so that stopping it also stops
the worker processes it started. Every node process and every ``registry-node`` command reads
one shared clock offset file (``REGISTRY_NODE_CLOCK_OFFSET_FILE``), so a test moves the whole
federation through time by writing a number instead of waiting.

Once a node runs, the helpers speak to it over HTTP only (the admin API with a token made by
``registry-node token create``), except for key rotation, which has no HTTP endpoint and goes
through the command line, as it does for a state's operator. Before its first start the command
line also creates each node's key and token, so that the others can pin the key.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from registry_node.core.keys import import_public_jwk
from registry_node.core.model import digest
from registry_node.core.signing import parse_jws, verify_signatures
from registry_node.services.clock import CLOCK_OFFSET_ENV

ROOT = Path(__file__).resolve().parents[1]

#: ``list_validity`` of the test nodes, in seconds: the shortest a node accepts (10m).
LIST_VALIDITY = 600
#: Bounds of every wait on another process (a start, a stop, an effect to appear).
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
EFFECT_TIMEOUT = 15.0
#: How long (node time) a settled federation's lists stay clear of their scheduled refresh:
#: longer than any test runs.
FRESH_HORIZON = 120.0
#: Ask for list bodies byte for byte as signed, the form their ETag and ``prev`` digests name.
IDENTITY = {"Accept-Encoding": "identity"}
#: Pause between two looks at another process's observable state.
POLL = 0.05

T = TypeVar("T")

#: Process groups of nodes still running: killed at interpreter exit should a test run be
#: interrupted before its fixtures could stop them.
_LIVE_GROUPS: set[int] = set()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    _LIVE_GROUPS.discard(pgid)


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        _kill_group(pgid)


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    what: str,
    within: float = EFFECT_TIMEOUT,
    describe: Callable[[], str] = str,
) -> T:
    """Call ``check`` until it returns something other than None, within ``within`` seconds.

    For effects of another process (a node picking up a commit, a process coming up); never
    for time to pass: tests move the shared clock instead.
    """
    try:
        async with asyncio.timeout(within):
            while True:
                found = await check()
                if found is not None:
                    return found
                await asyncio.sleep(POLL)
    except TimeoutError:
        raise AssertionError(
            f"timed out after {within}s waiting for {what}\n{describe()}"
        ) from None


@dataclass(frozen=True)
class State:
    """One of the three states of the suite, with an issuer it vouches for."""

    slug: str
    code: str
    node_id: str
    name: str
    #: an issuer of the state's example list, active and licensed for achievement type License
    licensing_board: str


OHIO = State("oh", "US-OH", "https://registry.ohio.example", "Ohio", "did:web:nursing.ohio.example")
INDIANA = State(
    "in",
    "US-IN",
    "https://registry.indiana.example",
    "Indiana",
    "did:web:nursing.pla.indiana.example",
)
MICHIGAN = State(
    "mi",
    "US-MI",
    "https://registry.michigan.example",
    "Michigan",
    "did:web:nursing.lara.michigan.example",
)
STATES = (OHIO, INDIANA, MICHIGAN)


class SharedClock:
    """The clock offset file that every node process and command of a federation reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0
        self._stamp = 0
        self.set(0.0)

    def set(self, offset: float) -> None:
        """Write ``offset`` (seconds). Readers notice a new offset by the file's mtime, so each
        write gets a later mtime than the last, however quickly writes follow each other."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{offset}\n")
        self._stamp = max(self._stamp + 1_000_000, time.time_ns())
        os.utime(tmp, ns=(self._stamp, self._stamp))
        os.replace(tmp, self.path)
        self.offset = offset

    def now(self) -> float:
        """The nodes' time now, as a POSIX timestamp."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.set(self.offset + seconds)

    def move_past(self, instant: float, margin: float = 2.0) -> None:
        """Move the clock forward, if needed, to ``margin`` seconds after ``instant``."""
        needed = instant + margin - time.time()
        if needed > self.offset:
            self.set(needed)


@dataclass(frozen=True)
class Published:
    """A list version as served: its body, parsed payload and response headers."""

    body: bytes
    payload: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def seq(self) -> int:
        return int(self.payload["seq"])

    @property
    def digest(self) -> str:
        return digest(self.body)


def parse_list(body: bytes, headers: Mapping[str, str] | None = None) -> Published:
    return Published(body, json.loads(parse_jws(body).payload), CIMultiDict(headers or {}))


def signer_kids(body: bytes) -> list[str]:
    """The ``kid`` of each signature of a list body, in order."""
    return [str(member.kid) for member in parse_jws(body).signatures]


def verified_by(body: bytes, jwks: Mapping[str, Any]) -> set[str]:
    """The kids of ``jwks`` (a JWK Set) whose signatures on ``body`` verify."""
    trusted = {jwk["kid"]: import_public_jwk(jwk) for jwk in jwks["keys"]}
    return verify_signatures(parse_jws(body), trusted).verified


class NodeProcess:
    """One state's node: its folder and configuration, its process, and its HTTP API."""

    def __init__(
        self, state: State, root: Path, clock: SharedClock, http: aiohttp.ClientSession
    ) -> None:
        self.state = state
        self.folder = root / state.slug
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.clock = clock
        self.http = http
        self.node_yaml = self.folder / "node.yaml"
        self.peers_file = self.folder / "peers.yaml"
        self.log_file = self.folder / "node.log"
        self.token = ""
        self.kid = ""
        self.baseline_peers = ""
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        #: (URL, password file) of a PostgreSQL database; None: SQLite in the data folder
        self.database: tuple[str, Path] | None = None

    def __repr__(self) -> str:
        return f"<node {self.state.code} {self.url}>"

    @property
    def id(self) -> str:
        return self.state.node_id

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT), CLOCK_OFFSET_ENV: str(self.clock.path)}

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return f"{self}: no log"
        return f"--- last lines of {self.log_file} ---\n" + "\n".join(text.splitlines()[-lines:])

    # -- set-up ---------------------------------------------------------------------------

    def write_config(self) -> None:
        """node.yaml with short lists, and a copy of the state's example issuers."""
        self.folder.mkdir(parents=True)
        source = f"{self.state.code.lower()}.yaml"
        (self.folder / source).write_bytes((ROOT / "trust_lists" / source).read_bytes())
        self.node_yaml.write_text(
            f"node_id: {self.state.node_id}\n"
            f"jurisdiction: {self.state.code}\n"
            f"name: {self.state.name} registry (end-to-end test)\n"
            f"listen: {{host: 127.0.0.1, port: {self.port}}}\n"
            f"public_url: {self.url}\n"
            "data_dir: data\n"
            f"trust_list: {source}\n"
            "peers_file: peers.yaml\n"
            f"list_validity: {LIST_VALIDITY // 60}m\n"
            "publish_debounce: 1s\n"
            "log_format: json\n"
        )
        if self.database is not None:
            url, password_file = self.database
            with self.node_yaml.open("a") as f:
                f.write(f"database: {url}\ndatabase_password_file: {password_file}\n")

    async def cli(self, *args: str) -> str:
        """Run ``registry-node -c node.yaml ARGS`` on this node's folder; return its stdout."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "registry_node",
            "-c",
            str(self.node_yaml),
            *args,
            env=self.env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise AssertionError(
                f"registry-node {' '.join(args)} at {self.state.code} exited with "
                f"{proc.returncode}:\n{err.decode(errors='replace')}"
            )
        return out.decode()

    async def initialise(self) -> None:
        """Create the database and signing key, an admin token, and learn the key's kid."""
        self.token = (await self.cli("token", "create", "e2e")).strip()
        listing = await self.cli("keys", "list")
        current = [line.split("\t") for line in listing.splitlines() if "\tcurrent\t" in line]
        assert len(current) == 1, listing
        self.kid = current[0][0]

    def peers_document(
        self, others: Iterable[NodeProcess], urls: Mapping[str, str] | None = None
    ) -> str:
        """peers.yaml pinning each of ``others`` by its key's thumbprint; ``urls`` replaces the
        list URL of some of them (by id)."""
        urls = urls or {}
        lines = ["peers:"]
        for other in others:
            lines += [
                f"  - id: {other.id}",
                f"    jurisdiction: {other.state.code}",
                f"    url: {urls.get(other.id, other.url + '/trust-list')}",
                f"    keys: ['{other.kid}']",
            ]
        return "\n".join(lines) + "\n"

    # -- the process ----------------------------------------------------------------------

    def _open_log(self) -> IO[bytes]:
        """The node's log file, appended to across restarts; closed when the node stops."""
        return self.log_file.open("ab")

    async def start(self) -> None:
        """Start ``serve`` and wait until it answers /readyz with its issuer source file
        imported (the port opens before that)."""
        assert not self.running, f"{self} is already running"
        self._log = self._open_log()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "registry_node",
            "-c",
            str(self.node_yaml),
            "serve",
            env=self.env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,  # its own process group: its workers stop with it
        )
        _LIVE_GROUPS.add(self.proc.pid)
        proc = self.proc

        async def answering() -> bool | None:
            if proc.returncode is not None:
                raise AssertionError(
                    f"{self} exited with {proc.returncode} at start\n{self.log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with self.http.get(
                    f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    doc = await resp.json()
                    if resp.status in (200, 503) and "issuer_source" not in doc["checks"]:
                        return True
            return None

        try:
            await eventually(answering, f"{self} to start", START_TIMEOUT, self.log_tail)
        except BaseException:
            await self.stop(signal.SIGKILL)
            raise

    async def stop(self, sig: int = signal.SIGTERM, *, group: bool = False) -> int | None:
        """Send ``sig`` (SIGTERM: a clean shutdown) to the node, or with ``group`` to its whole
        process group as a terminal's Ctrl-C does; wait for the exit (SIGKILL after a bound),
        then kill whatever else is left in its process group. Returns the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    if group:
                        os.killpg(proc.pid, sig)
                    else:
                        proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        finally:
            _kill_group(proc.pid)
            if self._log is not None:
                self._log.close()
                self._log = None
        return proc.returncode

    async def kill(self) -> None:
        """SIGKILL: the node gets no chance to finish anything."""
        await self.stop(signal.SIGKILL)

    # -- HTTP -----------------------------------------------------------------------------

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get_json(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.http.get(f"{self.url}{path}", params=params) as resp:
            return resp.status, await resp.json(content_type=None)

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """An admin API call; ``body`` is sent as JSON."""
        async with self.http.request(
            method, f"{self.url}/admin/v1{path}", json=body, headers=self.auth
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def lookup(self, issuer_id: str, **params: str) -> dict[str, Any]:
        """``GET /v1/issuers/{id}``: who vouches for the issuer (protocol section 11.3)."""
        status, answer = await self.get_json(f"/v1/issuers/{issuer_id}", **params)
        assert status == 200, (status, answer)
        return dict(answer)

    async def peers(self) -> dict[str, dict[str, Any]]:
        """``GET /v1/peers``, by peer id."""
        status, doc = await self.get_json("/v1/peers")
        assert status == 200, (status, doc)
        return {peer["id"]: peer for peer in doc["peers"]}

    async def sync(self, peer: NodeProcess | None = None) -> dict[str, dict[str, Any]]:
        """``POST /admin/v1/peers/sync`` (every peer, or one); the results by peer id."""
        path = "/peers/sync" if peer is None else f"/peers/sync?peer={peer.id}"
        status, doc = await self.admin("POST", path)
        assert status == 200, (status, doc)
        return {result["peer_id"]: result for result in doc["results"]}

    async def reload_peers(self) -> dict[str, list[str]]:
        status, diff = await self.admin("POST", "/peers/reload")
        assert status == 200, (status, diff)
        return dict(diff)

    async def publish(self) -> int:
        """``POST /admin/v1/publish``; the new version's seq."""
        status, doc = await self.admin("POST", "/publish")
        assert status == 201, (status, doc)
        return int(doc["seq"])

    async def set_status(self, issuer_id: str, status: str, reason: str) -> dict[str, Any]:
        code, doc = await self.admin(
            "POST", f"/issuers/{issuer_id}/status", {"status": status, "reason": reason}
        )
        assert code == 200, (code, doc)
        return dict(doc)

    async def current_list(self) -> Published:
        """``GET /trust-list``: the latest published version."""
        async with self.http.get(f"{self.url}/trust-list", headers=IDENTITY) as resp:
            assert resp.status == 200, resp.status
            return parse_list(await resp.read(), resp.headers)

    async def version(self, seq: int) -> Published | None:
        """``GET /trust-list/{seq}``, or None when the node has no such version."""
        async with self.http.get(f"{self.url}/trust-list/{seq}", headers=IDENTITY) as resp:
            if resp.status == 404:
                return None
            assert resp.status == 200, resp.status
            return parse_list(await resp.read(), resp.headers)

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        status, doc = await self.get_json("/readyz")
        return status, dict(doc)

    async def refresh_due_in(self) -> float:
        """Seconds of node time until the node's own list is due for its refresh (a quarter of
        its validity before ``exp``, protocol section 5); zero or less when due now."""
        status, meta = await self.get_json("/.well-known/ler-trust-registry")
        assert status == 200, (status, meta)
        iat, exp = meta["current"]["iat"], meta["current"]["exp"]
        validity = min(exp - iat, LIST_VALIDITY)
        return float(exp - validity / 4 - self.clock.now())

    async def wait_list_fresh(self) -> None:
        """Wait until the node's own list is not due for a refresh: a running node republishes
        within a second of one becoming due (after the shared clock moved, for example)."""

        async def fresh() -> bool | None:
            return True if await self.refresh_due_in() > 0 else None

        await eventually(fresh, f"{self} to publish a fresh list", describe=self.log_tail)

    async def keep_list_fresh(self, horizon: float) -> None:
        """Make sure no refresh of the node's own list falls due within ``horizon`` seconds,
        publishing now if one would, so that no test sees a version appear on its own."""
        await self.wait_list_fresh()
        if await self.refresh_due_in() <= horizon:
            await self.publish()


class Federation:
    """Three nodes that pin each other's keys, sharing one clock."""

    def __init__(self, root: Path, http: aiohttp.ClientSession) -> None:
        self.root = root
        self.http = http
        self.clock = SharedClock(root / "clock-offset")
        self.nodes = {s.slug: NodeProcess(s, root, self.clock, http) for s in STATES}

    @property
    def oh(self) -> NodeProcess:
        return self.nodes[OHIO.slug]

    @property
    def in_(self) -> NodeProcess:
        return self.nodes[INDIANA.slug]

    @property
    def mi(self) -> NodeProcess:
        return self.nodes[MICHIGAN.slug]

    def others(self, node: NodeProcess) -> list[NodeProcess]:
        return [n for n in self.nodes.values() if n is not node]

    def logs(self) -> str:
        return "\n".join(node.log_tail(15) for node in self.nodes.values())

    async def create(self) -> None:
        """Folders, databases, keys and tokens; then each peers.yaml pins the others' keys."""
        for node in self.nodes.values():
            node.write_config()
        async with asyncio.TaskGroup() as group:
            for node in self.nodes.values():
                group.create_task(node.initialise())
        for node in self.nodes.values():
            node.baseline_peers = node.peers_document(self.others(node))
            node.peers_file.write_text(node.baseline_peers)

    async def start(self) -> None:
        """Start every node that is not running; should one fail, the others are stopped."""
        async with asyncio.TaskGroup() as group:
            for node in self.nodes.values():
                if not node.running:
                    group.create_task(node.start())

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes.values()))

    async def settle(self) -> None:
        """Bring the federation to its baseline: every node running with its original
        peers.yaml and a list that is not about to expire, holding fresh copies of the other
        two states' lists."""
        await self.start()
        for node in self.nodes.values():
            if node.peers_file.read_text() != node.baseline_peers:
                node.peers_file.write_text(node.baseline_peers)
                await node.reload_peers()
        await asyncio.gather(*(n.keep_list_fresh(FRESH_HORIZON) for n in self.nodes.values()))
        await asyncio.gather(*(node.sync() for node in self.nodes.values()))
        for node in self.nodes.values():
            states = {p: doc["state"] for p, doc in (await node.peers()).items()}
            expected = {other.id: "fresh" for other in self.others(node)}
            assert states == expected, f"{node}: {states}\n{self.logs()}"


@asynccontextmanager
async def federation(
    root: Path, databases: Mapping[str, tuple[str, Path]] | None = None
) -> AsyncIterator[Federation]:
    """Start Ohio, Indiana and Michigan nodes under ``root``; stop them all on the way out,
    whatever happened. ``databases``: by state slug, the PostgreSQL database (URL, password
    file) a node keeps its data in instead of SQLite."""
    async with aiohttp.ClientSession() as http:
        running = Federation(root, http)
        for slug, database in (databases or {}).items():
            running.nodes[slug].database = database
        try:
            await running.create()
            await running.start()
            yield running
        finally:
            await running.stop()


class ReplayProxy:
    """A server that answers ``GET /trust-list`` with one fixed body: a node's older version,
    replayed as if it were current."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.hits = 0
        self.url = ""

    async def serve(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(
            body=self.body,
            content_type="application/jose+json",
            headers={"ETag": f'"{digest(self.body)}"'},
        )


@asynccontextmanager
async def replay_proxy(body: bytes) -> AsyncIterator[ReplayProxy]:
    proxy = ReplayProxy(body)
    app = web.Application()
    app.router.add_get("/trust-list", proxy.serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        proxy.url = f"http://127.0.0.1:{port}/trust-list"
        yield proxy
    finally:
        await runner.cleanup()
