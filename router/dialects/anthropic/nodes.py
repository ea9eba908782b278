"""What an Anthropic node is sent: its key as `x-api-key`, Anthropic's version header,
a prefilled answer.

Anthropic's API takes an API key in `x-api-key` (a Bearer token there is an OAuth
token) and wants `anthropic-version` on every request: a client's own goes on as it
came, and a request that carries none (a probe, a translated request) gets
`API_VERSION`.

A continuation (router.dialects.continuation) asks the next node for the answer so far
as a last assistant turn, with `max_tokens` lowered by what was already produced.
Anthropic takes a prefilled turn only without trailing whitespace, and, while thinking
is on, only one that starts with the signed thinking blocks of the answer: the thinking
is done by then, so the continued request goes without `thinking` and the prefill holds
the text alone (none at all when the answer was cut while still thinking).

A request translated from another dialect goes to `/v1/messages` (`translated_path`),
with the same key and version headers as a relayed one.
"""

from __future__ import annotations

import orjson

from router.dialects.anthropic.ingress import API_KEY_HEADER, VERSION_HEADER
from router.dialects.anthropic.request import Endpoint
from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.estimate import lower_caps, output_tokens, text_size

API_VERSION = "2023-06-01"  # the one version of the Messages API
# count_tokens is free at Anthropic, as countTokens is at Google: no paid call.
_CALLS_MODEL = {Endpoint.MESSAGES.node_path: "a probe here is a real completion"}


def prefilled(body: bytes, content: str, reasoning: str) -> bytes:
    """`body` with the answer so far as its last (assistant) turn, its cap lowered."""
    document = orjson.loads(body)
    document.pop("thinking", None)
    lower_caps(document, ("max_tokens",), output_tokens(text_size(content) + text_size(reasoning)))
    text = content.rstrip()
    if text:
        turn = {"role": "assistant", "content": [{"type": "text", "text": text}]}
        document["messages"] = [*document["messages"], turn]
    return orjson.dumps(document)


class AnthropicNodes:
    """router.dialects.codec.NodeSide for Anthropic nodes."""

    __slots__ = ()
    key_check_path = "/v1/models"
    headers: tuple[tuple[str, str], ...] = ((VERSION_HEADER, API_VERSION),)

    def credential(self, api_key: str) -> tuple[str, str]:
        return API_KEY_HEADER, api_key

    def prefill(self, body: bytes, content: str, reasoning: str) -> bytes:
        return prefilled(body, content, reasoning)

    def model_calling_path(self, path: str) -> str | None:
        return _CALLS_MODEL.get(path)

    def translated_path(self, operation: Operation, wire: WireRequest) -> tuple[str, str] | None:
        # A count is never sent on (the router answers its estimate): chat only.
        if operation is Operation.CHAT:
            return Endpoint.MESSAGES.node_path, ""
        return None
