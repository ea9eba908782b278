"""Anthropic Messages content <-> IR messages.

* `system` (a string or text blocks) and `system`-role messages are SYSTEM; every IR
  system message is hoisted into the one `system` field.
* A user message's `tool_result` blocks are TOOL messages and its other blocks USER ones,
  in order; going back, consecutive messages of one role merge, so tool results and the
  user text after them are one user message, the results first (as Anthropic wants).
* `thinking` is reasoning with its `signature`, `redacted_thinking` redacted reasoning.
  To an Anthropic node, reasoning goes only signed (Anthropic rejects thinking it cannot
  verify; it ignores earlier turns' thinking anyway); to a client, unsigned reasoning
  gets an empty signature.
* `image` (base64 or url) and `document` (base64 PDF, plain text, a PDF url, or content
  blocks) are media; a plain-text document is `text/plain` media, base64 in the IR.
* Gemini's thought signature on a function call has no place on a `tool_use` block: it
  rides in the block's id, `{id}__thought__{signature as unpadded base64url}` (LiteLLM's
  separator; base64url keeps the id within Anthropic's `[a-zA-Z0-9_-]`). Clients echo ids
  untouched, in the `tool_use` and in the `tool_result` that answers it, so the signature
  comes back with the call; the decoder strips it from both.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    MediaKind,
    MediaPart,
    Message,
    Part,
    ReasoningPart,
    RedactedReasoningPart,
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
    compact_json,
    data_url,
    mime_of_url,
    need_str,
    opt_bool,
    opt_str,
    parse_json_object,
)
from router.errors import InvalidRequest, UnsupportedField

THOUGHT_MARK = "__thought__"
PDF = "application/pdf"
PLAIN_TEXT = "text/plain"
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_SERVER_BLOCKS = ("server_tool_use", "container_upload", "search_result")
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")


# ---- tool ids ------------------------------------------------------------------------


def id_with_signature(call_id: str, signature: str | None) -> str:
    """A tool_use id for a client: the call's id, with its thought signature if any."""
    call_id = safe_id(call_id)
    if not signature:
        return call_id
    payload = base64.urlsafe_b64encode(signature.encode()).rstrip(b"=").decode()
    return f"{call_id}{THOUGHT_MARK}{payload}"


def split_signature(tool_id: str) -> tuple[str, str | None]:
    """(call id, thought signature) of a tool_use id `id_with_signature` wrote; any other
    id is the call's id as it is."""
    head, mark, payload = tool_id.partition(THOUGHT_MARK)
    if not mark or not head or not payload:
        return tool_id, None
    try:
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True)
        signature = raw.decode()
    except (binascii.Error, UnicodeDecodeError):
        return tool_id, None
    if id_with_signature(head, signature) != tool_id:  # not one the router wrote
        return tool_id, None
    return head, signature


def safe_id(call_id: str) -> str:
    """An id within Anthropic's `^[a-zA-Z0-9_-]+$` (other providers' ids may hold dots)."""
    return _UNSAFE_ID.sub("_", call_id) or "toolu"


# ---- wire -> IR ----------------------------------------------------------------------


def decode_system(value: Any) -> list[Message]:
    """The `system` field (a string or text blocks) as a SYSTEM message, if any."""
    if value is None:
        return []
    parts = _decode_text_content(value, "system")
    return [Message(Role.SYSTEM, tuple(parts))] if parts else []


def _decode_text_content(value: Any, path: str) -> list[Part]:
    if isinstance(value, str):
        return [TextPart(value)] if value else []
    parts: list[Part] = []
    for i, item in enumerate(as_array(value, path)):
        block = as_object(item, f"{path}[{i}]")
        if block.get("type") != "text":
            raise InvalidRequest(f"'{path}[{i}].type' must be text")
        text = need_str(block, "text", f"{path}[{i}]")
        if text:
            parts.append(TextPart(text))
    return parts


def decode_messages(value: Any) -> tuple[Message, ...]:
    """`messages` as IR messages (tool results split from user turns)."""
    messages = as_array(value, "messages")
    if not messages:
        raise InvalidRequest("'messages' must not be empty")
    out: list[Message] = []
    for i, item in enumerate(messages):
        out.extend(_decode_message(item, f"messages[{i}]"))
    return tuple(out)


def _decode_message(value: Any, path: str) -> list[Message]:
    message = as_object(value, path)
    role = need_str(message, "role", path)
    if role not in ("user", "assistant", "system"):
        raise InvalidRequest(f"'{path}.role' must be user, assistant or system")
    content = message.get("content")
    if content is None:
        raise InvalidRequest(f"'{path}.content' is required")
    if role == "system":
        parts = _decode_text_content(content, f"{path}.content")
        return [Message(Role.SYSTEM, tuple(parts))] if parts else []
    if isinstance(content, str):
        parts = [TextPart(content)] if content else []
    else:
        parts = []
        for j, item in enumerate(as_array(content, f"{path}.content")):
            parts.extend(decode_block(item, f"{path}.content[{j}]", role))
    if role == "assistant":
        return [Message(Role.ASSISTANT, tuple(parts))]
    return _split_user_turn(parts)


def _split_user_turn(parts: list[Part]) -> list[Message]:
    out: list[Message] = []
    for part in parts:
        role = Role.TOOL if isinstance(part, ToolResultPart) else Role.USER
        if out and out[-1].role is role:
            out[-1] = Message(role, (*out[-1].parts, part))
        else:
            out.append(Message(role, (part,)))
    return out


def decode_block(value: Any, path: str, role: str) -> list[Part]:
    """One content block of a `role` message as IR parts (a document may give several)."""
    block = as_object(value, path)
    kind = need_str(block, "type", path)
    if kind == "text":
        text = need_str(block, "text", path)
        return [TextPart(text)] if text else []
    if kind == "image":
        return [_decode_source(block, path, MediaKind.IMAGE)]
    if kind == "document":
        return _decode_document(block, path)
    if kind == "thinking":
        signature = opt_str(block, "signature", path) or None
        return [ReasoningPart(need_str(block, "thinking", path), signature)]
    if kind == "redacted_thinking":
        return [RedactedReasoningPart(need_str(block, "data", path))]
    if kind == "tool_use" and role == "assistant":
        return [decode_tool_use(block, path)]
    if kind == "tool_result" and role == "user":
        return [_decode_result(block, path)]
    if kind == "tool_reference":  # a deferred tool's name in a tool search result: no text
        return []
    if kind in _SERVER_BLOCKS or kind.endswith("_tool_result"):
        raise UnsupportedField(f"{path}.type", f"{kind} blocks of Anthropic's server tools")
    raise InvalidRequest(f"'{path}.type' {kind!r} is not a content block of a {role} message")


def decode_tool_use(block: Mapping[str, Any], path: str) -> ToolCallPart:
    call_id, signature = split_signature(need_str(block, "id", path))
    arguments = block.get("input")
    arguments = {} if arguments is None else as_object(arguments, f"{path}.input")
    name = need_str(block, "name", path)
    return ToolCallPart(call_id, name, compact_json(arguments), signature)


def _decode_result(block: Mapping[str, Any], path: str) -> ToolResultPart:
    call_id, _ = split_signature(need_str(block, "tool_use_id", path))
    content = block.get("content")
    parts: list[TextPart | MediaPart] = []
    if isinstance(content, str):
        parts = [TextPart(content)] if content else []
    elif content is not None:
        for j, item in enumerate(as_array(content, f"{path}.content")):
            for part in decode_block(item, f"{path}.content[{j}]", "tool_result"):
                if not isinstance(part, TextPart | MediaPart):
                    raise InvalidRequest(f"'{path}.content[{j}]' must be text, image or document")
                parts.append(part)
    is_error = bool(opt_bool(block, "is_error", path))
    return ToolResultPart(call_id, tuple(parts), is_error=is_error)


def _decode_source(block: Mapping[str, Any], path: str, kind: MediaKind) -> MediaPart:
    source = as_object(block.get("source"), f"{path}.source")
    spath = f"{path}.source"
    source_type = need_str(source, "type", spath)
    if source_type == "base64":
        mime = need_str(source, "media_type", spath)
        return MediaPart(kind, mime_type=mime, data=need_str(source, "data", spath))
    if source_type == "url":
        url = need_str(source, "url", spath)
        of_url = PDF if kind is MediaKind.DOCUMENT else mime_of_url(url)
        return MediaPart(kind, mime_type=of_url, url=url)
    if source_type == "file":
        raise UnsupportedField(f"{spath}.file_id", "a file of Anthropic's Files API")
    raise InvalidRequest(f"'{spath}.type' {source_type!r} is not a source of a {kind} block")


def _decode_document(block: Mapping[str, Any], path: str) -> list[Part]:
    if block.get("context") is not None:
        raise UnsupportedField(f"{path}.context", "a document's context")
    source = as_object(block.get("source"), f"{path}.source")
    spath = f"{path}.source"
    source_type = source.get("type")
    title = opt_str(block, "title", path)
    if source_type == "text":
        data = base64.b64encode(need_str(source, "data", spath).encode()).decode()
        return [MediaPart(MediaKind.DOCUMENT, PLAIN_TEXT, data=data, filename=title)]
    if source_type == "content":
        content = source.get("content")
        if isinstance(content, str):
            return [TextPart(content)] if content else []
        parts: list[Part] = []
        for j, item in enumerate(as_array(content, f"{spath}.content")):
            ipath = f"{spath}.content[{j}]"
            if as_object(item, ipath).get("type") not in ("text", "image"):
                raise InvalidRequest(f"'{ipath}.type' must be text or image")
            parts.extend(decode_block(item, ipath, "user"))
        return parts
    media = _decode_source(block, path, MediaKind.DOCUMENT)
    return [MediaPart(media.kind, media.mime_type, media.data, media.url, title)]


# ---- IR -> wire ----------------------------------------------------------------------


def encode_system(messages: tuple[Message, ...]) -> str | list[dict[str, Any]] | None:
    """Every IR system message as the `system` field: a string for one, blocks for more."""
    texts = [m.text for m in messages if m.role is Role.SYSTEM and m.text]
    if not texts:
        return None
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": text} for text in texts]


def encode_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """IR messages (but system ones) as `messages` for an Anthropic node; consecutive
    messages of one role (TOOL and USER are both `user`) are one."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            continue
        role = "assistant" if message.role is Role.ASSISTANT else "user"
        blocks = [b for b in (encode_block(p) for p in message.parts) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def encode_block(part: Part, *, answer: bool = False) -> dict[str, Any] | None:
    """One IR part as a content block: for a node's request, or (`answer`) for a client.

    A request carries only signed reasoning and tool input that is a JSON object; an
    answer carries all reasoning and whatever arguments the node gave."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ReasoningPart):
        if not answer and not part.signature:
            return None
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, RedactedReasoningPart):
        return {"type": "redacted_thinking", "data": part.data}
    if isinstance(part, ToolCallPart):
        return encode_tool_use(part, answer=answer)
    if isinstance(part, ToolResultPart):
        return _encode_result(part)
    if answer:  # media the model produced (Gemini images): a Markdown image, as for OpenAI
        url = part.url or data_url(part.mime_type, part.data or "")
        return {"type": "text", "text": f"![{part.kind.value}]({url})"}
    return encode_media(part)


def encode_tool_use(call: ToolCallPart, *, answer: bool) -> dict[str, Any]:
    arguments = parse_json_object(call.arguments)
    if arguments is None:
        if not answer:
            raise Unexpressible(Feature.CALL_ARGUMENTS)
        arguments = {"arguments": call.arguments}
    call_id = id_with_signature(call.id, call.signature) if answer else safe_id(call.id)
    return {"type": "tool_use", "id": call_id, "name": call.name, "input": arguments}


def _encode_result(result: ToolResultPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(result.call_id)}
    if any(isinstance(p, MediaPart) for p in result.content):
        content = [encode_block(p) for p in result.content]
        block["content"] = [b for b in content if b is not None]
    elif result.text:
        block["content"] = result.text
    if result.is_error:
        block["is_error"] = True
    return block


def encode_media(part: MediaPart) -> dict[str, Any]:
    """Media as an `image` or `document` block; other kinds and types cannot be sent."""
    if part.kind is MediaKind.IMAGE:
        if part.url is not None:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        mime = (part.mime_type or "image/jpeg").lower().replace("image/jpg", "image/jpeg")
        if mime not in IMAGE_TYPES:
            raise Unexpressible(Feature.MEDIA_TYPE)
        source = {"type": "base64", "media_type": mime, "data": part.data}
        return {"type": "image", "source": source}
    if part.kind is not MediaKind.DOCUMENT:
        raise Unexpressible(Feature.MEDIA_TYPE)
    block: dict[str, Any] = {"type": "document", "source": _document_source(part)}
    if part.filename:
        block["title"] = part.filename
    return block


def _document_source(part: MediaPart) -> dict[str, Any]:
    mime = (part.mime_type or PDF).lower()
    if mime == PDF and part.url is not None:
        return {"type": "url", "url": part.url}
    if mime == PDF:
        return {"type": "base64", "media_type": PDF, "data": part.data}
    if mime == PLAIN_TEXT and part.data is not None:
        try:
            text = base64.b64decode(part.data, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unexpressible(Feature.MEDIA_TYPE) from None
        return {"type": "text", "media_type": PLAIN_TEXT, "data": text}
    raise Unexpressible(Feature.MEDIA_TYPE)
