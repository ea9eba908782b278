"""Talking to Redis within bounds: the client, error translation and reply text.

Every Redis error becomes StateUnavailable here, and every call is bounded: socket
timeouts of `config.timeout`, one immediate reconnect attempt, and an overall deadline.

`redis_client` is the one place a Redis client is made, for `state.redis_url` or for
the master `state.redis_sentinel` names. Through Sentinel, redis-py's own pool asks the
Sentinels for the master's address whenever it opens a connection, and drops a
connection that finds a demoted master (READONLY): after a failover the next
connection goes to the promoted replica, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from router.config.model import StateConfig
from router.config.sentinel import RedisSentinel
from router.errors import StateUnavailable

T = TypeVar("T")


@contextmanager
def translated() -> Iterator[None]:
    """Every Redis failure, and running out of time, as StateUnavailable."""
    try:
        yield
    except (RedisError, TimeoutError, OSError) as exc:
        raise translate(exc) from exc


def translate(exc: BaseException) -> BaseException:
    """A Redis failure or an overrun as StateUnavailable (`__cause__` set); others as they are."""
    if isinstance(exc, RedisError):
        out = StateUnavailable(f"state backend error: {type(exc).__name__}")
    elif isinstance(exc, TimeoutError | OSError):
        out = StateUnavailable("state backend did not answer in time")
    else:
        return exc
    out.__cause__ = exc
    return out


def resolve(result: asyncio.Future[T], raw: asyncio.Future[Any], read: Callable[[Any], T]) -> None:
    """Settle `result` from the done future `raw`: its reply as `read` reads it, or its
    error translated. A done-callback's work, where a coroutine would need a task of its
    own to outlive its caller."""
    if result.done():
        return
    if raw.cancelled():
        result.cancel()
        return
    exc = raw.exception()
    if exc is not None:
        result.set_exception(translate(exc))
        return
    try:
        result.set_result(read(raw.result()))
    except Exception as error:  # what the reply means (AuthRejected), or a bug
        result.set_exception(error)


def redis_client(config: StateConfig) -> Redis:
    """A client that fails fast: short socket timeouts, one immediate reconnect, no backoff."""
    # One retry on a connection error only: a pooled connection may be dead after a Redis
    # restart, and every script is idempotent per request id, so replaying is harmless.
    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    options: dict[str, Any] = {
        # A bounded pool: under a burst, requests wait (briefly) for a connection instead
        # of opening thousands of sockets; waiting too long is StateUnavailable like any
        # outage. That wait may use the whole deadline (a busy router is not an outage),
        # while each socket step keeps its own bound.
        "max_connections": config.max_connections,
        "timeout": config.timeout * 3,
        "socket_timeout": config.timeout,
        "socket_connect_timeout": config.timeout,
        "retry": retry,
        "decode_responses": True,
    }
    if config.redis_sentinel is not None:
        return _sentinel_master(config.redis_sentinel, config.timeout, options)
    return Redis.from_pool(BlockingConnectionPool.from_url(config.redis_url, **options))


FOLLOW_INTERVAL = 1.0  # seconds between asking the Sentinels which server is the master


class _SentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's Sentinel pool (it finds the master for each new connection) with the
    blocking pool's bounded wait; closing it also closes its connections to the Sentinels.

    redis-py asks the Sentinels only when it opens a connection, and a busy router's pooled
    connections stay open: after a failover that leaves the old master up (a planned one,
    a partition) they would write to it until the Sentinels demote it, seconds later, and
    it then drops everything written meanwhile (charges, ledger entries). So the pool asks
    every FOLLOW_INTERVAL seconds (in the background, from its first connection on): a new
    master closes the idle connections (redis-py's own `get_master_address` does), and a
    connection to any other server is closed when it comes back to the pool."""

    _follower: asyncio.Task[None] | None = None

    async def get_master_address(self) -> Any:
        if self._follower is None:
            self._follower = asyncio.get_running_loop().create_task(self._follow())
        return await super().get_master_address()  # type: ignore[no-untyped-call]

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(FOLLOW_INTERVAL)
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await super().get_master_address()  # type: ignore[no-untyped-call]

    async def release(self, connection: AbstractConnection) -> None:
        address = self.master_address
        where = (getattr(connection, "host", None), getattr(connection, "port", None))
        if address is not None and where != tuple(address):
            await connection.disconnect()  # it reconnects to the master when next used
        await super().release(connection)

    async def aclose(self) -> None:
        try:
            if self._follower is not None:
                self._follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._follower
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _sentinel_master(sentinel: RedisSentinel, timeout: float, options: dict[str, Any]) -> Redis:
    """A client of the master the Sentinels name now, and of whichever they promote next."""
    asking = {
        "password": sentinel.sentinel_password,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
    }
    manager = Sentinel(
        sentinel.sentinels,
        sentinel_kwargs=asking,
        password=sentinel.password,
        db=sentinel.db,
    )
    client: Redis = manager.master_for(
        sentinel.master, connection_pool_class=_SentinelPool, **options
    )
    return client


def deadline_of(config: StateConfig) -> float:
    """The overall bound of one operation: a connect, a retry and a read, each `timeout`."""
    return config.timeout * 3 + 0.25


async def bounded(awaitable: Awaitable[T], deadline: float) -> T:
    """Await one Redis operation; any failure or overrun becomes StateUnavailable."""
    with translated():
        async with asyncio.timeout(deadline):
            return await awaitable


def text(value: bytes | str | None) -> str:
    """Replies are str (decode_responses=True); the client's types also allow bytes."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else value


def texts(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}
