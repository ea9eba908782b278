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
    names are dropped; `user`, `metadata` and `stream_usage` are dropped;
  * an error tool result is its text after `Error: ` (OpenAI has no error flag), and a
    result that is the JSON `{"error": r}` (Gemini's) is the error result r;
  * a tool choice that names several tools (Anthropic names one) is the choice of any
    tool among only those; redacted reasoning is dropped (only Anthropic takes it);
  * with `signed_reasoning_only`, reasoning without a signature is dropped (an
    Anthropic node takes only thinking it signed).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest
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
    RedactedReasoningPart,
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
from router.errors import UnsupportedField

_BUCKET = {
    ReasoningEffort.MINIMAL: ReasoningEffort.LOW,
    ReasoningEffort.XHIGH: ReasoningEffort.HIGH,
}
_ORDER = {ReasoningPart: 0, TextPart: 1, MediaPart: 1, ToolCallPart: 2}


def normal(request: ChatRequest, *, signed_reasoning_only: bool = False) -> ChatRequest:
    """The request's meaning (see the module docstring)."""
    if signed_reasoning_only:
        request = dataclasses.replace(request, messages=_signed_only(request.messages))
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
    several = choice is not None and len(choice.names) > 1
    if choice is not None and (choice.mode is ToolChoiceMode.AUTO or several) and choice.names:
        tools = tuple(t for t in tools if t.name in choice.names)
        choice = ToolChoice(choice.mode, (), choice.parallel)
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
        text = _result_text(part.text, part.is_error)
        media = tuple(_part(p, ids) for p in part.content if isinstance(p, MediaPart))
        return ToolResultPart(ident, (TextPart(text), *media), part.name)  # type: ignore[arg-type]
    return None


def _result_text(text: str, is_error: bool = False) -> str:
    if text.startswith("Error: "):  # OpenAI's way to say an error (any other's text too)
        text, is_error = text.removeprefix("Error: "), True
    parsed = parse_json_object(text)
    if parsed is not None and len(parsed) == 1 and "error" in parsed:
        inner = parsed["error"]
        inner = inner if isinstance(inner, str) else orjson.dumps(inner).decode()
        return _result_text(inner, True)
    if parsed is not None and len(parsed) == 1 and isinstance(parsed.get("content"), str):
        text = str(parsed["content"])
    elif parsed is not None:
        text = orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS).decode()
    return f"Error: {text}" if is_error and not text.startswith("Error") else text


def _signed_only(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    return tuple(
        Message(
            m.role,
            tuple(p for p in m.parts if not isinstance(p, ReasoningPart) or p.signature),
        )
        for m in messages
    )


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


# ---- Anthropic -----------------------------------------------------------------------

CLAUDE_MODELS = st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-7", "gemini-2.5-flash"])
PLAIN_TEXTS = st.text(st.characters(codec="utf-8"), max_size=8)  # no lone surrogates


@st.composite
def anthropic_media(draw: st.DrawFn) -> MediaPart:
    """Media an Anthropic request can carry: images, PDFs, plain-text documents."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        mime = draw(st.sampled_from(["image/png", "image/jpeg", "image/webp"]))
        return MediaPart(MediaKind.IMAGE, mime, data=draw(B64))
    if choice == 1:
        ext = draw(st.sampled_from([".png", ".jpg", ""]))
        guessed = {".png": "image/png", ".jpg": "image/jpeg", "": None}[ext]
        return MediaPart(MediaKind.IMAGE, guessed, url=f"https://files.example/i{ext}")
    if choice == 2:
        return MediaPart(MediaKind.DOCUMENT, "application/pdf", data=draw(B64))
    if choice == 3:
        url = f"https://files.example/{draw(st.integers(0, 9))}.pdf"
        return MediaPart(MediaKind.DOCUMENT, "application/pdf", url=url)
    text = draw(PLAIN_TEXTS.filter(bool))
    return MediaPart(
        MediaKind.DOCUMENT, "text/plain", data=base64.b64encode(text.encode()).decode()
    )


@st.composite
def anthropic_conversations(draw: st.DrawFn, *, node: bool) -> tuple[Message, ...]:
    """Conversations an Anthropic request can carry. For an Anthropic client (`node`
    False) tool results may hold images and thinking may be signed or redacted; for an
    Anthropic node, a client of another dialect sends what it can."""
    messages: list[Message] = []
    if draw(st.booleans()):
        messages.append(Message(Role.SYSTEM, (TextPart(draw(TEXT) or "sys"),)))
    calls = 0
    for _ in range(draw(st.integers(1, 3))):
        user: list[Part] = [
            TextPart(draw(TEXT) or "q"),
            *draw(st.lists(anthropic_media(), max_size=2)),
        ]
        messages.append(Message(Role.USER, tuple(user)))
        if not draw(st.booleans()):
            continue
        assistant: list[Part] = []
        if draw(st.booleans()):
            signature = draw(st.none() | st.sampled_from(["U0lHMQ==", "EqoBCkgIARAB"]))
            assistant.append(ReasoningPart(draw(TEXT) or "think", signature))
        if not node and draw(st.booleans()):
            assistant.append(RedactedReasoningPart("ZW5jcnlwdGVk"))
        if draw(st.booleans()):
            assistant.append(TextPart(draw(TEXT) or "a"))
        made = []
        for _ in range(draw(st.integers(0, 2))):
            sig = draw(st.none() | st.sampled_from(["c2lnMQ==", "c2lnMg=="]))
            made.append(
                ToolCallPart(f"toolu_{calls}", draw(NAMES), orjson.dumps(draw(ARGS)).decode(), sig)
            )
            calls += 1
        assistant += made
        if assistant:
            messages.append(Message(Role.ASSISTANT, tuple(assistant)))
        results = []
        for call in made:
            content: list[TextPart | MediaPart] = [TextPart(draw(TEXT | st.just('{"temp": 21}')))]
            if not node and draw(st.booleans()):
                content.append(MediaPart(MediaKind.IMAGE, "image/png", data="iVBORw0KGgo="))
            error = draw(st.booleans())
            results.append(ToolResultPart(call.id, tuple(content), call.name, error))
        if results:
            messages.append(Message(Role.TOOL, tuple(results)))
    return tuple(messages)


@st.composite
def anthropic_requests(draw: st.DrawFn, *, node: bool = False) -> ChatRequest:
    """IR requests an Anthropic request can say. With `node`, also none that the
    Anthropic encoder would adjust (thinking left out or clamped, sampling given way to
    thinking, a default max_tokens): each adjustment has a table test of its own."""
    model = draw(CLAUDE_MODELS)
    tools = tuple(
        Tool(name, draw(st.none() | TEXT), draw(SCHEMAS))
        for name in draw(st.sets(NAMES, max_size=3))
    )
    messages = draw(anthropic_conversations(node=node))
    reasoning = _anthropic_reasoning(draw)
    thinks = reasoning.effort not in (None, ReasoningEffort.NONE) or bool(reasoning.budget_tokens)
    choice = None
    chooses: bool = draw(st.booleans())
    if tools and chooses:
        modes = [ToolChoiceMode.AUTO, ToolChoiceMode.NONE]
        modes += [] if node and thinks else [ToolChoiceMode.REQUIRED]
        mode = draw(st.sampled_from(modes))
        names = (draw(st.sampled_from([t.name for t in tools])),) if draw(st.booleans()) else ()
        names = () if mode is ToolChoiceMode.NONE else names
        serial = not node and mode is not ToolChoiceMode.NONE and draw(st.booleans())
        parallel = False if serial else None  # Gemini clients cannot forbid parallel calls
        choice = ToolChoice(mode, names, parallel)
    if node and thinks and any(m.role is Role.TOOL for m in messages):
        messages += (
            Message(Role.ASSISTANT, (TextPart("ok"),)),
            Message(Role.USER, (TextPart("go"),)),
        )
    schema = draw(SCHEMAS.filter(bool) | st.none())
    sampling = not (node and thinks)
    generation = Generation(
        max_output_tokens=draw(st.integers(40000, 64000) if thinks else st.integers(1, 9000)),
        temperature=draw(st.none() | st.sampled_from([0.0, 0.5, 1.0])) if sampling else None,
        top_p=draw(st.none() | st.sampled_from([0.1, 0.95])) if sampling else None,
        top_k=draw(st.none() | st.integers(1, 64)) if sampling else None,
        stop=tuple(draw(st.lists(TEXT.filter(bool), max_size=2))),
        response_format=ResponseFormat(ResponseFormatKind.JSON_SCHEMA, schema=schema)
        if schema
        else None,
    )
    return ChatRequest(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=choice,
        generation=generation,
        reasoning=reasoning,
        user=draw(st.none() | st.just("user-7")),
        stream=draw(st.booleans()),
    )


def _anthropic_reasoning(draw: st.DrawFn) -> Reasoning:
    kind = draw(st.sampled_from(["none", "off", "budget", "effort"]))
    if kind == "none":
        return Reasoning()
    if kind == "off":
        return Reasoning(effort=ReasoningEffort.NONE)
    shown = draw(st.booleans())  # a client of another dialect that did not say sees them
    if kind == "budget":
        return Reasoning(budget_tokens=draw(st.integers(1, 30000)), include_thoughts=shown)
    efforts = [e for e in ReasoningEffort if e is not ReasoningEffort.NONE]
    return Reasoning(effort=draw(st.sampled_from(efforts)), include_thoughts=shown)


def anthropic_events(data: bytes) -> list[tuple[str, Any]]:
    """(event name, JSON document) of each event of Anthropic SSE bytes."""
    out = []
    for event in data.split(b"\n\n"):
        if not event:
            continue
        lines = dict(line.split(b": ", 1) for line in event.split(b"\n"))
        out.append((lines[b"event"].decode(), orjson.loads(lines[b"data"])))
    return out


def read_anthropic(data: bytes) -> Assembled:
    """What an Anthropic client makes of a stream; checks the events' order as it goes:
    one block open at a time, deltas to the open block, message_stop last."""
    out = Assembled()
    open_index, expected, calls = None, 0, []
    for name, doc in anthropic_events(data):
        assert name == doc["type"], (name, doc)
        assert not out.done, "an event after message_stop"
        if name == "content_block_start":
            assert open_index is None and doc["index"] == expected
            open_index, block = doc["index"], doc["content_block"]
            if block["type"] == "tool_use":
                calls.append([block["name"], ""])
        elif name == "content_block_delta":
            assert doc["index"] == open_index
            delta = doc["delta"]
            out.text += delta.get("text", "")
            out.reasoning += delta.get("thinking", "")
            if delta["type"] == "input_json_delta":
                calls[-1][1] += delta["partial_json"]
        elif name == "content_block_stop":
            assert doc["index"] == open_index
            open_index, expected = None, expected + 1
        elif name == "message_delta":
            assert open_index is None
            out.finish, out.usage = doc["delta"]["stop_reason"], doc["usage"]
        elif name == "message_stop":
            out.done = True
    out.calls = [(n, orjson.loads(args or "{}")) for n, args in calls]
    return out


ANTHROPIC_ASK: dict[str, Any] = {
    "model": "m",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "q"}],
}


def anthropic_client(handler: Any) -> Any:
    """The anthropic SDK's client over an in-process transport: the SDK's own HTTP, SSE
    and error handling read the bytes `handler` answers with, without a socket."""
    import httpx2
    from anthropic import Anthropic

    transport = httpx2.MockTransport(handler)
    client = httpx2.Client(transport=transport)
    return Anthropic(api_key="k", base_url="http://router.test", http_client=client, max_retries=0)


def anthropic_stream_client(data: bytes) -> Any:
    """The anthropic SDK's client, answered with the SSE bytes `data`."""
    import httpx2

    headers = {"content-type": "text/event-stream"}
    return anthropic_client(lambda request: httpx2.Response(200, headers=headers, content=data))


def refused_field(translate: Callable[[], object]) -> str:
    """The field named by the UnsupportedField that `translate` must raise, a 400."""
    with pytest.raises(UnsupportedField) as caught:
        translate()
    assert caught.value.status == 400
    return caught.value.field
