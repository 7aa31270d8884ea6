"""Fetching a peer's list over HTTP with every limit a hostile or broken server needs.

- a body limit enforced while streaming (after decompression), not only from Content-Length;
- connect and read timeouts, and an overall deadline per fetch, so a server that drips one
  byte at a time cannot hold a sync open;
- redirects followed only within the same origin, at most a few;
- the number of syncs in flight is bounded by the caller (services/federation.py).
Every failure is a :class:`FetchFailed` with a reason code.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from registry_node import __version__
from registry_node.config import FederationConfig
from registry_node.core.errors import FetchFailed, FetchTimeout
from registry_node.core.signing import MEDIA_TYPE

MAX_REDIRECTS = 3
CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchResult:
    status: int  # 200 or 304
    body: bytes
    etag: str | None
    seconds: float


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme, (url.host or "").lower(), url.port)


def new_session(
    config: FederationConfig, resolver: aiohttp.abc.AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A client session with the federation's timeouts (and, for did:web, a resolver that
    refuses private addresses)."""
    timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=config.connect_timeout.total_seconds(),
        sock_read=config.read_timeout.total_seconds(),
    )
    return aiohttp.ClientSession(
        timeout=timeout,
        headers={"User-Agent": f"registry-node/{__version__}"},
        connector=aiohttp.TCPConnector(limit=config.concurrency, resolver=resolver),
        trust_env=False,
        auto_decompress=True,
    )


class Fetcher:
    def __init__(self, session: aiohttp.ClientSession, config: FederationConfig) -> None:
        self.session = session
        self.config = config

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        accept: str = MEDIA_TYPE,
        *,
        missing_ok: bool = False,
    ) -> FetchResult:
        """GET ``url`` (conditionally when ``etag`` is given) within the deadline. With
        ``missing_ok`` a ``404`` is a result (status 404, empty body), not a failure."""
        deadline = self.config.deadline.total_seconds()
        started = time.monotonic()
        try:
            async with asyncio.timeout(deadline):
                status, body, new_etag = await self._follow(URL(url), etag, accept, missing_ok)
        except TimeoutError as exc:
            raise FetchTimeout(
                f"no complete answer from {url} within {deadline:g}s", code="timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            raise FetchFailed(
                f"{url}: {type(exc).__name__}: {exc}", code="connection_failed"
            ) from exc
        return FetchResult(status, body, new_etag, time.monotonic() - started)

    async def _follow(
        self, url: URL, etag: str | None, accept: str, missing_ok: bool = False
    ) -> tuple[int, bytes, str | None]:
        current = url
        headers = {"Accept": accept, "Accept-Encoding": "gzip"}
        if etag:
            headers["If-None-Match"] = etag
        for _ in range(MAX_REDIRECTS + 1):
            async with self.session.get(current, headers=headers, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303, 307, 308):
                    target = current.join(URL(resp.headers.get("Location", "")))
                    if _origin(target) != _origin(url):
                        raise FetchFailed(
                            f"{current} redirects to another origin ({target.origin()})",
                            code="redirect_refused",
                        )
                    current = target
                    continue
                if resp.status == 304:
                    return 304, b"", resp.headers.get("ETag", etag)
                if resp.status == 404 and missing_ok:
                    return 404, b"", None
                if resp.status != 200:
                    raise FetchFailed(f"{current} answered HTTP {resp.status}", code="http_status")
                body = await self._read(resp, current)
                return 200, body, resp.headers.get("ETag")
        raise FetchFailed(
            f"more than {MAX_REDIRECTS} redirects from {url}", code="too_many_redirects"
        )

    async def _read(self, resp: aiohttp.ClientResponse, url: URL) -> bytes:
        limit = self.config.max_list_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise FetchFailed(
                f"{url} declares {declared} bytes, over the limit of {limit}", code="too_large"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > limit:
                raise FetchFailed(f"{url} sent more than {limit} bytes", code="too_large")
            chunks.append(chunk)
        return b"".join(chunks)
