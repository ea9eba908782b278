"""router.upstream.request: which node statuses are an answer, a failover, or no answer."""

from __future__ import annotations

import pytest

from router.errors import HEALTH_FAILURES, FailureReason
from router.upstream.request import is_failover_status, is_no_answer


@pytest.mark.parametrize(
    ("status", "no_answer", "failover"),
    [
        (100, True, False),
        (103, True, False),
        (200, False, False),
        (201, False, False),
        (204, True, False),
        (205, True, False),
        (206, False, False),
        (301, True, False),
        (304, True, False),
        (307, True, False),
        (308, True, False),
        (400, False, False),
        (404, False, True),
        (429, False, True),
        (500, False, True),
    ],
)
def test_a_status_without_an_answer_is_a_node_failure(status, no_answer, failover) -> None:
    assert is_no_answer(status) is no_answer
    assert is_failover_status(status) is failover


def test_no_answer_counts_against_the_node() -> None:
    assert FailureReason.NOT_AN_ANSWER in HEALTH_FAILURES
    assert FailureReason.NOT_AN_ANSWER.value == "not_an_answer"
