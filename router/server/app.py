"""The application factory: the aiohttp application around the router's live objects
(router.web.parts wires them and their routes), and the one place errors become JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from router.config.model import Config
from router.dialects import registry
from router.dialects.codec import Codec
from router.errors import ApiError, NotFound, RouterError
from router.observability.logs import LogOutput
from router.server.protocol_errors import expectation_failed_as_json
from router.upstream.headers import REQUEST_ID
from router.upstream.http_transport import http_transport
from router.upstream.transport import TransportFactory
from router.web.context import claimed_codec, codec_of, request_id_of
from router.web.parts import Parts, routes, wire

log = logging.getLogger("router")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become the JSON error shape; every response gets X-Request-ID."""
    response: web.StreamResponse
    try:
        response = await handler(request)
        if not response.prepared:
            response.headers[REQUEST_ID] = request_id_of(request)
    except RouterError as exc:
        response = error_response(exc, request_id_of(request), codec_of(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_http(exc), request_id_of(request), codec_of(request))
    except Exception:
        # A bug, not a client or node problem: answer in the usual shape and log it whole.
        log.exception("unhandled error")
        response = error_response(
            ApiError("internal error"), request_id_of(request), codec_of(request)
        )
    if request.app[PARTS].lifecycle.is_stopping:
        response.force_close()  # "Connection: close": the balancer reconnects elsewhere
    return response


def error_response(
    error: RouterError, request_id: str, codec: Codec = registry.DEFAULT
) -> web.Response:
    """Render a RouterError as the client's dialect's JSON error shape, with its status."""
    replies = codec.replies
    response = web.Response(
        body=replies.error_body(error, request_id),
        status=replies.error_status(error),
        content_type="application/json",
        headers=error.headers(),
    )
    response.headers[REQUEST_ID] = request_id
    if replies.request_id_header is not None:
        response.headers[replies.request_id_header] = request_id
    return response


async def before_answer(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer's last touches, in the one `on_response_prepare` listener (each
    listener is one more coroutine per answer): aiohttp's 417 as JSON, and the trace id
    in the header a dialect's clients read it from as well (Anthropic's `request-id`) on
    every answer to a request a dialect's route claimed."""
    if response.status == 417:
        await expectation_failed_as_json(request, response)
    codec = claimed_codec(request)
    if codec is not None and (name := codec.replies.request_id_header) is not None:
        response.headers.setdefault(name, request_id_of(request))


def _from_http(exc: web.HTTPException) -> RouterError:
    if exc.status == 404:
        return NotFound("no such endpoint")
    error = RouterError(exc.reason)
    error.status = exc.status
    error.code = exc.reason.lower().replace(" ", "_")
    error.type = "invalid_request_error"
    return error


@dataclass(frozen=True, slots=True)
class Options:
    """How to run: where routes.yaml lives (for reloads) and what to record."""

    config_path: str | None = None
    metrics: bool = True
    access_log: bool = True
    reload_poll: float = 1.0
    log_output: LogOutput | None = None  # from configure_logging: lets access lines skip structlog
    # prometheus-client's multiprocess folder, with `--workers` (router.cli.main sets it up)
    metrics_dir: str | None = None


PARTS = web.AppKey("parts", Parts)


def create_app(
    config: Config, options: Options | None = None, transports: TransportFactory = http_transport
) -> web.Application:
    """Build the router application for `config`; `transports` talk to the nodes."""
    options = options or Options()
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[error_middleware]
    )
    parts = app[PARTS] = wire(
        config,
        transports,
        config_path=options.config_path,
        metrics=options.metrics,
        access_log=options.access_log,
        reload_poll=options.reload_poll,
        log_output=options.log_output,
        metrics_dir=options.metrics_dir,
    )
    app.add_routes(routes(config, parts, _metrics_endpoint(parts)))

    async def start(app: web.Application) -> None:
        await parts.start(config)

    async def stop(app: web.Application) -> None:
        await parts.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.on_response_prepare.append(before_answer)
    return app


def _metrics_endpoint(parts: Parts) -> Handler:
    """GET /metrics: gauges of live counts read at scrape time, then the registry."""

    async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
        rendered = parts.observer.render_metrics(
            request.headers.get("Accept"),
            inflight=parts.lifecycle.inflight,
            streams_open=len(parts.streams.open),
            node_inflight=((name, n.inflight) for name, n in parts.table.pool.nodes.items()),
        )
        if rendered is None:
            raise NotFound("metrics are switched off")
        body, content_type = rendered
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return metrics_endpoint


__all__ = ["PARTS", "Options", "Parts", "create_app", "error_response"]
