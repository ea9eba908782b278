"""The seam between a dialect and the proxy: how one request reaches a node, and whose
bytes come back.

A `Target` pairs the request a node is sent (`NodeRequest`, built by the node's dialect)
with the two codecs of the exchange: the node's (how it is sent: its key, a prefilled
continuation) and the client's (the router's own bytes: errors, keep-alives). For a node
that speaks the client's dialect the two are the same codec and the answer is relayed as
it comes. For a node of another dialect the target carries a `translation`: the upstream
seam (router.upstream.translated) hands its answers, translated into the client's dialect,
to the proxy. Either way the proxy reads what comes back in the client's dialect
(`Target.answers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from router.dialects.codec import Answers, Codec, NodeRequest

_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # kept as they are; the rest ("%" too) is encoded


def encode_target(path: str, query: str = "") -> str:
    """A request target: `path` percent-encoded where needed, `query` (raw) appended."""
    return quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")


class AnswerTranslator(Protocol):
    """One node answer being translated into the client's dialect (router.dialects.translated)."""

    @property
    def content_type(self) -> str:
        """The client's answer's media type."""
        ...

    @property
    def is_whole(self) -> bool:
        """The client's answer is written whole, once the node's has ended (not a stream)."""
        ...

    @property
    def failed(self) -> str | None:
        """The node's own error in the middle of its stream (its message), once seen: the
        stream ends there, as when the node fails."""
        ...

    def feed(self, chunk: bytes) -> bytes:
        """The client's bytes a chunk of the node's answer implies now (UntranslatableAnswer
        for one that cannot be read)."""
        ...

    def finish(self) -> bytes:
        """The client's bytes left once the node's answer has ended."""
        ...


class AnswerTranslation(Protocol):
    """Makes one `AnswerTranslator` per node answer."""

    def answer(self, status: int, content_type: str, created: int) -> AnswerTranslator:
        """The translator of an answer with HTTP `status` and media type `content_type`
        (`created`: the Unix time it came, for an answer that does not say)."""
        ...


@dataclass(slots=True)  # one per request: not frozen, which would cost a setattr per field
class Target:
    """How one request goes to a node of one dialect, and how the exchange reads."""

    request: NodeRequest
    client: Codec  # the router's own bytes to the client are in its dialect
    node: Codec  # the node is sent its request (key, prefill) in its dialect
    translation: AnswerTranslation | None = None  # None: the node's answer is relayed

    @property
    def is_relayed(self) -> bool:
        """The node speaks the client's dialect: its answer goes to the client as it is."""
        return self.translation is None

    @property
    def answers(self) -> Answers:
        """What reads the answer the proxy gets: the client's dialect, relayed or
        translated into it at the upstream seam."""
        return self.client.answers
