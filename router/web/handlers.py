"""HTTP handlers: parse the request, find its route, hand it to the proxy."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from router.billing.service import Billing
from router.billing.state.base import Admission
from router.config.model import Config, ModelRoute
from router.dialects.requests import GeminiTarget, OpenAIRequest, parse_gemini, parse_openai
from router.errors import ApiError, InvalidRequest, ModelNotFound, RequestTooLarge, RouterError
from router.observability.exchange import Exchange
from router.proxy.attempts import Proxy
from router.proxy.table import RouteTable
from router.upstream.headers import REQUEST_ID
from router.upstream.http11 import request_path
from router.upstream.nodes import NodeRuntime
from router.web.forwarded import Network, client_address, parse_networks
from router.web.lifecycle import Lifecycle

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_MAX_ECHO = 100  # longest piece of user input quoted back in an error message


_REQUEST_ID_KEY = web.RequestKey("request_id", str)


def request_id_of(request: web.Request) -> str:
    """The client's X-Request-ID when it is sane, else a new one (cached on the request)."""
    try:
        return request[_REQUEST_ID_KEY]
    except KeyError:
        return assign_request_id(request)


def assign_request_id(request: web.Request) -> str:
    """Choose the request's id and cache it (a proxied request does this first thing,
    which spares it the failed lookup of `request_id_of`)."""
    given = request.headers.get(REQUEST_ID)
    rid = given if given and _REQUEST_ID_OK.match(given) else os.urandom(16).hex()
    request[_REQUEST_ID_KEY] = rid
    return rid


@dataclass(slots=True)
class OpenAITarget:
    """POST {node}/v1/chat/completions with the client's body.

    Only `model` changes (when a backend renames it), plus `stream_options.include_usage`
    when the router needs streaming usage for billing and the client did not ask for it.
    """

    raw: bytes
    parsed: OpenAIRequest
    strip_usage: bool = False
    gemini: bool = False

    def path(self, node: NodeRuntime, model: str | None) -> str:
        return node.chat_path

    def body(self, model: str | None) -> bytes:
        renamed = model is not None and model != self.parsed.model
        if not renamed and not self.strip_usage:
            return self.raw
        changes: dict[str, object] = {}
        if renamed:
            changes["model"] = model
        if self.strip_usage:
            options = self.parsed.document.get("stream_options")
            options = dict(options) if isinstance(options, dict) else {}
            changes["stream_options"] = {**options, "include_usage": True}
        return self.parsed.with_changes(changes)


def wants_injected_usage(parsed: OpenAIRequest, route: ModelRoute) -> bool:
    """A streaming request whose client did not ask for usage, on a route that injects it."""
    document = parsed.document
    if not route.inject_usage or document.get("stream") is not True:
        return False
    options = document.get("stream_options")
    return not (isinstance(options, dict) and options.get("include_usage") is True)


@dataclass(slots=True)
class GeminiNodeTarget:
    """POST {node}/{version}/models/{model}:{action}?{query} with the body untouched.

    `query` is the client's raw query string minus its `key` (already encoded for the wire).
    """

    raw: bytes
    target: GeminiTarget
    query: str
    strip_usage: bool = False
    gemini: bool = True

    def path(self, node: NodeRuntime, model: str | None) -> str:
        return request_path(node.base_path + self.target.path(model), self.query)

    def body(self, model: str | None) -> bytes:
        return self.raw


def _without_key(raw_query: str) -> str:
    """The raw query string minus `key=` (the client's credential)."""
    if "key=" not in raw_query:
        return raw_query
    return "&".join(p for p in raw_query.split("&") if p and not p.startswith("key="))


@dataclass(slots=True)
class MeteredExchange(Exchange):
    """A proxied request's record plus its credit reservation.

    Written by `Handlers._admit`; read once, when the request ends, by `Billing.settle_later`.
    """

    admission: Admission | None = None


Serve = Callable[[MeteredExchange], Awaitable[web.StreamResponse]]


class Handlers:
    """The router's endpoints."""

    def __init__(
        self, table: RouteTable, proxy: Proxy, lifecycle: Lifecycle, billing: Billing
    ) -> None:
        self.table = table
        self.proxy = proxy
        self.billing = billing
        self.observer = proxy.observer
        self.lifecycle = lifecycle
        self.started = time.time()
        self._trusted_for: Config | None = None
        self._trusted: tuple[Network, ...] = ()

    @property
    def max_body_bytes(self) -> int:
        return self.table.config.server.max_body_bytes

    def _exchange(self, request: web.Request) -> MeteredExchange:
        return MeteredExchange(
            request_id=assign_request_id(request),
            method=request.method,
            path=request.path,
            client=client_address(
                request.remote, request.headers.get("X-Forwarded-For"), self._trusted_proxies()
            ),
            started=asyncio.get_running_loop().time(),
        )

    def _trusted_proxies(self) -> tuple[Network, ...]:
        """`server.trusted_proxies` parsed once per loaded config."""
        config = self.table.config
        if config is not self._trusted_for:
            self._trusted_for = config
            self._trusted = parse_networks(config.server.trusted_proxies)
        return self._trusted

    async def _body(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            raise RequestTooLarge(self._too_large())
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise RequestTooLarge(self._too_large()) from exc

    def _too_large(self) -> str:
        limit = self.max_body_bytes / (1024 * 1024)
        return f"request body exceeds the {limit:g} MB limit (server.max_body_mb)"

    async def _observed(
        self,
        request: web.Request,
        serve: Callable[[MeteredExchange], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Run one proxied request, recording how it ended whichever way it ends."""
        exchange = self._exchange(request)
        lifecycle = self.lifecycle
        lifecycle.request_started()
        try:
            return await serve(exchange)
        except RouterError as exc:
            exchange.status = exc.status
            exchange.error_code = exc.code
            raise
        except asyncio.CancelledError:
            exchange.client_disconnected = True
            raise
        except Exception:
            # A bug: the error middleware answers 500 unless the answer had already begun.
            if not exchange.status:
                exchange.status = ApiError.status
                exchange.error_code = ApiError.code
            raise
        finally:
            lifecycle.request_finished()
            if exchange.admission is not None:
                self.billing.settle_later(exchange.admission, exchange, exchange.usage)
            self.observer.request_finished(exchange, asyncio.get_running_loop().time())

    async def _admit(
        self, request: web.Request, exchange: MeteredExchange, route: ModelRoute
    ) -> None:
        exchange.model = route.name
        if not self.billing.auth_off:
            exchange.admission = await self.billing.admit(request, exchange, route)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """POST {prefix}/chat/completions (OpenAI-compatible)."""
        return await self._observed(request, lambda exchange: self._chat(request, exchange))

    async def _chat(self, request: web.Request, exchange: MeteredExchange) -> web.StreamResponse:
        raw = await self._body(request)
        parsed = parse_openai(raw)
        route = self.table.config.resolve(parsed.model)
        if route is None:
            raise ModelNotFound(f"model {parsed.model[:_MAX_ECHO]!r} is not served here")
        await self._admit(request, exchange, route)
        target = OpenAITarget(raw, parsed, strip_usage=wants_injected_usage(parsed, route))
        return await self.proxy.forward(request, exchange, route, target)

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        """POST /{v1beta,v1,v1alpha}/models/{model}:{action} (Gemini-native)."""
        return await self._observed(request, lambda exchange: self._gemini(request, exchange))

    async def _gemini(self, request: web.Request, exchange: MeteredExchange) -> web.StreamResponse:
        version = request.match_info["version"]
        target = parse_gemini(version, request.match_info["model_action"])
        route = self.table.config.resolve(target.model)
        if route is None:
            raise ModelNotFound(f"model {target.model[:_MAX_ECHO]!r} is not served here")
        await self._admit(request, exchange, route)
        raw = await self._body(request)
        if raw and target.action != "countTokens":
            try:
                orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
        node_target = GeminiNodeTarget(raw, target, _without_key(request.rel_url.raw_query_string))
        return await self.proxy.forward(request, exchange, route, node_target)

    async def models(self, request: web.Request) -> web.Response:
        """GET {prefix}/models: configured models and aliases, OpenAI list format."""
        created = int(self.started)
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "router"}
            for name in self.table.config.listed_models()
        ]
        return _json({"object": "list", "data": data})

    async def healthz(self, request: web.Request) -> web.Response:
        """GET /healthz: the process is alive."""
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """GET /readyz: config loaded, not shutting down, and at least one node usable."""
        if self.lifecycle.is_stopping:
            return _json({"status": "not ready", "reason": "shutting down"}, status=503)
        if not self.table.is_ready(asyncio.get_running_loop().time()):
            return _json({"status": "not ready", "reason": "no node is usable"}, status=503)
        if not self.billing.is_ready():
            return _json({"status": "not ready", "reason": "state backend unreachable"}, 503)
        return _json({"status": "ready"})


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")
