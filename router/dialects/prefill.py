"""The request that continues an answer cut mid-stream on another node (see
router.dialects.continuation): the original request plus a last turn holding what was
said, built by the node's dialect (`NodeSide.prefill`)."""

from __future__ import annotations

from dataclasses import dataclass

from router.dialects.codec import NodeRequest, NodeSide


@dataclass(frozen=True, slots=True)
class ContinuedRequest:
    """The request that continues an answer: `base`'s, with the answer so far as its last
    turn (`prefill`), or `base`'s unchanged for a model that cannot take one."""

    base: NodeRequest
    nodes: NodeSide  # the node's dialect's
    content: str
    reasoning: str
    prefill: bool

    @property
    def strip_usage(self) -> bool:
        return self.base.strip_usage

    @property
    def continuable(self) -> bool:
        return self.base.continuable

    def path(self, base_path: str, model: str | None) -> str:
        return self.base.path(base_path, model)

    def body(self, model: str | None) -> bytes:
        body = self.base.body(model)
        if not self.prefill or not (self.content or self.reasoning):
            return body  # nothing said yet: the question as it was
        return self.nodes.prefill(body, self.content, self.reasoning)
