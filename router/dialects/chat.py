"""The neutral conversation model (IR) every dialect's translation maps to and from.

A dialect's translation module reads its wire format into these types and writes them
back; the translation driver never looks at a wire format. The model is a superset of
what OpenAI Chat Completions, Gemini generateContent and Anthropic Messages can say, so
a new dialect adds a mapping module, and at most new optional fields here.

Rules every mapping keeps (the "normal form" the round-trip tests compare):

* Messages keep the order of the conversation. System text is a `SYSTEM` message; a
  dialect that has one system slot (Gemini, Anthropic) hoists every system message there.
* A tool result is a `ToolResultPart` in a `TOOL` message; a dialect that sends tool
  results as user turns (Gemini, Anthropic) maps the role on the way in and out.
* Tool-call arguments are JSON text, as OpenAI sends them; a dialect whose calls carry
  an object (Gemini, Anthropic) serialises it compactly.
* Opaque provider data (thought signatures, redacted reasoning) is carried untouched and
  written back only to the dialect that can take it.

Answers, usage, stream events, errors and embeddings are in `chat_answer`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonObject = Mapping[str, Any]  # a parsed JSON object; never mutated once in the IR


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    signature: str | None = None  # Gemini may sign a text part (thoughtSignature)


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    """The model's thinking (Gemini `thought: true`, OpenAI `reasoning_content`)."""

    text: str
    signature: str | None = None  # Anthropic's thinking signature, Gemini's thoughtSignature


@dataclass(frozen=True, slots=True)
class RedactedReasoningPart:
    """Reasoning the provider returned encrypted (Anthropic `redacted_thinking`)."""

    data: str


@dataclass(frozen=True, slots=True)
class MediaPart:
    """An image, audio clip, video or document: inline base64 `data` or a `url`."""

    kind: MediaKind
    mime_type: str | None = None
    data: str | None = None  # base64, without a `data:` prefix
    url: str | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("a MediaPart has exactly one of data and url")


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A call the assistant made: `arguments` is JSON text (an object, when valid)."""

    id: str
    name: str
    arguments: str
    signature: str | None = None  # Gemini's thoughtSignature on the functionCall part


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """What a tool answered; `name` when the dialect says it or the call is found."""

    call_id: str
    content: tuple[TextPart | MediaPart, ...]
    name: str | None = None
    is_error: bool = False

    @property
    def text(self) -> str:
        """The result's text parts joined (media aside)."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


Part = TextPart | ReasoningPart | RedactedReasoningPart | MediaPart | ToolCallPart | ToolResultPart


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """The message's text parts joined."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call; `parameters` is a JSON schema (an object)."""

    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None  # OpenAI structured tool arguments


class ToolChoiceMode(enum.StrEnum):
    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"  # OpenAI `required`, Gemini `ANY`, Anthropic `any`/`tool`


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """How the model may use tools; `names` narrows the callable ones (empty: all).

    A named tool is `REQUIRED` with one name. `parallel` False forbids several calls in
    one turn; None leaves the provider's default (allowed)."""

    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    names: tuple[str, ...] = ()
    parallel: bool | None = None


class ResponseFormatKind(enum.StrEnum):
    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    kind: ResponseFormatKind
    name: str | None = None
    schema: JsonObject | None = None
    strict: bool | None = None
    description: str | None = None


class ReasoningEffort(enum.StrEnum):
    NONE = "none"
    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Thinking settings: an effort, or a token budget, and whether thoughts are shown.

    All None means the provider's default."""

    effort: ReasoningEffort | None = None
    budget_tokens: int | None = None
    include_thoughts: bool | None = None

    @property
    def is_default(self) -> bool:
        return self.effort is None and self.budget_tokens is None and self.include_thoughts is None


@dataclass(frozen=True, slots=True)
class Generation:
    """Sampling and output settings; None (or empty) is the provider's default."""

    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    candidates: int | None = None  # OpenAI `n`, Gemini `candidateCount`
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat request in any dialect."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    generation: Generation = field(default_factory=Generation)
    reasoning: Reasoning = field(default_factory=Reasoning)
    user: str | None = None  # an end-user id (OpenAI `user`, Anthropic `metadata.user_id`)
    metadata: JsonObject | None = None
    stream: bool = False
    stream_usage: bool = False  # the client wants usage in the stream (OpenAI include_usage)


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A request as one dialect carries it: the JSON body and what its path says.

    OpenAI says everything in the body; Gemini names the model and streaming in the
    path (`models/{model}:streamGenerateContent?alt=sse`), and streams a JSON array
    without `alt=sse`. `batch` marks Gemini's batchEmbedContents."""

    body: JsonObject
    model: str
    stream: bool = False
    json_array: bool = False
    batch: bool = False


def with_result_names(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """The conversation with each tool result named after the call it answers, where a
    call earlier in the conversation has its id (OpenAI's tool messages name no tool)."""
    names: dict[str, str] = {}
    out = []
    for message in messages:
        parts = []
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                names[part.id] = part.name
            elif isinstance(part, ToolResultPart) and part.name is None and part.call_id in names:
                part = ToolResultPart(
                    part.call_id, part.content, names[part.call_id], part.is_error
                )
            parts.append(part)
        out.append(Message(message.role, tuple(parts)))
    return tuple(out)
