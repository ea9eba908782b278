"""A streaming load generator: opens SSE streams and records when each chunk arrives.

`python -m bench.stream_client --url URL --streams N --rounds R --chunks C --out FILE`
writes JSON: delays (receive time minus the `sent` stamp, ms), time to first chunk (ms),
per-stream open/close times, and errors by kind. It runs in its own process so that the
proxy under test never shares a core with it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import uvloop

from bench.system import raise_nofile

PATH = "/v1/chat/completions"
# A chunk translated from a Gemini stream carries its stamp as its content only.
_STAMPED_CONTENT = re.compile(rb'"content":"\d+\.\d{6}"')


@dataclass(slots=True)
class Record:
    """What one client process saw."""

    delays_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    intervals: list[tuple[float, float]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    ok: int = 0


def events(reads: list[tuple[bytes, float]]) -> list[tuple[bytes, float]]:
    """Split timed reads into `data:` lines, each with the time its last byte arrived."""
    found: list[tuple[bytes, float]] = []
    pending = b""
    for data, at in reads:
        *lines, pending = (pending + data).split(b"\n")
        found.extend((line, at) for line in lines if line.startswith(b"data:"))
    return found


def sent_stamp(line: bytes) -> float:
    """The send time stamped by bench.sse_upstream (top-level `sent`, else the content)."""
    event = orjson.loads(line[5:])
    if "sent" in event:
        return float(event["sent"])
    return float(event["choices"][0]["delta"]["content"])


async def one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, chunks: int, rec: Record, delays: bool
) -> None:
    """Run one stream to the end and add what it saw to `rec`."""
    arrivals: list[tuple[bytes, float]] = []
    started = time.time()
    opened = 0.0
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
            opened = time.time()
            if r.status != 200:
                rec.errors[f"status {r.status}"] += 1
                return
            # Stamp whole reads (cheaper than a readline per event); split events afterwards.
            reads: list[tuple[bytes, float]] = []
            async for data in r.content.iter_any():
                reads.append((data, time.time()))
            arrivals = events(reads)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        rec.errors[type(exc).__name__] += 1
        return
    finally:
        if opened:
            rec.intervals.append((opened, time.time()))
    stamped = [
        a
        for a in arrivals
        if b'"sent"' in a[0] or b'"seq"' in a[0] or _STAMPED_CONTENT.search(a[0])
    ]
    if not arrivals or not arrivals[-1][0].startswith(b"data: [DONE]") or len(stamped) < chunks:
        rec.errors[f"short stream ({len(stamped)}/{chunks} chunks)"] += 1
        return
    rec.ok += 1
    rec.ttfb_ms.append((arrivals[0][1] - started) * 1000.0)
    if delays:
        rec.delays_ms.extend((t - sent_stamp(line)) * 1000.0 for line, t in stamped)


async def run(args: argparse.Namespace) -> Record:
    """`rounds` rounds of `streams` concurrent streams, starts spread over `ramp` seconds."""
    rec = Record()
    url = args.url.rstrip("/") + PATH
    body = orjson.dumps(
        {
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "max_tokens": args.chunks,
        }
    )
    timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_read=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def delayed(offset: float) -> None:
            await asyncio.sleep(offset)
            await one_stream(session, url, body, args.chunks, rec, not args.no_delays)

        async def all_rounds() -> None:
            for _ in range(args.rounds):
                step = args.ramp / args.streams
                await asyncio.gather(*(delayed(i * step) for i in range(args.streams)))

        try:
            await asyncio.wait_for(all_rounds(), timeout=args.deadline)
        except TimeoutError:
            missing = args.streams * args.rounds - rec.ok - sum(rec.errors.values())
            rec.errors["deadline"] += max(missing, 0)
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--ramp", type=float, default=0.0, help="spread starts over seconds")
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--no-delays", action="store_true", help="skip per-chunk delays")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    soft, _ = raise_nofile()
    gc.disable()  # a collection pause would show up as chunk delay; the process is short-lived
    rec = uvloop.run(run(args))
    result = {
        "nofile": soft,
        "ok": rec.ok,
        "errors": dict(rec.errors),
        "delays_ms": rec.delays_ms,
        "ttfb_ms": rec.ttfb_ms,
        "intervals": rec.intervals,
    }
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
