"""What the client hears when no attempt, or a stream, failed (tables)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.config.model import Backend, ModelRoute, NodeConfig
from router.errors import (
    FailureReason,
    NoAvailableNode,
    RouterError,
    ServiceUnavailable,
    TooManyRequests,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from router.proxy.outcome import final_error
from router.proxy.relay import midstream_error
from router.upstream.reasons import Redactor

ROUTE = ModelRoute("gemini-2.5-flash", (Backend("a"),))
REDACTOR = Redactor([NodeConfig("a", "http://10.0.0.9:8000/v1", api_key="sk-node-secret")])

# (last failure, class, status, code, message, Retry-After header)
FINAL_CASES = [
    pytest.param(
        None,
        NoAvailableNode,
        503,
        "no_available_node",
        "no node is available for model 'gemini-2.5-flash'; try again shortly",
        "1",
        id="no attempt at all",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.TIMEOUT, "no first byte"),
        UpstreamTimeout,
        504,
        "upstream_timeout",
        "no node answered model 'gemini-2.5-flash' in time",
        None,
        id="timeout",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.STATUS_429, "node answered 429", status=429, retry_after="7"),
        TooManyRequests,
        429,
        "too_many_requests",
        "every node of model 'gemini-2.5-flash' is rate limited",
        "7",
        id="429 with the node's Retry-After",
    ),
    pytest.param(
        UpstreamFailure(
            FailureReason.STATUS_429, "node answered 429", status=429, retry_after="2.6"
        ),
        TooManyRequests,
        429,
        "too_many_requests",
        "every node of model 'gemini-2.5-flash' is rate limited",
        "3",
        id="429 with fractional seconds",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.STATUS_429, "node answered 429", status=429),
        TooManyRequests,
        429,
        "too_many_requests",
        "every node of model 'gemini-2.5-flash' is rate limited",
        "1",
        id="429 without Retry-After",
    ),
    pytest.param(
        UpstreamFailure(
            FailureReason.STATUS_429, "node answered 429", status=429, retry_after="soon"
        ),
        TooManyRequests,
        429,
        "too_many_requests",
        "every node of model 'gemini-2.5-flash' is rate limited",
        "1",
        id="429 with an HTTP-date or junk Retry-After",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.STATUS_5XX, "node answered 500", status=500),
        UpstreamError,
        502,
        "upstream_error",
        "no node produced an answer for model 'gemini-2.5-flash' (node answered 500)",
        None,
        id="5xx",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.STATUS_5XX, "node answered 503", status=503),
        ServiceUnavailable,
        503,
        "service_unavailable",
        "the nodes of model 'gemini-2.5-flash' are unavailable",
        None,
        id="503 without Retry-After",
    ),
    pytest.param(
        UpstreamFailure(
            FailureReason.STATUS_5XX,
            "node answered 503",
            status=503,
            retry_after="7",
            message="overloaded at http://10.0.0.9:8000/v1, try later",
            request_id="req-9",
        ),
        ServiceUnavailable,
        503,
        "service_unavailable",
        "overloaded at [redacted], try later",
        "7",
        id="503 with the node's reason and Retry-After",
    ),
    pytest.param(
        UpstreamFailure(
            FailureReason.STATUS_429,
            "node answered 429",
            status=429,
            retry_after="4",
            message="quota of key sk-node-secret exceeded on 10.0.0.9",
        ),
        TooManyRequests,
        429,
        "too_many_requests",
        "quota of key [redacted] exceeded on [redacted]",
        "4",
        id="429 with the node's reason",
    ),
    pytest.param(
        UpstreamFailure(
            FailureReason.STATUS_4XX, "node answered 404", status=404, message="no such thing"
        ),
        UpstreamError,
        502,
        "upstream_error",
        "no node produced an answer for model 'gemini-2.5-flash' (node answered 404)",
        None,
        id="a 404's message is not passed on",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.CONNECT, "connection refused"),
        UpstreamError,
        502,
        "upstream_error",
        "no node produced an answer for model 'gemini-2.5-flash' (connection refused)",
        None,
        id="connect error",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.RESET, "connection reset"),
        UpstreamError,
        502,
        "upstream_error",
        "no node produced an answer for model 'gemini-2.5-flash' (connection reset)",
        None,
        id="reset",
    ),
]


@pytest.mark.parametrize(("last", "kind", "status", "code", "message", "retry"), FINAL_CASES)
def test_final_error(
    last: UpstreamFailure | None,
    kind: type[RouterError],
    status: int,
    code: str,
    message: str,
    retry: str | None,
) -> None:
    error = final_error(ROUTE, last, REDACTOR)
    assert type(error) is kind
    assert (error.status, error.code, error.message) == (status, code, message)
    assert error.headers().get("Retry-After") == retry


def test_final_error_passes_the_nodes_request_id_back() -> None:
    failure = UpstreamFailure(
        FailureReason.STATUS_5XX, "node answered 502", status=502, request_id="req-42"
    )
    error = final_error(ROUTE, failure, REDACTOR)
    assert error.headers() == {"X-Upstream-Request-ID": "req-42"}
    assert final_error(ROUTE, None).headers() == {"Retry-After": "1"}


MIDSTREAM_CASES = [
    pytest.param(
        UpstreamFailure(FailureReason.TIMEOUT, "timed out"),
        UpstreamTimeout,
        "the node stopped sending mid-answer",
        id="idle",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.RESET, "lost"),
        UpstreamError,
        "the node failed mid-answer",
        id="reset",
    ),
    pytest.param(
        UpstreamFailure(FailureReason.MIDSTREAM, "bad chunk"),
        UpstreamError,
        "the node failed mid-answer",
        id="other",
    ),
]


@pytest.mark.parametrize(("failure", "kind", "message"), MIDSTREAM_CASES)
def test_midstream_error(failure: UpstreamFailure, kind: type[RouterError], message: str) -> None:
    error = midstream_error(failure)
    assert type(error) is kind
    assert error.message == message


@pytest.mark.parametrize(
    ("told", "heard"),
    [
        ("2.5", "3"),  # never earlier than the node asked: rounded up, not to even
        ("1.5", "2"),
        ("4.5", "5"),
        ("3.7", "4"),
        ("0.2", "1"),
        ("0", "1"),
        ("120", "120"),
        ("inf", "1"),  # unreadable values are as if absent, never a 500
        ("nan", "1"),
        ("-3", "1"),
        ("1e400", "1"),
    ],
)
def test_a_nodes_retry_after_is_passed_on_rounded_up(told: str, heard: str) -> None:
    failure = UpstreamFailure(FailureReason.STATUS_429, "429", status=429, retry_after=told)
    assert final_error(ROUTE, failure).headers()["Retry-After"] == heard


def test_a_nodes_retry_after_date_is_passed_on_as_seconds() -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    failure = UpstreamFailure(FailureReason.STATUS_429, "429", status=429, retry_after=when)
    assert 29 <= int(final_error(ROUTE, failure).headers()["Retry-After"]) <= 31


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_any_retry_after_gives_a_whole_positive_header(seconds: float | None) -> None:
    headers = TooManyRequests("busy", retry_after=seconds).headers()
    if seconds is not None:
        value = int(headers["Retry-After"])
        assert value >= 1
        assert value <= 86400  # a day at most: a node's 1e308 is not a 309-digit header
        if 0 <= seconds <= 86400:
            assert value >= seconds
