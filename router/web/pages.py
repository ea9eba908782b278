"""The playground, account, console and status pages: static files shipped in the package.

The files under `ui/` are read once, when the app is built, with their response headers
prepared; a page request only copies bytes. Every page and asset is same-origin only: the
Content-Security-Policy allows no inline script and no outside request, and the pages keep
keys and tokens in `sessionStorage`, never in a URL or `localStorage`. `server.ui: false`
leaves the routes out altogether.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from aiohttp import web

from router.errors import NotFound

PAGES: Mapping[str, str] = MappingProxyType(
    {
        "/": "playground.html",
        "/playground": "playground.html",
        "/account": "account.html",
        "/status": "status.html",
        "/console": "console.html",
    }
)
TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
    }
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }
)


HTML_ROOT = b'<html lang="en">'
# What the pages' scripts read from <html data-models=...>: whether the model list needs
# the key, so the playground asks for it instead of showing the user (and the browser's
# console) a 401 before a key was typed.
MODELS_NEED_KEY = b'<html lang="en" data-models="key">'


class Pages:
    """Serves `ui/`'s files from memory."""

    def __init__(self, *, models_need_key: bool = False) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        for entry in resources.files("router.web").joinpath("ui").iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in TYPES:
                body = entry.read_bytes()
                if suffix == ".html" and models_need_key:
                    body = body.replace(HTML_ROOT, MODELS_NEED_KEY, 1)
                self.files[entry.name] = (body, TYPES[suffix])

    def _answer(self, name: str) -> web.Response:
        found = self.files.get(name)
        if found is None:
            raise NotFound("no such page")
        body, content_type = found
        response = web.Response(body=body, headers=SECURITY_HEADERS)
        response.headers["Content-Type"] = content_type
        return response

    async def page(self, request: web.Request) -> web.Response:
        """GET /, /playground, /account, /console, /status."""
        return self._answer(PAGES[request.path])

    async def asset(self, request: web.Request) -> web.Response:
        """GET /ui/{name}: the pages' scripts and style sheet."""
        return self._answer(request.match_info["name"])

    def routes(self) -> list[web.RouteDef]:
        return [
            *(web.get(path, self.page) for path in PAGES),
            web.get("/ui/{name}", self.asset),
        ]
