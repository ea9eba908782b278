"""What the client hears when no attempt at any node produced an answer."""

from __future__ import annotations

import time

from router.config.model import ModelRoute
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
from router.routing.same_node import parse_retry_after
from router.upstream.reasons import Redactor


def final_error(
    route: ModelRoute, last: UpstreamFailure | None, redactor: Redactor | None = None
) -> RouterError:
    """What the client hears when no attempt produced an answer.

    After a 429 or 5xx the message is the node's own (cleaned of node URLs, hosts and
    keys by `redactor`) when it sent one; its Retry-After is kept on 429 and 503, and its
    request id travels as X-Upstream-Request-ID.
    """
    if last is None:
        return NoAvailableNode(
            f"no node is available for model {route.name!r}; try again shortly", retry_after=1
        )
    rid = last.request_id
    if last.reason is FailureReason.TIMEOUT:
        return UpstreamTimeout(f"no node answered model {route.name!r} in time")
    told = last.message if last.reason in _TOLD else None
    if told is not None and redactor is not None:
        told = redactor.clean(told)
    retry = parse_retry_after(last.retry_after, time.time())
    if last.reason is FailureReason.STATUS_429:
        message = told or f"every node of model {route.name!r} is rate limited"
        return TooManyRequests(message, retry_after=retry or 1, upstream_request_id=rid)
    if last.status in OVERLOADED:
        message = told or f"the nodes of model {route.name!r} are unavailable"
        return ServiceUnavailable(message, retry_after=retry, upstream_request_id=rid)
    message = told or f"no node produced an answer for model {route.name!r} ({last.detail})"
    return UpstreamError(message, upstream_request_id=rid)


# Statuses that say a node is overloaded, not broken: 503, and 529 (what Anthropic's API
# and some others answer when overloaded); the client hears 503 (529 in Anthropic's
# dialect, router.dialects.anthropic.replies), with the node's Retry-After.
OVERLOADED = frozenset({503, 529})
# The failures whose node-written message reaches the client.
_TOLD = frozenset({FailureReason.STATUS_429, FailureReason.STATUS_5XX})
