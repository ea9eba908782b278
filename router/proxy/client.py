"""The seam to the client's connection: aiohttp's write errors become `ClientGone`.

aiohttp raises `ConnectionResetError` (its `ClientConnectionResetError`), or another
`ConnectionError`, when a response is written to a client that has gone away: OS error
types, the same a node's socket could raise. It is translated
here, once, so the relay and the keep-alive ticker never catch an OS error type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from router.errors import ClientGone


@contextmanager
def client_writes() -> Iterator[None]:
    """Around writes to a client: its disconnect raises `ClientGone`."""
    try:
        yield
    except ConnectionError as exc:  # reset, broken pipe, aborted: all mean it left
        raise ClientGone("the client went away") from exc
