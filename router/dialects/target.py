"""The seam between a dialect and the proxy: how one request reaches a node, and whose
bytes come back.

A `Target` pairs the request a node is sent (`NodeRequest`, built by the node's dialect)
with the two codecs the proxy reads the exchange through: the node's (its answer: usage,
first token, transcript) and the client's (the router's own bytes: errors, keep-alives).
For a node that speaks the client's dialect the two are the same codec and the answer is
relayed as it comes; the translation step adds targets whose codecs differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from router.dialects.codec import Codec, NodeRequest

_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # kept as they are; the rest ("%" too) is encoded


def encode_target(path: str, query: str = "") -> str:
    """A request target: `path` percent-encoded where needed, `query` (raw) appended."""
    return quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")


@dataclass(slots=True)  # one per request: not frozen, which would cost a setattr per field
class Target:
    """How one request goes to a node of one dialect, and how the exchange reads."""

    request: NodeRequest
    client: Codec  # the router's own bytes to the client are in its dialect
    node: Codec  # the node's answer is in its dialect

    @property
    def is_relayed(self) -> bool:
        """The node speaks the client's dialect: its answer goes to the client as it is."""
        return self.client is self.node
