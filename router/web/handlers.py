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
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from router.billing.service import Billing
from router.billing.state.base import Admission
from router.config.model import Config, ModelRoute
from router.dialects.affinity import affinity_key
from router.dialects.dialect import GEMINI, OPENAI, Dialect
from router.dialects.estimate import NO_ESTIMATE, TokenEstimate, estimate_tokens
from router.dialects.gemini import (
    GeminiNodeTarget,
    check_gemini_body,
    parse_gemini,
    speaks_gemini,
    without_key,
)
from router.dialects.openai import (
    CHAT,
    OpenAIEndpoint,
    OpenAITarget,
    parse_openai,
    wants_injected_usage,
)
from router.errors import (
    ApiError,
    InvalidRequest,
    ModelNotFound,
    RequestTimeout,
    RequestTooLarge,
    RouterError,
    echo,
)
from router.observability.exchange import Exchange
from router.observability.trace_context import TRACEPARENT, TRACESTATE
from router.proxy.attempts import Proxy
from router.proxy.table import RouteTable
from router.upstream.headers import REQUEST_ID
from router.web.forwarded import Network, client_address, parse_networks
from router.web.lifecycle import Lifecycle
from router.web.screening import screen_headers

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


_REQUEST_ID_KEY = web.RequestKey("request_id", str)
_DIALECT_KEY = web.RequestKey("dialect", Dialect)


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


def set_dialect(request: web.Request, dialect: Dialect) -> None:
    """Record the dialect the request's endpoint speaks (its errors are rendered in it)."""
    request[_DIALECT_KEY] = dialect


def dialect_of(request: web.Request) -> Dialect:
    """The dialect the request's endpoint speaks; before an endpoint claimed the request
    (no such path, a wrong method), the one its path belongs to."""
    dialect: Dialect | None = request.get(_DIALECT_KEY)
    if dialect is None:
        dialect = GEMINI if speaks_gemini(request.path) else OPENAI
    return dialect


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
        headers = request.headers
        trace = None
        if self.observer.tracer is not None:
            trace = self.observer.trace_context(headers.get(TRACEPARENT), headers.get(TRACESTATE))
        return MeteredExchange(
            request_id=assign_request_id(request),
            method=request.method,
            path=request.path,
            client=client_address(
                request.remote, headers.get("X-Forwarded-For"), self._trusted_proxies()
            ),
            started=asyncio.get_running_loop().time(),
            wall_started=time.time(),
            trace=trace,
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
        limit = self.table.config.server.body_timeout
        try:
            async with asyncio.timeout(limit):
                return await request.read()
        except TimeoutError as exc:
            # A slow (or stalled) client must not hold a request slot forever.
            raise RequestTimeout(f"request body not received within {limit:g} s") from exc
        except web.HTTPRequestEntityTooLarge as exc:
            raise RequestTooLarge(self._too_large()) from exc
        except RequestPayloadError as exc:
            # A body that is not what its Content-Encoding says, or chunking cut short.
            raise InvalidRequest("request body could not be read or decoded") from exc

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
            screen_headers(request.headers)
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
        self,
        request: web.Request,
        exchange: MeteredExchange,
        route: ModelRoute,
        *,
        free: bool = False,
        estimate: TokenEstimate = NO_ESTIMATE,
    ) -> None:
        exchange.model = route.name
        exchange.prompt_estimate = estimate.prompt
        if not self.billing.auth_off:
            exchange.admission = await self.billing.admit(
                request, exchange, route, free=free, estimate=estimate
            )

    async def route_for(self, request: web.Request, model: str) -> ModelRoute:
        """Authentication before routing, step two (after `billing.check_key`): the
        model's route; for a model not served here, 401 unless the key is valid, then 404,
        so model names cannot be probed without a key. A served model's key is checked
        by its admission (one state-store call), so the hot path pays nothing extra."""
        route = self.table.config.resolve(model)
        if route is None:
            await self.billing.authenticate(request)
            raise ModelNotFound(f"model {echo(model)} is not served here")
        return route

    def openai_handler(self, endpoint: OpenAIEndpoint = CHAT) -> Handler:
        """The handler of `POST {prefix}{endpoint.suffix}` (OpenAI-compatible), routed by
        the body's model; one per endpoint, built when the routes are."""

        async def openai(request: web.Request) -> web.StreamResponse:
            request[_DIALECT_KEY] = OPENAI
            return await self._observed(
                request, lambda exchange: self._openai(request, exchange, endpoint)
            )

        return openai

    async def _openai(
        self, request: web.Request, exchange: MeteredExchange, endpoint: OpenAIEndpoint
    ) -> web.StreamResponse:
        await self.billing.check_key(request)  # before the body: see Billing.check_key
        raw = await self._body(request)
        parsed = parse_openai(raw, endpoint)
        route = await self.route_for(request, parsed.model)
        estimate = estimate_tokens(raw, parsed.document)
        await self._admit(request, exchange, route, estimate=estimate)
        strip_usage = wants_injected_usage(parsed, route, endpoint)
        target = OpenAITarget(raw, parsed, strip_usage=strip_usage, endpoint=endpoint)
        key = affinity_key(route.affinity, request.headers, parsed.document)
        return await self.proxy.forward(request, exchange, route, target, affinity_key=key)

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        """POST /{v1beta,v1,v1alpha}/models/{model}:{action} (Gemini-native)."""
        request[_DIALECT_KEY] = GEMINI
        return await self._observed(request, lambda exchange: self._gemini(request, exchange))

    async def _gemini(self, request: web.Request, exchange: MeteredExchange) -> web.StreamResponse:
        version = request.match_info["version"]
        await self.billing.check_key(request)  # before the body: see Billing.check_key
        call = parse_gemini(version, request.match_info["model_action"])
        route = await self.route_for(request, call.model)
        raw = await self._body(request)
        document = check_gemini_body(call, raw)
        # Google does not bill countTokens: it is authorised but never counted or charged.
        free = call.action == "countTokens"
        estimate = estimate_tokens(raw, document)
        await self._admit(request, exchange, route, free=free, estimate=estimate)
        target = GeminiNodeTarget(raw, call, without_key(request.rel_url.raw_query_string))
        key = affinity_key(route.affinity, request.headers, document)
        return await self.proxy.forward(request, exchange, route, target, affinity_key=key)

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
