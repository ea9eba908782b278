"""The OpenAI-compatible dialect: chat completions, completions, embeddings, responses.

    request   the endpoints table, reading a body, the request a node is sent
    ingress   the routes its clients call, their key (Authorization: Bearer)
    usage     usage as its answers report it, the usage-only chunk
    answers   reading an answer as it streams by (first token, continuation)
    replies   the router's own bytes to its clients (errors, keep-alive, [DONE])
    models    the model list and get
    nodes     what a node is sent (its key, a prefilled continuation)

`CODEC` is the one object the rest of the router sees (router.dialects.registry).
May import: router.errors and router.dialects' neutral modules (codec, names, sse, usage,
estimate, target); never another dialect's package or an engine.
"""

from __future__ import annotations

from router.dialects.codec import Codec
from router.dialects.names import DialectName
from router.dialects.openai.answers import OpenAIAnswers
from router.dialects.openai.ingress import OpenAIIngress
from router.dialects.openai.models import OpenAIModels
from router.dialects.openai.nodes import OpenAINodes
from router.dialects.openai.replies import OpenAIReplies
from router.dialects.openai.translate import OPENAI_MAPPING

CODEC = Codec(
    name=DialectName.OPENAI,
    ingress=OpenAIIngress(),
    answers=OpenAIAnswers(),
    replies=OpenAIReplies(),
    models=OpenAIModels(),
    nodes=OpenAINodes(),
    translation=OPENAI_MAPPING,
)
