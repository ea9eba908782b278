"""A request translated for a node of another dialect, and that node's answers translated
back into the client's dialect, as the proxy sends and reads them.

How this works: `translated_target` reads the client's request into the IR
(router.dialects.chat) through the client's dialect's mapping and has the node's write it
(`TranslatedRequest`, once per model name a backend asks for); a field the node's dialect
cannot say is a 400 naming the client's field. Each answer is translated by a
`TranslatedAnswer`, which the upstream seam (router.upstream.translated) feeds the node's
bytes as they come and which gives back the client's: a stream event by event (each node
event yields at once every client event it implies), a whole answer or an error answer
once all of it has come. Everything after the seam (relay, usage tap, first token,
keep-alives, the continuation) therefore reads the client's dialect whichever node
answered, and a relayed request never passes through here.

Billing stays exact: a translated stream always carries the node's usage (translated);
when the client did not ask to see it, the request says `strip_usage` and the relay's
usage filter takes that chunk out after the usage tap read it, as for a relayed stream
whose usage the router asked for itself. A node's error event in the middle of a stream is
not translated but reported (`failed`): the seam fails the answer there, so the proxy
ends the stream (or continues it elsewhere) in the client's dialect, as for a cut node.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.dialects.chat import ChatRequest
from router.dialects.chat_answer import AnswerContext, EmbeddingRequest, TokenUsage
from router.dialects.chat_wire import compact_json
from router.dialects.codec import Codec, NodeSide, Operation, Parsed
from router.dialects.sse import DONE, EventCutter, event_document, whole_events
from router.dialects.target import Target, encode_target
from router.dialects.translation import ChatMapping, StreamTranslation, encode_for
from router.errors import DialectNotServed, UntranslatableAnswer

SSE = "text/event-stream"
JSON = "application/json"
MAX_NODE_EVENT = 64 * 1024 * 1024  # one event of a node's stream (an image inline: large)
MAX_WHOLE_ANSWER = 64 * 1024 * 1024  # a node's whole answer, read before it is translated
MAX_ERROR_ANSWER = 1024 * 1024  # a node's error answer: the rest is not read for its message


@dataclass(slots=True)
class TranslatedRequest:
    """router.dialects.codec.NodeRequest for a node of another dialect, and the
    router.dialects.target.AnswerTranslation of its answers."""

    client: ChatMapping
    node: ChatMapping
    node_side: NodeSide
    operation: Operation
    request: ChatRequest | EmbeddingRequest  # the client's, as IR
    json_array: bool  # the client streams Gemini's JSON array (no alt=sse)
    request_id: str
    prompt_estimate: int
    _encoded: dict[str | None, tuple[str, str, bytes]] = field(default_factory=dict)

    @property
    def is_stream(self) -> bool:
        return isinstance(self.request, ChatRequest) and self.request.stream

    @property
    def strip_usage(self) -> bool:
        request = self.request
        return isinstance(request, ChatRequest) and request.stream and not request.stream_usage

    @property
    def continuable(self) -> bool:
        return self.operation is Operation.CHAT

    def path(self, base_path: str, model: str | None) -> str:
        path, query, _ = self.encoded(model)
        return encode_target(base_path + path, query)

    def body(self, model: str | None) -> bytes:
        return self.encoded(model)[2]

    def encoded(self, model: str | None) -> tuple[str, str, bytes]:
        """(path, raw query, body) of the request for `model` (None: the client's)."""
        found = self._encoded.get(model)
        if found is None:
            found = self._encoded[model] = self._encode(model)
        return found

    def _encode(self, model: str | None) -> tuple[str, str, bytes]:
        request = self.request
        if model is not None and model != request.model:
            request = dataclasses.replace(request, model=model)
        if isinstance(request, ChatRequest):
            wire = encode_for(self.client, self.node, request)
        else:
            wire = self.node.encode_embedding_request(request)
        where = self.node_side.translated_path(self.operation, wire)
        if where is None:  # translated_target asked first: cannot be
            raise DialectNotServed(f"a {self.node.name} node has no {self.operation} call")
        return where[0], where[1], compact_json(wire.body).encode()

    def answer(self, status: int, content_type: str, created: int) -> TranslatedAnswer:
        return TranslatedAnswer(self, status, content_type, created)


class TranslatedAnswer:
    """One node answer, translated into the client's dialect as it arrives
    (router.dialects.target.AnswerTranslator)."""

    __slots__ = (
        "_body",
        "_context",
        "_cutter",
        "_error",
        "_size",
        "_stream",
        "_translating",
        "content_type",
        "failed",
        "is_whole",
    )

    def __init__(
        self, translating: TranslatedRequest, status: int, node_type: str, created: int
    ) -> None:
        self._translating = translating
        self._context = AnswerContext(translating.request_id, translating.request.model, created)
        self._error = status if status >= 400 else None
        stream = translating.is_stream and self._error is None
        self.is_whole = not (stream and node_type == SSE)
        self.content_type = SSE if stream and not translating.json_array else JSON
        self.failed: str | None = None
        self._stream = (
            StreamTranslation.between(
                translating.client,
                translating.node,
                self._context,
                include_usage=True,  # billing reads it; strip_usage hides it
                json_array=translating.json_array,
                trace_id=translating.request_id,
                errors_inline=False,
            )
            if stream
            else None
        )
        self._cutter = EventCutter(MAX_NODE_EVENT)
        self._body: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> bytes:
        if self.is_whole:
            self._size += len(chunk)
            if self._size <= MAX_WHOLE_ANSWER:
                self._body.append(chunk)
            return b""
        if self._cutter.takes_whole(chunk):  # the usual read: one event, or a few, whole
            events = whole_events(chunk)
            if len(events) == 1:
                return self._event(chunk)
            return b"".join([self._event(event) for event in events])
        out = bytearray()
        for data, whole in self._cutter.feed(chunk):
            if not whole:
                raise UntranslatableAnswer("an event of the node's stream is too long")
            out += self._event(data)
        return bytes(out)

    def finish(self) -> bytes:
        if not self.is_whole:
            rest = self._cutter.rest()
            out = self._event(rest) if rest.strip() else b""
            return out + self._end()
        if self._error is not None:
            return self._error_answer(self._error)
        if self._size > MAX_WHOLE_ANSWER:
            raise UntranslatableAnswer("the node's answer is too long to translate")
        try:
            document = orjson.loads(b"".join(self._body))
        except orjson.JSONDecodeError as exc:
            raise UntranslatableAnswer("the node's answer is not JSON") from exc
        return self._whole(document)

    def _event(self, data: bytes) -> bytes:
        stream = self._stream
        if stream is None or self.failed is not None:
            return b""
        document = event_document(data)
        if document is None:  # a comment, a keep-alive
            return b""
        out = stream.end() if document is DONE else stream.feed(document)
        if stream.error is not None:
            self.failed = stream.error.message
        return out

    def _end(self) -> bytes:
        if self._stream is None or self.failed is not None:
            return b""
        return self._stream.end()

    def _error_answer(self, status: int) -> bytes:
        translating = self._translating
        body = b"".join(self._body)[:MAX_ERROR_ANSWER]
        try:
            document: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None  # not JSON: the status says what it is
        error = translating.node.decode_error(status, document)
        return translating.client.encode_error(error, translating.request_id)

    def _whole(self, document: Any) -> bytes:
        translating, stream = self._translating, self._stream
        client, node = translating.client, translating.node
        if stream is not None:  # a node that streamed a JSON array (or one answer) whole
            return stream.feed(document) + self._end()
        request = translating.request
        if isinstance(request, ChatRequest):
            response = node.decode_response(document, self._context)
            return client.encode_response(response)
        embedded = node.decode_embedding_response(document, request.model)
        if embedded.usage is None:  # the node counted nothing: the router's estimate
            usage = TokenUsage(prompt=translating.prompt_estimate)
            embedded = dataclasses.replace(embedded, usage=usage)
        return client.encode_embedding_response(embedded, request)


def translated_target(
    client: Codec, node: Codec, parsed: Parsed, request_id: str, prompt_estimate: int
) -> Target | None:
    """How a request of `client`'s dialect reaches a node of `node`'s by translation; None
    when that node's dialect has no such call (or either dialect no translation). Raises
    InvalidRequest (UnsupportedField) for a request that cannot be translated."""
    found = parsed.wire()
    if found is None or client.translation is None or node.translation is None:
        return None
    operation, wire = found
    if operation is Operation.COUNT or node.nodes.translated_path(operation, wire) is None:
        return None
    mapping = client.translation
    request: ChatRequest | EmbeddingRequest
    if operation is Operation.CHAT:
        request = mapping.decode_request(wire)
    else:
        request = mapping.decode_embedding_request(wire)
    translating = TranslatedRequest(
        client=mapping,
        node=node.translation,
        node_side=node.nodes,
        operation=operation,
        request=request,
        json_array=wire.json_array,
        request_id=request_id,
        prompt_estimate=prompt_estimate,
    )
    translating.encoded(None)  # what the node's dialect cannot say is refused now
    return Target(translating, client, node, translation=translating)


def count_answer(client: Codec, parsed: Parsed, prompt_estimate: int) -> bytes | None:
    """The router's own answer to a count of a prompt's tokens (its estimate), for a client
    dialect that has that call; None for any other request."""
    found = parsed.wire()
    if found is None or found[0] is not Operation.COUNT or client.translation is None:
        return None
    return client.translation.encode_token_count(prompt_estimate)
