"""A mock LLM worker node: a real aiohttp server speaking the OpenAI and Gemini dialects.

Integration tests, the `make run` demo and the benchmarks put it behind the router in place
of a real worker. Answers are deterministic so tests can predict them:

* content: `--chunks` deltas, the first "Hello from <name>.", then " Part i of n.";
  reasoning: two deltas ("Thinking about the question. ", "Answering as <name>.");
* prompt tokens = characters of all text in the request // 4 + 1, content tokens = 4 per
  content delta, reasoning tokens = 16. OpenAI `completion_tokens` includes the reasoning
  tokens; Gemini `candidatesTokenCount` does not (`thoughtsTokenCount` is separate).

Faults (see `router.mock.faults`) apply to the chat, Gemini and countTokens endpoints only;
the `/_mock/*` endpoints change and show them while the node runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from router.mock.faults import (
    ConnectionCut,
    Exchange,
    FaultError,
    Faults,
    MockState,
    error_response,
    json_response,
    suffer_faults,
)

MAX_BODY = 256 * 1024 * 1024
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3.0-pro", "gemini-3.1-pro")
CONTENT_TOKENS_PER_DELTA = 4
REASONING_TOKENS = 16
GEMINI_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


@dataclass(frozen=True, slots=True)
class MockSettings:
    """The fixed behaviour of one mock node, from its command line."""

    name: str = "node"
    chunks: int = 5
    usage_always: bool = False
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    """The node's answer text, built once at startup so the hot path only formats JSON."""

    content_parts: tuple[str, ...]
    reasoning_parts: tuple[str, ...]
    content: str
    reasoning: str
    content_tokens: int

    @classmethod
    def of(cls, settings: MockSettings) -> _Answer:
        n = settings.chunks
        parts = (f"Hello from {settings.name}.", *(f" Part {i} of {n}." for i in range(2, n + 1)))
        reasoning = ("Thinking about the question. ", f"Answering as {settings.name}.")
        tokens = CONTENT_TOKENS_PER_DELTA * n
        return cls(parts, reasoning, "".join(parts), "".join(reasoning), tokens)


SETTINGS_KEY = web.AppKey("mock_settings", MockSettings)
ANSWER_KEY = web.AppKey("mock_answer", _Answer)
STATE_KEY = web.AppKey("mock_state", MockState)


def _text_chars(value: object) -> int:
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


def _openai_prompt_tokens(messages: list[Any]) -> int:
    chars = sum(_text_chars(m.get("content")) for m in messages if isinstance(m, dict))
    return chars // 4 + 1


def _gemini_prompt_tokens(body: dict[str, Any]) -> int:
    blocks = [c for c in body.get("contents", []) if isinstance(c, dict)]
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        blocks.append(system)
    return sum(_text_chars(b.get("parts")) for b in blocks) // 4 + 1


def _openai_usage(prompt: int, answer: _Answer) -> dict[str, Any]:
    completion = answer.content_tokens + REASONING_TOKENS
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
            "reasoning_tokens": REASONING_TOKENS,
        },
        "input_tokens": 0,
        "output_tokens": 0,
        "input_tokens_details": None,
        "claude_cache_creation_5_m_tokens": 0,
        "claude_cache_creation_1_h_tokens": 0,
    }


async def _answer_chat(call: Exchange) -> web.StreamResponse:
    body, answer = call.body, call.request.app[ANSWER_KEY]
    model = body["model"]
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    usage = _openai_usage(_openai_prompt_tokens(body["messages"]), answer)
    if body.get("stream") is not True:
        message = {
            "role": "assistant",
            "content": answer.content,
            "reasoning_content": answer.reasoning,
        }
        return await call.send_json(
            {
                "id": completion_id,
                "model": model,
                "object": "chat.completion",
                "created": created,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

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

    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    await response.prepare(call.request)
    await call.send(response, event({"content": "", "role": "assistant"}))
    for text in answer.reasoning_parts:
        await call.send(response, event({"reasoning_content": text}))
    for text in answer.content_parts:
        await call.send(response, event({"content": text}))
    await call.send(response, event({}, "stop"))
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    if wants_usage or call.request.app[SETTINGS_KEY].usage_always:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "",  # seed 002 sends "" here and null everywhere else
            "choices": [],
            "usage": usage,
        }
        await call.send(response, b"data: " + orjson.dumps(chunk) + b"\n\n")
    await call.send(response, b"data: [DONE]\n\n")
    return response


def _gemini_chunk(text: str, model: str, response_id: str) -> dict[str, Any]:
    candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    return {"candidates": [candidate], "modelVersion": model, "responseId": response_id}


def _finish(chunk: dict[str, Any], prompt: int, answer: _Answer) -> dict[str, Any]:
    chunk["candidates"][0]["finishReason"] = "STOP"
    chunk["usageMetadata"] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer.content_tokens,
        "totalTokenCount": prompt + answer.content_tokens + REASONING_TOKENS,
        "thoughtsTokenCount": REASONING_TOKENS,
    }
    return chunk


async def _answer_gemini(call: Exchange) -> web.StreamResponse:
    request, answer = call.request, call.request.app[ANSWER_KEY]
    model, action = request.match_info["target"].rsplit(":", 1)
    if action == "countTokens":
        inner = call.body.get("generateContentRequest")
        counted = inner if isinstance(inner, dict) else call.body
        return await call.send_json({"totalTokens": _gemini_prompt_tokens(counted)})
    prompt = _gemini_prompt_tokens(call.body)
    response_id = uuid.uuid4().hex[:22]
    if action == "generateContent":
        chunk = _gemini_chunk(answer.content, model, response_id)
        return await call.send_json(_finish(chunk, prompt, answer))

    is_sse = request.query.get("alt") == "sse"
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream" if is_sse else "application/json"
    await response.prepare(request)
    last = len(answer.content_parts) - 1
    for i, text in enumerate(answer.content_parts):
        chunk = _gemini_chunk(text, model, response_id)
        data = orjson.dumps(_finish(chunk, prompt, answer) if i == last else chunk)
        if is_sse:
            data = b"data: " + data + b"\r\n\r\n"
        else:  # a JSON array streamed element by element, as Gemini does without alt=sse
            data = (b"[" if i == 0 else b",\r\n") + data + (b"]" if i == last else b"")
        await call.send(response, data)
    return response


def _invalid_body(body: dict[str, Any], is_chat: bool) -> str | None:
    """Why the body cannot be answered, or None."""
    if is_chat:
        if not isinstance(body.get("model"), str):
            return "model must be a string"
        if not isinstance(body.get("messages"), list):
            return "messages must be a list"
    elif not isinstance(body.get("contents", []), list):
        return "contents must be a list"
    return None


def _describe(request: web.Request, raw: bytes, body: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": {str(k): v for k, v in request.headers.items()},
        "body_len": len(raw),
        "body_sha256": hashlib.sha256(raw).hexdigest(),
        "model": body.get("model") if body else None,
        "stream_options": body.get("stream_options") if body else None,
    }


async def _serve(
    request: web.Request, answer: Callable[[Exchange], Awaitable[web.StreamResponse]], is_chat: bool
) -> web.StreamResponse:
    """Count, record and fault one request, then answer it."""
    state = request.app[STATE_KEY]
    stats = state.stats
    stats.count_request(request.path)
    stats.inflight += 1
    try:
        raw = await request.read()
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
        state.last_request = _describe(request, raw, body)
        faults = dataclasses.replace(state.faults)  # a snapshot for this request
        failed = await suffer_faults(state, faults, request)
        if failed is not None:
            return failed
        problem = "body must be a JSON object" if body is None else _invalid_body(body, is_chat)
        if problem is not None or body is None:
            return error_response(400, "token_mismatched", str(problem), "invalid_request_error")
        response = await answer(Exchange(request, body, faults))
    except ConnectionCut as cut:
        stats.cut += 1
        return cut.response
    except (asyncio.CancelledError, ConnectionResetError):
        stats.count_cancel()
        raise
    finally:
        stats.inflight -= 1
    stats.completed += 1
    return response


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    return await _serve(request, _answer_chat, is_chat=True)


async def gemini(request: web.Request) -> web.StreamResponse:
    """POST /{v1beta,v1,v1alpha}/models/{model}:{action}."""
    _, _, action = request.match_info["target"].rpartition(":")
    if action not in GEMINI_ACTIONS:
        return error_response(404, "api_not_implemented", f"unknown action {action!r}", "not_found")
    return await _serve(request, _answer_gemini, is_chat=False)


async def health(request: web.Request) -> web.Response:
    """GET /health; only the health_status fault applies here."""
    status = request.app[STATE_KEY].faults.health_status or 200
    node = request.app[SETTINGS_KEY].name
    return json_response({"status": "ok" if status < 400 else "error", "node": node}, status)


async def models(request: web.Request) -> web.Response:
    """GET /v1/models in the OpenAI list format."""
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "mock"} for m in MODELS]
    return json_response({"object": "list", "data": data})


async def get_faults(request: web.Request) -> web.Response:
    """GET /_mock/faults."""
    return json_response(request.app[STATE_KEY].faults.as_dict())


async def set_faults(request: web.Request) -> web.Response:
    """POST /_mock/faults: update some faults, or {"reset": true}; answers all of them."""
    faults = request.app[STATE_KEY].faults
    try:
        payload = orjson.loads(await request.read())
        if not isinstance(payload, dict):
            raise FaultError("the body must be a JSON object")
        faults.update(payload)
    except (orjson.JSONDecodeError, FaultError) as exc:
        return error_response(400, "token_mismatched", str(exc), "invalid_request_error")
    return json_response(faults.as_dict())


async def get_stats(request: web.Request) -> web.Response:
    """GET /_mock/stats."""
    return json_response(request.app[STATE_KEY].stats.as_dict())


async def reset_stats(request: web.Request) -> web.Response:
    """POST /_mock/stats/reset."""
    stats = request.app[STATE_KEY].stats
    stats.reset()
    return json_response(stats.as_dict())


async def last_request(request: web.Request) -> web.Response:
    """GET /_mock/last_request: the last chat/Gemini request, or null."""
    return json_response(request.app[STATE_KEY].last_request)


@web.middleware
async def _check_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    path = request.path
    if settings.api_key is None or path == "/health" or path.startswith("/_mock/"):
        return await handler(request)
    key = settings.api_key
    bearer = request.headers.get("Authorization", "")
    goog = request.headers.get("x-goog-api-key", "")
    if secrets.compare_digest(bearer, f"Bearer {key}") or secrets.compare_digest(goog, key):
        return await handler(request)
    request.app[STATE_KEY].stats.unauthorized += 1
    return error_response(
        401, "invalid_token", "invalid or missing API key", "authentication_error"
    )


def create_app(
    settings: MockSettings, faults: Faults | None = None, *, seed: int | None = None
) -> web.Application:
    """The mock node's aiohttp application."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_check_api_key])
    app[SETTINGS_KEY] = settings
    app[ANSWER_KEY] = _Answer.of(settings)
    app[STATE_KEY] = MockState(faults or Faults(), seed=seed)
    node_header = settings.name

    async def tag(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Mock-Node"] = node_header

    app.on_response_prepare.append(tag)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post(r"/{version:v1beta|v1|v1alpha}/models/{target}", gemini)
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/_mock/faults", get_faults)
    app.router.add_post("/_mock/faults", set_faults)
    app.router.add_get("/_mock/stats", get_stats)
    app.router.add_post("/_mock/stats/reset", reset_stats)
    app.router.add_get("/_mock/last_request", last_request)
    return app


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `router mock-node` flags."""
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="node", help="node name, in answers and X-Mock-Node")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", help="require this key (Bearer or x-goog-api-key)")
    parser.add_argument("--chunks", type=_positive_int, default=5, help="content deltas")
    parser.add_argument("--usage", choices=("requested", "always"), default="requested")
    parser.add_argument("--seed", type=int, help="seed for the error-rate draws")
    faults = parser.add_argument_group("faults (also settable at runtime: POST /_mock/faults)")
    faults.add_argument("--status", type=int, help="answer this status instead")
    faults.add_argument("--error-rate", type=float, help="fraction of requests failing (0..1)")
    faults.add_argument("--first-byte-delay", type=float, default=0.0, metavar="S")
    faults.add_argument("--chunk-delay", type=float, default=0.0, metavar="S")
    faults.add_argument("--cut-after", type=int, metavar="N", help="abort after N events")
    faults.add_argument("--hang", action="store_true", help="never answer")
    faults.add_argument("--health-status", type=int, metavar="CODE")


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The startup faults; --error-rate without --status fails with 500."""
    update: dict[str, Any] = {
        "status": args.status,
        "first_byte_delay": args.first_byte_delay,
        "chunk_delay": args.chunk_delay,
        "cut_after": args.cut_after,
        "hang": args.hang,
        "health_status": args.health_status,
    }
    if args.error_rate is not None:
        update["error_rate"] = args.error_rate
        if args.status is None:
            update["status"] = 500
    faults = Faults()
    faults.update(update)
    return faults


async def _serve_forever(args: argparse.Namespace, faults: Faults) -> None:
    settings = MockSettings(
        name=args.name,
        chunks=args.chunks,
        usage_always=args.usage == "always",
        api_key=args.api_key,
    )
    app = create_app(settings, faults, seed=args.seed)
    # handler_cancellation: a client that goes away cancels its handler (counted in stats);
    # a short shutdown_timeout: hanging requests must not hold up SIGTERM for a minute.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, args.host, args.port).start()
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"mock node {settings.name} listening on http://{host}:{args.port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    """Run the mock node until SIGTERM or SIGINT; returns the exit code."""
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    try:
        faults = faults_from_args(args)
    except FaultError as exc:
        print(f"router mock-node: {exc}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_forever(args, faults))
    return 0
