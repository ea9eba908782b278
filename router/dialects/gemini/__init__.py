"""The Gemini-native dialect: `generateContent`, `streamGenerateContent`, `countTokens`.

    paths        where its paths live (roots, versions), `?key=` and error paths
    credentials  the client's key (x-goog-api-key, every spelling of ?key=)
    request      reading a call (path, then body), the request a node is sent
    ingress      the routes its clients call, the `/v1/models` rule
    answers      reading an answer as it streams by (usage, first token, continuation)
    replies      the router's own bytes to its clients (Google's error shape, keep-alive)
    models       models.list and models.get
    nodes        what a node is sent (its key as x-goog-api-key, a prefilled continuation)

`CODEC` is the one object the rest of the router sees (router.dialects.registry).
May import: router.errors and router.dialects' neutral modules (codec, names, sse, usage,
estimate, target); never another dialect's package or an engine.
"""

from __future__ import annotations

from router.dialects.codec import Codec
from router.dialects.gemini.answers import GeminiAnswers
from router.dialects.gemini.ingress import GeminiIngress
from router.dialects.gemini.models import GeminiModels
from router.dialects.gemini.nodes import GeminiNodes
from router.dialects.gemini.replies import GeminiReplies
from router.dialects.gemini.translate import GEMINI_MAPPING
from router.dialects.names import DialectName

CODEC = Codec(
    name=DialectName.GEMINI,
    ingress=GeminiIngress(),
    answers=GeminiAnswers(),
    replies=GeminiReplies(),
    models=GeminiModels(),
    nodes=GeminiNodes(),
    translation=GEMINI_MAPPING,
)
