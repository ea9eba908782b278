"""The admin API's keys and usage: what the admin console (/console) does, over JSON.

    GET  /admin/keys                     every key: balance, limits, state, last use
    POST /admin/keys                     create one: {name, credits, rpm, tpm,
                                         max_concurrent, models}; the key is in the answer,
                                         the only time it is shown
    POST /admin/keys/{name}/credits      top up (or take away): {"amount": "+5000"}
    POST /admin/keys/{name}/disable      refuse it from now on (401 key_disabled)
    POST /admin/keys/{name}/enable       undo a disable
    GET  /admin/usage                    the ledger, filtered and paged, with totals and an
                                         hourly chart (router.web.usage_report)
    GET  /admin/usage.csv                the same selection, every row, as CSV

Both backends do all of it. Redis keeps it for every replica and across restarts; the
memory backend keeps it in this process only (`persistent: false` in the answers): a key
created here works until the router restarts (the answer carries the routes.yaml entry
that keeps it), and a top-up or a disable lasts until a restart, reloads included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from router.billing.service import Billing
from router.config.credits import credits_to_micro, micro_to_credits
from router.config.keys import ALL_MODELS, KeyRecord, KeySpec, hash_key, static_entry
from router.config.model import Config
from router.errors import (
    Conflict,
    InvalidRequest,
    KeyExists,
    KeyNotFound,
    NotFound,
    UnlimitedCredits,
)
from router.web.usage_report import (
    UsageQuery,
    key_row,
    last_use,
    usage_csv,
    usage_document,
)

MEMORY_NOTE = (
    "memory backend: keys created here, top-ups and disables live in this router process "
    "only and are lost when it restarts (a reload keeps them); put a key in routes.yaml's "
    "keys: to keep it, or use state.backend: redis"
)
_LIMITS = ("rpm", "tpm", "max_concurrent")


def spec_from_json(body: Any) -> KeySpec:
    """POST /admin/keys' body -> a KeySpec; anything wrong is a 400 naming it."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("name is required")
    limits: dict[str, int | None] = {}
    for field in _LIMITS:
        value = body.get(field)
        if value in (None, ""):
            limits[field] = None
        elif isinstance(value, int) and not isinstance(value, bool):
            limits[field] = value
        elif isinstance(value, str) and value.strip().isdigit():
            limits[field] = int(value)
        else:
            raise InvalidRequest(f"{field} must be a whole number, or empty for no limit")
    raw_models = body.get("models") or ()
    if isinstance(raw_models, str):
        raw_models = raw_models.split(",")
    if not isinstance(raw_models, list | tuple) or not all(isinstance(m, str) for m in raw_models):
        raise InvalidRequest("models must be a list of globs or a comma-separated string")
    models = tuple(m.strip() for m in raw_models if m.strip()) or ALL_MODELS
    credits = body.get("credits")
    try:
        micro = None if credits in (None, "") else credits_to_micro(credits)
        return KeySpec(
            name=name,
            models=models,
            credits=micro,
            rpm=limits["rpm"],
            tpm=limits["tpm"],
            max_concurrent=limits["max_concurrent"],
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def amount_from_json(body: Any) -> int:
    """POST .../credits' body `{"amount": "+5000"}` -> micro-credits."""
    amount = body.get("amount") if isinstance(body, dict) else None
    if amount in (None, "") or isinstance(amount, bool):
        raise InvalidRequest('amount is required: {"amount": "+5000"} (or -250 to take away)')
    try:
        micro = credits_to_micro(amount)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if micro == 0:
        raise InvalidRequest("amount must not be 0")
    return micro


class AdminKeys:
    """Handlers of /admin/keys and /admin/usage; `authorize` is the admin API's check."""

    def __init__(
        self,
        billing: Billing,
        config: Callable[[], Config],
        authorize: Callable[[web.Request], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.billing = billing
        self.config = config
        self.authorize = authorize
        self.clock = clock

    @property
    def persistent(self) -> bool:
        return self.billing.config.backend == "redis"

    def _backend(self) -> dict[str, Any]:
        return {
            "backend": self.billing.config.backend,
            "persistent": self.persistent,
            "note": None if self.persistent else MEMORY_NOTE,
        }

    async def list_keys(self, request: web.Request) -> web.Response:
        """GET /admin/keys."""
        self.authorize(request)
        store = self.billing.store
        records = await store.list_keys()
        used = last_use(await store.usage_records(since=0))
        rows = [key_row(r, used.get(r.name)) for r in records]
        return _json({**self._backend(), "auth_off": self.billing.auth_off, "keys": rows})

    async def create(self, request: web.Request) -> web.Response:
        """POST /admin/keys: 201 with the key, shown this once."""
        self.authorize(request)
        spec = spec_from_json(await _body(request))
        static = {k.name for k in self.config().keys}
        try:
            if spec.name in static:
                raise KeyExists(spec.name)
            plain = await self.billing.store.create_key(spec)
        except KeyExists:
            raise Conflict(f"a key named {spec.name!r} already exists") from None
        self.billing.key_created()
        record = await self.billing.store.get_key(spec.name)
        document = {
            **self._backend(),
            "key": plain,
            "record": key_row(record or KeyRecord(spec, hash_key(plain)), None),
        }
        if not self.persistent:
            document["routes_yaml_entry"] = static_entry(spec, hash_key(plain))
        return _json(document, status=201)

    async def credit(self, request: web.Request) -> web.Response:
        """POST /admin/keys/{name}/credits: the new balance."""
        self.authorize(request)
        name = request.match_info["name"]
        delta = amount_from_json(await _body(request))
        try:
            balance = await self.billing.store.add_credits(name, delta)
        except KeyNotFound:
            raise NotFound(f"no key named {name[:64]!r}") from None
        except UnlimitedCredits:
            raise Conflict(f"key {name[:64]!r} has unlimited credits") from None
        return _json({**self._backend(), "name": name, "balance": micro_to_credits(balance)})

    async def disable(self, request: web.Request) -> web.Response:
        """POST /admin/keys/{name}/disable."""
        return await self._switch(request, disabled=True)

    async def enable(self, request: web.Request) -> web.Response:
        """POST /admin/keys/{name}/enable."""
        return await self._switch(request, disabled=False)

    async def _switch(self, request: web.Request, *, disabled: bool) -> web.Response:
        self.authorize(request)
        name = request.match_info["name"]
        store = self.billing.store
        configured = {k.name: k for k in self.config().keys}.get(name)
        if not disabled and configured is not None and configured.spec.disabled:
            raise Conflict(f"key {name[:64]!r} is disabled in routes.yaml: edit it and reload")
        try:
            await (store.disable_key(name) if disabled else store.enable_key(name))
        except KeyNotFound:
            raise NotFound(f"no key named {name[:64]!r}") from None
        return _json({**self._backend(), "name": name, "disabled": disabled})

    async def _records(self, query: Mapping[str, str]) -> tuple[UsageQuery, list[Any], float]:
        now = self.clock()
        parsed = UsageQuery.parse(query, now)
        return parsed, await self.billing.store.usage_records(since=parsed.since), now

    async def usage(self, request: web.Request) -> web.Response:
        """GET /admin/usage?key=&model=&outcome=&since=&until=&limit=&offset=."""
        self.authorize(request)
        query, records, now = await self._records(request.query)
        return _json(usage_document(records, query, now))

    async def usage_csv(self, request: web.Request) -> web.Response:
        """GET /admin/usage.csv with the same filters: every matching row."""
        self.authorize(request)
        query, records, _ = await self._records(request.query)
        response = web.Response(text=usage_csv(records, query), content_type="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="router-usage.csv"'
        response.headers["Cache-Control"] = "no-store"
        return response

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/admin/keys", self.list_keys),
            web.post("/admin/keys", self.create),
            web.post("/admin/keys/{name}/credits", self.credit),
            web.post("/admin/keys/{name}/disable", self.disable),
            web.post("/admin/keys/{name}/enable", self.enable),
            web.get("/admin/usage", self.usage),
            web.get("/admin/usage.csv", self.usage_csv),
        ]


async def _body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body must be JSON") from None


def _json(document: object, status: int = 200) -> web.Response:
    response = web.Response(
        body=orjson.dumps(document), status=status, content_type="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
