"""A streaming upstream that stamps every SSE chunk with its send time (`time.time()`).

`python -m bench.sse_upstream --port P --chunks 40 --interval 0.01`; a request's
`max_tokens` (Gemini's `generationConfig.maxOutputTokens`), when present, overrides the
number of chunks (short warm-up streams). A path with `:streamGenerateContent` is answered
as Gemini streams (the stamp in each chunk's text), for the router's translated streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import orjson
import uvloop
from aiohttp import web

from bench.serving import serve
from bench.system import raise_nofile

CHUNKS = web.AppKey("chunks", int)
INTERVAL = web.AppKey("interval", float)

_CHUNK = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"gemini-2.5-flash","sent":%s,"seq":%d,"choices":[{"index":0,'
    b'"delta":{"content":"%s"},"finish_reason":null}]}\n\n'
)
_FINAL = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"gemini-2.5-flash","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":%d,"total_tokens":%d}}\n\n'
    b"data: [DONE]\n\n"
)


_GEMINI_CHUNK = (
    b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"%s"}]},"index":0}],'
    b'"modelVersion":"gemini-2.5-flash","responseId":"bench"}\r\n\r\n'
)
_GEMINI_FINAL = (
    b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"index":0,'
    b'"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":%d,'
    b'"totalTokenCount":%d},"modelVersion":"gemini-2.5-flash","responseId":"bench"}\r\n\r\n'
)


def requested_chunks(body: bytes, default: int) -> int:
    """How many chunks a request asks for: its output cap in either dialect, else `default`."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        document = orjson.loads(body)
        config = document.get("generationConfig") or {}
        return int(document.get("max_tokens") or config.get("maxOutputTokens") or default)
    return default


def chunk(index: int, sent: float) -> bytes:
    """One chat.completion.chunk event carrying its send time in `sent` and in the content."""
    stamp = b"%.6f" % sent
    return _CHUNK % (stamp, index, stamp)


async def stream(request: web.Request) -> web.StreamResponse:
    """Send `chunks` stamped events `interval` seconds apart, then the usage chunk and [DONE]."""
    count = requested_chunks(await request.read(), request.app[CHUNKS])
    gemini = request.path.endswith(":streamGenerateContent")
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    await response.prepare(request)
    interval = request.app[INTERVAL]
    for index in range(count):
        if index:
            await asyncio.sleep(interval)
        sent = time.time()
        await response.write(_GEMINI_CHUNK % (b"%.6f" % sent) if gemini else chunk(index, sent))
    await response.write((_GEMINI_FINAL if gemini else _FINAL) % (count, count + 1))
    return response


async def ok(request: web.Request) -> web.Response:
    """Any GET (health probes, /v1/models) answers 200."""
    return web.json_response({"object": "list", "data": []})


def build_app(chunks: int, interval: float) -> web.Application:
    """The streaming upstream app."""
    app = web.Application()
    app[CHUNKS] = chunks
    app[INTERVAL] = interval
    app.router.add_post("/{tail:.*}", stream)
    app.router.add_get("/{tail:.*}", ok)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args()
    raise_nofile()
    uvloop.run(serve(build_app(args.chunks, args.interval), args.port))


if __name__ == "__main__":
    main()
