"""The mock node's aiohttp application: routes, the API-key check, faults and counters.

Faults (see `router.mock.faults`) apply to the chat, completions, embeddings, responses,
Gemini and countTokens endpoints only;
the `/_mock/*` endpoints change and show them while the node runs. The answers themselves
are built in `router.mock.answers`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from router.mock.answers import (
    GEMINI_ACTIONS,
    MODELS,
    Answer,
    MockSettings,
    chat_completion,
    chat_stream,
    gemini_answer,
    gemini_prompt_tokens,
    gemini_stream,
    invalid_body,
    prefill_of,
)
from router.mock.faults import (
    ConnectionCut,
    Exchange,
    FaultError,
    Faults,
    MockState,
    error_response,
    google_error_response,
    json_response,
    suffer_faults,
)
from router.mock.openai_apis import (
    completion,
    completion_stream,
    embeddings,
    response,
    response_stream,
)

MAX_BODY = 256 * 1024 * 1024

SETTINGS_KEY = web.AppKey("mock_settings", MockSettings)
ANSWER_KEY = web.AppKey("mock_answer", Answer)
STATE_KEY = web.AppKey("mock_state", MockState)


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
    if body.get("stream") is not True:
        answer = call.answer or app[ANSWER_KEY]
        return await call.send_json(chat_completion(body, answer, completion_id, created))
    usage_always = app[SETTINGS_KEY].usage_always
    frames = chat_stream(
        body,
        call.answer or app[ANSWER_KEY],
        completion_id,
        created,
        usage_always=usage_always,
        litellm_usage=call.faults.usage_chunk_style == "litellm",
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
    response_id = uuid.uuid4().hex[:22]
    if action == "generateContent":
        return await call.send_json(gemini_answer(call.body, answer, model, response_id))
    is_sse = request.query.get("alt") == "sse"
    frames = gemini_stream(call.body, answer, model, response_id, is_sse=is_sse)
    return await _send_stream(call, "text/event-stream" if is_sse else "application/json", frames)


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
        problem = "body must be a JSON object" if body is None else invalid_body(body, is_chat)
        if problem is not None or body is None:
            if not is_chat:  # a Gemini node answers in Google's shape
                return google_error_response(400, str(problem), {})
            return error_response(400, "token_mismatched", str(problem), "invalid_request_error")
        prefill = prefill_of(body, is_chat) if answer in _CONTINUABLE else None
        if prefill is not None and faults.reject_prefill:
            message = "a final assistant message (prefill) is not supported"
            if not is_chat:
                return google_error_response(400, message, {})
            return error_response(400, "invalid_prefill", message, "invalid_request_error")
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
_CONTINUABLE = (_answer_chat, _answer_gemini)


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
    """POST /_mock/stats/reset: counters and the last request start afresh."""
    state = request.app[STATE_KEY]
    state.last_request = None
    stats = state.stats
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
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/embeddings", embeddings_endpoint)
    app.router.add_post(r"/{version:v1beta|v1|v1alpha}/models/{target}", gemini)
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/_mock/faults", get_faults)
    app.router.add_post("/_mock/faults", set_faults)
    app.router.add_get("/_mock/stats", get_stats)
    app.router.add_post("/_mock/stats/reset", reset_stats)
    app.router.add_get("/_mock/last_request", last_request)
    return app
