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

from router.config.model import ServerConfig
from router.dialects.codec import Answers, Codec
from router.dialects.delivered import DeliveredMeter
from router.dialects.first_token import FirstTokenScanner
from router.dialects.target import Target
from router.dialects.usage_tap import UsageFilter, UsageTap, usage_of_whole
from router.errors import (
    FailureReason,
    RouterError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from router.observability.exchange import Attempt, Exchange
from router.proxy.client import ClientLeaving, ClientStream, ResponseHead
from router.proxy.grace import read_on_for_usage
from router.proxy.keepalive import OpenStream, StreamRegistry
from router.tasks import LoopRef
from router.upstream.headers import REQUEST_ID, UPSTREAM_REQUEST_ID, content_coding, to_client
from router.upstream.reasons import Redactor, node_request_id
from router.upstream.request import Opened
from router.upstream.transport import UpstreamResponse


class FirstTokenWatch:
    """Notes when a traced answer brings its first token (its attempt span's time to first
    token), for an answer the proxy committed to before reading that far."""

    __slots__ = ("attempt", "scanner")

    def __init__(self, attempt: Attempt, content_type: str, answers: Answers) -> None:
        self.attempt = attempt
        self.scanner = FirstTokenScanner(content_type, answers)

    def saw(self, chunk: bytes) -> bool:
        """Feed one chunk; True once the first token was seen (stop feeding then)."""
        if self.scanner.feed(chunk):
            self.attempt.first_token = asyncio.get_running_loop().time()
            return True
        return False


def first_token_watch(
    exchange: Exchange, content_type: str, answers: Answers
) -> FirstTokenWatch | None:
    """A watch for the answer being relayed (read through the node's dialect's `answers`),
    only when its request is traced (sampled) and its first token is not known yet:
    nothing is scanned for anyone else."""
    trace, attempt = exchange.trace, exchange.answered
    if trace is None or not trace.sampled or attempt is None or attempt.first_token is not None:
        return None
    return FirstTokenWatch(attempt, content_type, answers)


class Relay:
    """Streams committed answers to clients, and keeps the open SSE streams registered."""

    def __init__(
        self,
        streams: StreamRegistry,
        server: Callable[[], ServerConfig],
        redactor: Callable[[], Redactor],
    ) -> None:
        self.streams = streams
        self.server = server  # the `server:` settings now loaded (a reload changes them)
        self.loop = LoopRef()
        self.redactor = redactor  # the loaded config's, for a node's own error answers

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
        the router itself ended the stream), so its health hears about it. A client that
        leaves a write waiting `server.write_timeout` seconds is cut (router.proxy.client).
        The answer is read in the client's dialect (`target.answers`: the node's bytes
        relayed, or translated at the upstream seam), and the router's own bytes are
        written in it (`target.client`).
        """
        upstream = opened.response
        is_stream = upstream.content_type == "text/event-stream"
        first = opened.first_chunk
        server = self.server()
        first_token = first_token_watch(exchange, upstream.content_type, target.answers)
        whole = not is_stream and upstream.content_length == len(first)
        if upstream.status >= 400:
            first = _cleaned(self.redactor(), upstream, first, whole)
        if whole:
            if first_token is not None:
                first_token.saw(first)
            _whole(client, exchange, upstream, first, target, server.node_headers)
            return
        head = stream_response(exchange, upstream, is_stream, server.node_headers)
        loop = self.loop()
        now = loop.time()
        keepalive = target.client.replies.keepalive
        stream = OpenStream(client, upstream, now, keepalive) if is_stream else None
        copy = _Copy.of(client, exchange, upstream, target, stream)
        usage_filter, tap = copy.usage_filter, copy.tap
        try:
            with ClientLeaving(exchange, client):
                await client.prepare(head)
                if stream is not None:
                    self.streams.add(stream)
                failure = await copy.run(opened, first_token, loop)
                if failure is not None:
                    if stream is not None and stream.closing:
                        error: RouterError = ServiceUnavailable("the router is shutting down")
                    else:
                        failed_midstream()
                        error = midstream_error(failure)
                    await end_early(client, exchange, is_stream, error, target.client)
                    return
                copy.ended = True
                if usage_filter is not None and (rest := usage_filter.flush()):
                    await copy.write(rest)
                await client.write_eof()
                _note_inband_error(exchange, tap, failed_midstream)
        finally:
            if stream is not None:
                self.streams.discard(stream)
            copy.finish(upstream)


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
    )

    def __init__(
        self,
        out: ClientStream,
        exchange: Exchange,
        stream: OpenStream | None,
        tap: UsageTap,
        meter: DeliveredMeter,
        usage_filter: UsageFilter | None,
    ) -> None:
        self.out = out
        self.exchange = exchange
        self.stream = stream
        self.tap = tap
        self.meter = meter
        self.usage_filter = usage_filter
        self.ended = False  # the node's answer was read to its end
        self.failed = False  # the node failed mid-answer

    @classmethod
    def of(
        cls,
        out: ClientStream,
        exchange: Exchange,
        upstream: UpstreamResponse,
        target: Target,
        stream: OpenStream | None,
    ) -> _Copy:
        """The copying of `upstream` (read, and what the client gets metered, in the
        client's dialect: `target.answers`)."""
        is_stream = stream is not None
        coding = content_coding(upstream.headers)
        answers = target.answers
        tap = UsageTap(answers, is_stream=is_stream, coding=coding)
        meter = DeliveredMeter(answers, is_stream=is_stream, coding=coding)
        # Compressed bytes (a node that ignored identity) cannot be filtered: passed whole.
        strip = is_stream and target.request.strip_usage and coding is None
        usage_filter = UsageFilter(answers) if strip else None
        return cls(out, exchange, stream, tap, meter, usage_filter)

    async def run(
        self, opened: Opened, first_token: FirstTokenWatch | None, loop: asyncio.AbstractEventLoop
    ) -> UpstreamFailure | None:
        """Write every chunk as it arrives; the node's failure if the answer did not complete."""
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
        await self.out.write(data)
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


_UNBUFFERED = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
_UNBUFFERED_NAMES = frozenset(name.lower() for name, _ in _UNBUFFERED)


def stream_response(
    exchange: Exchange,
    upstream: UpstreamResponse,
    is_stream: bool,
    node_headers: tuple[str, ...] = (),
) -> ResponseHead:
    """The head of the client's answer, its headers taken from the node's
    (router.upstream.headers; `node_headers`: those `server.node_headers` allows besides)."""
    headers = _client_headers(exchange, upstream, node_headers)
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
    node_headers: tuple[str, ...],
) -> None:
    """The node's whole answer already arrived with its headers: send it in one write."""
    headers = _client_headers(exchange, upstream, node_headers)
    client.send_whole(ResponseHead(upstream.status, upstream.reason, headers), body)
    exchange.status = upstream.status
    exchange.bytes_out = len(body)
    coding = content_coding(upstream.headers)
    exchange.usage = usage_of_whole(target.answers, body, coding)
    if exchange.usage is None:
        meter = DeliveredMeter(target.answers, is_stream=False, coding=coding)
        meter.feed(body)
        exchange.delivered = meter.output(ended=True)
    upstream.release()


def _cleaned(redactor: Redactor, upstream: UpstreamResponse, body: bytes, whole: bool) -> bytes:
    """A node's error answer (read whole up to MAX_ERROR_BODY by router.upstream.request)
    without the node's address or key in it. Not when its length is promised and more of
    it is to come (a longer body), nor when it is compressed: then it goes as it is."""
    if not (whole or upstream.content_length is None) or content_coding(upstream.headers):
        return body
    text = body.decode("utf-8", "surrogateescape")
    cleaned = redactor.clean(text)
    return body if cleaned == text else cleaned.encode("utf-8", "surrogateescape")


def _client_headers(
    exchange: Exchange, upstream: UpstreamResponse, node_headers: tuple[str, ...]
) -> list[tuple[str, str]]:
    """The node's headers the client may see, the trace id, and the node's own request id
    (`to_client` passes no node's own of either, so these are the only ones)."""
    headers = list(to_client(upstream.headers, node_headers))
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
    _mark_midstream(exchange)


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
        _mark_midstream(exchange)
    if is_stream:
        event = replies_in.replies.stream_error_event(error, exchange.request_id)
        await client.write(event)
        exchange.bytes_out += len(event)
        await client.write_eof()
    else:
        client.abort()  # a short read, never a body that looks complete


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
