"""Reading on from a node, briefly, after its client left, for the usage it reports.

A client that leaves before the node's usage arrived is charged what it received
(router.billing.delivered). One that leaves after the whole answer's text (its finish
reason) but before the usage (an SDK that stops reading at the finish, a tab closed at
the last word) got everything: the node's own usage is then the right charge, and it
comes within moments, with nothing left to generate. So the router reads on from that
node, sending nothing, for at most USAGE_GRACE seconds, and billing charges the usage
it reported by then. A node still answering when its client left is closed at once
instead (most stop generating), and that request is charged what was delivered.
"""

from __future__ import annotations

import asyncio

from router.dialects.usage import Usage
from router.dialects.usage_tap import UsageTap
from router.errors import ClientGone, UpstreamFailure
from router.upstream.transport import UpstreamResponse

USAGE_GRACE = 2.0  # seconds a node is read on after its client left, for its usage


def read_on_for_usage(
    upstream: UpstreamResponse, tap: UsageTap, grace: float = USAGE_GRACE
) -> asyncio.Task[Usage | None]:
    """A task that reads `upstream` into `tap` for at most `grace` seconds, then closes it;
    its result is the usage the tap saw (None when none came). It owns `upstream`."""
    return asyncio.get_running_loop().create_task(_read_on(upstream, tap, grace))


async def _read_on(upstream: UpstreamResponse, tap: UsageTap, grace: float) -> Usage | None:
    ended = False
    try:
        async with asyncio.timeout(grace):
            while chunk := await upstream.read():
                tap.feed(chunk)
            ended = True
    except (TimeoutError, UpstreamFailure, ClientGone):
        pass
    finally:
        if ended:
            upstream.release()
        else:
            upstream.close()
    return tap.finish()
