"""The one request pipeline every dialect's proxied requests go through.

How this works: the aiohttp request is read once, at the door, into the router's own
typed request (router.dialects.request.ClientRequest) through the dialect's codec that
claimed its route; from there on nothing sees the framework. In order:

1. the key, in any dialect's form (401 for several that differ), checked before the
   body is read, so an unauthenticated client cannot make the router hold a large body;
2. the path (the dialect's `Call`: 404 for one that names nothing served) and, when the
   path names the model, its route (401 unless the key is valid, then 404, so model
   names cannot be probed without a key);
3. the body, within `server.body_timeout` and `max_body_mb`, checked by the dialect
   (`Parsed`), then the route of the model it names, when the path did not;
4. no node of the model's chain can take the request, natively or translated: 400 (no
   admission), naming what could not be translated when that is why; unless the router
   answers it itself (a count of tokens, from its estimate: free);
5. admission (billing: key, model globs, rpm, tpm, credits), then the proxy, writing
   through `AiohttpClientStream`; settlement runs once however the request ends.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from router.billing.service import Billing
from router.billing.state.base import Admission
from router.config.model import Config, ModelRoute
from router.dialects.codec import Codec, Entry
from router.dialects.estimate import estimate_tokens
from router.dialects.names import describe
from router.dialects.registry import claimant
from router.dialects.request import ClientRequest
from router.errors import (
    ApiError,
    DialectNotServed,
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
from router.proxy.client import ResponseHead
from router.proxy.table import RouteTable
from router.routing.affinity_key import affinity_key
from router.tasks import LoopRef
from router.upstream.headers import REQUEST_ID
from router.web.client_stream import AiohttpClientStream
from router.web.context import assign_request_id, presented_key, set_codec
from router.web.forwarded import Network, client_address, parse_networks
from router.web.lifecycle import Lifecycle
from router.web.screening import screen_headers


@dataclass(slots=True)
class MeteredExchange(Exchange):
    """A proxied request's record plus its credit reservation.

    Written by `Pipeline._admit`; read once, when the request ends, by `Billing.settle_later`.
    """

    admission: Admission | None = None


class Pipeline:
    """Authenticate, admit, proxy and settle one proxied request of any dialect."""

    def __init__(
        self, table: RouteTable, proxy: Proxy, lifecycle: Lifecycle, billing: Billing
    ) -> None:
        self.table = table
        self.proxy = proxy
        self.billing = billing
        self.observer = proxy.observer
        self.lifecycle = lifecycle
        self._trusted_for: Config | None = None
        self._trusted: tuple[Network, ...] = ()
        self._loop = LoopRef()

    def handler(self, claims: Sequence[tuple[Codec, Entry]]) -> Handler:
        """The handler of one proxied route; `claims` are the dialects that declared it
        (several only on a path more than one dialect uses)."""
        if len(claims) == 1:
            ((codec, entry),) = claims
            # A partial, not a closure around it: one coroutine per request, not two.
            return functools.partial(self._observed, codec=codec, entry=entry)
        entries = {codec.name: entry for codec, entry in claims}
        codecs = [codec for codec, _ in claims]

        async def shared(request: web.Request) -> web.StreamResponse:
            codec = claimant(codecs, request.headers, request.query)
            return await self._observed(request, codec, entries[codec.name])

        return shared

    async def _observed(
        self, request: web.Request, codec: Codec, entry: Entry
    ) -> web.StreamResponse:
        """Run one proxied request, recording how it ended whichever way it ends."""
        set_codec(request, codec)  # its errors are rendered in its dialect
        loop = self._loop()
        exchange = self._exchange(request, loop.time())
        lifecycle = self.lifecycle
        lifecycle.request_started()
        try:
            screen_headers(request.headers)
            return await self._serve(request, exchange, codec, entry)
        except RouterError as exc:
            exchange.status = codec.replies.error_status(exc)  # what the client is told
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
            self.observer.request_finished(exchange, loop.time())

    async def _serve(
        self, request: web.Request, exchange: MeteredExchange, codec: Codec, entry: Entry
    ) -> web.StreamResponse:
        auth_off = self.billing.auth_off
        key = None if auth_off else presented_key(request)
        if not auth_off:
            await self.billing.check_key(key)  # before the body: see Billing.check_key
        if entry.call is None:
            raise RuntimeError(f"{entry.path} is no proxied route")
        call = entry.call(request.match_info)
        resolve = self.table.config.resolve
        route = None
        if call.model is not None and (route := resolve(call.model)) is None:
            await self._not_served(key, call.model)
        raw = await self._body(request)
        parsed = call.read(raw, request.rel_url.raw_query_string)
        if route is None and (route := resolve(parsed.model)) is None:
            await self._not_served(key, parsed.model)
        exchange.model = route.name
        proxied = ClientRequest(
            codec=codec,
            credential=key,
            headers=request.headers,
            call=call,
            parsed=parsed,
            estimate=estimate_tokens(raw, parsed.output_cap),
            inject_usage=route.inject_usage,
            request_id=exchange.request_id,
        )
        if route.affinity is not None:
            conversation = codec.ingress.conversation_fields
            proxied.affinity_key = affinity_key(
                route.affinity, request.headers, parsed.document, conversation
            )
        local = self._check_served(route, proxied)
        exchange.prompt_estimate = proxied.estimate.prompt
        if not self.billing.auth_off:
            free = proxied.is_free or local is not None
            exchange.admission = await self.billing.admit(
                key, exchange, route, free=free, estimate=proxied.estimate
            )
        write_timeout = self.table.config.server.write_timeout
        client = AiohttpClientStream(request, exchange, write_timeout)
        try:
            if local is not None:
                _answer_locally(client, exchange, local)
            else:
                await self.proxy.forward(client, proxied, exchange, route)
        finally:
            client.close()
        if client.response is None:
            raise RuntimeError("the proxy ended without an answer")
        return client.response

    async def _not_served(self, key: str | None, model: str) -> NoReturn:
        """A model not served here: 401 unless the key is valid, then 404, so model names
        cannot be probed without a key. (A served model's key is checked by its admission,
        one state-store call, so the hot path pays nothing extra.)"""
        await self.billing.authenticate(key)
        raise ModelNotFound(f"model {echo(model)} is not served here")

    def _check_served(self, route: ModelRoute, request: ClientRequest) -> bytes | None:
        """400 before admission when no node of the model's chain can take the request,
        natively or translated; the router's own answer when it gives one instead."""
        name = request.codec.name
        if name in self.table.spoken_by_all.get(route.name, ()):
            return None  # every node takes it as it is
        speakers = self.table.speakers(route)
        if name in self.table.reached.get(route.name, ()) and any(
            request.reaches(speaks) for speaks in speakers
        ):
            return None
        local = request.local_answer()
        if local is not None:
            return local
        if request.refusal is not None:
            raise request.refusal  # what its nodes' dialect cannot say: the client's to fix
        spoken = describe(frozenset().union(*speakers))
        raise DialectNotServed(
            f"model {route.name!r} is not served to {name} clients here for this request "
            f"(its nodes speak {spoken})"
        )

    def _exchange(self, request: web.Request, now: float) -> MeteredExchange:
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
            started=now,
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
        limit_bytes = self.table.config.server.max_body_bytes
        length = request.content_length
        if length is not None and length > limit_bytes:
            raise RequestTooLarge(_too_large(limit_bytes))
        limit = self.table.config.server.body_timeout
        try:
            if request.content.is_eof():  # all of it came with the head: nothing to wait for
                return await request.read()
            async with asyncio.timeout(limit):
                return await request.read()
        except TimeoutError as exc:
            # A slow (or stalled) client must not hold a request slot forever.
            raise RequestTimeout(f"request body not received within {limit:g} s") from exc
        except web.HTTPRequestEntityTooLarge as exc:
            raise RequestTooLarge(_too_large(limit_bytes)) from exc
        except RequestPayloadError as exc:
            # A body that is not what its Content-Encoding says, or chunking cut short.
            raise InvalidRequest("request body could not be read or decoded") from exc


def _answer_locally(client: AiohttpClientStream, exchange: MeteredExchange, body: bytes) -> None:
    """The router's own answer, no node asked (ClientRequest.local_answer)."""
    headers = [("Content-Type", "application/json"), (REQUEST_ID, exchange.request_id)]
    client.send_whole(ResponseHead(200, "OK", headers, len(body)), body)
    exchange.status = 200
    exchange.bytes_out = len(body)


def _too_large(limit_bytes: int) -> str:
    limit = limit_bytes / (1024 * 1024)
    return f"request body exceeds the {limit:g} MB limit (server.max_body_mb)"
