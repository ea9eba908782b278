"""The bare aiohttp + uvloop pass-through: the floor of what this stack can do as a proxy.

`python -m bench.passthrough --port P --upstream http://127.0.0.1:U`
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

from bench.serving import serve
from bench.system import raise_nofile

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def forward(request: web.Request) -> web.StreamResponse:
    """POST the body upstream; stream SSE back chunk by chunk, return anything else whole."""
    body = await request.read()
    url = request.app[UPSTREAM] + request.path
    headers = {"Content-Type": request.content_type}
    async with request.app[SESSION].post(url, data=body, headers=headers) as upstream:
        if upstream.content_type != "text/event-stream":
            data = await upstream.read()
            return web.Response(status=upstream.status, body=data, content_type="application/json")
        response = web.StreamResponse(status=upstream.status)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        return response


def build_app(upstream: str) -> web.Application:
    """The pass-through app with one ClientSession (no connection limit)."""
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    raise_nofile()
    uvloop.run(serve(build_app(args.upstream), args.port))


if __name__ == "__main__":
    main()
