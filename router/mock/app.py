"""The mock node's aiohttp application: its answering routes, faults and counters.

Faults (see `router.mock.faults`) apply to the chat, completions, embeddings, responses,
Gemini, countTokens and Anthropic Messages endpoints only; the `/_mock/*` endpoints
(router.mock.control) change and show them while the node runs. The answers themselves
are built in `router.mock.answers`, `router.mock.messages` (Anthropic's) and
`router.mock.tools` (scripted tool calls).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from router.mock import messages, tools
from router.mock.answers import (
    GEMINI_ACTIONS,
    Answer,
    MockSettings,
    chat_completion,
    chat_stream,
    gemini_answer,
    gemini_prompt_tokens,
    gemini_stream,
    invalid_body,
    prefill_of,
    wants_json,
)
from router.mock.control import (
    ANSWER_KEY,
    SETTINGS_KEY,
    STATE_KEY,
    add_control_routes,
    check_api_key,
    gemini_models,
    models,
)
from router.mock.faults import ConnectionCut, Exchange, Faults, MockState, suffer_faults
from router.mock.openai_apis import (
    completion,
    completion_stream,
    embeddings,
    gemini_embeddings,
    response,
    response_stream,
)
from router.mock.wire import ANTHROPIC, GEMINI, OPENAI, error_in, error_response

MAX_BODY = 256 * 1024 * 1024
# What `--dialect` may name: the APIs the node serves (the other's paths answer 404, as
# on a real single-dialect worker) and the key headers it takes.
DIALECTS = ("openai", "gemini", "anthropic", "both")


async def _send_stream(
    call: Exchange, content_type: str, frames: list[bytes]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = content_type
    compress(response, call.faults)
    await response.prepare(call.request)
    for frame in frames:
        if not await call.send(response, frame):
            break
    return response


def compress(response: web.StreamResponse, faults: Faults) -> None:
    """The `compress` fault, on a response not yet prepared."""
    if faults.compress == "accepted":
        response.enable_compression()  # only when the request's Accept-Encoding allows it
    elif faults.compress == "always":
        response.enable_compression(web.ContentCoding.gzip)


async def _answer_chat(call: Exchange) -> web.StreamResponse:
    body, app = call.body, call.request.app
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    script = tools.scripted(body, OPENAI, call.faults.tool_call, call.answer or app[ANSWER_KEY])
    if isinstance(script, tools.ToolCall):
        if body.get("stream") is not True:
            return await call.send_json(tools.openai_call(body, script, completion_id, created))
        frames = tools.openai_call_stream(body, script, completion_id, created)
        return await _send_stream(call, "text/event-stream", frames)
    answer = script or call.answer or app[ANSWER_KEY]
    answer = answer.in_json() if wants_json(body) else answer
    finish = call.faults.finish_reason or "stop"
    if body.get("stream") is not True:
        return await call.send_json(chat_completion(body, answer, completion_id, created, finish))
    usage_always = app[SETTINGS_KEY].usage_always
    frames = chat_stream(
        body,
        answer,
        completion_id,
        created,
        usage_always=usage_always,
        litellm_usage=call.faults.usage_chunk_style == "litellm",
        finish=finish,
    )
    call.leading = 1  # the role chunk carries no token
    return await _send_stream(call, "text/event-stream", frames)


async def _answer_completions(call: Exchange) -> web.StreamResponse:
    body, app = call.body, call.request.app
    cid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
    if body.get("stream") is not True:
        return await call.send_json(completion(body, app[ANSWER_KEY], cid, created))
    usage_always = app[SETTINGS_KEY].usage_always
    frames = completion_stream(body, app[ANSWER_KEY], cid, created, usage_always=usage_always)
    return await _send_stream(call, "text/event-stream", frames)


async def _answer_responses(call: Exchange) -> web.StreamResponse:
    body, answer = call.body, call.request.app[ANSWER_KEY]
    rid, created = uuid.uuid4().hex, int(time.time())
    if body.get("stream") is not True:
        return await call.send_json(response(body, answer, rid, created))
    return await _send_stream(
        call, "text/event-stream", response_stream(body, answer, rid, created)
    )


async def _answer_embeddings(call: Exchange) -> web.StreamResponse:
    return await call.send_json(embeddings(call.body))


async def _answer_gemini(call: Exchange) -> web.StreamResponse:
    request, answer = call.request, call.answer or call.request.app[ANSWER_KEY]
    model, action = request.match_info["target"].rsplit(":", 1)
    if action == "countTokens":
        inner = call.body.get("generateContentRequest")
        counted = inner if isinstance(inner, dict) else call.body
        return await call.send_json({"totalTokens": gemini_prompt_tokens(counted)})
    if action in ("embedContent", "batchEmbedContents"):
        batch = action == "batchEmbedContents"
        return await call.send_json(gemini_embeddings(call.body, batch=batch))
    response_id = uuid.uuid4().hex[:22]
    is_sse = request.query.get("alt") == "sse"
    script = tools.scripted(call.body, GEMINI, call.faults.tool_call, answer)
    if isinstance(script, tools.ToolCall):
        if action == "generateContent":
            answered = tools.gemini_call(call.body, script, model, response_id, answer)
            return await call.send_json(answered)
        frames = tools.gemini_call_stream(
            call.body, script, model, response_id, answer, is_sse=is_sse
        )
        return await _send_stream(
            call, "text/event-stream" if is_sse else "application/json", frames
        )
    answer = script or answer
    answer = answer.in_json() if wants_json(call.body) else answer
    finish = call.faults.finish_reason or "STOP"
    if action == "generateContent":
        answered = gemini_answer(call.body, answer, model, response_id, finish)
        return await call.send_json(answered)
    frames = gemini_stream(call.body, answer, model, response_id, is_sse=is_sse, finish=finish)
    return await _send_stream(call, "text/event-stream" if is_sse else "application/json", frames)


async def _answer_messages(call: Exchange) -> web.StreamResponse:
    """POST /v1/messages and /v1/messages/count_tokens, as Anthropic answers them."""
    body, answer = call.body, call.answer or call.request.app[ANSWER_KEY]
    if call.request.path.endswith("/count_tokens"):
        return await call.send_json({"input_tokens": messages.input_tokens(body)})
    ident = messages.message_id(uuid.uuid4().hex)
    script = tools.scripted(body, ANTHROPIC, call.faults.tool_call, answer)
    if isinstance(script, tools.ToolCall):
        call_id = f"toolu_{uuid.uuid4().hex[:24]}"
        if body.get("stream") is not True:
            block = {"type": "tool_use", "id": call_id, "name": script.name}
            content = [{**block, "input": script.arguments}]
            whole = messages.message(body, answer, ident, content, "tool_use")
            return await call.send_json(whole)
        index = 1 if messages.thinks(body) and answer.reasoning else 0
        blocks = [messages.tool_use_block(index, call_id, script.name, script.arguments)]
        frames = messages.stream(body, answer, ident, blocks, "tool_use")
    elif body.get("stream") is not True:
        return await call.send_json(messages.message(body, script or answer, ident))
    else:
        frames = messages.stream(body, script or answer, ident)
    call.leading = 2  # message_start and the ping carry no token
    return await _send_stream(call, "text/event-stream", frames)


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
        "body": body,  # what a router translated for this node, for tests to read
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
        # A Gemini node (and, as before, the other endpoints) answers in Google's shape.
        wire = OPENAI if is_chat else ANTHROPIC if answer is _answer_messages else GEMINI
        problem = "body must be a JSON object" if body is None else _invalid(body, wire, request)
        if problem is not None or body is None:
            return error_in(wire, 400, str(problem))
        prefill = _prefill(body, wire) if answer in _CONTINUABLE else None
        if prefill is not None and faults.reject_prefill:
            message = "a final assistant message (prefill) is not supported"
            if wire == OPENAI:
                return error_response(400, "invalid_prefill", message, "invalid_request_error")
            return error_in(wire, 400, message)
        call = Exchange(request, body, faults, slow_start=state.draws_slow_start(faults))
        if prefill is not None:
            call.answer = request.app[ANSWER_KEY].continuing(*prefill)
        response = await answer(call)
        if not response.prepared:
            compress(response, faults)
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


# The answers that continue a prefilled last turn (the others ignore it).
_CONTINUABLE = (_answer_chat, _answer_gemini, _answer_messages)


def _invalid(body: dict[str, Any], wire: str, request: web.Request) -> str | None:
    if wire == ANTHROPIC:
        return messages.invalid_body(body, request.path.endswith("/count_tokens"))
    return invalid_body(body, wire == OPENAI)


def _prefill(body: dict[str, Any], wire: str) -> tuple[str, str] | None:
    return messages.prefill_of(body) if wire == ANTHROPIC else prefill_of(body, wire == OPENAI)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    return await _serve(request, _answer_chat, is_chat=True)


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions (legacy text completions)."""
    return await _serve(request, _answer_completions, is_chat=False)


async def responses(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses (the Responses API)."""
    return await _serve(request, _answer_responses, is_chat=False)


async def embeddings_endpoint(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings."""
    return await _serve(request, _answer_embeddings, is_chat=False)


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages and /v1/messages/count_tokens (Anthropic's Messages API)."""
    return await _serve(request, _answer_messages, is_chat=False)


async def gemini(request: web.Request) -> web.StreamResponse:
    """POST /{v1beta,v1,v1alpha}/models/{model}:{action}."""
    _, _, action = request.match_info["target"].rpartition(":")
    if action not in GEMINI_ACTIONS:
        return error_response(404, "api_not_implemented", f"unknown action {action!r}", "not_found")
    return await _serve(request, _answer_gemini, is_chat=False)


def create_app(
    settings: MockSettings, faults: Faults | None = None, *, seed: int | None = None
) -> web.Application:
    """The mock node's aiohttp application."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[check_api_key])
    app[SETTINGS_KEY] = settings
    app[ANSWER_KEY] = Answer.of(settings)
    app[STATE_KEY] = MockState(faults or Faults(), seed=seed)
    node_header = settings.name

    async def tag(request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith("/_mock/"):  # the `headers` fault
            response.headers.update(app[STATE_KEY].faults.headers)
        response.headers["X-Mock-Node"] = node_header
        # Every answer names itself, as real providers do: the router passes it back.
        response.headers.setdefault("x-request-id", f"mock-{uuid.uuid4().hex}")

    app.on_response_prepare.append(tag)
    if settings.dialect == ANTHROPIC:
        app.router.add_post("/v1/messages", anthropic_messages)
        app.router.add_post("/v1/messages/count_tokens", anthropic_messages)
        app.router.add_get("/v1/models", models)
    elif settings.dialect != GEMINI:
        app.router.add_post("/v1/chat/completions", chat_completions)
        app.router.add_post("/v1/completions", completions)
        app.router.add_post("/v1/responses", responses)
        app.router.add_post("/v1/embeddings", embeddings_endpoint)
        app.router.add_get("/v1/models", models)
    if settings.dialect in (GEMINI, "both"):
        app.router.add_post(r"/{version:v1beta|v1|v1alpha}/models/{target}", gemini)
        app.router.add_get(r"/{version:v1beta|v1|v1alpha}/models", gemini_models)
    add_control_routes(app)
    return app
