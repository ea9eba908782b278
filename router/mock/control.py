"""The mock node's own endpoints and key check: `/health`, `/_mock/*` (faults, counters,
the last request), the models lists, and the API-key middleware.

The objects the handlers share hang off the app under the keys defined here.
"""

from __future__ import annotations

import secrets

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from router.mock.answers import MODELS, Answer, MockSettings
from router.mock.faults import FaultError, MockState
from router.mock.messages import model_list
from router.mock.wire import error_in, error_response, json_response, wire_of

SETTINGS_KEY = web.AppKey("mock_settings", MockSettings)
ANSWER_KEY = web.AppKey("mock_answer", Answer)
STATE_KEY = web.AppKey("mock_state", MockState)


async def health(request: web.Request) -> web.Response:
    """GET /health; only the health_status fault applies here."""
    status = request.app[STATE_KEY].faults.health_status or 200
    node = request.app[SETTINGS_KEY].name
    return json_response({"status": "ok" if status < 400 else "error", "node": node}, status)


async def models(request: web.Request) -> web.Response:
    """GET /v1/models in the OpenAI list format (Anthropic's, on an Anthropic-only node)."""
    if request.app[SETTINGS_KEY].dialect == "anthropic":
        return json_response(model_list(MODELS))
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "mock"} for m in MODELS]
    return json_response({"object": "list", "data": data})


async def gemini_models(request: web.Request) -> web.Response:
    """GET /{version}/models in Google's list format (a key-checked path for probes)."""
    listed = [{"name": f"models/{m}", "displayName": m} for m in MODELS]
    return json_response({"models": listed})


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
    """GET /_mock/last_request: the last chat/Gemini/Messages request, or null."""
    return json_response(request.app[STATE_KEY].last_request)


def _has_key(request: web.Request, dialect: str, key: str) -> bool:
    """Whether the request presents `key` in a form a node of `dialect` reads:
    Authorization for OpenAI, x-goog-api-key for Google's API (a Bearer there is an OAuth
    token, never an API key), x-api-key for Anthropic's (likewise)."""
    headers = request.headers
    forms = []
    if dialect in ("openai", "both"):
        forms.append((headers.get("Authorization", ""), f"Bearer {key}"))
    if dialect in ("gemini", "both"):
        forms.append((headers.get("x-goog-api-key", ""), key))
    if dialect == "anthropic":
        forms.append((headers.get("x-api-key", ""), key))
    return any(secrets.compare_digest(given, wanted) for given, wanted in forms)


@web.middleware
async def check_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each dialect's own key header; an Anthropic node also wants `anthropic-version`."""
    settings = request.app[SETTINGS_KEY]
    path = request.path
    if path == "/health" or path.startswith("/_mock/"):
        return await handler(request)
    if settings.dialect == "anthropic" and "anthropic-version" not in request.headers:
        return error_in("anthropic", 400, "anthropic-version: header is required")
    if settings.api_key is None:
        return await handler(request)
    if _has_key(request, settings.dialect, settings.api_key):
        return await handler(request)
    request.app[STATE_KEY].stats.unauthorized += 1
    wire = "anthropic" if settings.dialect == "anthropic" else wire_of(request)
    if wire == "gemini":  # the OpenAI error shape on every path, as before
        wire = "openai"
    return error_in(wire, 401, "invalid or missing API key")


def add_control_routes(app: web.Application) -> None:
    """`/health` and the `/_mock/*` endpoints."""
    app.router.add_get("/health", health)
    app.router.add_get("/_mock/faults", get_faults)
    app.router.add_post("/_mock/faults", set_faults)
    app.router.add_get("/_mock/stats", get_stats)
    app.router.add_post("/_mock/stats/reset", reset_stats)
    app.router.add_get("/_mock/last_request", last_request)
