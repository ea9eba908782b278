"""What the Anthropic dialect tests share: the answer context, the SDK's reader of stream
events, a user turn, and builders of stream events (the documents of `content_block_*`
frames), so a table of events reads as the stream it stands for rather than as nested
dicts."""

from __future__ import annotations

from typing import Any

from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from router.dialects.chat import Message, Role, TextPart
from router.dialects.chat_answer import AnswerContext

CTX = AnswerContext("router-1", "model-x", 100)
EVENT: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
USER = Message(Role.USER, (TextPart("hi"),))


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    """A `content_block_start` event opening `block` at `index`."""
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    """A `content_block_delta` event carrying `delta` for the block at `index`."""
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> dict[str, Any]:
    """A `content_block_stop` event closing the block at `index`."""
    return {"type": "content_block_stop", "index": index}
