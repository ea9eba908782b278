"""Anthropic answers <-> the IR: messages, usage, stop reasons, token counts.

Usage: Anthropic's `input_tokens` EXCLUDES the tokens read from and written to the
prompt cache (`cache_read_input_tokens`, `cache_creation_input_tokens`); the IR's
`prompt` includes both, as OpenAI and Gemini count. `output_tokens` INCLUDES thinking;
the IR keeps reasoning apart, taken from `output_tokens_details.thinking_tokens` when
the node reports it (else all output is counted as text: the total is the same).

An answer to a client has one content list (Anthropic answers have no choices): the
first choice's. Its `stop_reason` is `tool_use` whenever it holds tool calls (an OpenAI
node may say `stop`). Gemini's function-call signatures ride in the tool_use ids
(`anthropic/translate_content`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.anthropic.translate_content import decode_tool_use, encode_block
from router.dialects.chat import (
    Message,
    Part,
    ReasoningPart,
    RedactedReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
)
from router.dialects.chat_answer import (
    AnswerContext,
    ChatResponse,
    Choice,
    FinishReason,
    TokenUsage,
)
from router.dialects.chat_wire import (
    answer_errors,
    as_array,
    as_object,
    count,
    opt_str,
)
from router.errors import InvalidRequest

FINISH_OF_STOP: dict[str, FinishReason] = {
    "end_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "stop_sequence": FinishReason.STOP_SEQUENCE,
    "tool_use": FinishReason.TOOL_CALLS,
    "pause_turn": FinishReason.OTHER,
    "refusal": FinishReason.CONTENT_FILTER,
    "model_context_window_exceeded": FinishReason.LENGTH,
}
STOP_OF_FINISH: dict[FinishReason, str] = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
    FinishReason.STOP_SEQUENCE: "stop_sequence",
    FinishReason.ERROR: "end_turn",
    FinishReason.OTHER: "end_turn",
}


def stop_reason(reason: FinishReason | None, has_calls: bool, sequence: str | None) -> str:
    """Anthropic's `stop_reason` for an IR finish (a finished answer always has one):
    `tool_use` whenever there were calls, `stop_sequence` only with the sequence."""
    if has_calls and reason in (None, FinishReason.STOP, FinishReason.OTHER):
        return "tool_use"
    if reason is FinishReason.STOP_SEQUENCE and sequence is None:
        return "end_turn"
    return STOP_OF_FINISH[reason] if reason is not None else "end_turn"


def decode_stop(value: Any) -> FinishReason | None:
    if not isinstance(value, str) or not value:
        return None
    return FINISH_OF_STOP.get(value, FinishReason.OTHER)


def decode_usage(value: Any) -> TokenUsage | None:
    """`usage` of a message or a stream event, or None when absent."""
    if not isinstance(value, Mapping):
        return None
    cached, created = (
        count(value, "cache_read_input_tokens"),
        count(value, "cache_creation_input_tokens"),
    )
    output = count(value, "output_tokens")
    thinking = min(count(value.get("output_tokens_details"), "thinking_tokens"), output)
    return TokenUsage(
        prompt=count(value, "input_tokens") + cached + created,
        completion=output - thinking,
        reasoning=thinking,
        cached_prompt=cached,
        cache_creation=created,
    )


def encode_usage(usage: TokenUsage) -> dict[str, Any]:
    uncached = max(usage.prompt - usage.cached_prompt - usage.cache_creation, 0)
    out: dict[str, Any] = {
        "input_tokens": uncached,
        "output_tokens": usage.completion + usage.reasoning,
        "cache_creation_input_tokens": usage.cache_creation,
        "cache_read_input_tokens": usage.cached_prompt,
    }
    if usage.reasoning:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return out


def decode_response(document: Any, context: AnswerContext) -> ChatResponse:
    """A whole Messages answer as an IR answer (one choice)."""
    with answer_errors():
        body = as_object(document, "answer")
        parts = [
            p
            for i, block in enumerate(as_array(body.get("content") or [], "content"))
            if (p := decode_answer_block(block, f"content[{i}]")) is not None
        ]
        reason = decode_stop(body.get("stop_reason"))
        sequence = opt_str(body, "stop_sequence", "")
        choice = Choice(0, Message(Role.ASSISTANT, tuple(parts)), reason, sequence)
        return ChatResponse(
            id=opt_str(body, "id", "") or context.id,
            model=opt_str(body, "model", "") or context.model,
            created=context.created,
            choices=(choice,),
            usage=decode_usage(body.get("usage")),
        )


def decode_answer_block(value: Any, path: str) -> Part | None:
    """One block of a node's answer; the blocks of server tools (which the router never
    asks for) and unknown ones are skipped."""
    block = as_object(value, path)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return TextPart(text) if isinstance(text, str) and text else None
    if kind == "thinking":
        thinking, signature = block.get("thinking"), block.get("signature")
        if not isinstance(thinking, str):
            raise InvalidRequest(f"'{path}.thinking' must be a string")
        return ReasoningPart(
            thinking, signature if isinstance(signature, str) and signature else None
        )
    if kind == "redacted_thinking":
        data = block.get("data")
        return RedactedReasoningPart(data) if isinstance(data, str) else None
    if kind == "tool_use":
        return decode_tool_use(block, path)
    return None


def encode_response(response: ChatResponse) -> dict[str, Any]:
    """An IR answer as an Anthropic `Message` (its first choice)."""
    choice = response.choices[0] if response.choices else None
    parts = choice.message.parts if choice is not None else ()
    content = [b for b in (encode_block(p, answer=True) for p in parts) if b is not None]
    has_calls = any(isinstance(p, ToolCallPart) for p in parts)
    finish, sequence = (choice.finish_reason, choice.stop_sequence) if choice else (None, None)
    reason = stop_reason(finish, has_calls, sequence)
    sequence = sequence if reason == "stop_sequence" else None
    return {
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": encode_usage(response.usage or TokenUsage()),
    }


# ---- count_tokens --------------------------------------------------------------------


def encode_token_count(input_tokens: int) -> dict[str, Any]:
    """The answer of `messages/count_tokens` (the router's estimate, or a node's count)."""
    return {"input_tokens": max(input_tokens, 0)}


def decode_token_count(document: Any) -> int:
    """The count an Anthropic node's `count_tokens` answered (0 when it says none)."""
    return count(document, "input_tokens")
