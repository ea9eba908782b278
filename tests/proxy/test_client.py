"""router.proxy.client: a write to a client that went away becomes ClientGone, nothing else."""

from __future__ import annotations

import pytest

from router.errors import ClientGone
from router.proxy.client import client_writes


@pytest.mark.parametrize(
    "error", [ConnectionResetError(), BrokenPipeError(), ConnectionAbortedError()]
)
def test_a_lost_client_is_client_gone(error: OSError) -> None:
    with pytest.raises(ClientGone) as raised, client_writes():
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize("error", [RuntimeError("write after eof"), ValueError("bug")])
def test_other_errors_pass_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)), client_writes():
        raise error


def test_client_gone_is_no_os_error() -> None:
    # The proxy tells "the client left" from "the node's socket failed" by type.
    assert not issubclass(ClientGone, OSError)
