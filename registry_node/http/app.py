"""The application factory. ``serve`` and the tests build the node the same way.

Long-lived resources (the node's services and the scheduler) are opened and closed in
``cleanup_ctx`` so that every start and stop goes through one lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from registry_node.config import NodeConfig
from registry_node.core.errors import ConfigError
from registry_node.core.timeutil import Clock, system_clock
from registry_node.http import admin, oidfed, openapi, pages, public, queries, verify
from registry_node.http.appkeys import JOBS, LIST_CACHE, MAX_BODY, NODE
from registry_node.http.cache import ListCache
from registry_node.http.edge import Edge
from registry_node.services.node import Node
from registry_node.services.scheduler import Jobs

log = logging.getLogger("registry_node.app")


async def _reload_on_signal(jobs: Jobs) -> None:
    try:
        await jobs.reload_peers("signal:SIGHUP")
    except ConfigError as exc:
        log.error("peers.yaml not reloaded", extra={"error": exc.diagnostics()})


def _on_sighup(jobs: Jobs, tasks: set[asyncio.Task[None]]) -> None:
    task = asyncio.get_running_loop().create_task(_reload_on_signal(jobs))
    tasks.add(task)  # keep a reference until it is done
    task.add_done_callback(tasks.discard)


async def _startup_import(node: Node, on_fatal: Callable[[BaseException], Any] | None) -> None:
    """The source file's import, after the port opened (``/readyz`` says how far it got)."""
    try:
        await node.run_startup_import()
    except ConfigError as exc:
        log.error("issuer source file not imported", extra={"error": exc.diagnostics()})
        if on_fatal is not None:
            on_fatal(exc)
        return
    except Exception as exc:
        log.exception("issuer source file not imported")
        if on_fatal is not None:
            on_fatal(exc)
        return
    log.info("node ready", extra=await node.describe())


def create_app(
    config: NodeConfig,
    clock: Clock = system_clock,
    *,
    run_scheduler: bool = True,
    handle_sighup: bool = True,
    timer: Callable[[], float] = time.perf_counter,
    import_in_background: bool = False,
    on_fatal: Callable[[BaseException], Any] | None = None,
) -> web.Application:
    """``timer``: the monotonic clock that times requests for ``/metrics`` and the access log.
    ``import_in_background``: a pending import of the issuer source file runs after the port
    opened (``serve``); ``on_fatal`` hears of a mistake that stops it (the node must not run
    on: ``serve`` stops)."""
    edge = Edge(config.access_log, timer)
    app = web.Application(client_max_size=config.max_body_bytes)
    app[MAX_BODY] = config.max_body_bytes
    edge.install(
        app,
        (
            public.routes,
            queries.routes,
            openapi.routes,
            verify.routes,
            oidfed.routes,
            admin.routes,
            pages.routes,
        ),
    )

    async def node_ctx(app: web.Application) -> AsyncIterator[None]:
        node = await Node.open(  # one node per data folder
            config, clock, exclusive=True, defer_import=import_in_background
        )
        app[NODE] = node
        edge.metrics = node.metrics
        app[LIST_CACHE] = ListCache(node.publisher)
        task: asyncio.Task[None] | None = None
        if node.startup_import is not None:
            task = asyncio.get_running_loop().create_task(_startup_import(node, on_fatal))
        else:
            log.info("node ready", extra=await node.describe())
        yield
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await node.close()

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        scheduler = AsyncIOScheduler(timezone="UTC")
        jobs = Jobs(scheduler, app[NODE])
        app[JOBS] = jobs
        jobs.start()
        loop = asyncio.get_running_loop()
        if handle_sighup:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGHUP, _on_sighup, jobs, set())
        yield
        if handle_sighup:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
        await jobs.stop()  # no job outlives the node's database

    app.cleanup_ctx.append(node_ctx)
    if run_scheduler:
        app.cleanup_ctx.append(scheduler_ctx)
    return app
