"""router.upstream.request: which node statuses are an answer, a failover, or no answer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

import pytest

from router.config.model import NodeConfig, Timeouts
from router.dialects.codec import Answers
from router.errors import HEALTH_FAILURES, FailureReason
from router.upstream.request import is_failover_status, is_no_answer, open_response
from router.upstream.transport import NodeTransport


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


def _opening(node: NodeConfig, *, until_content: bool) -> Coroutine[Any, Any, Any]:
    transport = cast(NodeTransport, object())  # never used: the coroutine is not run
    answers = cast(Answers, object())
    loop = asyncio.new_event_loop()
    loop.close()  # only passed along, never run
    return open_response(
        transport,
        node,
        "/v1/chat/completions",
        [],
        b"{}",
        answers,
        until_content=until_content,
        loop=loop,
    )


@pytest.mark.parametrize(
    ("node", "until_content", "runs"),
    [
        (NodeConfig("a", "http://127.0.0.1:9"), False, "_open"),
        (NodeConfig("a", "http://127.0.0.1:9"), True, "_open_within"),
        (
            NodeConfig("a", "http://127.0.0.1:9", timeouts=Timeouts(first_token=5.0)),
            False,
            "_open_within",
        ),
    ],
)
def test_a_node_without_first_token_work_is_opened_by_one_coroutine(
    node: NodeConfig, until_content: bool, runs: str
) -> None:
    """Only a node with a first-token deadline, or a request read on to its first token,
    pays for the deadline and the reading on (issue 32: pay only for what is configured)."""
    opening = _opening(node, until_content=until_content)
    try:
        assert opening.cr_code.co_name == runs  # type: ignore[attr-defined]
    finally:
        opening.close()
