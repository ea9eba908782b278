"""The one interface of a dialect: everything the router knows of one wire format.

A dialect (OpenAI-compatible, Gemini-native, ...) is one package under router/dialects/
that builds one `Codec`, and one line of router.dialects.registry. The rest of the router
(the engines beside this module, the upstream client, the proxy, the web layer) reaches a
wire format only through a codec's parts, never by asking which dialect it is:

    ingress      client -> router: the routes its clients call, which requests on a path
                 several dialects share are its, the client's credentials, reading a
                 request (path, then body) into a `Call` and a `Parsed`
    answers      node -> router: reading a node's answer as it streams by (usage and the
                 cheap byte mark that spares parsing, the first token, the continuation's
                 transcript and its rewriting, framing a rewritten event, the output text
                 a client received, for a charge without usage)
    replies      router -> client: the bytes the router itself writes (error bodies and
                 their status, the mid-stream error event, keep-alives, the end of a
                 stream, a request-id header of its own)
    models       the model list and get
    nodes        router -> node: how a node's api_key is sent and the headers it always
                 gets, the body that continues a cut answer (prefill), which health paths
                 would call a model
    translation  to and from the neutral conversation (router.dialects.chat), for a node
                 that speaks another dialect: the package's `translate` mapping (a
                 router.dialects.translation.ChatMapping); None for a dialect that relays
                 only

Facets are Protocols, each implemented once per dialect by one module of its package.
Pure: nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from multidict import MultiMapping

from router.dialects.names import DialectName
from router.dialects.usage import Usage
from router.errors import RouterError

if TYPE_CHECKING:  # the IR's types, for the signatures that name them
    from router.dialects.chat import WireRequest
    from router.dialects.translation import ChatMapping


class NodeRequest(Protocol):
    """The request one node is sent: the URL and body for a chosen backend."""

    @property
    def strip_usage(self) -> bool:
        """Whether the router asked for stream usage the client did not (drop that chunk)."""
        ...

    @property
    def continuable(self) -> bool:
        """Whether a stream cut mid-answer may go on at another node: a chat answer,
        not a raw endpoint."""
        ...

    def path(self, base_path: str, model: str | None) -> str:
        """The request target on a node whose URL has path `base_path` ("" for none);
        `model` is the name to ask for (None: the client's)."""
        ...

    def body(self, model: str | None) -> bytes:
        """What to send; only `model` (and injected stream usage) may differ from the client's."""
        ...


class Operation(StrEnum):
    """What a proxied request asks, in words every dialect's translation shares."""

    CHAT = "chat"  # a conversation's next turn
    EMBED = "embed"  # texts to vectors
    COUNT = "count"  # a prompt's tokens counted (nothing generated)


class EntryKind(StrEnum):
    """What a route of a dialect's ingress does."""

    PROXY = "proxy"  # a request forwarded to a node
    MODEL_LIST = "model_list"
    MODEL_GET = "model_get"  # `{model}` in the path


@dataclass(frozen=True, slots=True)
class Entry:
    """One route a dialect's clients call: method, aiohttp path pattern, what it does.

    A PROXY entry reads its path's parameters with `call` (NotFound or InvalidRequest for
    ones that name nothing it serves)."""

    method: str
    path: str
    kind: EntryKind
    call: Callable[[Mapping[str, str]], Call] | None = None


class Call(Protocol):
    """A proxied request as its path describes it, before its body is read."""

    @property
    def model(self) -> str | None:
        """The model the path names (None: the body names it)."""
        ...

    @property
    def is_free(self) -> bool:
        """Authorised, but never counted, reserved or charged (Gemini's countTokens)."""
        ...

    def read(self, raw: bytes, raw_query: str) -> Parsed:
        """The request with its body; InvalidRequest for a body the router cannot use."""
        ...


class Parsed(Protocol):
    """A proxied request, path and body read and checked."""

    @property
    def model(self) -> str:
        """The model the client asked for."""
        ...

    @property
    def document(self) -> Mapping[str, Any] | None:
        """The JSON body, when it is an object."""
        ...

    @property
    def is_stream(self) -> bool:
        """Whether the client asked for a streamed answer."""
        ...

    @property
    def output_cap(self) -> int | None:
        """The output tokens the client allowed (None: it set no cap)."""
        ...

    def node_request(self, *, inject_usage: bool) -> NodeRequest:
        """The request for a node that speaks this dialect (`inject_usage`: the model asks
        streams for usage the client did not ask for)."""
        ...

    def wire(self) -> tuple[Operation, WireRequest] | None:
        """The request as translation reads it: what it asks, and its body with what its
        path says; None for an endpoint translation does not cover."""
        ...


class Ingress(Protocol):
    """Client -> router: where a dialect's clients call and what they present."""

    default_prefixes: tuple[str, ...]  # its part of `server.prefixes`' default
    credential_headers: frozenset[str]  # lower-case names: client credentials, never forwarded
    credential_forms: tuple[str, ...]  # how the key may come, as a message names them
    conversation_fields: tuple[str, ...]  # the body fields a conversation's turns are in

    def entries(self, prefixes: tuple[str, ...]) -> tuple[Entry, ...]:
        """Every route, under `prefixes` (`server.prefixes`) as the dialect mounts them."""
        ...

    def claims(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """On a path several dialects share (`/v1/models`): whether the request is this
        dialect's client's."""
        ...

    def owns_path(self, path: str) -> bool:
        """Whether an error on `path`, before any route claimed the request (no such
        path, a wrong method), is rendered in this dialect."""
        ...

    def credentials(self, headers: MultiMapping[str], raw_query: str, path: str) -> Iterable[str]:
        """Every key the request presents in this dialect's forms (headers are
        case-insensitive; `raw_query` as received)."""
        ...


class Transcribing(Protocol):
    """What an answer's events tell the continuation (router.dialects.continuation)."""

    rewriting: bool  # the events continue another node's answer: rewrite them into it
    continuable: bool  # cleared by a tool call, a second choice: nothing to hand over
    finished: bool  # set by a finish reason
    notes: dict[str, Any]  # the dialect's own memory of the stream (numbered blocks...)

    def said(self, text: object, reasoning: bool) -> str:
        """Record `text` as sent (content or reasoning); what is left of it to send."""
        ...


class Answers(Protocol):
    """Node -> router: a node's answer (JSON, or SSE events) read as it goes by."""

    usage_mark: re.Pattern[bytes]  # found in every event that reports usage (cheap skip)
    identity_fields: tuple[str, ...]  # a stream's id, model...: the continuation keeps them
    passed_headers: frozenset[str]  # its own answer headers a client may see (lower case)
    passed_prefixes: tuple[str, ...]  # ... and its families of them, by prefix

    def usage(self, document: Any) -> Usage | None:
        """The usage one answer or event reports, or None."""
        ...

    def later_usage(self, earlier: Usage, report: Usage) -> Usage:
        """A stream's usage after one more report (`earlier`: what the reports before it
        said). A dialect that reports the whole usage each time takes the report; one
        that reports it in parts (Anthropic: the input first, the output last) adds it up."""
        ...

    def is_usage_only(self, event: bytes) -> bool:
        """An SSE event carrying usage and nothing a client could use."""
        ...

    def has_content(self, document: Any) -> bool:
        """Whether one event carries the first token (anything not recognised does)."""
        ...

    def output_chars(self, document: Mapping[str, Any]) -> tuple[int, int]:
        """Characters of output text one answer or event carries: (content, reasoning)."""
        ...

    def has_finish_reason(self, document: Any) -> bool:
        """Whether one event ends its answer's text (only usage and the end follow it)."""
        ...

    def transcribe(self, document: dict[str, Any], into: Transcribing) -> None:
        """Read what one event says into `into`, rewriting it when `into.rewriting`."""
        ...

    def add_usage(self, document: dict[str, Any], earlier: Usage) -> None:
        """Add `earlier` to the usage the event reports (a continued answer's total)."""
        ...

    def is_content_free(self, document: Any) -> bool:
        """A rewritten continuation event left with nothing to tell the client."""
        ...

    def frame(self, document: Any) -> bytes:
        """A rewritten event, framed as the dialect frames its own."""
        ...


class Replies(Protocol):
    """Router -> client: the bytes the router itself writes to this dialect's clients."""

    keepalive: bytes  # written to an SSE stream that has been silent too long
    stream_end: bytes  # ends a finished stream whose node left its own end out
    request_id_header: str | None  # a header of its own that carries the trace id

    def error_body(self, error: RouterError, trace_id: str) -> bytes:
        """The JSON body of an error response."""
        ...

    def error_status(self, error: RouterError) -> int:
        """The HTTP status of an error response (the error's own, unless the dialect
        has another for it: Anthropic's 529 for overloaded)."""
        ...

    def stream_error_event(self, error: RouterError, trace_id: str) -> bytes:
        """What ends a stream whose node failed after the first byte."""
        ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What routes.yaml says of one served model, for the model endpoints."""

    name: str
    input_tokens: int | None = None
    output_tokens: int | None = None


class Catalog(Protocol):
    """One config's model answers in one dialect, built once per loaded config."""

    def page(self, query: Mapping[str, str]) -> bytes:
        """The model list (one page of it, for a dialect that pages)."""
        ...

    def get(self, name: str, resolve: Callable[[str], ModelInfo | None]) -> bytes | None:
        """One model, by the name the client asked for; None when nothing serves it."""
        ...


class Models(Protocol):
    """The model endpoints' answers."""

    def catalog(self, listed: Sequence[ModelInfo], created: int) -> Catalog:
        """The catalog of the models a config lists (names and aliases)."""
        ...


class NodeSide(Protocol):
    """Router -> node: what a node of this dialect is sent."""

    key_check_path: str  # a GET that checks the node's key (its model list), for probes
    headers: tuple[tuple[str, str], ...]  # sent on every request unless the client sent its own

    def credential(self, api_key: str) -> tuple[str, str]:
        """The header that carries a node's api_key."""
        ...

    def prefill(self, body: bytes, content: str, reasoning: str) -> bytes:
        """`body` continuing an answer cut mid-stream: the answer so far as its last turn."""
        ...

    def model_calling_path(self, path: str) -> str | None:
        """Why a health probe at node path `path` would call a model (None: it would not)."""
        ...

    def translated_path(self, operation: Operation, wire: WireRequest) -> tuple[str, str] | None:
        """Where a node of this dialect is sent a request translated into it: its path
        (below the node's URL) and raw query; None when the dialect has no such operation.
        InvalidRequest for a model name that cannot go into a path."""
        ...


@dataclass(frozen=True, slots=True)
class Codec:
    """One dialect: its name and its facets (see the module docstring)."""

    name: DialectName
    ingress: Ingress
    answers: Answers
    replies: Replies
    models: Models
    nodes: NodeSide
    # The dialect's mapping to and from the neutral conversation (None: it relays only).
    translation: ChatMapping | None = None
