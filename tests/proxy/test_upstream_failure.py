"""Pure pieces of the failure vocabulary: statuses, final errors, mid-stream errors (no loop)."""

from __future__ import annotations

import pytest

from router.config.model import Backend, ModelRoute
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
from router.upstream.request import failure_for_status, is_failover_status

ROUTE = ModelRoute("m", (Backend("n"),))


def test_reason_values_are_the_metric_labels() -> None:
    assert [r.value for r in FailureReason] == [
        "connect",
        "timeout",
        "status_5xx",
        "status_429",
        "status_4xx",
        "reset",
        "midstream",
        "not_an_answer",
    ]
    assert f"{FailureReason.RESET}" == str(FailureReason.RESET) == "reset"


def test_an_upstream_failure_is_internal() -> None:
    assert not issubclass(UpstreamFailure, RouterError)


@pytest.mark.parametrize(
    ("status", "failover", "reason"),
    [
        (200, False, None),
        (400, False, None),
        (401, True, FailureReason.STATUS_4XX),
        (403, True, FailureReason.STATUS_4XX),
        (404, True, FailureReason.STATUS_4XX),
        (408, True, FailureReason.STATUS_4XX),
        (422, False, None),
        (429, True, FailureReason.STATUS_429),
        (500, True, FailureReason.STATUS_5XX),
        (503, True, FailureReason.STATUS_5XX),
    ],
)
def test_failover_statuses(status: int, failover: bool, reason: FailureReason | None) -> None:
    assert is_failover_status(status) is failover
    if reason is not None:
        failure = failure_for_status(status, "3")
        assert (failure.reason, failure.status, failure.retry_after) == (reason, status, "3")
        assert failure.detail == f"node answered {status}"


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
def test_final_error(
    last: UpstreamFailure | None, kind: type[RouterError], status: int, retry_after: float | None
) -> None:
    error = final_error(ROUTE, last)
    assert type(error) is kind and error.status == status
    assert error.retry_after == retry_after


def test_final_error_names_the_last_failure() -> None:
    error = final_error(ROUTE, UpstreamFailure(FailureReason.RESET, "connection lost x"))
    assert error.message == "no node produced an answer for model 'm' (connection lost x)"


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (FailureReason.TIMEOUT, UpstreamTimeout),
        (FailureReason.RESET, UpstreamError),
        (FailureReason.CONNECT, UpstreamError),
    ],
)
def test_midstream_error(reason: FailureReason, kind: type[RouterError]) -> None:
    assert type(midstream_error(UpstreamFailure(reason, "x"))) is kind
