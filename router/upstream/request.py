"""The one seam to backend nodes: open a request, get its headers and first chunk.

The client's errors and timeouts (router.upstream.http11's, and aiohttp's for the probes) are
translated here, at the boundary, into `UpstreamFailure` with a `reason` (the label used
by metrics and logs), so the proxy's logic never catches transport errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp

from router.config.model import NodeConfig
from router.upstream.http11 import ConnectFailed, NodeClient, NodeResponse

# Statuses after which another node is tried; anything else below 500 is the client's.
FAILOVER_STATUSES = frozenset({401, 403, 404, 408, 429})


class UpstreamFailure(Exception):
    """A node did not produce a usable answer. `reason` is a metrics label."""

    def __init__(
        self, reason: str, detail: str, *, status: int | None = None, retry_after: str | None = None
    ) -> None:
        super().__init__(detail)
        self.reason = reason  # connect | timeout | status_5xx | status_429 | status_4xx | reset
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


def failure_for_status(status: int, retry_after: str | None) -> UpstreamFailure:
    """The failure a failover status stands for."""
    if status >= 500:
        reason = "status_5xx"
    elif status == 429:
        reason = "status_429"
    else:
        reason = "status_4xx"
    return UpstreamFailure(
        reason, f"node answered {status}", status=status, retry_after=retry_after
    )


def is_failover_status(status: int) -> bool:
    """True when a status means "try another node" rather than "this is the answer"."""
    return status >= 500 or status in FAILOVER_STATUSES


@contextmanager
def translated_errors(phase: str) -> Iterator[None]:
    """Turn aiohttp/asyncio errors into UpstreamFailure (`phase` words the message)."""
    try:
        yield
    except ConnectFailed as exc:
        raise UpstreamFailure("connect", f"could not connect {phase}") from exc
    except aiohttp.ConnectionTimeoutError as exc:
        raise UpstreamFailure("connect", f"connect timed out {phase}") from exc
    except TimeoutError as exc:  # also aiohttp.ServerTimeoutError and asyncio.timeout
        raise UpstreamFailure("timeout", f"timed out {phase}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamFailure("connect", f"could not connect {phase}") from exc
    except (aiohttp.ClientError, ConnectionError, OSError) as exc:
        raise UpstreamFailure("reset", f"connection lost {phase}") from exc


@dataclass(slots=True)
class Opened:
    """A node's answer with its headers received and its first body chunk read."""

    response: NodeResponse
    first_chunk: bytes


async def open_response(
    client: NodeClient,
    node: NodeConfig,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> Opened:
    """Send the request; wait for headers and the first chunk within `first_byte` seconds.

    Reading the first chunk before committing to a node means a node that answers 200
    and then dies before sending anything is still failed over.
    """
    response: NodeResponse | None = None
    try:
        with translated_errors("waiting for the first byte"):
            async with asyncio.timeout(node.timeouts.first_byte):
                response = await client.post(path, headers, body)
                if is_failover_status(response.status):
                    raise failure_for_status(response.status, response.headers.get("Retry-After"))
                first = await response.read()
        return Opened(response, first)
    except BaseException:
        if response is not None:
            response.close()
        raise
