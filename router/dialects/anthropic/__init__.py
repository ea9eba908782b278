"""Anthropic's Messages API: `POST /v1/messages`, `count_tokens`, the model list.

    request    reading a call (path, then body), the request a node is sent
    ingress    the routes its clients call, their key (x-api-key), the `/v1/models` rule
    usage      usage as its answers report it (in two parts on a stream)
    answers    reading an answer as it streams by (first token, continuation)
    delivered  the output text an answer carries
    replies    the router's own bytes to its clients (errors, 529, ping, error event)
    models     the model list and get
    nodes      what a node is sent (x-api-key, anthropic-version, a prefilled answer)
    translate  the mapping to and from the neutral conversation (`ANTHROPIC_MAPPING`)

`CODEC` is the one object the rest of the router sees (router.dialects.registry).
May import: router.errors and router.dialects' neutral modules (codec, names, sse, usage,
estimate, target, chat, chat_answer, chat_wire); never another dialect's package or an
engine.
"""

from __future__ import annotations

from router.dialects.anthropic.answers import AnthropicAnswers
from router.dialects.anthropic.ingress import AnthropicIngress
from router.dialects.anthropic.models import AnthropicModels
from router.dialects.anthropic.nodes import AnthropicNodes
from router.dialects.anthropic.replies import AnthropicReplies
from router.dialects.anthropic.translate import ANTHROPIC_MAPPING
from router.dialects.codec import Codec
from router.dialects.names import DialectName

CODEC = Codec(
    name=DialectName.ANTHROPIC,
    ingress=AnthropicIngress(),
    answers=AnthropicAnswers(),
    replies=AnthropicReplies(),
    models=AnthropicModels(),
    nodes=AnthropicNodes(),
    translation=ANTHROPIC_MAPPING,
)
