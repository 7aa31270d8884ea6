"""Getting the status lists credentials name (``credentialStatus``), for core/credentials/status.py.

Where a copy comes from, in order:

1. an offline bundle's ``status/`` folder (``verify --bundle``), by the list's ``id``;
2. the network, only when ``credentials.fetch_status_lists`` is true in node.yaml (off by
   default), and only from an https origin that the issuer's entry in a usable signed list
   allows (its ``status_origins``), with the limits of a peer fetch (timeouts, deadline, body
   limit, same-origin redirects, services/fetcher.py) and to public addresses only (the
   resolver of services/didweb.py). A fetched copy is cached for the freshness bound
   (``credentials.status_list_max_age``, or the list's ``ttl`` if shorter); when a fresh copy
   cannot be fetched the cached one is still handed over, and the core judges it stale.

Without a copy the entry's status is indeterminate. What a copy says, and whether it may be
believed (its proof, its issuer, its dates, its age), is the core's to judge.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from registry_node.config import FederationConfig
from registry_node.core import strictjson
from registry_node.core.credentials.status import (
    StatusListCopy,
    freshness_bound,
    list_members,
)
from registry_node.core.errors import FetchFailed, InvalidInput
from registry_node.core.strictjson import StrictJSONError
from registry_node.core.timeutil import Clock
from registry_node.services.didweb import PublicOnlyResolver
from registry_node.services.fetcher import Fetcher, new_session
from registry_node.services.index import TrustIndex

log = logging.getLogger("registry_node.verify")

STATUS_MEDIA_TYPE = "application/vc+ld+json, application/vc+jwt;q=0.9, application/json;q=0.8"
#: A status list of 16 MB uncompressed compresses far below this.
MAX_STATUS_LIST_BYTES = 2 * 1024 * 1024
#: Cached copies kept at most (the oldest goes first).
MAX_CACHED = 256
#: Status lists fetched for one credential tree at most.
MAX_LISTS = 16
STATUS_FOLDER = "status"
DEFAULT_MAX_AGE = timedelta(hours=24)


def origin_of(url: str) -> str | None:
    """``https://host[:port]`` of an https URL, None for anything else."""
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if parsed.scheme != "https" or not parsed.host or parsed.user or parsed.password:
        return None
    port = "" if parsed.explicit_port is None else f":{parsed.explicit_port}"
    return f"https://{parsed.host.lower()}{port}"


def parse_list(body: bytes | str) -> Any:
    """A list document as JSON (strictly decoded), or a compact JWS string."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped.count(".") == 2 and not stripped.startswith(("{", '"')):
        return stripped
    return strictjson.loads(text)


def load_folder(folder: Path) -> dict[str, Any]:
    """The status list documents of a bundle's ``status/`` folder, by their ``id``. Raises
    InvalidInput naming the file for one that cannot be read."""
    found: dict[str, Any] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix not in (".json", ".jwt", ".jws"):
            continue
        try:
            document = parse_list(path.read_bytes()[: MAX_STATUS_LIST_BYTES + 1])
        except (UnicodeDecodeError, StrictJSONError) as exc:
            raise InvalidInput(f"{path}: not a JSON or JWS status list: {exc}") from None
        members = list_members(document)
        list_id = members.get("id") if members is not None else None
        if not isinstance(list_id, str):
            raise InvalidInput(f"{path}: id: a status list must name its URL as its id")
        found[list_id] = document
    return found


@dataclass(frozen=True)
class Request:
    """A list one credential of the tree names, and that credential's issuer."""

    url: str
    issuer: str


class StatusLists:
    """The status list copies for a verification. ``bundled`` are offline copies by URL;
    ``fetch`` turns network fetching on; ``session`` replaces the public-only client (tests
    only: there is no configuration for it)."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_age: timedelta = DEFAULT_MAX_AGE,
        fetch: bool = False,
        federation: FederationConfig | None = None,
        bundled: Mapping[str, Any] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.clock = clock
        self.max_age = max_age
        self.bundled = dict(bundled or {})
        self.fetch_enabled = fetch
        self._cache: dict[str, StatusListCopy] = {}
        self._session = session
        self._fetcher: Fetcher | None = None
        self._limits = replace(
            federation or FederationConfig(), max_list_bytes=MAX_STATUS_LIST_BYTES
        )

    def _fetcher_now(self) -> Fetcher:
        if self._fetcher is None:
            if self._session is None:
                self._session = new_session(self._limits, PublicOnlyResolver())
            self._fetcher = Fetcher(self._session, self._limits)
        return self._fetcher

    def _offline(self, request: Request) -> StatusListCopy:
        document = self.bundled.get(request.url)
        if document is not None:
            return StatusListCopy(request.url, document)
        why = "no copy of the list is held"
        if not self.fetch_enabled:
            why += " and fetching status lists is off (credentials.fetch_status_lists)"
        return StatusListCopy(
            request.url, problem=("status_list_unavailable", f"{request.url}: {why}")
        )

    def held(self, requests: Iterable[Request]) -> dict[str, StatusListCopy]:
        """The copies held offline (a bundle's), without any network."""
        return {r.url: self._offline(r) for r in list(requests)[:MAX_LISTS]}

    async def gather(
        self, requests: Iterable[Request], index: TrustIndex
    ) -> dict[str, StatusListCopy]:
        """A copy (or the reason there is none) of each list the requests name."""
        found: dict[str, StatusListCopy] = {}
        for request in list(requests)[:MAX_LISTS]:
            if request.url in found:
                continue
            if request.url in self.bundled or not self.fetch_enabled:
                found[request.url] = self._offline(request)
            else:
                found[request.url] = await self._fetched(request, index)
        return found

    def _fresh(self, copy: StatusListCopy) -> bool:
        if copy.fetched_at is None:
            return False
        return self.clock() - copy.fetched_at <= freshness_bound(copy.document, self.max_age)

    async def _fetched(self, request: Request, index: TrustIndex) -> StatusListCopy:
        url = request.url
        origin = origin_of(url)
        if origin is None:
            return StatusListCopy(
                url, problem=("status_origin_not_allowed", f"{url}: only https lists are fetched")
            )
        allowed = index.status_origins(request.issuer)
        if origin not in allowed:
            detail = (
                f"{url}: {origin} is not among the status origins a usable list allows for "
                f"issuer {request.issuer}"
            )
            return StatusListCopy(url, problem=("status_origin_not_allowed", detail))
        cached = self._cache.get(url)
        if cached is not None and self._fresh(cached):
            return cached
        try:
            fetched = await self._fetcher_now().fetch(url, accept=STATUS_MEDIA_TYPE)
            document = parse_list(fetched.body)
        except FetchFailed as exc:
            log.info("status list not fetched", extra={"url": url, "code": exc.code})
            if cached is not None:
                return cached  # the core finds it stale
            return StatusListCopy(url, problem=("status_list_unavailable", f"{url}: {exc.code}"))
        except (UnicodeDecodeError, StrictJSONError):
            return StatusListCopy(url, problem=("status_list_malformed", f"{url}: not JSON"))
        copy = StatusListCopy(url, document, self.clock(), authenticated=True)
        if len(self._cache) >= MAX_CACHED and url not in self._cache:
            self._cache.pop(next(iter(self._cache)))
        self._cache[url] = copy
        return copy

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


__all__ = [
    "STATUS_FOLDER",
    "Request",
    "StatusLists",
    "load_folder",
    "origin_of",
    "parse_list",
]
