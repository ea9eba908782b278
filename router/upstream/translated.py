"""A node's answer translated into the client's dialect, at the upstream seam.

How this works: for a node of another dialect than the client's
(router.dialects.translated), `TranslatedResponse` wraps the node's `UpstreamResponse` and
is one itself. Its status is the node's; its headers are the node's with the client's
media type, without the node's length and coding; each `read` returns the client's bytes
that the node's next bytes imply, reading on while they imply none yet (so an empty read
still means the end). A stream stays unbuffered: one node event, its client events at
once. The proxy above the seam sees the client's dialect only: the relay, the usage tap,
the first-token scan, keep-alives, the continuation and `fallbacks_on` (which reads the
node's own error body before the wrapping, router.upstream.request) need nothing of their
own for translation, and a relayed answer never passes through here.

A node that compressed its answer although asked for identity is inflated first. An
answer that cannot be translated fails the read as `not_an_answer`; the node's own error
event in the middle of its stream fails it as `midstream` (after the client bytes that
came before it): before the first byte both are failed over like any broken answer, after
it the client's stream ends with the error in its own dialect, or goes on at another
node.
"""

from __future__ import annotations

import time

from multidict import CIMultiDict, CIMultiDictProxy

from router.dialects.target import AnswerTranslation, AnswerTranslator
from router.dialects.usage_tap import Inflater
from router.errors import FailureReason, RouterError, UpstreamFailure
from router.upstream.headers import content_coding
from router.upstream.transport import UpstreamResponse

# The node's headers that describe its own bytes, not the client's.
_REPLACED = ("Content-Type", "Content-Length", "Content-Encoding")


class TranslatedResponse:
    """router.upstream.transport.UpstreamResponse: the node's answer in the client's dialect."""

    __slots__ = (
        "_done",
        "_failure",
        "_held",
        "_inflater",
        "_node",
        "_translator",
        "content_length",
        "headers",
    )

    def __init__(
        self, node: UpstreamResponse, translator: AnswerTranslator, held: bytes = b""
    ) -> None:
        """`held`: the node's first bytes, already read (an error body read for its code)."""
        self._node = node
        self._translator = translator
        coding = content_coding(node.headers)
        self._inflater = Inflater(coding) if coding is not None else None
        self._held = held
        self._done = False
        self._failure: UpstreamFailure | None = None
        self.content_length: int | None = None  # known once a whole answer is translated
        headers = CIMultiDict(node.headers)
        for name in _REPLACED:
            headers.popall(name, None)
        headers["Content-Type"] = translator.content_type
        self.headers = CIMultiDictProxy(headers)

    @property
    def status(self) -> int:
        return self._node.status

    @property
    def reason(self) -> str:
        return self._node.reason

    @property
    def content_type(self) -> str:
        return self._translator.content_type

    async def read(self) -> bytes:
        translator = self._translator
        while True:
            if self._failure is not None:
                raise self._failure
            if self._done:
                return b""
            chunk = self._held or await self._node.read()
            self._held = b""
            try:
                out = translator.feed(self._plain(chunk)) if chunk else self._finish()
            except RouterError as exc:  # UntranslatableAnswer: the node's, not the client's
                raise UpstreamFailure(FailureReason.NOT_AN_ANSWER, exc.message) from exc
            if translator.failed is not None:
                self._failure = UpstreamFailure(
                    FailureReason.MIDSTREAM, "an error event mid-answer", message=translator.failed
                )
            if out:
                return out

    def _plain(self, chunk: bytes) -> bytes:
        inflater = self._inflater
        if inflater is None:
            return chunk
        plain = b"".join(inflater.inflate(chunk))
        if not inflater.readable:
            raise UpstreamFailure(FailureReason.NOT_AN_ANSWER, "a compressed answer not read")
        return plain

    def _finish(self) -> bytes:
        self._done = True
        out = self._translator.finish()
        if self._translator.is_whole:
            self.content_length = len(out)
        return out

    def release(self) -> None:
        self._node.release()

    def close(self) -> None:
        self._node.close()


def translated(
    response: UpstreamResponse, translation: AnswerTranslation, held: bytes = b""
) -> TranslatedResponse:
    """`response` (a node's, its headers received) read in the client's dialect."""
    translator = translation.answer(response.status, response.content_type, int(time.time()))
    return TranslatedResponse(response, translator, held)
