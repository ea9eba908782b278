"""An in-process fake of the transport seam (router.upstream.transport), scripted per node.

`FakeNodes` is a TransportFactory: pass it to `create_app(..., transports=fake)`. Each
node answers from its `Script` (status, headers, body chunks with optional delays, or
a connect failure, or a failure / timeout / hang after N chunks), and every request,
response close and transport close is recorded for the test to assert on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from router.config.model import NodeConfig
from router.errors import FailureReason, UpstreamFailure

SSE = (("Content-Type", "text/event-stream"),)


def sse_event(document: object) -> bytes:
    """One `data:` event of an SSE stream."""
    return b"data: " + orjson.dumps(document) + b"\n\n"


def openai_chunk(delta: dict[str, object], finish: str | None = None, **identity: object) -> bytes:
    """One OpenAI chat.completion.chunk event (id, created and model may be given)."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m"}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse_event({**head, **identity, "choices": [choice]})


ROLE = openai_chunk({"role": "assistant", "content": ""})  # before any token
DONE = b"data: [DONE]\n\n"


def answer_stream(text: str) -> tuple[bytes, ...]:
    """A whole OpenAI stream: the role chunk, `text` as one delta, the finish, [DONE]."""
    return (ROLE, openai_chunk({"content": text}), openai_chunk({}, "stop"), DONE)


def answer_json(text: str) -> bytes:
    """A whole OpenAI chat.completion with `text` as its message."""
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice]})


@dataclass(frozen=True)
class Chunk:
    """A body chunk, sent `delay` seconds after the previous one."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True)
class Script:
    """What one node does with every request it gets."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = (("Content-Type", "application/json"),)
    chunks: Sequence[bytes | Chunk] = (b"{}",)
    connect_fails: bool = False
    head_delay: float = 0.0  # before the status line and headers
    head_gate: asyncio.Event | None = None  # if set, headers come once it is set
    fail_after: int | None = None  # after this many chunks, the next read fails...
    failure: FailureReason = FailureReason.RESET  # ...with this (RESET or TIMEOUT)
    hang_after: int | None = None  # after this many chunks, the next read never returns
    probe_status: int = 200


@dataclass
class Received:
    """One request a node received."""

    node: str
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class FakeResponse:
    """An UpstreamResponse played from a Script."""

    def __init__(self, node: str, script: Script) -> None:
        self.node = node
        self.script = script
        self.status = script.status
        self.reason = "OK" if script.status == 200 else "Scripted"
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(script.headers))
        length = self.headers.get("Content-Length")
        self.content_length = int(length) if length is not None else None
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        self.content_type = content_type.partition(";")[0].strip().lower()
        self.sent = 0  # chunks handed out so far
        # The node's first_byte deadline (loop time), kept until the first chunk came, as
        # the real transport keeps it (router.upstream.transport: NodeTransport.post).
        self.first_byte_by: float | None = None
        self.closed = False
        self.released = False
        self._closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def read(self) -> bytes:
        script = self.script
        if self.closed:
            raise UpstreamFailure(FailureReason.RESET, "connection lost mid-answer")
        if script.fail_after is not None and self.sent >= script.fail_after:
            raise UpstreamFailure(script.failure, "scripted failure")
        if script.hang_after is not None and self.sent >= script.hang_after:
            await self._closing  # until close(); then fails as a real closed read does
            raise UpstreamFailure(FailureReason.RESET, "connection lost mid-answer")
        if self.sent >= len(script.chunks):
            return b""
        chunk = script.chunks[self.sent]
        first_byte_by, self.first_byte_by = self.first_byte_by, None
        if isinstance(chunk, Chunk):
            # Counted once it arrives: a read cancelled while waiting loses nothing, as
            # with the real transport (its bytes wait in a buffer).
            await _within(first_byte_by, asyncio.sleep(chunk.delay))
            self.sent += 1
            return chunk.data
        self.sent += 1
        return chunk

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True
        if not self._closing.done():
            self._closing.set_result(None)


@dataclass
class FakeTransport:
    """One node's NodeTransport (a new one per configure, as with the real factory)."""

    nodes: FakeNodes
    config: NodeConfig
    closed: bool = False

    async def post(
        self, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        name = self.config.name
        self.nodes.received.append(Received(name, "POST", path, list(headers), body))
        script = self.nodes.scripts.get(name, Script())
        if script.connect_fails:
            raise UpstreamFailure(FailureReason.CONNECT, "could not connect (scripted)")
        first_byte_by = asyncio.get_running_loop().time() + self.config.timeouts.first_byte
        try:
            await _within(first_byte_by, self._head(script))
        except asyncio.CancelledError:
            self.nodes.cancelled.append(name)  # the router gave up before the head came
            raise
        except UpstreamFailure:
            self.nodes.cancelled.append(name)  # its first_byte deadline passed
            raise
        response = FakeResponse(name, script)
        response.first_byte_by = first_byte_by
        self.nodes.responses.append(response)
        return response

    @staticmethod
    async def _head(script: Script) -> None:
        await asyncio.sleep(script.head_delay)
        if script.head_gate is not None:
            await script.head_gate.wait()

    async def get(self, path: str, headers: Iterable[tuple[str, str]], time_limit: float) -> int:
        name = self.config.name
        self.nodes.received.append(Received(name, "GET", path, list(headers), b""))
        script = self.nodes.scripts.get(name, Script())
        if script.connect_fails:
            raise UpstreamFailure(FailureReason.CONNECT, "could not connect (scripted)")
        return script.probe_status

    def close(self) -> None:
        self.closed = True


async def _within(deadline: float | None, waiting: Awaitable[object]) -> None:
    """Wait for `waiting`; past `deadline` (loop time; None: none) it is the node's
    first_byte timeout, as the real transport reports it."""
    if deadline is None:
        await waiting
        return
    try:
        async with asyncio.timeout_at(deadline):
            await waiting
    except TimeoutError as exc:
        detail = "timed out waiting for the first byte"
        raise UpstreamFailure(FailureReason.TIMEOUT, detail) from exc


@dataclass
class FakeNodes:
    """The TransportFactory for tests: scripts in, records out."""

    scripts: dict[str, Script] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    responses: list[FakeResponse] = field(default_factory=list)
    transports: list[FakeTransport] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # nodes whose head never came

    def __call__(self, config: NodeConfig) -> FakeTransport:
        transport = FakeTransport(self, config)
        self.transports.append(transport)
        return transport

    def posted_to(self) -> list[str]:
        """The nodes requests were sent to, in order."""
        return [r.node for r in self.received if r.method == "POST"]

    def dropped(self, node: str) -> bool:
        """Whether the router gave up on a request to `node`: before its head came, or by
        closing its answer before the end."""
        closed = any(r.node == node and r.closed and not r.released for r in self.responses)
        return node in self.cancelled or closed
