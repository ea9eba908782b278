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
from collections.abc import Callable, Iterator

import aiohttp
from aiohttp import web

from router.config.model import Backend, ModelRoute
from router.dialects.dialect import Dialect
from router.dialects.target import Target
from router.dialects.usage_tap import UsageFilter, UsageTap
from router.errors import (
    NoAvailableNode,
    RouterError,
    ServiceUnavailable,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
)
from router.observability.exchange import Attempt, Exchange
from router.observability.observer import Observer
from router.proxy.keepalive import OpenStream, StreamRegistry
from router.proxy.table import RouteTable
from router.routing.health import may_eject, panic_candidates
from router.upstream.headers import REQUEST_ID, to_client, to_node
from router.upstream.http11 import NodeResponse
from router.upstream.nodes import NodeRuntime
from router.upstream.request import Opened, UpstreamFailure, open_response

_READ_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class Proxy:
    """The attempt loop and the streaming relay."""

    def __init__(self, table: RouteTable, streams: StreamRegistry, observer: Observer) -> None:
        self.table = table
        self.streams = streams
        self.observer = observer

    async def forward(
        self, request: web.Request, exchange: Exchange, route: ModelRoute, target: Target
    ) -> web.StreamResponse:
        """Answer `request` from the first node that produces an answer."""
        loop = asyncio.get_running_loop()
        table = self.table
        observer = self.observer
        budget = table.budgets[route.name]
        now = loop.time()
        budget.record_request(now)
        last: UpstreamFailure | None = None
        attempts = 0
        retries = 0  # the `retries` setting of the node that failed last
        for model_route, backend in self._candidates(route, now):
            node = table.node(backend.node)
            is_retry = attempts > 0
            if is_retry:
                if attempts > retries:
                    break
                if not budget.try_start_retry(now):
                    observer.retry_budget_exhausted(route.name)
                    break
                observer.failover(route.name, last.reason if last is not None else "unknown")
            attempts += 1
            node.inflight += 1
            health = node.health
            is_trial = health.needs_trial(now)
            if is_trial:
                observer.transitions(health.take_trial(now))
            sent_at = loop.time()
            try:
                model = upstream_model(backend, model_route, route)
                opened = await open_response(
                    node.client,
                    node.config,
                    target.path(node.base_path, model),
                    to_node(request.headers, exchange.request_id, node.authorization),
                    target.body(model),
                )
            except UpstreamFailure as failure:
                node.release()
                now = loop.time()
                self._judge_failure(model_route, node, failure, now, is_trial)
                retries = node.config.retries
                exchange.attempts.append(
                    Attempt(
                        node=node.name,
                        model=model_route.name,
                        failure=failure.reason,
                        status=failure.status,
                    )
                )
                last = failure
                continue
            except BaseException:
                node.release()
                if is_trial:
                    health.release_trial()
                raise
            finally:
                if is_retry:
                    budget.finish_retry()
            now = loop.time()
            exchange.ttfb = now - sent_at
            node.observe_latency(exchange.ttfb)
            exchange.node = node.name
            exchange.attempts.append(
                Attempt(
                    node=node.name,
                    model=model_route.name,
                    failure=None,
                    status=opened.response.status,
                )
            )
            # Any answer that is not a failover status shows the node is working.
            observer.transitions(health.record_success(now))
            try:
                return await self.relay(request, exchange, opened, node, target, model_route)
            finally:
                node.release()
        raise final_error(route, last)

    def _candidates(self, route: ModelRoute, now: float) -> Iterator[tuple[ModelRoute, Backend]]:
        """Backends to try, in order: the balancer's picks, else panic mode's."""
        table = self.table
        nodes = table.pool.nodes
        found = False
        for model_route, balancer in table.chain(route):
            tried: set[str] = set()

            def eligible(name: str, tried: set[str] = tried) -> bool:
                return name not in tried and nodes[name].is_selectable(now)

            while (backend := balancer.choose(eligible, _load(nodes))) is not None:
                tried.add(backend.node)
                found = True
                yield model_route, backend
        if found:
            return
        # Panic mode: every node is down. Rather than refuse all traffic, try the least
        # recently failed ones (only those with capacity: full nodes mean 503).
        for model_route, _ in table.chain(route):
            by_name = {b.node: b for b in model_route.backends}
            records = [nodes[name].health for name in by_name]
            for record in panic_candidates(records, now):
                node = nodes[record.name]
                if node.has_capacity():
                    table.panic_models[model_route.name] = now
                    self.observer.panic(model_route.name, node.name)
                    yield model_route, by_name[node.name]

    def _judge_failure(
        self,
        route: ModelRoute,
        node: NodeRuntime,
        failure: UpstreamFailure,
        now: float,
        is_trial: bool,
    ) -> None:
        """Tell the node's health what a failed attempt says about it."""
        self.observer.upstream_failed(node.name, failure.reason)
        health = node.health
        if failure.status in (401, 403):
            self.observer.transitions(health.record_auth_failure(now))
        elif failure.reason in ("connect", "timeout", "status_5xx", "reset", "midstream"):
            records = [self.table.node(b.node).health for b in route.backends]
            allowed = may_eject(records, node.config.ejection.max_percent)
            self.observer.transitions(health.record_failure(now, allow_eject=allowed))
        elif is_trial:
            health.release_trial()  # a 404/408/429 says nothing about the node's health

    async def relay(
        self,
        request: web.Request,
        exchange: Exchange,
        opened: Opened,
        node: NodeRuntime,
        target: Target,
        route: ModelRoute,
    ) -> web.StreamResponse:
        """Copy the node's answer to the client as it arrives."""
        upstream = opened.response
        is_stream = upstream.content_type == "text/event-stream"
        first = opened.first_chunk
        if not is_stream and upstream.content_length == len(first):
            return self._whole(exchange, upstream, first, target)
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
        stream = (
            OpenStream(out, upstream, loop.time(), target.dialect.keepalive) if is_stream else None
        )
        tap = UsageTap(gemini=target.dialect.gemini_usage, is_stream=is_stream)
        usage_filter = UsageFilter() if is_stream and target.strip_usage else None
        finished = False
        try:
            await out.prepare(request)
            if stream is not None:
                self.streams.add(stream)
            read = upstream.read
            chunk = opened.first_chunk
            while chunk:
                if usage_filter is not None:
                    visible = usage_filter.pass_through(chunk)
                    if visible:
                        await out.write(visible)
                        exchange.bytes_out += len(visible)
                else:
                    await out.write(chunk)
                    exchange.bytes_out += len(chunk)
                if stream is not None:
                    stream.last_write = loop.time()
                tap.feed(chunk)
                try:
                    chunk = await read()
                except _READ_ERRORS as exc:
                    if stream is not None and stream.closing:
                        error: RouterError = ServiceUnavailable("the router is shutting down")
                    else:
                        failure = UpstreamFailure("midstream", "failed mid-answer")
                        self._judge_failure(route, node, failure, loop.time(), False)
                        error = midstream_error(exc)
                    await self._end_early(request, exchange, out, is_stream, error, target.dialect)
                    return out
            finished = True
            if usage_filter is not None:
                rest = usage_filter.flush()
                if rest:
                    await out.write(rest)
            await out.write_eof()
        except ConnectionResetError:
            exchange.client_disconnected = True
        except asyncio.CancelledError:
            exchange.client_disconnected = True
            raise
        finally:
            exchange.usage = tap.finish()
            if stream is not None:
                self.streams.discard(stream)
            if finished:
                upstream.release()
            else:
                upstream.close()
        return out

    def _whole(
        self,
        exchange: Exchange,
        upstream: NodeResponse,
        body: bytes,
        target: Target,
    ) -> web.Response:
        """The node's whole answer already arrived with its headers: send it in one write."""
        response = web.Response(body=body, status=upstream.status, reason=upstream.reason)
        response.headers.extend(to_client(upstream.headers))
        response.headers[REQUEST_ID] = exchange.request_id
        exchange.status = upstream.status
        exchange.bytes_out = len(body)
        tap = UsageTap(gemini=target.dialect.gemini_usage, is_stream=False)
        tap.feed(body)
        exchange.usage = tap.finish()
        upstream.release()
        return response

    async def _end_early(
        self,
        request: web.Request,
        exchange: Exchange,
        out: web.StreamResponse,
        is_stream: bool,
        error: RouterError,
        dialect: Dialect,
    ) -> None:
        """End a relayed answer after its first byte: an SSE error event, or a short read."""
        exchange.error_code = error.code
        exchange.attempts[-1]["failure"] = "midstream"
        if is_stream:
            event = dialect.stream_error_event(error, exchange.request_id)
            await out.write(event)
            exchange.bytes_out += len(event)
            await out.write_eof()
        elif request.transport is not None:
            request.transport.abort()  # a short read, never a body that looks complete


def _load(nodes: dict[str, NodeRuntime]) -> Callable[[str], int]:
    return lambda name: nodes[name].inflight


def upstream_model(backend: Backend, serving: ModelRoute, requested: ModelRoute) -> str | None:
    """The model name a node is asked for; None keeps the client's own.

    A backend's `model` renames; a fallback (another model) is asked for by its own name;
    otherwise the client's name goes through unchanged (aliases included).
    """
    if backend.upstream_model is not None:
        return backend.upstream_model
    if serving is not requested and not serving.is_glob:
        return serving.name
    return None


def midstream_error(exc: BaseException) -> RouterError:
    """The error event for a node that failed after the first byte."""
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("the node stopped sending mid-answer")
    return UpstreamError("the node failed mid-answer")


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
