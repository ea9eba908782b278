"""routes.yaml `observability:`: what the router exports besides metrics and logs.

    observability:
      tracing:
        endpoint: http://tempo:4318/v1/traces   # OTLP/HTTP (protobuf)
        service_name: router
        sample_ratio: 0.1
        headers: {Authorization: "Bearer ${OTLP_TOKEN}"}

Tracing is off unless `tracing:` is given. It needs the OpenTelemetry SDK and its OTLP
exporter (`pip install 'router[tracing]'`): a config asking for it without them is an
error here, at load, rather than a router that starts and exports nothing.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from router.config.checker import Section

TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path for spans, added to an endpoint without one
# The modules router.observability.tracing imports; each comes with `router[tracing]`.
TRACING_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """Where spans go, under which service name, and which share of requests is traced."""

    endpoint: str
    service_name: str = "router"
    sample_ratio: float = 1.0
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold a token


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    tracing: TracingConfig | None = None


def read_observability(section: Section) -> ObservabilityConfig:
    """The `observability:` mapping (absent: everything off)."""
    tracing = None
    if section.has("tracing"):
        tracing = read_tracing(section.section("tracing"))
    section.close()
    return ObservabilityConfig(tracing)


def read_tracing(section: Section) -> TracingConfig | None:
    """`tracing:` -> TracingConfig; None after a problem (reported)."""
    reported = len(section.checker.problems)
    endpoint = section.string("endpoint")
    service = section.string("service_name", "router")
    ratio = section.number("sample_ratio", 1.0)
    if ratio > 1:
        section.checker.report(section.at("sample_ratio"), f"must be at most 1, got {ratio}")
    headers = _headers(section)
    section.close()
    url = traces_url(endpoint) if isinstance(endpoint, str) else None
    if isinstance(endpoint, str) and url is None:
        message = f"must be an http:// or https:// URL, got {endpoint[:80]!r}"
        section.checker.report(section.at("endpoint"), message)
    if isinstance(service, str) and not service:
        section.checker.report(section.at("service_name"), "must be a non-empty string")
    missing = [name for name in TRACING_MODULES if not _importable(name)]
    if missing:
        section.checker.report(
            section.path,
            "needs the OpenTelemetry SDK and OTLP exporter: pip install 'router[tracing]' "
            f"(missing {', '.join(missing)})",
        )
    if len(section.checker.problems) > reported or url is None:
        return None
    return TracingConfig(url, service, min(ratio, 1.0), headers)


def traces_url(endpoint: str) -> str | None:
    """The endpoint as an OTLP/HTTP traces URL (a bare host gets /v1/traces); None if not
    an http(s) URL."""
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    path = parts.path if parts.path not in ("", "/") else TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _headers(section: Section) -> tuple[tuple[str, str], ...]:
    raw = section.raw_value("headers")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        section.checker.report(section.at("headers"), "must be a mapping of header names to values")
        return ()
    out = []
    for name, value in raw.items():
        where = (*section.at("headers"), str(name))
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            section.checker.report(where, "is not a valid header name")
        elif not isinstance(value, str | int) or isinstance(value, bool):
            section.checker.report(where, "must be a string")
        else:
            text = section.checker.substitute(str(value), where)
            if "\n" in text or "\r" in text:
                section.checker.report(where, "must not contain a line break")
            else:
                out.append((name, text))
    return tuple(out)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False
