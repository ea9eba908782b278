"""The script calls made in one event-loop turn go to Redis as one pipelined write.

redis-py runs each command on its own: take a pooled connection (under a condition and
a timeout), pack, write (under `asyncio.wait_for`), read (under another timeout),
release. With two scripts per request (admit, settle) that machinery cost more CPU than
the rest of the router together. Here the calls queued during one loop turn share all of
it: one pooled connection, one write, their replies read in order under one timeout.
Each script stays atomic on the server; a non-transactional pipeline only saves work.

Errors keep redis-py's types (the store translates them): an error reply fails its own
call only; a connection error fails the batch after one retry on a fresh connection
(every script is idempotent per request id, so replaying is harmless); a server that
lost its scripts (NOSCRIPT after a restart or flush) gets them loaded again. One deadline
bounds a whole batch, retry included, so callers need no timeout of their own.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.tasks import cancel_and_wait

Arg = str | int | bytes
HOLD_SECONDS = 0.1  # how long a connection stays out of the pool between batches


def pack(parts: Sequence[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings (ints written in decimal), packed by
    hiredis in C (about 2 us for a settlement against 5.5 us in Python)."""
    # hiredis types its argument as a one-element tuple (its stub means any length).
    packed: bytes = hiredis.pack_command(tuple(parts))  # type: ignore[arg-type]
    return packed


@dataclass(slots=True)
class _Call:
    script: AsyncScript
    keys: Sequence[Arg]
    args: Sequence[Arg]
    future: asyncio.Future[Any]

    def packed(self) -> bytes:
        return pack([b"EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args])


class ScriptPipeline:
    """Batches EVALSHA calls per loop turn onto pooled connections of `client`."""

    def __init__(self, client: Redis, read_timeout: float, deadline: float) -> None:
        self._client = client
        self._pool: ConnectionPool = client.connection_pool
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._queued: list[_Call] = []
        self._batches: set[asyncio.Task[None]] = set()
        # Connections kept between batches: taking one from redis-py's pool costs a lock,
        # a timeout and a probing read each time. Each goes back to the pool within
        # HOLD_SECONDS (whose Sentinel flavour closes one left on a demoted master).
        self._held: list[AbstractConnection] = []
        self._hand_back: asyncio.TimerHandle | None = None

    def call(
        self, script: AsyncScript, keys: Sequence[Arg], args: Sequence[Arg]
    ) -> asyncio.Future[Any]:
        """The script's reply, once the batch this call joins has been answered."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append(_Call(script, keys, args, future))
        if len(self._queued) == 1:
            loop.call_soon(self._send_queued)
        return future

    def _send_queued(self) -> None:
        calls, self._queued = self._queued, []
        task = asyncio.ensure_future(self._run_batch(calls))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def close(self) -> None:
        """Stop batches still in flight (their callers get CancelledError)."""
        await cancel_and_wait(list(self._batches))
        await self._release_all()

    async def _release_all(self) -> None:
        if self._hand_back is not None:
            self._hand_back.cancel()
            self._hand_back = None
        held, self._held = self._held, []
        for connection in held:
            await self._pool.release(connection)

    async def _run_batch(self, calls: list[_Call]) -> None:
        try:
            async with asyncio.timeout(self._deadline):
                replies = await self._replies(calls)
        except Exception as exc:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        except BaseException:  # cancelled (close): so are the callers
            for call in calls:
                call.future.cancel()
            raise
        for call, reply in zip(calls, replies, strict=True):
            if call.future.done():  # the caller gave up (its deadline passed)
                continue
            if isinstance(reply, ResponseError):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _replies(self, calls: list[_Call]) -> list[Any]:
        try:
            replies = await self._exchange(calls)
        except RedisConnectionError:
            await self._release_all()  # kept ones may be as dead: the pool probes its own
            replies = await self._exchange(calls)  # one retry, on a fresh connection
        missing = [c for c, r in zip(calls, replies, strict=True) if _is_noscript(r)]
        if missing:
            await self._release_all()  # loading goes through the pool: no second connection
            for script in {id(c.script): c.script for c in missing}.values():
                await self._client.script_load(script.script)
            for call, reply in zip(missing, await self._exchange(missing), strict=True):
                replies[calls.index(call)] = reply
        return replies

    async def _exchange(self, calls: Sequence[_Call]) -> list[Any]:
        """Write every call on one connection; its replies in order (error replies as values)."""
        if self._held:
            connection = self._held.pop()
        else:
            connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(
                b"".join(c.packed() for c in calls), check_health=False
            )
            replies = await self._read_replies(connection, len(calls))
        except BaseException:
            await self._pool.release(connection)  # disconnected by the failed step
            raise
        self._hold(connection)
        return replies

    def _hold(self, connection: AbstractConnection) -> None:
        """Keep an answered connection for the next batch, for HOLD_SECONDS at most."""
        self._held.append(connection)
        if self._hand_back is None:
            loop = asyncio.get_running_loop()
            self._hand_back = loop.call_later(HOLD_SECONDS, self._release_held)

    def _release_held(self) -> None:
        self._hand_back = None
        held, self._held = self._held, []
        for connection in held:
            task = asyncio.ensure_future(self._pool.release(connection))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _read_replies(self, connection: AbstractConnection, count: int) -> list[Any]:
        replies: list[Any] = []
        try:
            async with asyncio.timeout(self._read_timeout):
                while len(replies) < count:
                    try:
                        replies.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:  # read whole: the connection stays in step
                        replies.append(exc)
        except TimeoutError:
            await connection.disconnect(nowait=True)  # half-read replies: unusable
            raise RedisTimeoutError("Timeout reading script replies") from None
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return replies


def _is_noscript(reply: object) -> bool:
    return isinstance(reply, NoScriptError)
