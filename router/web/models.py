"""The model endpoints: OpenAI's `GET {prefix}/models[/{id}]`, Gemini's
`GET /{version}/models[/{model}]`, and the paths both share (`/v1/models...`), where the
request says which dialect the client speaks (`router.dialects.models.is_gemini_client`).
"""

from __future__ import annotations

import enum
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from router.billing.service import Billing
from router.config.model import Config
from router.dialects.dialect import GEMINI, OPENAI
from router.dialects.models import ModelCatalog, is_gemini_client
from router.errors import ModelNotFound, echo
from router.proxy.table import RouteTable
from router.web.handlers import set_dialect


class Speaks(enum.Enum):
    """Which dialect a model path answers in."""

    OPENAI = "openai"
    GEMINI = "gemini"
    EITHER = "either"  # a path both dialects have: decided per request

    def joined(self, other: Speaks) -> Speaks:
        """The dialect of a path that two route families both register."""
        return self if self is other else Speaks.EITHER


class ModelEndpoints:
    """List and get models; answers are built once per loaded config."""

    def __init__(self, table: RouteTable, billing: Billing) -> None:
        self.table = table
        self.billing = billing
        self.created = int(time.time())
        self._catalog: ModelCatalog | None = None

    def catalog(self) -> ModelCatalog:
        """The current config's catalog, rebuilt only after a reload."""
        config: Config = self.table.config
        if self._catalog is None or self._catalog.config is not config:
            self._catalog = ModelCatalog.of(config, self.created)
        return self._catalog

    def handler(self, speaks: Speaks, *, one: bool) -> Handler:
        """The list (`one=False`) or get (`one=True`, `{model}` in the path) handler."""

        async def models(request: web.Request) -> web.StreamResponse:
            gemini = speaks is Speaks.GEMINI or (
                speaks is Speaks.EITHER and is_gemini_client(request.headers, request.query)
            )
            set_dialect(request, GEMINI if gemini else OPENAI)
            catalog = self.catalog()
            if not catalog.config.server.public_models:
                # Authentication before routing: with keys configured, no model name
                # (listed or looked up) is told to a request without a valid key.
                self.billing.require_key(request)
                await self.billing.authenticate(request)
            if not one:
                if gemini:
                    query = request.query
                    body = catalog.gemini_page(query.get("pageSize"), query.get("pageToken"))
                else:
                    body = catalog.openai_list
                return _json(body)
            name = request.match_info["model"]
            found = catalog.gemini_get(name) if gemini else catalog.openai_get(name)
            if found is None:
                raise ModelNotFound(f"model {echo(name)} is not served here")
            return _json(found)

        return models


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")
