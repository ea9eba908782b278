"""An OTLP/HTTP trace sink for the tracing rows: takes every export, keeps nothing.

`python -m bench.otlp_sink --port P`: answers each POST /v1/traces with 200 and an empty
`ExportTraceServiceResponse` (zero bytes of protobuf), as a healthy collector would, so
the traced router pays for encoding and sending its spans and nothing else.
"""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import web

from bench.serving import serve


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", accept)
    uvloop.run(serve(app, args.port))


if __name__ == "__main__":
    main()
