"""The neutral answer model: responses, token usage, stream events, errors, embeddings.

Stream events are what every dialect's stream decoder yields and every encoder takes.
A decoder guarantees, per choice: text and reasoning deltas in order; a tool call's
`ToolCallStart`, then its `ToolCallDelta`s, then its `ToolCallEnd` before the next
call starts or the choice finishes; `Finish` after its content; `StreamStart` first
and `StreamEnd` last. `UsageReport` may come at any point and repeats cumulatively
(the last one counts).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from router.dialects.chat import MediaPart, Message
from router.dialects.usage import Usage


class FinishReason(enum.StrEnum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    STOP_SEQUENCE = "stop_sequence"  # with the sequence, when the provider says which
    ERROR = "error"  # e.g. Gemini MALFORMED_FUNCTION_CALL
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one answer.

    `prompt` counts every prompt token, the cached ones and those written to a cache
    included (OpenAI's and Gemini's convention; Anthropic's `input_tokens` is the
    prompt less both). `completion` is text only and `reasoning` apart from it: the
    disjoint counts of `router.dialects.usage`."""

    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    cached_prompt: int = 0
    cache_creation: int = 0

    def as_usage(self) -> Usage:
        """The counts billing charges."""
        return Usage(prompt=self.prompt, completion=self.completion, reasoning=self.reasoning)


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    message: Message  # role ASSISTANT
    finish_reason: FinishReason | None = None
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    id: str
    model: str
    created: int  # seconds since the epoch
    choices: tuple[Choice, ...]
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """What an answer's decoder uses where the node's answer does not say: the id,
    model and creation time the router gives it (Gemini answers may lack all three)."""

    id: str
    model: str
    created: int


# ---- stream events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamStart:
    id: str
    model: str
    created: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    choice: int = 0
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning text, or (with empty text) a signature that closes a reasoning block."""

    text: str
    choice: int = 0
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class RedactedReasoning:
    data: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class MediaOutput:
    """A whole media part the model produced (Gemini image output)."""

    media: MediaPart
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int  # the call's position in its choice's message, from 0
    id: str
    name: str
    choice: int = 0
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a piece of the arguments' JSON text
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    index: int
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    choice: int = 0
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: TokenUsage


class ErrorKind(enum.StrEnum):
    """What went wrong, in words every dialect has a name for."""

    INVALID_REQUEST = "invalid_request"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    REQUEST_TOO_LARGE = "request_too_large"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"


# The kind an HTTP status means when the error body does not say better.
_KIND_OF_STATUS: dict[int, ErrorKind] = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTHENTICATION,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    413: ErrorKind.REQUEST_TOO_LARGE,
    429: ErrorKind.RATE_LIMIT,
    503: ErrorKind.OVERLOADED,
    529: ErrorKind.OVERLOADED,
    504: ErrorKind.TIMEOUT,
    408: ErrorKind.TIMEOUT,
}


def kind_of_status(status: int) -> ErrorKind:
    """The error kind an HTTP status means."""
    kind = _KIND_OF_STATUS.get(status)
    if kind is not None:
        return kind
    return ErrorKind.SERVER if status >= 500 or status < 400 else ErrorKind.INVALID_REQUEST


@dataclass(frozen=True, slots=True)
class ChatError:
    """An error answer: HTTP status, message, kind, and the provider's own code if any."""

    status: int
    message: str
    kind: ErrorKind
    code: str | None = None


@dataclass(frozen=True, slots=True)
class StreamError:
    error: ChatError


@dataclass(frozen=True, slots=True)
class StreamEnd:
    pass


ChatEvent = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | RedactedReasoning
    | MediaOutput
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Finish
    | UsageReport
    | StreamError
    | StreamEnd
)


# ---- embeddings ----------------------------------------------------------------------


class EmbeddingTask(enum.StrEnum):
    """Gemini's task types (OpenAI has none)."""

    RETRIEVAL_QUERY = "RETRIEVAL_QUERY"
    RETRIEVAL_DOCUMENT = "RETRIEVAL_DOCUMENT"
    SEMANTIC_SIMILARITY = "SEMANTIC_SIMILARITY"
    CLASSIFICATION = "CLASSIFICATION"
    CLUSTERING = "CLUSTERING"
    QUESTION_ANSWERING = "QUESTION_ANSWERING"
    FACT_VERIFICATION = "FACT_VERIFICATION"
    CODE_RETRIEVAL_QUERY = "CODE_RETRIEVAL_QUERY"


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """Texts to embed. `single`: the client asked for one vector, not a list (OpenAI
    `input` as a string, Gemini embedContent); `base64`: OpenAI encoding_format."""

    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    task: EmbeddingTask | None = None
    single: bool = False
    base64: bool = False


@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    model: str
    vectors: tuple[tuple[float, ...], ...]
    usage: TokenUsage | None = None
