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
from router.proxy.client import ClientLeaving
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

    def __init__(self, streams: StreamRegistry) -> None:
        self.streams = streams

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
        the router itself ended the stream), so its health hears about it.
        """
        upstream = opened.response
        is_stream = upstream.content_type == "text/event-stream"
        first = opened.first_chunk
        watch = first_token_watch(exchange, upstream.content_type)
        if not is_stream and upstream.content_length == len(first):
            if watch is not None:
                watch.saw(first)
            return _whole(exchange, upstream, first, target)
        out = stream_response(exchange, upstream, is_stream)
        now = asyncio.get_running_loop().time()
        stream = OpenStream(out, upstream, now, target.dialect.keepalive) if is_stream else None
        coding = content_coding(upstream.headers)
        tap = UsageTap(gemini=target.dialect.gemini_usage, is_stream=is_stream, coding=coding)
        # Compressed bytes (a node that ignored identity) cannot be filtered: passed whole.
        strip = is_stream and target.strip_usage and coding is None
        usage_filter = UsageFilter() if strip else None
        finished = False
        try:
            with ClientLeaving(exchange):
                await out.prepare(request)
                if stream is not None:
                    self.streams.add(stream)
                failure = await _copy(out, exchange, opened, stream, tap, usage_filter, watch)
                if failure is not None:
                    if stream is not None and stream.closing:
                        error: RouterError = ServiceUnavailable("the router is shutting down")
                    else:
                        failed_midstream()
                        error = midstream_error(failure)
                    await end_early(request, exchange, out, is_stream, error, target.dialect)
                    return out
                finished = True
                if usage_filter is not None and (rest := usage_filter.flush()):
                    await out.write(rest)
                await out.write_eof()
                _note_inband_error(exchange, tap, failed_midstream)
        finally:
            exchange.usage = tap.finish()
            if stream is not None:
                self.streams.discard(stream)
            if finished:
                upstream.release()
            else:
                upstream.close()
        return out


async def _copy(
    out: web.StreamResponse,
    exchange: Exchange,
    opened: Opened,
    stream: OpenStream | None,
    tap: UsageTap,
    usage_filter: UsageFilter | None,
    watch: FirstTokenWatch | None,
) -> UpstreamFailure | None:
    """Write every chunk as it arrives; the node's failure if the answer did not complete."""
    loop = asyncio.get_running_loop()
    read = opened.response.read
    chunk = opened.first_chunk
    while chunk:
        if watch is not None and watch.saw(chunk):
            watch = None
        visible = chunk if usage_filter is None else usage_filter.pass_through(chunk)
        if visible:
            await out.write(visible)
            exchange.bytes_out += len(visible)
            if stream is not None:
                stream.at_line_end = visible.endswith(b"\n")
        if stream is not None:
            stream.last_write = loop.time()
        tap.feed(chunk)
        try:
            chunk = await read()
        except UpstreamFailure as failure:
            return failure
    return None


def stream_response(
    exchange: Exchange, upstream: UpstreamResponse, is_stream: bool
) -> web.StreamResponse:
    """The client's response, its headers taken from the node's."""
    out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    _copy_headers(out, exchange, upstream)
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
    exchange: Exchange, upstream: UpstreamResponse, body: bytes, target: Target
) -> web.Response:
    """The node's whole answer already arrived with its headers: send it in one write."""
    response = web.Response(body=body, status=upstream.status, reason=upstream.reason)
    _copy_headers(response, exchange, upstream)
    exchange.status = upstream.status
    exchange.bytes_out = len(body)
    coding = content_coding(upstream.headers)
    tap = UsageTap(gemini=target.dialect.gemini_usage, is_stream=False, coding=coding)
    tap.feed(body)
    exchange.usage = tap.finish()
    upstream.release()
    return response


def _copy_headers(out: web.StreamResponse, exchange: Exchange, upstream: UpstreamResponse) -> None:
    """The node's headers the client may see, the trace id, and the node's own request id."""
    out.headers.extend(to_client(upstream.headers))
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
        await out.write(event)
        exchange.bytes_out += len(event)
        await out.write_eof()
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
