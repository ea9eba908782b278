"""A local OTLP/HTTP trace receiver: what a collector (Tempo, Jaeger) would get.

A real aiohttp server on a loopback port, run in the test's event loop. Each POST to
/v1/traces is decoded with opentelemetry-proto (`ExportTraceServiceRequest`) and its spans
kept as plain `Span` records. `stop` takes it away (a collector down); `start` brings it
back on the same port.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.procs import free_port

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True, slots=True)
class Span:
    """One received span: ids as hex, times in Unix nanoseconds, attributes as Python values."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    start: int
    end: int
    attributes: dict[str, Any]
    status: str
    events: tuple[str, ...]
    service: str


def _value(raw: dict[str, Any]) -> Any:
    """An OTLP AnyValue (as MessageToDict renders it) as a Python value."""
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in raw:
            return raw[key]
    if "intValue" in raw:
        return int(raw["intValue"])
    return raw


def decode(body: bytes) -> list[Span]:
    """The spans of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                as_dict = MessageToDict(span)
                attributes = {
                    a["key"]: _value(a.get("value", {})) for a in as_dict.get("attributes", [])
                }
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=as_dict.get("kind", ""),
                        start=span.start_time_unix_nano,
                        end=span.end_time_unix_nano,
                        attributes=attributes,
                        status=as_dict.get("status", {}).get("code", ""),
                        events=tuple(event.name for event in span.events),
                        service=resource.get("service.name", ""),
                    )
                )
    return spans


class OtlpReceiver:
    """Collects the spans posted to http://127.0.0.1:<port>/v1/traces."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.spans: list[Span] = []
        self.requests = 0
        self.content_types: set[str] = set()
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}{TRACES_PATH}"

    async def _export(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.requests += 1
        self.content_types.add(request.content_type)
        self.spans.extend(decode(body))
        reply = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=reply, content_type="application/x-protobuf")

    async def start(self) -> OtlpReceiver:
        app = web.Application()
        app.router.add_post(TRACES_PATH, self._export)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans if span.trace_id == trace_id]
