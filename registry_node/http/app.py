"""The application factory. ``serve`` and the tests build the node the same way.

Long-lived resources (the node's services and the scheduler) are opened and closed in
``cleanup_ctx`` so that every start and stop goes through one lifecycle.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from registry_node.config import NodeConfig
from registry_node.core.timeutil import Clock, system_clock
from registry_node.http import admin, public
from registry_node.http.appkeys import LIST_CACHE, MAX_BODY, NODE
from registry_node.http.cache import ListCache
from registry_node.http.problems import problem_middleware
from registry_node.services.node import Node

log = logging.getLogger("registry_node.app")

#: how often the publisher checks for debounced changes and lists near expiry
PUBLISH_CHECK = timedelta(seconds=1)


def create_app(
    config: NodeConfig,
    clock: Clock = system_clock,
    *,
    run_scheduler: bool = True,
) -> web.Application:
    app = web.Application(
        middlewares=[problem_middleware, admin.auth_middleware],
        client_max_size=config.max_body_bytes,
    )
    app[MAX_BODY] = config.max_body_bytes
    app.add_routes(public.routes)
    app.add_routes(admin.routes)

    async def node_ctx(app: web.Application) -> AsyncIterator[None]:
        node = await Node.open(config, clock)
        app[NODE] = node
        app[LIST_CACHE] = ListCache(node.store)
        info = await node.describe()
        log.info("node ready", extra=info)
        yield
        await node.close()

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        scheduler = AsyncIOScheduler(timezone="UTC")
        node = app[NODE]
        scheduler.add_job(
            node.publisher.tick,
            "interval",
            seconds=PUBLISH_CHECK.total_seconds(),
            id="publisher",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        yield
        scheduler.shutdown(wait=False)

    app.cleanup_ctx.append(node_ctx)
    if run_scheduler:
        app.cleanup_ctx.append(scheduler_ctx)
    return app
