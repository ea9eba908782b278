"""What the translation tests share: the IR's normal form ("meaning"), hypothesis
strategies of valid IR requests and answers, and readers of each dialect's stream bytes.

Meaning. Two requests mean the same when their normal forms are equal. The normal form
forgets what the mapping documents as not carried or as equivalent:
  * system text is one leading message (Gemini has one system slot);
  * adjacent messages of one role are one message, adjacent text (and reasoning) parts
    are one part, empty parts and messages are dropped, and an assistant message lists
    reasoning, then text and media, then tool calls;
  * tool-call ids are renamed `id0, id1, ...` in order of first appearance (an id only
    pairs a call with its result; Gemini numbers calls itself);
  * text and reasoning signatures are dropped (OpenAI has no place for them);
  * tool-result text that is a JSON object is compared as JSON, and `{"content": s}` as s;
  * JSON schemas are compared after Gemini's subset (`gemini/schema.to_gemini`);
  * a thinking budget is compared as the effort it rounds to, minimal as low, xhigh as
    high;
  * a text response format is no format; a JSON schema's name, strictness and
    description are dropped; media without a MIME type has its kind's default; file
    names are dropped; `user`, `metadata` and `stream_usage` are dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from hypothesis import strategies as st

from router.dialects.chat import (
    ChatRequest,
    Generation,
    MediaKind,
    MediaPart,
    Message,
    Part,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormat,
    ResponseFormatKind,
    Role,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
)
from router.dialects.chat_wire import DEFAULT_MIME, parse_json_object
from router.dialects.gemini.schema import to_gemini, to_json_schema
from router.dialects.openai.translate_request import effort_of_budget

_BUCKET = {
    ReasoningEffort.MINIMAL: ReasoningEffort.LOW,
    ReasoningEffort.XHIGH: ReasoningEffort.HIGH,
}
_ORDER = {ReasoningPart: 0, TextPart: 1, MediaPart: 1, ToolCallPart: 2}


def normal(request: ChatRequest) -> ChatRequest:
    """The request's meaning (see the module docstring)."""
    ids: dict[str, str] = {}
    system = "".join(m.text for m in request.messages if m.role is Role.SYSTEM)
    messages: list[Message] = [Message(Role.SYSTEM, (TextPart(system),))] if system else []
    for message in request.messages:
        if message.role is Role.SYSTEM:
            continue
        parts = [p for p in (_part(p, ids) for p in message.parts) if p is not None]
        if messages and messages[-1].role is message.role:
            parts = [*messages.pop().parts, *parts]
        if message.role is Role.ASSISTANT:
            parts.sort(key=lambda p: _ORDER.get(type(p), 1))
        parts = _merge_text(parts)
        if parts:
            messages.append(Message(message.role, tuple(parts)))
    tools, choice = request.tools, request.tool_choice
    if choice is not None and choice.mode is ToolChoiceMode.AUTO and choice.names:
        tools = tuple(t for t in tools if t.name in choice.names)
        choice = ToolChoice(ToolChoiceMode.AUTO, (), choice.parallel)
    return dataclasses.replace(
        request,
        messages=tuple(messages),
        tools=tuple(_tool(t) for t in tools),
        tool_choice=choice,
        generation=_generation(request.generation),
        reasoning=_reasoning(request.reasoning),
        user=None,
        metadata=None,
        stream_usage=False,
    )


def _part(part: Part, ids: dict[str, str]) -> Part | None:
    if isinstance(part, TextPart):
        return TextPart(part.text) if part.text else None
    if isinstance(part, ReasoningPart):
        return ReasoningPart(part.text) if part.text else None
    if isinstance(part, MediaPart):
        mime = part.mime_type or DEFAULT_MIME[part.kind]
        return MediaPart(part.kind, mime, part.data, part.url)
    if isinstance(part, ToolCallPart):
        ident = ids.setdefault(part.id, f"id{len(ids)}")
        args = parse_json_object(part.arguments)
        return ToolCallPart(
            ident, part.name, orjson.dumps(args).decode() if args is not None else part.arguments
        )
    if isinstance(part, ToolResultPart):
        ident = ids.setdefault(part.call_id, f"id{len(ids)}")
        return ToolResultPart(ident, (TextPart(_result_text(part.text)),), part.name, part.is_error)
    return None


def _result_text(text: str) -> str:
    parsed = parse_json_object(text)
    if parsed is None:
        return text
    if len(parsed) == 1 and isinstance(parsed.get("content"), str):
        return str(parsed["content"])
    return orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS).decode()


def _merge_text(parts: list[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        last = out[-1] if out else None
        if isinstance(part, TextPart) and isinstance(last, TextPart):
            out[-1] = TextPart(last.text + part.text)
        elif isinstance(part, ReasoningPart) and isinstance(last, ReasoningPart):
            out[-1] = ReasoningPart(last.text + part.text)
        else:
            out.append(part)
    return out


def _schema(schema: Any) -> Any:
    return to_json_schema(to_gemini(schema)) if schema is not None else None


def _tool(tool: Tool) -> Tool:
    parameters = _schema(tool.parameters)
    if parameters == {"type": "object"}:
        parameters = None
    return Tool(tool.name, tool.description, parameters)


def _generation(gen: Generation) -> Generation:
    spec = gen.response_format
    if spec is not None and spec.kind is ResponseFormatKind.TEXT:
        spec = None
    elif spec is not None:
        spec = ResponseFormat(spec.kind, schema=_schema(spec.schema))
        if spec.kind is ResponseFormatKind.JSON_SCHEMA and spec.schema is None:
            spec = ResponseFormat(ResponseFormatKind.JSON_OBJECT)
    return dataclasses.replace(gen, response_format=spec)


def _reasoning(reasoning: Reasoning) -> Reasoning:
    effort = reasoning.effort
    if reasoning.budget_tokens is not None:
        effort = effort_of_budget(reasoning.budget_tokens)
    effort = _BUCKET.get(effort, effort) if effort is not None else None
    return Reasoning(effort=effort, include_thoughts=reasoning.include_thoughts)


# ---- strategies ----------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
NAMES = st.sampled_from(["get_weather", "lookup", "add"])
B64 = st.sampled_from(["iVBORw0KGgo=", "AAAA", "UklGRg=="])
SCHEMAS = st.sampled_from(
    [
        None,
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        {
            "type": "object",
            "properties": {"n": {"type": ["integer", "null"]}},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/P"}},
            "$defs": {"P": {"type": "string", "enum": ["a", "b"]}},
        },
    ]
)
ARGS = st.dictionaries(st.sampled_from(["city", "n", "x"]), st.integers(-5, 5) | TEXT, max_size=2)


@st.composite
def media(draw: st.DrawFn) -> MediaPart:
    kind = draw(
        st.sampled_from([MediaKind.IMAGE, MediaKind.AUDIO, MediaKind.VIDEO, MediaKind.DOCUMENT])
    )
    mime = {
        MediaKind.IMAGE: "image/png",
        MediaKind.AUDIO: draw(st.sampled_from(["audio/wav", "audio/mp3", "audio/ogg"])),
        MediaKind.VIDEO: "video/mp4",
        MediaKind.DOCUMENT: "application/pdf",
    }[kind]
    if draw(st.booleans()):
        return MediaPart(kind, mime, data=draw(B64))
    ext = {"image/png": "png", "video/mp4": "mp4", "application/pdf": "pdf"}.get(mime)
    if kind is MediaKind.AUDIO or ext is None:
        return MediaPart(kind, mime, data=draw(B64))
    if kind is MediaKind.IMAGE and draw(st.booleans()):  # no extension: the kind's default
        return MediaPart(kind, None, url=f"https://files.example/img{draw(st.integers(0, 9))}")
    return MediaPart(kind, mime, url=f"https://files.example/{draw(st.integers(0, 99))}.{ext}")


@st.composite
def conversations(draw: st.DrawFn) -> tuple[Message, ...]:
    messages: list[Message] = []
    if draw(st.booleans()):
        messages.append(Message(Role.SYSTEM, (TextPart(draw(TEXT) or "sys"),)))
    calls = 0
    for _ in range(draw(st.integers(1, 4))):
        user_parts: list[Part] = [TextPart(draw(TEXT) or "q")]
        user_parts += draw(st.lists(media(), max_size=2))
        messages.append(Message(Role.USER, tuple(user_parts)))
        if not draw(st.booleans()):
            continue
        assistant: list[Part] = []
        if draw(st.booleans()):
            assistant.append(ReasoningPart(draw(TEXT) or "think"))
        if draw(st.booleans()):
            assistant.append(TextPart(draw(TEXT) or "a"))
        made = []
        for _ in range(draw(st.integers(0, 2))):
            name = draw(NAMES)
            sig = draw(st.none() | st.sampled_from(["c2lnMQ==", "c2lnMg=="]))
            call = ToolCallPart(f"call_x{calls}", name, orjson.dumps(draw(ARGS)).decode(), sig)
            calls += 1
            made.append(call)
        assistant += made
        if assistant:
            messages.append(Message(Role.ASSISTANT, tuple(assistant)))
        if made:
            results = tuple(
                ToolResultPart(c.id, (TextPart(draw(TEXT | st.just('{"temp": 21}'))),), c.name)
                for c in made
            )
            messages.append(Message(Role.TOOL, results))
    return tuple(messages)


@st.composite
def requests(draw: st.DrawFn, model: str = "gemini-2.5-flash") -> ChatRequest:
    tools = tuple(
        Tool(name, draw(st.none() | TEXT), draw(SCHEMAS))
        for name in draw(st.sets(NAMES, max_size=3))
    )
    choice = None
    if len(tools) > 0 and draw(st.booleans()):
        mode = draw(st.sampled_from(list(ToolChoiceMode)))
        names = (
            (draw(st.sampled_from([t.name for t in tools])),)
            if mode is ToolChoiceMode.REQUIRED and draw(st.booleans())
            else ()
        )
        choice = ToolChoice(mode, names)
    fmt = draw(
        st.none()
        | st.just(ResponseFormat(ResponseFormatKind.JSON_OBJECT))
        | st.builds(
            lambda s: ResponseFormat(ResponseFormatKind.JSON_SCHEMA, "response", s),
            SCHEMAS.filter(bool),
        )
    )
    generation = Generation(
        max_output_tokens=draw(st.none() | st.integers(1, 9000)),
        temperature=draw(st.none() | st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        top_p=draw(st.none() | st.sampled_from([0.1, 0.95])),
        top_k=draw(st.none() | st.integers(1, 64)),
        stop=tuple(draw(st.lists(TEXT.filter(bool), max_size=3))),
        candidates=draw(st.none() | st.integers(1, 3)),
        seed=draw(st.none() | st.integers(0, 2**31)),
        presence_penalty=draw(st.none() | st.sampled_from([-1.0, 0.5])),
        frequency_penalty=draw(st.none() | st.sampled_from([-0.5, 1.0])),
        response_format=fmt,
    )
    reasoning = Reasoning(
        effort=draw(st.none() | st.sampled_from(list(ReasoningEffort))),
        include_thoughts=draw(st.none() | st.booleans()),
    )
    if reasoning.effort is None and draw(st.booleans()):
        reasoning = Reasoning(
            budget_tokens=draw(st.integers(0, 30000)), include_thoughts=reasoning.include_thoughts
        )
    return ChatRequest(
        model=model,
        messages=draw(conversations()),
        tools=tools,
        tool_choice=choice,
        generation=generation,
        reasoning=reasoning,
        stream=draw(st.booleans()),
    )


# ---- reading a client's stream -------------------------------------------------------


@dataclasses.dataclass
class Assembled:
    """What a client makes of a stream: its text, reasoning, calls, finish and usage."""

    text: str = ""
    reasoning: str = ""
    calls: list[tuple[str, Any]] = dataclasses.field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False


def sse_documents(data: bytes) -> list[Any]:
    """The JSON documents of SSE bytes (`[DONE]` as the string "[DONE]")."""
    docs: list[Any] = []
    for event in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data: "):
                payload = line[6:]
                docs.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return docs


def read_openai(data: bytes) -> Assembled:
    out = Assembled()
    calls: dict[int, list[str]] = {}
    for doc in sse_documents(data):
        if doc == "[DONE]":
            out.done = True
            continue
        for choice in doc["choices"]:
            delta = choice["delta"]
            out.text += delta.get("content") or ""
            out.reasoning += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls", []):
                entry = calls.setdefault(call["index"], ["", ""])
                entry[0] += call["function"].get("name") or ""
                entry[1] += call["function"].get("arguments") or ""
            out.finish = choice["finish_reason"] or out.finish
        out.usage = doc.get("usage") or out.usage
    out.calls = [(name, orjson.loads(args)) for name, args in (calls[i] for i in sorted(calls))]
    return out


def read_gemini(data: bytes, json_array: bool) -> Assembled:
    out = Assembled(done=True)
    docs = orjson.loads(data) if json_array else sse_documents(data)
    for doc in docs:
        for candidate in doc.get("candidates", []):
            for part in candidate["content"]["parts"]:
                if "functionCall" in part:
                    out.calls.append((part["functionCall"]["name"], part["functionCall"]["args"]))
                elif part.get("thought"):
                    out.reasoning += part["text"]
                else:
                    out.text += part.get("text", "")
            out.finish = candidate.get("finishReason") or out.finish
        out.usage = doc.get("usageMetadata") or out.usage
    return out
