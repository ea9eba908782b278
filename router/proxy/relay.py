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

from router.dialects.codec import Codec
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
from router.observability.exchange import Exchange
from router.proxy.client import ClientLeaving, ClientStream, ResponseHead
from router.proxy.keepalive import OpenStream, StreamRegistry
from router.upstream.headers import REQUEST_ID, UPSTREAM_REQUEST_ID, content_coding, to_client
from router.upstream.reasons import node_request_id
from router.upstream.request import Opened
from router.upstream.transport import UpstreamResponse


class Relay:
    """Streams committed answers to clients, and keeps the open SSE streams registered."""

    def __init__(self, streams: StreamRegistry) -> None:
        self.streams = streams

    async def send(
        self,
        client: ClientStream,
        exchange: Exchange,
        opened: Opened,
        target: Target,
        failed_midstream: Callable[[], None],
    ) -> None:
        """Copy the node's answer to the client as it arrives.

        `failed_midstream` is called when the node fails after the first byte (not when
        the router itself ended the stream), so its health hears about it.
        """
        upstream = opened.response
        is_stream = upstream.content_type == "text/event-stream"
        first = opened.first_chunk
        if not is_stream and upstream.content_length == len(first):
            _whole(client, exchange, upstream, first, target)
            return
        head = stream_response(exchange, upstream, is_stream)
        now = asyncio.get_running_loop().time()
        keepalive = target.client.replies.keepalive
        stream = OpenStream(client, upstream, now, keepalive) if is_stream else None
        coding = content_coding(upstream.headers)
        answers = target.node.answers
        tap = UsageTap(answers, is_stream=is_stream, coding=coding)
        # Compressed bytes (a node that ignored identity) cannot be filtered: passed whole.
        strip = is_stream and target.request.strip_usage and coding is None
        usage_filter = UsageFilter(answers) if strip else None
        finished = False
        try:
            with ClientLeaving(exchange):
                await client.prepare(head)
                if stream is not None:
                    self.streams.add(stream)
                failure = await _copy(client, exchange, opened, stream, tap, usage_filter)
                if failure is not None:
                    if stream is not None and stream.closing:
                        error: RouterError = ServiceUnavailable("the router is shutting down")
                    else:
                        failed_midstream()
                        error = midstream_error(failure)
                    await end_early(client, exchange, is_stream, error, target.client)
                    return
                finished = True
                if usage_filter is not None and (rest := usage_filter.flush()):
                    await client.write(rest)
                await client.write_eof()
                _note_inband_error(exchange, tap, failed_midstream)
        finally:
            exchange.usage = tap.finish()
            if stream is not None:
                self.streams.discard(stream)
            if finished:
                upstream.release()
            else:
                upstream.close()


async def _copy(
    out: ClientStream,
    exchange: Exchange,
    opened: Opened,
    stream: OpenStream | None,
    tap: UsageTap,
    usage_filter: UsageFilter | None,
) -> UpstreamFailure | None:
    """Write every chunk as it arrives; the node's failure if the answer did not complete."""
    loop = asyncio.get_running_loop()
    read = opened.response.read
    chunk = opened.first_chunk
    while chunk:
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


_UNBUFFERED = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
_UNBUFFERED_NAMES = frozenset(name.lower() for name, _ in _UNBUFFERED)


def stream_response(
    exchange: Exchange, upstream: UpstreamResponse, is_stream: bool
) -> ResponseHead:
    """The head of the client's answer, its headers taken from the node's."""
    headers = _client_headers(exchange, upstream)
    if is_stream or upstream.content_length is None:
        # Any answer sent as it comes (SSE, or Gemini's JSON-array stream without
        # alt=sse) must not wait in a proxy's buffer or a cache: these replace the node's.
        headers = [h for h in headers if h[0].lower() not in _UNBUFFERED_NAMES]
        headers += _UNBUFFERED
    length = None if is_stream else upstream.content_length
    exchange.status = upstream.status
    exchange.streamed = is_stream
    return ResponseHead(upstream.status, upstream.reason, headers, length)


def _whole(
    client: ClientStream,
    exchange: Exchange,
    upstream: UpstreamResponse,
    body: bytes,
    target: Target,
) -> None:
    """The node's whole answer already arrived with its headers: send it in one write."""
    head = ResponseHead(upstream.status, upstream.reason, _client_headers(exchange, upstream))
    client.send_whole(head, body)
    exchange.status = upstream.status
    exchange.bytes_out = len(body)
    coding = content_coding(upstream.headers)
    tap = UsageTap(target.node.answers, is_stream=False, coding=coding)
    tap.feed(body)
    exchange.usage = tap.finish()
    upstream.release()


def _client_headers(exchange: Exchange, upstream: UpstreamResponse) -> list[tuple[str, str]]:
    """The node's headers the client may see, the trace id, and the node's own request id
    (`to_client` never passes a node's own of either, so these are the only ones)."""
    headers = list(to_client(upstream.headers))
    headers.append((REQUEST_ID, exchange.request_id))
    upstream_id = node_request_id(upstream.headers.get(REQUEST_ID))
    if upstream_id is not None:
        headers.append((UPSTREAM_REQUEST_ID, upstream_id))
    return headers


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
    exchange.attempts[-1]["failure"] = FailureReason.MIDSTREAM.value


async def end_early(
    client: ClientStream,
    exchange: Exchange,
    is_stream: bool,
    error: RouterError,
    replies_in: Codec,
    *,
    marked: bool = False,
) -> None:
    """End a relayed answer after its first byte: an error event in the client's dialect
    (`replies_in`), or a short read. The last attempt is marked failed mid-answer unless
    the caller `marked` one itself."""
    exchange.error_code = error.code
    if not marked:
        exchange.attempts[-1]["failure"] = FailureReason.MIDSTREAM.value  # a plain str
    if is_stream:
        event = replies_in.replies.stream_error_event(error, exchange.request_id)
        await client.write(event)
        exchange.bytes_out += len(event)
        await client.write_eof()
    else:
        client.abort()  # a short read, never a body that looks complete


def midstream_error(failure: UpstreamFailure) -> RouterError:
    """The error event for a node that failed after the first byte."""
    if failure.reason is FailureReason.TIMEOUT:
        return UpstreamTimeout("the node stopped sending mid-answer")
    return UpstreamError("the node failed mid-answer")
