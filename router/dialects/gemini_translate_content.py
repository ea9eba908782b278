"""Gemini contents and parts <-> IR messages.

* `systemInstruction` is the SYSTEM message; every IR system message is hoisted there.
* Role `model` is ASSISTANT. A `user` content's `functionResponse` parts are TOOL
  messages, its other parts USER ones; going back, tool results and the user turn after
  them merge into one `user` content, and consecutive contents of one role merge (Gemini
  wants turns to alternate).
* `text` with `thought: true` is reasoning; `thoughtSignature` rides on the part it signs.
  A function call the history has no signature for gets Google's documented placeholder
  (`skip_thought_signature_validator`) on a turn's first call, or Gemini 3 answers 400.
* `inlineData` is inline media, `fileData` a URL. Function calls and responses carry no
  `id` to Gemini (models before Gemini 3 reject it): a call without an id gets
  `call_{n}`, numbered through the conversation, and a response is paired with the
  earliest unanswered call of its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    MediaPart,
    Message,
    Part,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from router.dialects.chat_wire import (
    DEFAULT_MIME,
    Feature,
    Unexpressible,
    as_array,
    as_object,
    compact_json,
    kind_of_mime,
    lookup,
    need_str,
    opt_bool,
    opt_str,
    parse_json_object,
)
from router.errors import InvalidRequest, UnsupportedField

PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
_UNSUPPORTED_PARTS = ("executableCode", "codeExecutionResult", "videoMetadata", "toolCall")


def decode_contents(body: Mapping[str, Any]) -> tuple[Message, ...]:
    """`systemInstruction` and `contents` as IR messages."""
    messages: list[Message] = []
    system = lookup(body, "systemInstruction")
    if system is not None:
        parts = decode_parts(
            as_object(system, "systemInstruction"), "systemInstruction", CallBook()
        )
        messages.append(Message(Role.SYSTEM, tuple(parts)))
    contents = as_array(body.get("contents"), "contents")
    if not contents:
        raise InvalidRequest("'contents' must not be empty")
    calls = CallBook()
    for i, value in enumerate(contents):
        path = f"contents[{i}]"
        content = as_object(value, path)
        role = opt_str(content, "role", path) or "user"
        if role not in ("user", "model", "function"):
            raise InvalidRequest(f"'{path}.role' must be user or model")
        parts = decode_parts(content, path, calls)
        if role == "model":
            messages.append(Message(Role.ASSISTANT, tuple(parts)))
        else:
            messages.extend(_split_user_turn(parts))
    return tuple(messages)


class CallBook:
    """The calls of a conversation so far: ids for calls without one, and the calls
    still unanswered, by name, to pair function responses that carry no id."""

    def __init__(self) -> None:
        self.made = 0
        self.pending: dict[str, list[str]] = {}

    def call(self, name: str, ident: str) -> str:
        ident = ident or f"call_{self.made}"
        self.made += 1
        self.pending.setdefault(name, []).append(ident)
        return ident

    def answer(self, name: str, ident: str) -> str:
        pending = self.pending.get(name, [])
        if ident:
            if ident in pending:
                pending.remove(ident)
            return ident
        return pending.pop(0) if pending else f"call_{name}"


def _split_user_turn(parts: list[Part]) -> list[Message]:
    """A user turn's function responses as TOOL messages, the rest as USER ones, in order."""
    out: list[Message] = []
    for part in parts:
        role = Role.TOOL if isinstance(part, ToolResultPart) else Role.USER
        if out and out[-1].role is role:
            out[-1] = Message(role, (*out[-1].parts, part))
        else:
            out.append(Message(role, (part,)))
    return out


def decode_parts(content: Mapping[str, Any], path: str, calls: CallBook) -> list[Part]:
    """The parts of one content; `calls` pairs function responses with earlier calls."""
    parts = []
    for j, value in enumerate(as_array(lookup(content, "parts") or [], f"{path}.parts")):
        part = decode_part(as_object(value, f"{path}.parts[{j}]"), f"{path}.parts[{j}]", calls)
        if part is not None:
            parts.append(part)
    return parts


def decode_part(part: Mapping[str, Any], path: str, calls: CallBook) -> Part | None:
    signature = opt_str(part, "thoughtSignature", path) or ""
    signature = "" if signature == PLACEHOLDER_SIGNATURE else signature
    for name in _UNSUPPORTED_PARTS:
        if lookup(part, name) is not None:
            raise UnsupportedField(f"{path}.{name}")
    text = opt_str(part, "text", path)
    if text is not None:
        if opt_bool(part, "thought", path):
            return ReasoningPart(text, signature or None)
        return TextPart(text, signature or None) if text or signature else None
    inline = lookup(part, "inlineData")
    if inline is not None:
        inline = as_object(inline, f"{path}.inlineData")
        inline_mime = need_str(inline, "mimeType", f"{path}.inlineData")
        data = need_str(inline, "data", f"{path}.inlineData")
        return MediaPart(kind_of_mime(inline_mime), mime_type=inline_mime, data=data)
    file = lookup(part, "fileData")
    if file is not None:
        file = as_object(file, f"{path}.fileData")
        mime = opt_str(file, "mimeType", f"{path}.fileData")
        url = need_str(file, "fileUri", f"{path}.fileData")
        return MediaPart(kind_of_mime(mime), mime_type=mime, url=url)
    call = lookup(part, "functionCall")
    if call is not None:
        call = as_object(call, f"{path}.functionCall")
        return _decode_call(call, path, signature or None, calls)
    response = lookup(part, "functionResponse")
    if response is not None:
        return _decode_result(as_object(response, f"{path}.functionResponse"), path, calls)
    return None  # an empty part, or one only a newer API knows: nothing to say


def _decode_call(
    call: Mapping[str, Any], path: str, signature: str | None, calls: CallBook
) -> ToolCallPart:
    name = need_str(call, "name", f"{path}.functionCall")
    args = lookup(call, "args")
    args = {} if args is None else as_object(args, f"{path}.functionCall.args")
    ident = calls.call(name, opt_str(call, "id", f"{path}.functionCall") or "")
    return ToolCallPart(id=ident, name=name, arguments=compact_json(args), signature=signature)


def _decode_result(response: Mapping[str, Any], path: str, calls: CallBook) -> ToolResultPart:
    name = need_str(response, "name", f"{path}.functionResponse")
    ident = calls.answer(name, opt_str(response, "id", f"{path}.functionResponse") or "")
    if lookup(response, "parts"):
        raise UnsupportedField(f"{path}.functionResponse.parts", "media in a function response")
    value = lookup(response, "response")
    value = {} if value is None else as_object(value, f"{path}.functionResponse.response")
    return ToolResultPart(call_id=ident, content=(TextPart(result_text(value)),), name=name)


def result_text(response: Mapping[str, Any]) -> str:
    """A function response as text: `{"content": text}` is the text; others are JSON."""
    content = response.get("content")
    if len(response) == 1 and isinstance(content, str):
        return content
    return compact_json(response)


def result_object(text: str) -> dict[str, Any]:
    """Tool result text as a function response object: JSON for an object stays one
    (LiteLLM does the same), other text is `{"content": text}`."""
    parsed = parse_json_object(text)
    if parsed is not None and not (len(parsed) == 1 and isinstance(parsed.get("content"), str)):
        return parsed
    return {"content": text}


# ---- IR -> wire ----------------------------------------------------------------------


def encode_contents(messages: tuple[Message, ...]) -> dict[str, Any]:
    """IR messages as `systemInstruction` and `contents`."""
    system = [{"text": m.text} for m in messages if m.role is Role.SYSTEM and m.text]
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            continue
        role = "model" if message.role is Role.ASSISTANT else "user"
        parts = _encode_turn(message)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    return out


def _encode_turn(message: Message) -> list[dict[str, Any]]:
    parts = [p for p in (encode_part(part) for part in message.parts) if p is not None]
    if message.role is Role.ASSISTANT:
        first_call = next((p for p in parts if "functionCall" in p), None)
        if first_call is not None and "thoughtSignature" not in first_call:
            first_call["thoughtSignature"] = PLACEHOLDER_SIGNATURE
    return parts


def call_args(arguments: str, *, lenient: bool) -> dict[str, Any]:
    """Tool-call arguments as the object Gemini wants. In a request, text that is no JSON
    object cannot be sent; in an answer, it reaches the client as `{"arguments": text}`."""
    args = parse_json_object(arguments)
    if args is not None:
        return args
    if not lenient:
        raise Unexpressible(Feature.CALL_ARGUMENTS)
    return {"arguments": arguments}


def encode_part(part: Part, *, lenient: bool = False) -> dict[str, Any] | None:
    """One IR part as a Gemini part (None for what Gemini has no place for)."""
    out: dict[str, Any]
    if isinstance(part, TextPart):
        out = {"text": part.text}
    elif isinstance(part, ReasoningPart):
        out = {"text": part.text, "thought": True}
    elif isinstance(part, MediaPart):
        out = encode_media(part)
    elif isinstance(part, ToolCallPart):
        args = call_args(part.arguments, lenient=lenient)
        out = {"functionCall": {"name": part.name, "args": args}}
    elif isinstance(part, ToolResultPart):
        if part.name is None:
            raise Unexpressible(Feature.UNMATCHED_TOOL_RESULT)
        if any(isinstance(p, MediaPart) for p in part.content):
            raise Unexpressible(Feature.TOOL_RESULT_MEDIA)
        response = result_object(part.text)
        if part.is_error:
            response = {"error": response}
        out = {"functionResponse": {"name": part.name, "response": response}}
    else:
        return None  # redacted reasoning: another provider's data
    signature = getattr(part, "signature", None)
    if signature:
        out["thoughtSignature"] = signature
    return out


def encode_media(part: MediaPart) -> dict[str, Any]:
    mime = part.mime_type or DEFAULT_MIME[part.kind]
    if part.url is not None:
        return {"fileData": {"mimeType": mime, "fileUri": part.url}}
    return {"inlineData": {"mimeType": mime, "data": part.data}}
