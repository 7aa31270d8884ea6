"""Typed application keys shared by the handlers."""

from __future__ import annotations

from aiohttp import web

from registry_node.http.cache import ListCache
from registry_node.services.node import Node
from registry_node.services.scheduler import Jobs

NODE = web.AppKey("node", Node)
LIST_CACHE = web.AppKey("list_cache", ListCache)
MAX_BODY = web.AppKey("max_body", int)
JOBS = web.AppKey("jobs", Jobs)
