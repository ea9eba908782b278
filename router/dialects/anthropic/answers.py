"""Reading an Anthropic answer as it streams by: its usage, first token, what it says.

A stream is named events (`event: message_start` ... `event: message_stop`), each of
whose JSON names its type again. Nothing before the first block's text, thinking or tool
call is a token: `message_start`, `ping`, a block opened empty. Usage comes in two parts
(router.dialects.anthropic.usage).

The continuation (router.dialects.continuation) reads text and thinking deltas and the
stop reason; a tool call (or any block but text and thinking) means the answer cannot be
handed to another node. Blocks are numbered, so the next node's events are renumbered
into the client's stream (`BlockMap`): its `message_start` and pings go, its first block
continues the block left open when it is of the same kind (the prefilled text), and any
other block opens after the client's last one, the one left open closed just before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.anthropic.delivered import has_finish_reason, output_chars
from router.dialects.anthropic.usage import (
    USAGE_MARK,
    add_usage,
    later_usage,
    usage_from_anthropic,
)
from router.dialects.codec import Transcribing

_SILENT = frozenset({"message_start", "ping", "content_block_stop"})  # no token in them
_TEXT_BLOCKS = {"text": "text", "thinking": "thinking"}  # block type -> its text field
_DELTAS = {"text_delta": ("text", False), "thinking_delta": ("thinking", True)}
_CLOSE_FIRST = "\x00close_first"  # a rewritten block start that first closes another
_NOTES_KEY = "anthropic_blocks"


def has_content(event: Any) -> bool:
    """Whether one decoded event carries content (see the module's docstring)."""
    if not isinstance(event, dict):
        return True
    kind = _type_of(event)  # a node's `"type": []` is no type, not a TypeError
    if kind in _SILENT:
        return False
    if kind == "content_block_start":
        block = event.get("content_block")
        if not isinstance(block, dict):
            return True
        field = _TEXT_BLOCKS.get(_type_of(block))
        return field is None or bool(block.get(field))
    if kind == "content_block_delta":
        delta = event.get("delta")
        if not isinstance(delta, dict):
            return True
        if delta.get("type") == "signature_delta":
            return False
        field = _DELTAS.get(_type_of(delta), ("partial_json", False))[0]
        return bool(delta.get(field)) if field in delta else True
    return True


def _type_of(value: dict[str, Any]) -> str:
    kind = value.get("type")
    return kind if isinstance(kind, str) else ""


@dataclass(slots=True)
class BlockMap:
    """The client's blocks, and where the current node's go among them."""

    started: int = 0  # blocks the client has seen opened
    open_index: int | None = None  # the client's block left open, if any
    open_kind: str = ""
    placed: dict[int, int] | None = None  # a continuing node's block -> the client's
    joined: bool = False  # a continuing node's block went on with the open one

    def opened(self, index: int, kind: str) -> None:
        self.started = max(self.started, index + 1)
        self.open_index, self.open_kind = index, kind


def _blocks(into: Transcribing) -> BlockMap:
    found = into.notes.get(_NOTES_KEY)
    if not isinstance(found, BlockMap):
        found = into.notes[_NOTES_KEY] = BlockMap()
    return found


def transcribe(document: dict[str, Any], into: Transcribing) -> None:
    """What one event says; renumbered and cut (a restart's repeats) when it continues
    another node's answer, or emptied when the client must not see it."""
    kind = document.get("type")
    blocks = _blocks(into)
    if into.rewriting and kind in ("message_start", "ping"):
        if kind == "message_start":
            blocks.placed, blocks.joined = {}, False  # a new node's numbering begins
        document.clear()
        return
    if kind == "content_block_start":
        _block_start(document, into, blocks)
    elif kind == "content_block_delta":
        _place(document, blocks, into.rewriting)
        _delta(document, into)
    elif kind == "content_block_stop":
        index = _place(document, blocks, into.rewriting)
        if index == blocks.open_index:
            blocks.open_index = None
    elif kind == "message_delta":
        delta = document.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason") is not None:
            into.finished = True


def _block_start(document: dict[str, Any], into: Transcribing, blocks: BlockMap) -> None:
    block = document.get("content_block")
    block_kind = block.get("type") if isinstance(block, dict) else None
    if block_kind not in ("text", "thinking", "redacted_thinking"):
        into.continuable = False  # a tool call, a server tool's block...
    index = document.get("index")
    if not isinstance(index, int) or not isinstance(block_kind, str):
        return
    if into.rewriting and blocks.placed is not None:
        if blocks.open_index is not None and blocks.open_kind == block_kind and not blocks.joined:
            blocks.placed[index] = blocks.open_index  # the prefilled block goes on
            blocks.joined = True
            document.clear()
            return
        placed = blocks.placed[index] = blocks.started
        if blocks.open_index is not None:
            document[_CLOSE_FIRST] = blocks.open_index
        document["index"] = index = placed
    blocks.opened(index, block_kind)
    field = _TEXT_BLOCKS.get(block_kind)
    if field is not None and isinstance(block, dict) and block.get(field):
        said = into.said(block[field], block_kind == "thinking")
        if into.rewriting:
            block[field] = said


def _place(document: dict[str, Any], blocks: BlockMap, rewriting: bool) -> int | None:
    """The client's number of the event's block (renumbered when continuing)."""
    index = document.get("index")
    if not isinstance(index, int):
        return None
    if rewriting and blocks.placed is not None and index in blocks.placed:
        index = document["index"] = blocks.placed[index]
    return index


def _delta(document: dict[str, Any], into: Transcribing) -> None:
    delta = document.get("delta")
    if not isinstance(delta, dict):
        return
    field, is_reasoning = _DELTAS.get(_type_of(delta), ("", False))
    if not field:
        return
    said = into.said(delta.get(field), is_reasoning)
    if into.rewriting:
        if said:
            delta[field] = said
        else:
            document.clear()  # all of it was sent before (a restarted answer)


def is_content_free(document: Any) -> bool:
    """A rewritten event left with nothing for the client (emptied by `transcribe`)."""
    return isinstance(document, dict) and not document


def frame(document: Any) -> bytes:
    """One event as Anthropic frames it: its type as the SSE event name."""
    close = document.pop(_CLOSE_FIRST, None) if isinstance(document, dict) else None
    kind = document.get("type") if isinstance(document, dict) else None
    name = kind.encode() if isinstance(kind, str) and kind.isidentifier() else b"message"
    event = b"event: " + name + b"\ndata: " + orjson.dumps(document) + b"\n\n"
    if close is None:
        return event
    stop = {"type": "content_block_stop", "index": close}
    return b"event: content_block_stop\ndata: " + orjson.dumps(stop) + b"\n\n" + event


class AnthropicAnswers:
    """router.dialects.codec.Answers for Anthropic answers."""

    __slots__ = ()
    usage_mark = USAGE_MARK
    identity_fields: tuple[str, ...] = ()  # a stream names itself once, in message_start
    passed_headers: frozenset[str] = frozenset()
    passed_prefixes: tuple[str, ...] = ("anthropic-ratelimit-",)

    # The module's functions themselves: no extra call on the paths that run per event.
    usage = staticmethod(usage_from_anthropic)
    later_usage = staticmethod(later_usage)
    has_content = staticmethod(has_content)
    output_chars = staticmethod(output_chars)
    has_finish_reason = staticmethod(has_finish_reason)
    transcribe = staticmethod(transcribe)
    add_usage = staticmethod(add_usage)
    is_content_free = staticmethod(is_content_free)
    frame = staticmethod(frame)

    def is_usage_only(self, event: bytes) -> bool:
        return False  # the router never asks an Anthropic node for usage: it always comes
