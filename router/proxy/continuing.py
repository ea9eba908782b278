"""Relaying an SSE answer that goes on at another node when its node fails mid-answer.

For models with `on_midstream_failure: continue`. How this works:
1. The node's chunks are cut into whole events (router.dialects.continuation) and each is
   written the moment it is whole, so a failing node never leaves half an event at the
   client. Every event is read for the text said so far and the node's usage; an in-band
   error event is held back and counts as the node's failure.
2. When the node fails (a cut, a stall past `timeouts.idle`, an in-band error), `resume`
   (router.proxy.attempts) asks the next candidate of the request's plan for the answer
   so far as a prefilled last turn, or, for a model with `prefill: false`, for the whole
   answer again. Its events are rewritten into the first stream (router.dialects.
   continuation) and copied on; the same holds if that node fails in its turn.
3. The stream ends with one error event, naming the first node's failure, when the
   answer cannot be continued (a tool call, a second choice, a finish already sent) or
   no candidate takes it up.

Each node's usage (reported, or estimated for a node cut before it reported any) is
summed into the exchange's usage with one part per node, so billing charges each once
and the ledger lists them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from router.config.model import ServerConfig
from router.dialects.continuation import Transcript
from router.dialects.delivered import DeliveredOutput
from router.dialects.estimate import BYTES_PER_TOKEN
from router.dialects.sse import DONE, EventSplitter, event_document
from router.dialects.target import Target
from router.errors import (
    FailureReason,
    RouterError,
    ServiceUnavailable,
    UpstreamFailure,
)
from router.observability.exchange import Exchange
from router.observability.observer import Observer
from router.proxy.client import ClientLeaving, ClientStream
from router.proxy.keepalive import OpenStream, StreamRegistry
from router.proxy.race import Answer
from router.proxy.relay import end_early, first_token_watch, midstream_error, stream_response

Resume = Callable[[Transcript], Awaitable[Answer | None]]
_INBAND = UpstreamFailure(FailureReason.MIDSTREAM, "an error event mid-answer")


class ContinuingRelay:
    """Streams one answer to the client, continued on other nodes as they fail."""

    def __init__(
        self, streams: StreamRegistry, observer: Observer, server: Callable[[], ServerConfig]
    ) -> None:
        self.streams = streams
        self.observer = observer
        self.server = server  # the `server:` settings now loaded (a reload changes them)

    async def send(
        self,
        client: ClientStream,
        exchange: Exchange,
        answer: Answer,
        failed_midstream: Callable[[Answer], None],
        resume: Resume,
    ) -> None:
        """Copy the answer, and its continuations, to the client as they arrive.

        The caller releases `answer`'s node; continuation answers are released here. A
        client that leaves a write waiting `server.write_timeout` seconds is cut."""
        server = self.server()
        target = answer.target
        head = stream_response(exchange, answer.opened.response, True, server.node_headers)
        loop = asyncio.get_running_loop()
        keepalive = target.client.replies.keepalive
        stream = OpenStream(client, answer.opened.response, loop.time(), keepalive)
        prompt = len(target.request.body(None)) // BYTES_PER_TOKEN
        run = _Run(answer, Transcript(target.answers, prompt))
        finished = False
        try:
            with ClientLeaving(exchange, client):
                await client.prepare(head)
                self.streams.add(stream)
                while True:
                    failure = await _copy(client, exchange, run.current, stream, run.said)
                    if failure is None:
                        finished = True
                        await client.write_eof()
                        return
                    error = await _go_on(exchange, stream, run, failure, failed_midstream, resume)
                    self.observer.continuation(
                        exchange.model, "continued" if error is None else "failed"
                    )
                    if error is not None:
                        await end_early(client, exchange, True, error, target.client, marked=True)
                        return
        finally:
            exchange.usage = run.said.total(run.current.node.name)
            if exchange.usage is None:  # no node reported usage: what the client received
                exchange.delivered = DeliveredOutput(
                    len(run.said.content_text), len(run.said.reasoning_text)
                )
            exchange.node = run.current.node.name
            self.streams.discard(stream)
            if finished:
                run.current.opened.response.release()
            else:
                run.current.opened.response.close()
            for continued in run.taken:
                continued.node.release()


@dataclass(slots=True)
class _Run:
    """One answer's course across nodes."""

    current: Answer
    said: Transcript
    taken: list[Answer] = field(default_factory=list)  # continuations, released at the end
    first_failure: UpstreamFailure | None = None


async def _go_on(
    exchange: Exchange,
    stream: OpenStream,
    run: _Run,
    failure: UpstreamFailure,
    failed_midstream: Callable[[Answer], None],
    resume: Resume,
) -> RouterError | None:
    """After the current node failed: switch `run` to a continuation, or the error event
    that ends the stream (it names the first node's failure, not a refused prefill)."""
    run.current.opened.response.close()
    run.current.attempt.failed(
        FailureReason.MIDSTREAM.value, None, asyncio.get_running_loop().time()
    )
    if stream.closing:
        return ServiceUnavailable("the router is shutting down")
    failed_midstream(run.current)
    run.first_failure = run.first_failure or failure
    said = run.said
    said.node_failed(run.current.node.name)
    following = None
    if said.continuable and not said.finished:
        following = await resume(said)
    if following is None or stream.closing:
        if following is not None:
            following.opened.response.close()
            following.node.release()
        return midstream_error(run.first_failure)
    run.taken.append(following)
    said.continue_on(restart=not following.served.prefill)
    stream.upstream = following.opened.response
    run.current = following
    return None


async def _copy(
    out: ClientStream,
    exchange: Exchange,
    answer: Answer,
    stream: OpenStream,
    transcript: Transcript,
) -> UpstreamFailure | None:
    """Write each whole event of one node's answer; its failure if it did not complete."""
    loop = asyncio.get_running_loop()
    target: Target = answer.target
    answers = target.answers
    strip_usage = target.request.strip_usage
    end = target.client.replies.stream_end
    read = answer.opened.response.read
    splitter = EventSplitter()
    chunk = answer.opened.first_chunk
    first_token = first_token_watch(exchange, answer.opened.response.content_type, answers)
    while True:
        if first_token is not None and chunk and first_token.saw(chunk):
            first_token = None
        for event in splitter.feed(chunk) if chunk else splitter.finish():
            document = event_document(event)
            if document is DONE:
                if not transcript.finished:
                    continue  # held: a [DONE] before the finish reason does not end it
                await _write_end(out, exchange, end)
                return None  # the end; a node lingering after [DONE] is not waited for
            if not transcript.read(document):
                return _INBAND
            if transcript.rewriting and isinstance(document, dict):
                if answers.is_content_free(document):
                    continue
                event = answers.frame(document)
            if strip_usage and answers.is_usage_only(event):
                continue
            await out.write(event)
            exchange.bytes_out += len(event)
            stream.last_write = loop.time()
            stream.at_line_end = event.endswith((b"\n", b"\r"))  # not after an overflow
        if not chunk:
            break
        try:
            chunk = await read()
        except UpstreamFailure as failure:
            return failure
    if splitter.pending.strip():  # the stream ended inside an event: it did not complete
        return UpstreamFailure(FailureReason.MIDSTREAM, "the answer ended mid-event")
    if not transcript.finished:  # ended before its finish reason: cut, not complete
        return UpstreamFailure(FailureReason.MIDSTREAM, "the answer ended unfinished")
    await _write_end(out, exchange, end)  # finished, only its end ([DONE]) missing
    return None


async def _write_end(out: ClientStream, exchange: Exchange, end: bytes) -> None:
    """The stream's end in the client's dialect (`[DONE]`; nothing for some dialects)."""
    if end:
        await out.write(end)
        exchange.bytes_out += len(end)
