"""Key management in Redis: create keys, seed routes.yaml's, read, credit and disable.

The admin side of the Redis store (`router keys`, the admin API, startup): each write is
one Lua script (router.billing.state.lua) so replicas cannot interleave; the layout is
drawn in router.billing.state.redis.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TypeVar

import orjson
from redis.asyncio import Redis

from router.billing.keys import ModelGlobs, new_key
from router.billing.state import lua
from router.billing.state.redis_io import bounded, deadline_of, text, texts
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import StateConfig
from router.errors import KeyExists, KeyNotFound, UnlimitedCredits

T = TypeVar("T")


class RedisKeys:
    """The key records under `config.prefix`; `static` are routes.yaml's, by key hash."""

    def __init__(self, config: StateConfig, client: Redis, static: Mapping[str, KeyRecord]) -> None:
        self.client = client
        self._p = config.prefix
        self._static = static
        self._deadline = deadline_of(config)
        self._create = client.register_script(lua.CREATE_KEY)
        self._seed = client.register_script(lua.SEED_STATIC)
        self._drop = client.register_script(lua.DROP_STATIC)
        self._credit = client.register_script(lua.ADD_CREDITS)
        self._disable = client.register_script(lua.DISABLE_KEY)
        self._enable = client.register_script(lua.ENABLE_KEY)

    async def _run(self, awaitable: Awaitable[T]) -> T:
        return await bounded(awaitable, self._deadline)

    async def create_key(self, spec: KeySpec) -> str:
        plain = new_key()
        key_hash = hash_key(plain)
        args = record_args(KeyRecord(spec, key_hash))
        keys = [f"{self._p}keys", f"{self._p}key:{key_hash}"]
        if await self._run(self._create(keys=keys, args=args)) == "exists":
            raise KeyExists(spec.name)
        return plain

    async def sync_static_keys(self) -> None:
        """Write routes.yaml's keys to Redis and drop static keys no longer listed there."""
        for record in self._static.values():
            await self.seed_static(record)
        names = {r.name for r in self._static.values()}
        index = texts(await self._run(self.client.hgetall(f"{self._p}keys")))
        for name, key_hash in index.items():
            if name not in names:
                keys = [f"{self._p}keys", f"{self._p}key:{key_hash}"]
                await self._run(self._drop(keys=keys, args=[name, key_hash]))

    async def seed_static(self, record: KeyRecord) -> None:
        p = self._p
        for _ in range(3):  # another replica may be seeding the same name right now
            found = await self._run(self.client.hget(f"{p}keys", record.name))
            previous = "" if found is None else text(found)
            keys = [
                f"{p}keys",
                f"{p}key:{record.key_hash}",
                f"{p}key:{previous or record.key_hash}",
            ]
            reply = await self._run(self._seed(keys=keys, args=[*record_args(record), previous]))
            if reply == "conflict":
                raise KeyExists(f"static key {record.name!r} clashes with a dynamic key")
            if reply == "ok":
                return

    async def list_keys(self) -> list[KeyRecord]:
        index = texts(await self._run(self.client.hgetall(f"{self._p}keys")))
        out = []
        for name in sorted(index):
            record = await self._load(index[name])
            if record is not None:
                out.append(record)
        return out

    async def get_key(self, name: str) -> KeyRecord | None:
        key_hash = await self._run(self.client.hget(f"{self._p}keys", name))
        return None if key_hash is None else await self._load(text(key_hash))

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        """One key by its digest (one HGETALL)."""
        return await self._load(key_hash)

    async def _load(self, key_hash: str) -> KeyRecord | None:
        raw = texts(await self._run(self.client.hgetall(f"{self._p}key:{key_hash}")))
        if not raw:
            return None
        spec = KeySpec(
            name=raw["name"],
            models=tuple(orjson.loads(raw.get("models") or '["*"]')),
            rpm=int(raw["rpm"]) if raw.get("rpm") else None,
            tpm=int(raw["tpm"]) if raw.get("tpm") else None,
            max_concurrent=int(raw["max_concurrent"]) if raw.get("max_concurrent") else None,
            credits=int(raw["credits"]) if "credits" in raw else None,
            disabled=raw.get("disabled") == "1",
        )
        return KeyRecord(spec, key_hash, is_static=raw.get("static") == "1")

    async def _hash_of(self, name: str) -> str:
        key_hash = await self._run(self.client.hget(f"{self._p}keys", name))
        if key_hash is None:
            raise KeyNotFound(name)
        return text(key_hash)

    async def add_credits(self, name: str, delta: int) -> int:
        key_hash = await self._hash_of(name)
        reply = await self._run(self._credit(keys=[f"{self._p}key:{key_hash}"], args=[delta]))
        if reply[0] == "missing":
            raise KeyNotFound(name)
        if reply[0] == "unlimited":
            raise UnlimitedCredits(name)
        return int(reply[1])

    async def disable_key(self, name: str) -> None:
        key_hash = await self._hash_of(name)
        if not await self._run(self._disable(keys=[f"{self._p}key:{key_hash}"])):
            raise KeyNotFound(name)

    async def enable_key(self, name: str) -> None:
        key_hash = await self._hash_of(name)
        if not await self._run(self._enable(keys=[f"{self._p}key:{key_hash}"])):
            raise KeyNotFound(name)


def record_args(record: KeyRecord) -> list[str]:
    s = record.spec
    return [
        s.name,
        record.key_hash,
        orjson.dumps(list(s.models)).decode(),
        orjson.dumps(ModelGlobs.compile(s.models).lua_patterns()).decode(),
        "" if s.rpm is None else str(s.rpm),
        "" if s.max_concurrent is None else str(s.max_concurrent),
        "" if s.credits is None else str(s.credits),
        "1" if s.disabled else "0",
        "1" if record.is_static else "0",
        "" if s.tpm is None else str(s.tpm),
    ]
