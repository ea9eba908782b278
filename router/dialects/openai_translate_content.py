"""OpenAI Chat Completions messages <-> IR messages.

* `system` and `developer` messages are SYSTEM; `tool` messages are one TOOL message each.
* Content parts: `text`; `image_url` (a data URL is inline media, any other URL is a URL;
  the kind comes from the MIME type, so the seeds' videos in `image_url` are videos);
  `input_audio` (wav, mp3); `file` with `file_data` (a data URL). `refusal` is text.
* Assistant `reasoning_content` (or vLLM's `reasoning`) is a reasoning part; tool calls
  carry Google's `extra_content.google.thought_signature`, the way Google's own
  OpenAI-compatible endpoint hands Gemini's thought signatures to OpenAI clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    MediaKind,
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
    Feature,
    Unexpressible,
    as_array,
    as_object,
    data_url,
    kind_of_mime,
    mime_of_url,
    need_str,
    opt_str,
    parse_data_url,
)
from router.errors import InvalidRequest, UnsupportedField

_ROLES = {
    "system": Role.SYSTEM,
    "developer": Role.SYSTEM,
    "user": Role.USER,
    "assistant": Role.ASSISTANT,
    "tool": Role.TOOL,
}
_AUDIO_FORMATS = {"wav": "audio/wav", "mp3": "audio/mp3"}
_FORMAT_OF_AUDIO = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
}


def decode_messages(value: Any) -> tuple[Message, ...]:
    """`messages` into IR messages."""
    messages = as_array(value, "messages")
    if not messages:
        raise InvalidRequest("'messages' must not be empty")
    return tuple(_decode_message(m, f"messages[{i}]") for i, m in enumerate(messages))


def _decode_message(value: Any, path: str) -> Message:
    message = as_object(value, path)
    role_name = need_str(message, "role", path)
    role = _ROLES.get(role_name)
    if role is None:
        if role_name == "function":
            raise UnsupportedField(f"{path}.role", "legacy function messages; use tools")
        raise InvalidRequest(f"'{path}.role' must be one of {', '.join(_ROLES)}")
    if role is Role.TOOL:
        call_id = need_str(message, "tool_call_id", path)
        content = _decode_content(message.get("content"), f"{path}.content", allow_none=False)
        result = ToolResultPart(call_id=call_id, content=tuple(_result_parts(content, path)))
        return Message(Role.TOOL, (result,))
    parts: list[Part] = []
    if role is Role.ASSISTANT:
        reasoning = opt_str(message, "reasoning_content", path) or opt_str(
            message, "reasoning", path
        )
        if reasoning:
            parts.append(ReasoningPart(reasoning))
        if message.get("function_call") is not None:
            raise UnsupportedField(f"{path}.function_call", "legacy function calls; use tool_calls")
        if message.get("audio") is not None:
            raise UnsupportedField(f"{path}.audio")
    parts.extend(_decode_content(message.get("content"), f"{path}.content", allow_none=True))
    if role is Role.ASSISTANT:
        calls = message.get("tool_calls")
        if calls is not None:
            calls = as_array(calls, f"{path}.tool_calls")
            parts.extend(decode_call(c, f"{path}.tool_calls[{i}]") for i, c in enumerate(calls))
    return Message(role, tuple(parts))


def _result_parts(parts: list[Part], path: str) -> list[TextPart | MediaPart]:
    out: list[TextPart | MediaPart] = []
    for part in parts:
        if not isinstance(part, TextPart | MediaPart):
            raise InvalidRequest(f"'{path}.content' of a tool message holds text only")
        out.append(part)
    return out


def _decode_content(value: Any, path: str, *, allow_none: bool) -> list[Part]:
    if value is None:
        if allow_none:
            return []
        raise InvalidRequest(f"'{path}' is required")
    if isinstance(value, str):
        return [TextPart(value)] if value else []
    items = as_array(value, path)
    return [_decode_content_part(item, f"{path}[{i}]") for i, item in enumerate(items)]


def _decode_content_part(value: Any, path: str) -> Part:
    part = as_object(value, path)
    kind = need_str(part, "type", path)
    if kind == "text":
        return TextPart(need_str(part, "text", path))
    if kind == "refusal":
        return TextPart(need_str(part, "refusal", path))
    if kind == "image_url":
        image = part.get("image_url")
        url = image if isinstance(image, str) else None
        if isinstance(image, Mapping):
            url = need_str(image, "url", f"{path}.image_url")
        if url is None:
            raise InvalidRequest(f"'{path}.image_url.url' is required")
        return _media_of_url(url, f"{path}.image_url.url", MediaKind.IMAGE)
    if kind == "input_audio":
        audio = as_object(part.get("input_audio"), f"{path}.input_audio")
        data = need_str(audio, "data", f"{path}.input_audio")
        fmt = need_str(audio, "format", f"{path}.input_audio")
        mime = _AUDIO_FORMATS.get(fmt, f"audio/{fmt}")
        return MediaPart(MediaKind.AUDIO, mime_type=mime, data=data)
    if kind == "file":
        file = as_object(part.get("file"), f"{path}.file")
        if file.get("file_id") is not None:
            raise UnsupportedField(f"{path}.file.file_id", "an OpenAI file id means nothing here")
        url = need_str(file, "file_data", f"{path}.file")
        media = _media_of_url(url, f"{path}.file.file_data", MediaKind.DOCUMENT)
        filename = opt_str(file, "filename", f"{path}.file")
        return MediaPart(media.kind, media.mime_type, media.data, media.url, filename)
    raise UnsupportedField(f"{path}.type", f"content parts of type {kind!r}")


def _media_of_url(url: str, path: str, default: MediaKind) -> MediaPart:
    inline = parse_data_url(url)
    if inline is not None:
        mime, data = inline
        return MediaPart(kind_of_mime(mime, default), mime_type=mime, data=data)
    if url.startswith("data:"):
        raise InvalidRequest(f"'{path}' is a data URL without ';base64,'")
    mime = mime_of_url(url)
    return MediaPart(kind_of_mime(mime, default), mime_type=mime, url=url)


def decode_call(value: Any, path: str) -> ToolCallPart:
    call = as_object(value, path)
    kind = call.get("type", "function")
    if kind != "function":
        raise UnsupportedField(f"{path}.type", f"tool calls of type {kind!r}")
    function = as_object(call.get("function"), f"{path}.function")
    arguments = opt_str(function, "arguments", f"{path}.function") or "{}"
    return ToolCallPart(
        id=need_str(call, "id", path),
        name=need_str(function, "name", f"{path}.function"),
        arguments=arguments,
        signature=thought_signature(call),
    )


def thought_signature(call: Mapping[str, Any]) -> str | None:
    """Google's `extra_content.google.thought_signature` on a tool call, if any."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    return signature if isinstance(signature, str) and signature else None


def extra_content(signature: str | None) -> dict[str, Any]:
    """The `extra_content` field that carries a thought signature (empty without one)."""
    if signature is None:
        return {}
    return {"extra_content": {"google": {"thought_signature": signature}}}


# ---- IR -> wire ----------------------------------------------------------------------


def encode_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """IR messages as `messages`; a TOOL message with several results is several."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.TOOL:
            out.extend(_encode_result(p) for p in message.parts if isinstance(p, ToolResultPart))
        elif message.role is Role.ASSISTANT:
            out.append(encode_assistant(message))
        else:
            out.append({"role": message.role.value, "content": _encode_content(message.parts)})
    return out


def _encode_result(result: ToolResultPart) -> dict[str, Any]:
    if any(isinstance(p, MediaPart) for p in result.content):
        raise Unexpressible(Feature.TOOL_RESULT_MEDIA)
    text = result.text
    if result.is_error and not text.startswith("Error"):
        text = f"Error: {text}"  # OpenAI has no error flag on a tool result
    return {"role": "tool", "tool_call_id": result.call_id, "content": text}


def encode_assistant(message: Message) -> dict[str, Any]:
    """An assistant IR message as an OpenAI assistant message (requests and answers)."""
    reasoning = "".join(p.text for p in message.parts if isinstance(p, ReasoningPart))
    calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
    content: Any = "".join(_answer_text(p) for p in message.parts)
    out: dict[str, Any] = {"role": "assistant", "content": content or None}
    if reasoning:
        out["reasoning_content"] = reasoning
    if calls:
        out["tool_calls"] = [encode_call(call) for call in calls]
    return out


def _answer_text(part: Part) -> str:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, MediaPart):  # model output (Gemini images): a Markdown image
        url = part.url or data_url(part.mime_type, part.data or "")
        return f"![{part.kind.value}]({url})"
    return ""


def encode_call(call: ToolCallPart) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {
        "id": call.id,
        "type": "function",
        "function": function,
        **extra_content(call.signature),
    }


def _encode_content(parts: tuple[Part, ...]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        elif isinstance(part, MediaPart):
            out.append(_encode_media(part))
    return out


def _encode_media(part: MediaPart) -> dict[str, Any]:
    if part.url is not None:
        return {"type": "image_url", "image_url": {"url": part.url}}
    data = part.data or ""
    if part.kind is MediaKind.IMAGE:
        return {"type": "image_url", "image_url": {"url": data_url(part.mime_type, data)}}
    audio_format = _FORMAT_OF_AUDIO.get((part.mime_type or "").lower())
    if part.kind is MediaKind.AUDIO and audio_format is not None:
        return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
    file: dict[str, Any] = {"file_data": data_url(part.mime_type, data)}
    if part.filename is not None:
        file["filename"] = part.filename
    return {"type": "file", "file": file}
