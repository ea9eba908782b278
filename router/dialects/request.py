"""One proxied request as the router reads it, once, at the door (router.web.pipeline).

`ClientRequest` is what billing, routing and the proxy are handed instead of the web
framework's request: the client's dialect, its key, what its path and body say, its
token estimate and affinity key, and the headers a node may be sent. `target_for` says
how it reaches a node of given dialects: relayed as it is to a node that speaks the
client's dialect, translated (router.dialects.translated) for one that speaks another.

A node that speaks several dialects, none of them the client's, is sent the first of
them (in the registry's order) that has a translation: the dialect its key goes by
(registry.key_codec). A request is translated at most once per node dialect, when a plan
first considers such a node; one that cannot be translated (a field the node's dialect
cannot say) passes those nodes over, and is refused with that reason (`refusal`) when no
node at all can take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from multidict import CIMultiDictProxy

from router.dialects.codec import Call, Codec, Parsed
from router.dialects.estimate import TokenEstimate
from router.dialects.names import DialectName
from router.dialects.registry import translation_codec
from router.dialects.target import Target
from router.dialects.translated import count_answer, translated_target
from router.errors import RouterError


class Speaker(Protocol):
    """A node, as far as a request cares: the dialects it speaks."""

    @property
    def speaks(self) -> frozenset[DialectName]: ...


@dataclass(slots=True)
class ClientRequest:
    """A proxied request, read through its dialect's codec."""

    codec: Codec  # the client's dialect
    credential: str | None  # the key it presents, in any dialect's form
    headers: CIMultiDictProxy[str]  # as received; a node gets them filtered
    call: Call
    parsed: Parsed
    estimate: TokenEstimate
    inject_usage: bool  # the model asks streams for usage the client did not ask for
    affinity_key: str | None = None
    request_id: str = ""  # the trace id (a translated answer that has none takes it)
    refusal: RouterError | None = None  # why it could not be translated for some node
    _relayed: Target | None = field(default=None, repr=False)
    _translated: dict[DialectName, Target | None] | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        """The model the client asked for."""
        return self.parsed.model

    @property
    def is_stream(self) -> bool:
        return self.parsed.is_stream

    @property
    def is_free(self) -> bool:
        return self.call.is_free

    def target_for(self, speaks: frozenset[DialectName]) -> Target | None:
        """How this request reaches a node that speaks `speaks`; None when it cannot."""
        if self.codec.name not in speaks:
            return self._translated_for(speaks)
        target = self._relayed
        if target is None:
            request = self.parsed.node_request(inject_usage=self.inject_usage)
            target = self._relayed = Target(request, self.codec, self.codec)
        return target

    def reaches(self, speaks: frozenset[DialectName]) -> bool:
        """Whether a node that speaks `speaks` can take this request at all (as cheap as
        a set lookup for a node of the client's dialect, a dict lookup once a request was
        translated for its dialect: asked of every node a plan considers). Kept in step
        with `target_for`."""
        return self.codec.name in speaks or self._translated_for(speaks) is not None

    def serves(self, node: Speaker) -> bool:
        """Whether `node` can take this request at all."""
        return self.reaches(node.speaks)

    def local_answer(self) -> bytes | None:
        """The answer the router gives itself when no node can take the request: a count
        of the prompt's tokens (its estimate; free), for a dialect that has that call."""
        return count_answer(self.codec, self.parsed, self.estimate.prompt)

    def _translated_for(self, speaks: frozenset[DialectName]) -> Target | None:
        node = translation_codec(speaks)
        if node is None or self.codec.translation is None:
            return None
        cache = self._translated
        if cache is None:
            cache = self._translated = {}
        elif node.name in cache:
            return cache[node.name]
        try:
            target = translated_target(
                self.codec, node, self.parsed, self.request_id, self.estimate.prompt
            )
        except RouterError as refused:  # the client's: a 400 when no node can take it
            self.refusal, target = refused, None
        cache[node.name] = target
        return target
