"""The model endpoints of every dialect: `GET {prefix}/models[/{id}]` (OpenAI),
`GET /{version}/models[/{model}]` (Gemini), and the paths several dialects share
(`/v1/models...`), where the request says which dialect the client speaks
(`Ingress.claims`, router.dialects.registry.claimant).

Each dialect's answers come from its catalog (router.dialects.codec.Catalog), built once
per loaded config from routes.yaml's listed names and aliases.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from router.billing.service import Billing
from router.config.model import Config, ModelRoute
from router.dialects.codec import Catalog, Codec, Entry, ModelInfo
from router.dialects.names import DialectName
from router.dialects.registry import claimant
from router.errors import ModelNotFound, echo
from router.proxy.table import RouteTable
from router.web.context import presented_key, set_codec


def model_info(name: str, route: ModelRoute) -> ModelInfo:
    """What the model endpoints tell of one served name."""
    return ModelInfo(name, route.limits.input_tokens, route.limits.output_tokens)


class ModelEndpoints:
    """List and get models; each dialect's answers are built once per loaded config."""

    def __init__(self, table: RouteTable, billing: Billing) -> None:
        self.table = table
        self.billing = billing
        self.created = int(time.time())
        self._config: Config | None = None
        self._catalogs: dict[DialectName, Catalog] = {}

    def catalog(self, codec: Codec) -> Catalog:
        """The current config's catalog in `codec`'s dialect, rebuilt only after a reload."""
        config: Config = self.table.config
        if self._config is not config:
            self._config = config
            self._catalogs = {}
        found = self._catalogs.get(codec.name)
        if found is None:
            listed = [model_info(name, route) for name, route in config.listed_routes()]
            found = self._catalogs[codec.name] = codec.models.catalog(listed, self.created)
        return found

    def _resolve(self, name: str) -> ModelInfo | None:
        route = self.table.config.resolve(name)
        return None if route is None else model_info(route.name, route)

    def handler(self, claims: Sequence[tuple[Codec, Entry]], *, one: bool) -> Handler:
        """The list (`one=False`) or get (`one=True`, `{model}` in the path) handler of a
        path the dialects of `claims` declared."""
        codecs = [codec for codec, _ in claims]

        async def models(request: web.Request) -> web.StreamResponse:
            codec = claimant(codecs, request.headers, request.query)
            set_codec(request, codec)
            catalog = self.catalog(codec)
            if not self.table.config.server.public_models:
                # Authentication before routing: with keys configured, no model name
                # (listed or looked up) is told to a request without a valid key.
                key = None if self.billing.auth_off else presented_key(request)
                self.billing.require_key(key)
                await self.billing.authenticate(key)
            if not one:
                return _json(catalog.page(request.query))
            name = request.match_info["model"]
            found = catalog.get(name, self._resolve)
            if found is None:
                raise ModelNotFound(f"model {echo(name)} is not served here")
            return _json(found)

        return models


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")
