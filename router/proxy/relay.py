"""Copying a node's answer to the client, once the proxy committed to that node.

How this works: the first chunk (read before committing) and every chunk after it are
written to the client the moment they arrive, byte for byte (an SSE stream may have
the usage chunk the router asked for filtered out). An answer that arrived whole with
its headers goes out in one write. A node failing mid-answer (its read raises
`UpstreamFailure`) ends an SSE stream with one `data: {"error": ...}` event and cuts a
plain body short, so the client never sees a truncated body that looks complete. A
client that goes away cancels the handler; the `finally` closes the upstream answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from router.config.model import ServerConfig
from router.dialects.delivered import DeliveredMeter
from router.dialects.dialect import Dialect
from router.dialects.first_token import FirstTokenScanner
from router.dialects.target import Target
from router.dialects.usage_tap import UsageFilter, UsageTap
from router.errors import (
    FailureReason,
    RouterError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from router.observability.exchange import Attempt, Exchange
from router.proxy.client import ClientLeaving, WriteWatch
from router.proxy.grace import read_on_for_usage
from router.proxy.keepalive import OpenStream, StreamRegistry
from router.upstream.headers import REQUEST_ID, UPSTREAM_REQUEST_ID, content_coding, to_client
from router.upstream.reasons import node_request_id
from router.upstream.request import Opened
from router.upstream.transport import UpstreamResponse


class FirstTokenWatch:
    """Notes when a traced answer brings its first token (its attempt span's time to first
    token), for an answer the proxy committed to before reading that far."""

    __slots__ = ("attempt", "scanner")

    def __init__(self, attempt: Attempt, content_type: str) -> None:
        self.attempt = attempt
        self.scanner = FirstTokenScanner(content_type)

    def saw(self, chunk: bytes) -> bool:
        """Feed one chunk; True once the first token was seen (stop feeding then)."""
        if self.scanner.feed(chunk):
            self.attempt.first_token = asyncio.get_running_loop().time()
            return True
        return False


def first_token_watch(exchange: Exchange, content_type: str) -> FirstTokenWatch | None:
    """A watch for the answer being relayed, only when its request is traced (sampled) and
    its first token is not known yet: nothing is scanned for anyone else."""
    trace, attempt = exchange.trace, exchange.answered
    if trace is None or not trace.sampled or attempt is None or attempt.first_token is not None:
        return None
    return FirstTokenWatch(attempt, content_type)


class Relay:
    """Streams committed answers to clients, and keeps the open SSE streams registered."""

    def __init__(self, streams: StreamRegistry, server: Callable[[], ServerConfig]) -> None:
        self.streams = streams
        self.server = server  # the `server:` settings now loaded (a reload changes them)

    async def send(
        self,
        request: web.Request,
        exchange: Exchange,
        opened: Opened,
        target: Target,
        failed_midstream: Callable[[], None],
    ) -> web.StreamResponse:
        """Copy the node's answer to the client as it arrives.

        `failed_midstream` is called when the node fails after the first byte (not when
        the router itself ended the stream), so its health hears about it. A client that
        leaves a write waiting `server.write_timeout` seconds is cut (router.proxy.client).
        """
        upstream = opened.response
        is_stream = upstream.content_type == "text/event-stream"
        first = opened.first_chunk
        server = self.server()
        first_token = first_token_watch(exchange, upstream.content_type)
        if not is_stream and upstream.content_length == len(first):
            if first_token is not None:
                first_token.saw(first)
            return _whole(exchange, upstream, first, target, server.node_headers)
        out = stream_response(exchange, upstream, is_stream, server.node_headers)
        now = asyncio.get_running_loop().time()
        stream = OpenStream(out, upstream, now, target.dialect.keepalive) if is_stream else None
        coding = content_coding(upstream.headers)
        gemini = target.dialect.gemini_usage
        tap = UsageTap(gemini=gemini, is_stream=is_stream, coding=coding)
        meter = DeliveredMeter(gemini=gemini, is_stream=is_stream, coding=coding)
        # Compressed bytes (a node that ignored identity) cannot be filtered: passed whole.
        strip = is_stream and target.strip_usage and coding is None
        usage_filter = UsageFilter() if strip else None
        watch = WriteWatch(request.transport, exchange, server.write_timeout)
        copy = _Copy(out, exchange, stream, tap, meter, usage_filter, watch)
        try:
            with ClientLeaving(exchange):
                await out.prepare(request)
                if stream is not None:
                    self.streams.add(stream)
                failure = await copy.run(opened, first_token)
                if failure is not None:
                    if stream is not None and stream.closing:
                        error: RouterError = ServiceUnavailable("the router is shutting down")
                    else:
                        failed_midstream()
                        error = midstream_error(failure)
                    await end_early(request, exchange, out, is_stream, error, target.dialect, watch)
                    return out
                copy.ended = True
                if usage_filter is not None and (rest := usage_filter.flush()):
                    await copy.write(rest)
                await watch.write_eof(out)
                _note_inband_error(exchange, tap, failed_midstream)
        finally:
            watch.stop()
            if stream is not None:
                self.streams.discard(stream)
            copy.finish(upstream)
        return out


class _Copy:
    """One answer's copying: the chunks written, what the tap and the meter saw of them."""

    __slots__ = (
        "ended",
        "exchange",
        "failed",
        "meter",
        "out",
        "stream",
        "tap",
        "usage_filter",
        "watch",
    )

    def __init__(
        self,
        out: web.StreamResponse,
        exchange: Exchange,
        stream: OpenStream | None,
        tap: UsageTap,
        meter: DeliveredMeter,
        usage_filter: UsageFilter | None,
        watch: WriteWatch,
    ) -> None:
        self.out = out
        self.exchange = exchange
        self.stream = stream
        self.tap = tap
        self.meter = meter
        self.usage_filter = usage_filter
        self.watch = watch
        self.ended = False  # the node's answer was read to its end
        self.failed = False  # the node failed mid-answer

    async def run(
        self, opened: Opened, first_token: FirstTokenWatch | None
    ) -> UpstreamFailure | None:
        """Write every chunk as it arrives; the node's failure if the answer did not complete."""
        loop = asyncio.get_running_loop()
        read = opened.response.read
        stream, tap, usage_filter = self.stream, self.tap, self.usage_filter
        chunk = opened.first_chunk
        while chunk:
            if first_token is not None and first_token.saw(chunk):
                first_token = None
            visible = chunk if usage_filter is None else usage_filter.pass_through(chunk)
            if visible:
                await self.write(visible)
                if stream is not None:
                    stream.at_line_end = visible.endswith(b"\n")
            if stream is not None:
                stream.last_write = loop.time()
            tap.feed(chunk)
            try:
                chunk = await read()
            except UpstreamFailure as failure:
                self.failed = True
                return failure
        return None

    async def write(self, data: bytes) -> None:
        await self.watch.write(self.out, data)
        self.exchange.bytes_out += len(data)
        self.meter.feed(data)

    def finish(self, upstream: UpstreamResponse) -> None:
        """Record the usage (or what was delivered) and let go of the node's answer: kept
        alive when it ended, read on briefly for its usage when the client left after the
        whole answer's text but before the usage, else closed."""
        exchange = self.exchange
        left = exchange.client_disconnected and not self.ended and not self.failed
        exchange.usage = self.tap.usage if left else self.tap.finish()
        if exchange.usage is None:
            exchange.delivered = self.meter.output(ended=self.ended)
        if self.ended:
            upstream.release()
        elif left and exchange.usage is None and self.meter.finished:
            # It had the whole answer: the node's usage is on its way (router.proxy.grace).
            exchange.late_usage = read_on_for_usage(upstream, self.tap)
        else:
            upstream.close()  # a node still answering stops at once


def stream_response(
    exchange: Exchange,
    upstream: UpstreamResponse,
    is_stream: bool,
    node_headers: tuple[str, ...] = (),
) -> web.StreamResponse:
    """The client's response, its headers taken from the node's (router.upstream.headers;
    `node_headers`: those `server.node_headers` allows besides)."""
    out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    _copy_headers(out, exchange, upstream, node_headers)
    if is_stream or upstream.content_length is None:
        # Any answer sent as it comes (SSE, or Gemini's JSON-array stream without
        # alt=sse) must not wait in a proxy's buffer or a cache.
        out.headers["Cache-Control"] = "no-cache"
        out.headers["X-Accel-Buffering"] = "no"
    if not is_stream and upstream.content_length is not None:
        out.content_length = upstream.content_length
    exchange.status = upstream.status
    exchange.streamed = is_stream
    return out


def _whole(
    exchange: Exchange,
    upstream: UpstreamResponse,
    body: bytes,
    target: Target,
    node_headers: tuple[str, ...],
) -> web.Response:
    """The node's whole answer already arrived with its headers: send it in one write."""
    response = web.Response(body=body, status=upstream.status, reason=upstream.reason)
    _copy_headers(response, exchange, upstream, node_headers)
    exchange.status = upstream.status
    exchange.bytes_out = len(body)
    coding = content_coding(upstream.headers)
    gemini = target.dialect.gemini_usage
    tap = UsageTap(gemini=gemini, is_stream=False, coding=coding)
    tap.feed(body)
    exchange.usage = tap.finish()
    if exchange.usage is None:
        meter = DeliveredMeter(gemini=gemini, is_stream=False, coding=coding)
        meter.feed(body)
        exchange.delivered = meter.output(ended=True)
    upstream.release()
    return response


def _copy_headers(
    out: web.StreamResponse,
    exchange: Exchange,
    upstream: UpstreamResponse,
    node_headers: tuple[str, ...],
) -> None:
    """The node's headers the client may see, the trace id, and the node's own request id."""
    out.headers.extend(to_client(upstream.headers, node_headers))
    out.headers[REQUEST_ID] = exchange.request_id
    upstream_id = node_request_id(upstream.headers.get(REQUEST_ID))
    if upstream_id is not None:
        out.headers[UPSTREAM_REQUEST_ID] = upstream_id


def _note_inband_error(
    exchange: Exchange, tap: UsageTap, failed_midstream: Callable[[], None]
) -> None:
    """A node that reported an error inside its 200 stream failed mid-answer: the client
    already has the node's error event; the node's health, the log and billing hear of it."""
    tap.finish()  # an error event at the very end may still wait in the tap's tail
    if not tap.inband_error:
        return
    failed_midstream()
    exchange.error_code = UpstreamError.code
    _mark_midstream(exchange)


async def end_early(
    request: web.Request,
    exchange: Exchange,
    out: web.StreamResponse,
    is_stream: bool,
    error: RouterError,
    dialect: Dialect,
    watch: WriteWatch,
    *,
    marked: bool = False,
) -> None:
    """End a relayed answer after its first byte: an SSE error event, or a short read.
    The last attempt is marked failed mid-answer unless the caller `marked` one itself."""
    exchange.error_code = error.code
    if not marked:
        _mark_midstream(exchange)
    if is_stream:
        event = dialect.stream_error_event(error, exchange.request_id)
        await watch.write(out, event)
        exchange.bytes_out += len(event)
        await watch.write_eof(out)
    elif request.transport is not None:
        request.transport.abort()  # a short read, never a body that looks complete


def _mark_midstream(exchange: Exchange) -> None:
    """The answer being relayed failed after its first byte (a plain str: the console
    log renders attempts with repr())."""
    answered = exchange.answered
    if answered is not None:
        answered.failed(FailureReason.MIDSTREAM.value, None, asyncio.get_running_loop().time())


def midstream_error(failure: UpstreamFailure) -> RouterError:
    """The error event for a node that failed after the first byte."""
    if failure.reason is FailureReason.TIMEOUT:
        return UpstreamTimeout("the node stopped sending mid-answer")
    return UpstreamError("the node failed mid-answer")
