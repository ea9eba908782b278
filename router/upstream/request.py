"""Opening a request at a node: its headers and first chunk, or an `UpstreamFailure`.

The transport (router.upstream.transport) already raises `UpstreamFailure` for its own
errors; this module adds the `first_byte` deadline and turns failover statuses (5xx,
401/403/404/408/429) into failures too, so the proxy sees one exception type.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from router.config.model import NodeConfig
from router.errors import FailureReason, UpstreamFailure
from router.upstream.reasons import (
    ERROR_BODY_WAIT,
    MAX_ERROR_BODY,
    node_message,
    node_request_id,
)
from router.upstream.transport import NodeTransport, UpstreamResponse

# Statuses after which another node is tried; anything else below 500 is the client's.
FAILOVER_STATUSES = frozenset({401, 403, 404, 408, 429})


def failure_for_status(
    status: int,
    retry_after: str | None,
    message: str | None = None,
    request_id: str | None = None,
) -> UpstreamFailure:
    """The failure a failover status stands for (with the node's message and request id)."""
    if status >= 500:
        reason = FailureReason.STATUS_5XX
    elif status == 429:
        reason = FailureReason.STATUS_429
    else:
        reason = FailureReason.STATUS_4XX
    return UpstreamFailure(
        reason,
        f"node answered {status}",
        status=status,
        retry_after=retry_after,
        message=message,
        request_id=request_id,
    )


def is_failover_status(status: int) -> bool:
    """True when a status means "try another node" rather than "this is the answer"."""
    return status >= 500 or status in FAILOVER_STATUSES


@dataclass(slots=True)
class Opened:
    """A node's answer with its headers received and its first body chunk read."""

    response: UpstreamResponse
    first_chunk: bytes


async def open_response(
    transport: NodeTransport,
    node: NodeConfig,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> Opened:
    """Send the request; wait for headers and the first chunk within `first_byte` seconds.

    Reading the first chunk before committing to a node means a node that answers 200
    and then dies before sending anything is still failed over.
    """
    response: UpstreamResponse | None = None
    try:
        try:
            async with asyncio.timeout(node.timeouts.first_byte):
                response = await transport.post(path, headers, body)
                if is_failover_status(response.status):
                    raise await _status_failure(response)
                first = await response.read()
        except TimeoutError as exc:  # the first_byte deadline (asyncio's, not the transport's)
            detail = "timed out waiting for the first byte"
            raise UpstreamFailure(FailureReason.TIMEOUT, detail) from exc
        return Opened(response, first)
    except BaseException:
        if response is not None:
            response.close()
        raise


async def _status_failure(response: UpstreamResponse) -> UpstreamFailure:
    """The failure for a failover status, with the node's reason read from a bounded body
    (the caller closes the response: the rest of a longer body is never read)."""
    body = b""
    try:
        async with asyncio.timeout(ERROR_BODY_WAIT):
            while len(body) <= MAX_ERROR_BODY and (chunk := await response.read()):
                body += chunk
    except (UpstreamFailure, TimeoutError):
        body = b""  # the node died or stalled while explaining itself: no reason to pass on
    headers = response.headers
    return failure_for_status(
        response.status,
        headers.get("Retry-After"),
        node_message(body),
        node_request_id(headers.get("x-request-id")),
    )
