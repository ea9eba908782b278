"""routes.yaml `observability.tracing`: where spans go, the ratio, the exporter's headers."""

from __future__ import annotations

from typing import Any

import pytest

from router.config.checker import check_alone
from router.config.loader import parse_config
from router.config.observability import (
    ObservabilityConfig,
    TracingConfig,
    read_observability,
    traces_url,
)
from router.config.source import Path
from router.errors import ConfigError


def read(raw: Any, environ: dict[str, str] | None = None) -> ObservabilityConfig:
    def reader(checker: Any, path: Path, value: Any) -> ObservabilityConfig:
        from router.config.checker import Section

        return read_observability(Section(checker, path, value))

    return check_alone(reader, raw, ("observability",), environ)


def problems(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        read(raw)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


@pytest.mark.parametrize(
    "endpoint,url",
    [
        ("http://tempo:4318", "http://tempo:4318/v1/traces"),
        ("http://tempo:4318/", "http://tempo:4318/v1/traces"),
        ("https://otlp.example/v1/traces", "https://otlp.example/v1/traces"),
        ("http://[::1]:4318/custom/path", "http://[::1]:4318/custom/path"),
        ("grpc://tempo:4317", None),
        ("tempo:4318", None),
        ("http://:4318", None),
        ("http://tempo:99999", None),
        ("", None),
    ],
)
def test_endpoints(endpoint: str, url: str | None) -> None:
    assert traces_url(endpoint) == url


def test_off_unless_configured() -> None:
    assert read(None) == ObservabilityConfig()
    assert read({}) == ObservabilityConfig()
    text = "version: 1\nnodes: {a: {url: 'http://127.0.0.1:1'}}\n"
    config = parse_config(text + "models: {m: {backends: [{node: a}]}}\n")
    assert config.observability.tracing is None


def test_a_full_tracing_section() -> None:
    raw = {
        "tracing": {
            "endpoint": "http://tempo:4318",
            "service_name": "llm-router",
            "sample_ratio": 0.05,
            "headers": {"Authorization": "Bearer ${OTLP_TOKEN}", "X-Scope-OrgID": "team-a"},
        }
    }
    tracing = read(raw, {"OTLP_TOKEN": "s3cret"}).tracing
    assert tracing == TracingConfig(
        "http://tempo:4318/v1/traces",
        "llm-router",
        0.05,
        (("Authorization", "Bearer s3cret"), ("X-Scope-OrgID", "team-a")),
    )
    assert "s3cret" not in repr(tracing)


def test_defaults() -> None:
    tracing = read({"tracing": {"endpoint": "http://127.0.0.1:4318"}}).tracing
    assert tracing is not None
    assert (tracing.service_name, tracing.sample_ratio, tracing.headers) == ("router", 1.0, ())


def test_problems_name_their_path() -> None:
    raw = {
        "tracing": {
            "endpoint": "tempo:4318",
            "service_name": "",
            "sample_ratio": 1.5,
            "headers": {"bad name": "x", "X-Ok": "line\nbreak", "X-N": ["list"]},
            "exporter": "grpc",
        },
        "metrics": True,
    }
    assert problems(raw) == [
        "observability.tracing.sample_ratio: must be at most 1, got 1.5",
        "observability.tracing.headers.bad name: is not a valid header name",
        "observability.tracing.headers.X-Ok: must not contain a line break",
        "observability.tracing.headers.X-N: must be a string",
        "observability.tracing.exporter: unknown key",
        "observability.tracing.endpoint: must be an http:// or https:// URL, got 'tempo:4318'",
        "observability.tracing.service_name: must be a non-empty string",
        "observability.metrics: unknown key",
    ]
    assert problems({"tracing": {"sample_ratio": -1}}) == [
        "observability.tracing.endpoint: is required",
        "observability.tracing.sample_ratio: must be at least 0, got -1",
    ]


def test_without_the_sdk_installed_the_config_says_what_to_install(monkeypatch) -> None:
    import router.config.observability as observability

    monkeypatch.setattr(observability, "_importable", lambda name: False)
    assert problems({"tracing": {"endpoint": "http://127.0.0.1:4318"}}) == [
        "observability.tracing: needs the OpenTelemetry SDK and OTLP exporter: "
        "pip install 'router[tracing]' (missing opentelemetry.sdk.trace, "
        "opentelemetry.exporter.otlp.proto.http)"
    ]
