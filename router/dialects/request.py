"""One proxied request as the router reads it, once, at the door (router.web.pipeline).

`ClientRequest` is what billing, routing and the proxy are handed instead of the web
framework's request: the client's dialect, its key, what its path and body say, its
token estimate and affinity key, and the headers a node may be sent. `target_for` says
how it reaches a node of given dialects: relayed as it is to a node that speaks the
client's dialect; the translation step adds the way to a node that speaks another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from multidict import CIMultiDictProxy

from router.dialects.codec import Call, Codec, Parsed
from router.dialects.estimate import TokenEstimate
from router.dialects.names import DialectName
from router.dialects.target import Target


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
    _relayed: Target | None = field(default=None, repr=False)

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
            return None  # the translation step: a translated target, when one exists
        target = self._relayed
        if target is None:
            request = self.parsed.node_request(inject_usage=self.inject_usage)
            target = self._relayed = Target(request, self.codec, self.codec)
        return target

    def reaches(self, speaks: frozenset[DialectName]) -> bool:
        """Whether a node that speaks `speaks` can take this request at all (as cheap as
        a set lookup: asked of every node a plan considers). Kept in step with
        `target_for`."""
        return self.codec.name in speaks

    def serves(self, node: Speaker) -> bool:
        """Whether `node` can take this request at all."""
        return self.codec.name in node.speaks
