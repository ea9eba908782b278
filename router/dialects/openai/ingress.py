"""Where OpenAI clients call the router, and the key they present.

`POST {prefix}/{endpoint}` for every endpoint of router.dialects.openai.request and
`GET {prefix}/models[/{model}]`, under each of `server.prefixes`. The key comes as
`Authorization: Bearer <key>` (or a bare `<key>`, as some clients send it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from multidict import MultiMapping

from router.dialects.codec import Call, Entry, EntryKind
from router.dialects.openai.request import OPENAI_ENDPOINTS, OpenAICall

AUTHORIZATION = "Authorization"


def _bearer(value: str) -> str | None:
    """The key in one Authorization value (`Bearer <key>` or a bare `<key>`), else None."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    if not rest:
        return scheme or None
    return None  # another scheme (Basic ...) is not ours


def _fixed(call: OpenAICall) -> Callable[[Mapping[str, str]], Call]:
    """An endpoint's paths carry no parameters: every request is the same call."""
    return lambda params: call


class OpenAIIngress:
    """router.dialects.codec.Ingress for the OpenAI-compatible API."""

    __slots__ = ()
    # The mount points clients of OpenAI-compatible gateways expect.
    default_prefixes: tuple[str, ...] = ("/v1", "/api/v1")
    credential_headers: frozenset[str] = frozenset({AUTHORIZATION.lower()})
    credential_forms: tuple[str, ...] = (AUTHORIZATION,)
    conversation_fields: tuple[str, ...] = ("messages",)

    def entries(self, prefixes: tuple[str, ...]) -> tuple[Entry, ...]:
        found = [
            Entry("POST", prefix + endpoint.suffix, EntryKind.PROXY, _fixed(OpenAICall(endpoint)))
            for endpoint in OPENAI_ENDPOINTS
            for prefix in prefixes
        ]
        for prefix in prefixes:
            found.append(Entry("GET", f"{prefix}/models", EntryKind.MODEL_LIST))
            found.append(Entry("GET", f"{prefix}/models/{{model:.+}}", EntryKind.MODEL_GET))
        return tuple(found)

    def claims(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        # The default on a shared path: its clients send nothing another dialect's don't.
        return False

    def owns_path(self, path: str) -> bool:
        return False  # the router's own shape is this dialect's: the registry's default

    def credentials(self, headers: MultiMapping[str], raw_query: str, path: str) -> Iterator[str]:
        for value in headers.getall(AUTHORIZATION, ()):
            key = _bearer(value)
            if key:
                yield key
