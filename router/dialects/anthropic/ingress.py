"""Where Anthropic clients call the router, and the key they present.

`POST {prefix}/messages` and `POST {prefix}/messages/count_tokens` (the anthropic SDKs
and Claude Code call `/v1/messages`, the beta clients with `?beta=true`), and the model
list and get, `GET {prefix}/models[/{model}]`, under each of `server.prefixes`.

The key comes as `x-api-key` (the SDKs, Claude Code with ANTHROPIC_API_KEY) or as
`Authorization: Bearer` (Claude Code with ANTHROPIC_AUTH_TOKEN), which the OpenAI
dialect already reads on every request: both are the router's credentials, never
forwarded to a node, and two that differ are refused (router.dialects.registry).

`/v1/models` is also OpenAI's and Gemini's list: a request there is Anthropic's when it
carries `anthropic-version`, which both anthropic SDKs and Claude Code send on every
request and no other dialect's client does (a Gemini credential or client header is
checked first, by registry order).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from multidict import MultiMapping

from router.dialects.anthropic.request import COUNT_TOKENS_CALL, MESSAGES_CALL, AnthropicCall
from router.dialects.codec import Call, Entry, EntryKind

API_KEY_HEADER = "x-api-key"
VERSION_HEADER = "anthropic-version"
# Paths only Anthropic's clients call: an error there before a route claimed the request
# (a wrong method, `/v1/messages/batches`, which the router does not serve) is theirs.
_ERROR_PATH = re.compile(r"/v1/messages(?:/|$)")


def _fixed(call: AnthropicCall) -> Callable[[Mapping[str, str]], Call]:
    """An endpoint's paths carry no parameters: every request is the same call."""
    return lambda params: call


class AnthropicIngress:
    """router.dialects.codec.Ingress for Anthropic's Messages API."""

    __slots__ = ()
    default_prefixes: tuple[str, ...] = ("/v1",)
    credential_headers: frozenset[str] = frozenset({API_KEY_HEADER})
    credential_forms: tuple[str, ...] = (API_KEY_HEADER,)
    conversation_fields: tuple[str, ...] = ("system", "messages")

    def entries(self, prefixes: tuple[str, ...]) -> tuple[Entry, ...]:
        found: list[Entry] = []
        for prefix in prefixes:
            for call in (MESSAGES_CALL, COUNT_TOKENS_CALL):
                path = prefix + call.endpoint.value
                found.append(Entry("POST", path, EntryKind.PROXY, _fixed(call)))
            found.append(Entry("GET", f"{prefix}/models", EntryKind.MODEL_LIST))
            found.append(Entry("GET", f"{prefix}/models/{{model:.+}}", EntryKind.MODEL_GET))
        return tuple(found)

    def claims(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return VERSION_HEADER in headers

    def owns_path(self, path: str) -> bool:
        return _ERROR_PATH.search(path) is not None

    def credentials(self, headers: MultiMapping[str], raw_query: str, path: str) -> Iterator[str]:
        for value in headers.getall(API_KEY_HEADER, ()):
            key = value.strip()
            if key:
                yield key
