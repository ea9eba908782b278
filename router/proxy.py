"""Forwarding one request: pick a node, fail over before the first byte, then relay.

How this works:
1. The balancer names a backend from the first priority tier with an eligible node
   (selectable and not yet tried); when a model's nodes are exhausted, its fallback
   models follow. At most `1 + retries` attempts are made in all.
2. An attempt counts as failed on a connect error, a timeout before the first byte, a
   5xx, or a 401/403/404/408/429. Any other status (a 400 above all) is the client's
   answer and goes straight back.
3. The proxy commits to a node once it has its headers and first body chunk; from then
   on every chunk is written to the client the moment it arrives, byte for byte. A node
   failing after that ends an SSE stream with one `data: {"error": ...}` event; a plain
   body is cut off (the client sees a short read), never silently completed.
4. A client that goes away cancels the handler (handler_cancellation is on), and the
   `finally` closes the upstream connection at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import aiohttp
from aiohttp import web

from router.config import Backend, ModelRoute
from router.errors import (
    NoAvailableNode,
    RouterError,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
)
from router.exchange import Attempt, Exchange
from router.headers import REQUEST_ID, to_client, to_node
from router.nodes import NodeRuntime
from router.runtime import RouteTable
from router.streams import OpenStream, StreamRegistry
from router.upstream import Opened, UpstreamFailure, open_response

_READ_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class Target(Protocol):
    """How one dialect addresses a node: the URL and body for a chosen backend."""

    def url(self, node: NodeRuntime, backend: Backend) -> str: ...

    def body(self, backend: Backend) -> bytes: ...


class Proxy:
    """The attempt loop and the streaming relay."""

    def __init__(self, table: RouteTable, streams: StreamRegistry) -> None:
        self.table = table
        self.streams = streams

    async def forward(
        self, request: web.Request, exchange: Exchange, route: ModelRoute, target: Target
    ) -> web.StreamResponse:
        """Answer `request` from the first node that produces an answer."""
        loop = asyncio.get_running_loop()
        table = self.table
        last: UpstreamFailure | None = None
        attempts = 0
        for model_route, balancer in table.chain(route):
            tried: set[str] = set()
            eligible = _eligible(table, tried)
            while (backend := balancer.choose(eligible, _load(table))) is not None:
                node = table.node(backend.node)
                tried.add(node.name)
                attempts += 1
                node.inflight += 1
                sent_at = loop.time()
                try:
                    opened = await open_response(
                        node.session,
                        node.config,
                        target.url(node, backend),
                        to_node(request.headers, exchange.request_id, node.authorization),
                        target.body(backend),
                        node.client_timeout,
                    )
                except UpstreamFailure as failure:
                    node.release()
                    exchange.attempts.append(
                        Attempt(node.name, model_route.name, failure.reason, failure.status)
                    )
                    last = failure
                    if attempts > node.config.retries:
                        raise final_error(route, last) from None
                    continue
                except BaseException:
                    node.release()
                    raise
                exchange.ttfb = loop.time() - sent_at
                exchange.node = node.name
                exchange.attempts.append(
                    Attempt(node.name, model_route.name, None, opened.response.status)
                )
                try:
                    return await self.relay(request, exchange, opened)
                finally:
                    node.release()
        raise final_error(route, last)

    async def relay(
        self, request: web.Request, exchange: Exchange, opened: Opened
    ) -> web.StreamResponse:
        """Copy the node's answer to the client as it arrives."""
        upstream = opened.response
        is_stream = upstream.content_type == "text/event-stream"
        out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        out.headers.extend(to_client(upstream.headers))
        out.headers[REQUEST_ID] = exchange.request_id
        if is_stream:
            out.headers["Cache-Control"] = "no-cache"
            out.headers["X-Accel-Buffering"] = "no"
        elif upstream.content_length is not None:
            out.content_length = upstream.content_length
        exchange.status = upstream.status
        exchange.streamed = is_stream
        loop = asyncio.get_running_loop()
        stream = OpenStream(out, loop.time()) if is_stream else None
        finished = False
        try:
            await out.prepare(request)
            if stream is not None:
                self.streams.add(stream)
            read = upstream.content.readany
            chunk = opened.first_chunk
            while chunk:
                await out.write(chunk)
                exchange.bytes_out += len(chunk)
                if stream is not None:
                    stream.last_write = loop.time()
                try:
                    chunk = await read()
                except _READ_ERRORS as exc:
                    await self._fail_midstream(request, exchange, out, is_stream, exc)
                    return out
            finished = True
            await out.write_eof()
        except ConnectionResetError:
            exchange.client_disconnected = True
        except asyncio.CancelledError:
            exchange.client_disconnected = True
            raise
        finally:
            if stream is not None:
                self.streams.discard(stream)
            if finished:
                upstream.release()
            else:
                upstream.close()
        return out

    async def _fail_midstream(
        self,
        request: web.Request,
        exchange: Exchange,
        out: web.StreamResponse,
        is_stream: bool,
        exc: BaseException,
    ) -> None:
        """End a relayed answer whose node failed after the first byte."""
        error: RouterError
        if isinstance(exc, TimeoutError):
            error = UpstreamTimeout("the node stopped sending mid-answer")
        else:
            error = UpstreamError("the node failed mid-answer")
        exchange.error_code = error.code
        exchange.attempts[-1].failure = "midstream"
        if is_stream:
            event = b"data: " + error.body(exchange.request_id) + b"\n\n"
            await out.write(event)
            exchange.bytes_out += len(event)
            await out.write_eof()
        elif request.transport is not None:
            request.transport.abort()  # a short read, never a body that looks complete


def _eligible(table: RouteTable, tried: set[str]) -> Callable[[str], bool]:
    nodes = table.pool.nodes

    def eligible(name: str) -> bool:
        return name not in tried and nodes[name].is_selectable()

    return eligible


def _load(table: RouteTable) -> Callable[[str], int]:
    nodes = table.pool.nodes
    return lambda name: nodes[name].inflight


def final_error(route: ModelRoute, last: UpstreamFailure | None) -> RouterError:
    """What the client hears when no attempt produced an answer."""
    if last is None:
        return NoAvailableNode(
            f"no node is available for model {route.name!r}; try again shortly", retry_after=1
        )
    if last.reason == "timeout":
        return UpstreamTimeout(f"no node answered model {route.name!r} in time")
    if last.reason == "status_429":
        retry = _seconds(last.retry_after)
        return TooManyRequests(
            f"every node of model {route.name!r} is rate limited", retry_after=retry or 1
        )
    return UpstreamError(f"no node produced an answer for model {route.name!r} ({last.detail})")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
