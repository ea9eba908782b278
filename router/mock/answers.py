"""What the mock node answers, built without I/O: texts, token counts, JSON bodies, SSE frames.

Answers are deterministic so tests can predict them:

* content: `--chunks` deltas, the first "Hello from <name>.", then " Part i of n.";
  reasoning: two deltas ("Thinking about the question. ", "Answering as <name>.");
* a request that asks for JSON (`response_format` json_object/json_schema, Gemini's
  `responseMimeType: application/json`) is answered `{"answer": <the content>}`, in as
  many pieces; a Gemini request with `thinkingConfig.includeThoughts` gets the reasoning
  as thought parts (`"thought": true`) before the content, as Gemini sends them;
* prompt tokens = characters of all text in the request // 4 + 1, content tokens = 4 per
  content delta, reasoning tokens = 16. OpenAI `completion_tokens` includes the reasoning
  tokens; Gemini `candidatesTokenCount` does not (`thoughtsTokenCount` is separate).

A stream is a list of frames; `router.mock.app` sends them one by one so that faults
(delays, cuts) can fall between them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3.0-pro", "gemini-3.1-pro")
CONTENT_TOKENS_PER_DELTA = 4
REASONING_TOKENS = 16
GEMINI_ACTIONS = (
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "embedContent",
    "batchEmbedContents",
)


@dataclass(frozen=True, slots=True)
class MockSettings:
    """The fixed behaviour of one mock node, from its command line."""

    name: str = "node"
    chunks: int = 5
    usage_always: bool = False
    api_key: str | None = None
    dialect: str = "both"  # `openai`, `gemini` or `both`: the paths it serves (DIALECTS)
    answer: str | None = None  # --answer: this text (cut into `chunks` deltas) instead


@dataclass(frozen=True, slots=True)
class Answer:
    """The node's answer text, built once at startup so the hot path only formats JSON."""

    content_parts: tuple[str, ...]
    reasoning_parts: tuple[str, ...]
    content: str
    reasoning: str
    content_tokens: int
    reasoning_tokens: int = REASONING_TOKENS

    @classmethod
    def of(cls, settings: MockSettings) -> Answer:
        n = settings.chunks
        parts = (f"Hello from {settings.name}.", *(f" Part {i} of {n}." for i in range(2, n + 1)))
        if settings.answer:  # the web page tests' Markdown: the given text, in n pieces
            size = -(-len(settings.answer) // n)
            parts = tuple(
                settings.answer[i : i + size] for i in range(0, len(settings.answer), size)
            )
        reasoning = ("Thinking about the question. ", f"Answering as {settings.name}.")
        tokens = CONTENT_TOKENS_PER_DELTA * n
        return cls(parts, reasoning, "".join(parts), "".join(reasoning), tokens)

    def in_json(self) -> Answer:
        """This answer as a JSON document (`{"answer": ...}`), in as many pieces."""
        text = orjson.dumps({"answer": self.content}).decode()
        n = max(len(self.content_parts), 1)
        size = -(-len(text) // n)
        parts = tuple(text[i : i + size] for i in range(0, len(text), size))
        return dataclasses.replace(self, content_parts=parts, content=text)

    def continuing(self, content: str, reasoning: str) -> Answer:
        """The rest of this answer after a prefill of `content` and `reasoning` (an
        assistant turn last): the parts not yet given, counted by their shape ("Hello
        from", then " Part i of n."), so any node continues any other's answer.
        Reasoning is done once there is content; tokens count the parts sent."""
        given = (1 if content else 0) + content.count(" Part ")
        parts = self.content_parts[given:]
        if content:
            thoughts: tuple[str, ...] = ()
        else:
            thought = (1 if reasoning else 0) + (1 if "Answering as" in reasoning else 0)
            thoughts = self.reasoning_parts[thought:]
        per_thought = REASONING_TOKENS // len(self.reasoning_parts)
        return Answer(
            parts,
            thoughts,
            "".join(parts),
            "".join(thoughts),
            CONTENT_TOKENS_PER_DELTA * len(parts),
            per_thought * len(thoughts),
        )


def prefill_of(body: dict[str, Any], is_chat: bool) -> tuple[str, str] | None:
    """The (content, reasoning) of a request whose last turn is the assistant's (OpenAI)
    or the model's (Gemini): a prefill to continue; None for an ordinary request."""
    turns = body.get("messages" if is_chat else "contents")
    last = turns[-1] if isinstance(turns, list) and turns else None
    if not isinstance(last, dict) or last.get("role") != ("assistant" if is_chat else "model"):
        return None
    if is_chat:
        content, reasoning = last.get("content"), last.get("reasoning_content")
        return (
            content if isinstance(content, str) else "",
            reasoning if isinstance(reasoning, str) else "",
        )
    said = {True: "", False: ""}
    for part in last.get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            said[part.get("thought") is True] += part["text"]
    return said[False], said[True]


def wants_json(body: dict[str, Any]) -> bool:
    """Whether a request (either dialect) asks for a JSON answer."""
    form = body.get("response_format")
    if isinstance(form, dict) and form.get("type") in ("json_object", "json_schema"):
        return True
    config = body.get("generationConfig") or body.get("generation_config")
    if not isinstance(config, dict):
        return False
    mime = config.get("responseMimeType") or config.get("response_mime_type")
    return mime == "application/json"


def wants_thoughts(body: dict[str, Any]) -> bool:
    """Whether a Gemini request asks to see the model's thoughts."""
    config = body.get("generationConfig") or body.get("generation_config")
    thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
    if not isinstance(thinking, dict):
        return False
    return thinking.get("includeThoughts") is True or thinking.get("include_thoughts") is True


def text_chars(value: object) -> int:
    """Characters of text in an OpenAI message content or a list of Gemini/OpenAI parts."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        total = 0
        for part in value:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"])
        return total
    return 0


def openai_prompt_tokens(messages: list[Any]) -> int:
    """The prompt count of OpenAI `messages`."""
    chars = sum(text_chars(m.get("content")) for m in messages if isinstance(m, dict))
    return chars // 4 + 1


def gemini_prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt count of a Gemini body: its contents and system instruction."""
    blocks = [c for c in body.get("contents", []) if isinstance(c, dict)]
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        blocks.append(system)
    return sum(text_chars(b.get("parts")) for b in blocks) // 4 + 1


def openai_usage(prompt: int, answer: Answer) -> dict[str, Any]:
    """The `usage` object, with the fields a real node sends."""
    completion = answer.content_tokens + answer.reasoning_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "text_tokens": prompt,
            "audio_tokens": 0,
            "image_tokens": 0,
        },
        "completion_tokens_details": {
            "text_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": answer.reasoning_tokens,
        },
        "input_tokens": 0,
        "output_tokens": 0,
        "input_tokens_details": None,
        "claude_cache_creation_5_m_tokens": 0,
        "claude_cache_creation_1_h_tokens": 0,
    }


def chat_completion(
    body: dict[str, Any], answer: Answer, completion_id: str, created: int, finish: str = "stop"
) -> dict[str, Any]:
    """The non-streaming OpenAI answer."""
    message = {
        "role": "assistant",
        "content": answer.content,
        "reasoning_content": answer.reasoning,
    }
    return {
        "id": completion_id,
        "model": body["model"],
        "object": "chat.completion",
        "created": created,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": openai_usage(openai_prompt_tokens(body["messages"]), answer),
    }


def chat_stream(
    body: dict[str, Any],
    answer: Answer,
    completion_id: str,
    created: int,
    *,
    usage_always: bool,
    litellm_usage: bool = False,
    finish: str = "stop",
) -> list[bytes]:
    """The SSE frames of a streaming OpenAI answer, `[DONE]` included; `litellm_usage`
    sends the usage chunk as LiteLLM does (one choice with an empty delta)."""
    model = body["model"]

    def event(delta: dict[str, str], finish: str | None = None) -> bytes:
        choice = {"delta": delta, "logprobs": None, "finish_reason": finish, "index": 0}
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [choice],
            "usage": None,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    frames = [event({"content": "", "role": "assistant"})]
    frames += [event({"reasoning_content": text}) for text in answer.reasoning_parts]
    frames += [event({"content": text}) for text in answer.content_parts]
    frames.append(event({}, finish))
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    if wants_usage or usage_always:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "",  # seed 002 sends "" here and null everywhere else
            "choices": [{"index": 0, "delta": {}}] if litellm_usage else [],
            "usage": openai_usage(openai_prompt_tokens(body["messages"]), answer),
        }
        frames.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return frames


def gemini_chunk(
    text: str, model: str, response_id: str, thoughts: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One Gemini candidate chunk with `thoughts` (thought parts) and `text`."""
    parts: list[dict[str, Any]] = [{"text": thought, "thought": True} for thought in thoughts]
    if text or not parts:
        parts.append({"text": text})
    candidate = {"content": {"parts": parts, "role": "model"}, "index": 0}
    return {"candidates": [candidate], "modelVersion": model, "responseId": response_id}


def gemini_finish(
    chunk: dict[str, Any], prompt: int, answer: Answer, finish: str = "STOP"
) -> dict[str, Any]:
    """`chunk` made the last one: finish reason and usage metadata."""
    chunk["candidates"][0]["finishReason"] = finish
    chunk["usageMetadata"] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer.content_tokens,
        "totalTokenCount": prompt + answer.content_tokens + answer.reasoning_tokens,
        "thoughtsTokenCount": answer.reasoning_tokens,
    }
    return chunk


def gemini_answer(
    body: dict[str, Any], answer: Answer, model: str, response_id: str, finish: str = "STOP"
) -> dict[str, Any]:
    """The non-streaming generateContent answer."""
    thoughts = (answer.reasoning,) if answer.reasoning and wants_thoughts(body) else ()
    chunk = gemini_chunk(answer.content, model, response_id, thoughts)
    return gemini_finish(chunk, gemini_prompt_tokens(body), answer, finish)


def gemini_stream(
    body: dict[str, Any],
    answer: Answer,
    model: str,
    response_id: str,
    *,
    is_sse: bool,
    finish: str = "STOP",
) -> list[bytes]:
    """The frames of streamGenerateContent: SSE events, or a JSON array element by element
    (as Gemini streams without alt=sse); the thoughts first, each in a chunk of its own,
    when the request asks to see them."""
    prompt = gemini_prompt_tokens(body)
    thoughts = answer.reasoning_parts if wants_thoughts(body) else ()
    chunks = [gemini_chunk("", model, response_id, (thought,)) for thought in thoughts]
    # a continuation with nothing left still finishes
    chunks += [gemini_chunk(text, model, response_id) for text in answer.content_parts or ("",)]
    last = len(chunks) - 1
    frames = []
    for i, chunk in enumerate(chunks):
        data = orjson.dumps(gemini_finish(chunk, prompt, answer, finish) if i == last else chunk)
        if is_sse:
            data = b"data: " + data + b"\r\n\r\n"
        else:
            data = (b"[" if i == 0 else b",\r\n") + data + (b"]" if i == last else b"")
        frames.append(data)
    return frames


def invalid_body(body: dict[str, Any], is_chat: bool) -> str | None:
    """Why the body cannot be answered, or None."""
    if is_chat:
        if not isinstance(body.get("model"), str):
            return "model must be a string"
        if not isinstance(body.get("messages"), list):
            return "messages must be a list"
    elif not isinstance(body.get("contents", []), list):
        return "contents must be a list"
    return None
