"""Client traffic through the cluster of tests/test_cluster.py: bounded plain and streaming
loops that keep every outcome, and rate-limit bursts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson

from tests.support import chat_body
from tests.support.cluster import MODEL


@dataclass(slots=True)
class Outcome:
    """One client request through nginx."""

    is_stream: bool
    started: float
    ended: float = 0.0
    headers_at: float | None = None  # when the response headers arrived
    status: int = 0
    node: str | None = None  # X-Mock-Node
    replica: str | None = None  # X-Upstream-Addr (nginx)
    done: bool = False  # a complete answer: `data: [DONE]` or a chat.completion body
    error_event: bool = False  # a stream ended by the router's mid-stream error event
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.done

    def describe(self) -> str:
        kind = "stream" if self.is_stream else "plain"
        return (
            f"{kind} status={self.status} node={self.node} replica={self.replica} "
            f"t={self.started:.2f}..{self.ended:.2f} detail={self.detail[:200]!r}"
        )


def _error_event(body: bytes) -> bool:
    last = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    if not last.startswith(b"data: "):
        return False
    try:
        event = orjson.loads(last.removeprefix(b"data: "))
    except orjson.JSONDecodeError:
        return False
    return isinstance(event, dict) and event.get("success") is False


@dataclass(slots=True)
class Traffic:
    """Bounded client loops (plain and streaming chat) through nginx with one key."""

    session: aiohttp.ClientSession
    url: str
    key: str
    plain_loops: int = 3
    stream_loops: int = 6
    pause: float = 0.05
    max_requests: int = 5000  # per loop: the loops end by themselves even if never stopped
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def one(self, is_stream: bool) -> Outcome:
        outcome = Outcome(is_stream, time.monotonic())
        self.outcomes.append(outcome)
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            async with self.session.post(
                self.url + "/v1/chat/completions",
                json=chat_body(MODEL, stream=is_stream),
                headers=headers,
            ) as resp:
                outcome.headers_at = time.monotonic()
                outcome.status = resp.status
                outcome.node = resp.headers.get("X-Mock-Node")
                outcome.replica = resp.headers.get("X-Upstream-Addr")
                body = b""
                try:
                    async for chunk in resp.content.iter_any():
                        body += chunk
                except aiohttp.ClientPayloadError as exc:
                    outcome.detail = f"payload error {exc!r}; "
                if is_stream:
                    outcome.done = body.endswith(b"data: [DONE]\n\n")
                    outcome.error_event = _error_event(body)
                else:
                    outcome.done = b'"chat.completion"' in body
                if not outcome.ok:
                    outcome.detail += body[-300:].decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome.detail += repr(exc)
        outcome.ended = time.monotonic()
        return outcome

    async def _loop(self, is_stream: bool) -> None:
        for _ in range(self.max_requests):
            if self._stop.is_set():
                return
            await self.one(is_stream)
            if self.pause:
                await asyncio.sleep(self.pause)

    def start(self) -> Traffic:
        loops = [False] * self.plain_loops + [True] * self.stream_loops
        self._tasks = [asyncio.create_task(self._loop(s)) for s in loops]
        return self

    async def stop(self, within: float = 30.0) -> None:
        self._stop.set()
        async with asyncio.timeout(within):
            await asyncio.gather(*self._tasks)

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        """Requests started in [start, end)."""
        return [o for o in self.outcomes if start <= o.started < end]

    @staticmethod
    def summary(outcomes: Sequence[Outcome]) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for o in outcomes:
            kind = "stream" if o.is_stream else "plain"
            counts[f"{kind}_total"] += 1
            if o.ok:
                counts[f"{kind}_ok"] += 1
            elif o.is_stream and o.status == 200 and o.error_event:
                counts["stream_error_event"] += 1
            else:
                counts[f"{kind}_failed"] += 1
        return dict(sorted(counts.items()))


async def burst(
    session: aiohttp.ClientSession, url: str, key: str, count: int, concurrency: int
) -> list[tuple[int, str]]:
    """`count` plain requests with `key`, `concurrency` at a time: (status, error code)."""
    results: list[tuple[int, str]] = []
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            headers = {"Authorization": f"Bearer {key}"}
            try:
                async with session.post(
                    url + "/v1/chat/completions", json=chat_body(MODEL), headers=headers
                ) as resp:
                    body = await resp.read()
                    code = ""
                    if resp.status != 200:
                        with contextlib.suppress(orjson.JSONDecodeError, TypeError, KeyError):
                            code = str(orjson.loads(body)["error"]["code"])
                        code = code or body[:100].decode(errors="replace")
                    results.append((resp.status, code))
            except (aiohttp.ClientError, TimeoutError) as exc:
                results.append((0, repr(exc)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results
