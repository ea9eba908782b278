"""What the client hears when no attempt, or a stream, failed (tables)."""

from __future__ import annotations

from typing import Any

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
from router.upstream.request import failure_for_status

ROUTE = ModelRoute("gemini-2.5-flash", (Backend("a"),))
REDACTOR = Redactor([NodeConfig("a", "http://10.0.0.9:8000/v1", api_key="sk-node-secret")])

FLASH = "model 'gemini-2.5-flash'"
RATE_LIMITED = f"every node of {FLASH} is rate limited"
UNAVAILABLE = f"the nodes of {FLASH} are unavailable"
NO_ANSWER = f"no node produced an answer for {FLASH}"
NOT_AVAILABLE = f"no node is available for {FLASH}; try again shortly"
TIMED_OUT = f"no node answered {FLASH} in time"
R429, R5XX, R4XX = FailureReason.STATUS_429, FailureReason.STATUS_5XX, FailureReason.STATUS_4XX


def failed(reason: FailureReason, detail: str, status: int | None = None, **more: str) -> Any:
    return UpstreamFailure(reason, detail, status=status, **more)


# (last failure, class, status, code, message, Retry-After header, why)
FINAL_CASES = [
    pytest.param(*case[:6], id=case[6])
    for case in [
        (None, NoAvailableNode, 503, "no_available_node", NOT_AVAILABLE, "1", "no attempt at all"),
        (failed(FailureReason.TIMEOUT, "no first byte"), UpstreamTimeout, 504, "upstream_timeout",
         TIMED_OUT, None, "timeout"),
        (failed(R429, "node answered 429", 429, retry_after="7"), TooManyRequests, 429,
         "too_many_requests", RATE_LIMITED, "7", "429 with the node's Retry-After"),
        (failed(R429, "node answered 429", 429, retry_after="2.6"), TooManyRequests, 429,
         "too_many_requests", RATE_LIMITED, "3", "429 with fractional seconds"),
        (failed(R429, "node answered 429", 429), TooManyRequests, 429, "too_many_requests",
         RATE_LIMITED, "1", "429 without Retry-After"),
        (failed(R429, "node answered 429", 429, retry_after="soon"), TooManyRequests, 429,
         "too_many_requests", RATE_LIMITED, "1", "429 with an HTTP-date or junk Retry-After"),
        (failed(R5XX, "node answered 500", 500), UpstreamError, 502, "upstream_error",
         f"{NO_ANSWER} (node answered 500)", None, "5xx"),
        (failed(R5XX, "node answered 503", 503), ServiceUnavailable, 503, "service_unavailable",
         UNAVAILABLE, None, "503 without Retry-After"),
        (failed(R5XX, "node answered 503", 503, retry_after="7",
                message="overloaded at http://10.0.0.9:8000/v1, try later", request_id="req-9"),
         ServiceUnavailable, 503, "service_unavailable", "overloaded at [redacted], try later",
         "7", "503 with the node's reason and Retry-After"),
        (failed(R429, "node answered 429", 429, retry_after="4",
                message="quota of key sk-node-secret exceeded on 10.0.0.9"),
         TooManyRequests, 429, "too_many_requests",
         "quota of key [redacted] exceeded on [redacted]", "4", "429 with the node's reason"),
        (failed(R4XX, "node answered 404", 404, message="no such thing"), UpstreamError, 502,
         "upstream_error", f"{NO_ANSWER} (node answered 404)", None,
         "a 404's message is not passed on"),
        (failed(FailureReason.CONNECT, "connection refused"), UpstreamError, 502,
         "upstream_error", f"{NO_ANSWER} (connection refused)", None, "connect error"),
        (failed(FailureReason.RESET, "connection reset"), UpstreamError, 502, "upstream_error",
         f"{NO_ANSWER} (connection reset)", None, "reset"),
    ]
]  # fmt: skip


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


@pytest.mark.parametrize(
    ("last", "kind", "status", "retry_after"),
    [
        (None, NoAvailableNode, 503, 1),
        (UpstreamFailure(FailureReason.TIMEOUT, "t"), UpstreamTimeout, 504, None),
        (UpstreamFailure(FailureReason.STATUS_429, "r", retry_after="7"), TooManyRequests, 429, 7),
        (
            UpstreamFailure(FailureReason.STATUS_429, "r", retry_after="soon"),
            TooManyRequests,
            429,
            1,
        ),
        (UpstreamFailure(FailureReason.CONNECT, "could not connect"), UpstreamError, 502, None),
        (UpstreamFailure(FailureReason.RESET, "lost"), UpstreamError, 502, None),
        (failure_for_status(503, "2"), ServiceUnavailable, 503, 2),
        (failure_for_status(529, None), ServiceUnavailable, 503, None),  # Anthropic's overload
        (failure_for_status(500, None), UpstreamError, 502, None),
    ],
)
def test_final_error_class_status_and_retry_after(
    last: UpstreamFailure | None, kind: type[RouterError], status: int, retry_after: float | None
) -> None:
    error = final_error(ROUTE, last)
    assert type(error) is kind and error.status == status
    assert error.retry_after == retry_after


def test_final_error_names_the_last_failure() -> None:
    error = final_error(ROUTE, UpstreamFailure(FailureReason.RESET, "connection lost x"))
    assert error.message == f"{NO_ANSWER} (connection lost x)"


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (FailureReason.TIMEOUT, UpstreamTimeout),
        (FailureReason.RESET, UpstreamError),
        (FailureReason.CONNECT, UpstreamError),
    ],
)
def test_midstream_error_class(reason: FailureReason, kind: type[RouterError]) -> None:
    assert type(midstream_error(UpstreamFailure(reason, "x"))) is kind


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
