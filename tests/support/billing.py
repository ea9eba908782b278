"""Helpers for the billing integration tests: configs, routers, ledgers, balances, prices.

The billing tests run real `router serve` processes in front of real mock nodes, with the
memory backend (ledger = a JSONL file) or a real redis-server (ledger = a stream). Neither
backend exposes a balance over HTTP, so `StateView` reads what a test needs from where the
backend keeps it: the JSONL file, or Redis itself through the documented key layout of
`router.billing.state.redis`.

Expected charges are computed here from the mock node's deterministic usage (see
`router.mock.answers`) with Decimal arithmetic, independently of `router.billing.pricing`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import redis

from tests.support import (
    TEST_DEFAULTS,
    Proc,
    chat_body,
    eventually,
    router_launch,
    routes_yaml,
    start_all,
)
from tests.support.error_shape import google_error, openai_error
from tests.support.observability import metric_in

Json = dict[str, Any]
MICRO = 1_000_000

# The mock node's answer: 5 content deltas of 4 tokens, 16 reasoning tokens.
MOCK_CHUNKS = 5
CONTENT_TOKENS = 4 * MOCK_CHUNKS
REASONING_TOKENS = 16

# Prices as routes.yaml takes them (decimal credits).
FLOW_PRICING: Json = {
    "pre_deduct": 5,
    "prompt_per_1k": 0.3,
    "completion_per_1k": 2.5,
    "reasoning_per_1k": 2.5,
}
# Dear enough that 300 requests cannot all be paid from 1,000 credits (about 4.6 each).
STORM_PRICING: Json = {
    "pre_deduct": 5,
    "prompt_per_1k": 0.3,
    "completion_per_1k": 150,
    "reasoning_per_1k": 100,
}
# No `pre_deduct`: the reservation is the request's worst case (router.billing.pricing).
# One mock answer (2 prompt tokens, 36 output tokens) costs 37 credits: issue 17's case,
# where 50 requests at once took a 100-credit key to -1,750 with nothing reserved.
OVERSHOOT_PRICING: Json = {
    "prompt_per_1k": 500,
    "completion_per_1k": 1000,
    "reasoning_per_1k": 1000,
}
# The same prices with a flat reservation of 10 credits.
FLAT_PRICING: Json = {**OVERSHOOT_PRICING, "pre_deduct": 10}
# Failover and no ejection are what the tests decide, never the retry budget.
BILLING_DEFAULTS: Json = {
    **TEST_DEFAULTS,
    "retry_budget": {"percent": 100, "min_concurrent": 500},
}


def key_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def hashed_key(name: str, plain: str, **fields: object) -> Json:
    """A `keys:` entry of routes.yaml naming `plain` by its hash (as operators write them)."""
    return {"name": name, "hash": key_hash(plain), **fields}


def trace_of(record: Json) -> str:
    """The client's X-Request-ID of a ledger record: its id is `<trace id>:<router suffix>`."""
    trace, sep, suffix = str(record["request_id"]).rpartition(":")
    assert sep and len(suffix) == 12, record["request_id"]
    return trace


def new_request_id() -> str:
    return "bt-" + uuid.uuid4().hex


def prompt_tokens(text: str) -> int:
    """The mock node's prompt count for one user message `text`."""
    return len(text) // 4 + 1


def expected_cost(pricing: Mapping[str, Any], prompt_text: str) -> int:
    """Micro-credits for one successful mock answer to `prompt_text` (rounded half up once)."""
    credits = (
        Decimal(prompt_tokens(prompt_text)) * Decimal(str(pricing["prompt_per_1k"]))
        + Decimal(CONTENT_TOKENS) * Decimal(str(pricing["completion_per_1k"]))
        + Decimal(REASONING_TOKENS) * Decimal(str(pricing["reasoning_per_1k"]))
    ) / 1000
    return int((credits * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_cost(pricing: Mapping[str, Any], prompt: int, completion: int, reasoning: int = 0) -> int:
    """What these token counts cost at `pricing`, in micro-credits (Decimal, half up)."""
    credits = (
        Decimal(prompt) * Decimal(str(pricing["prompt_per_1k"]))
        + Decimal(completion) * Decimal(str(pricing["completion_per_1k"]))
        + Decimal(reasoning) * Decimal(str(pricing.get("reasoning_per_1k", 0)))
    ) / 1000
    return int((credits * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def auto_reservation(body: Mapping[str, Any], pricing: Mapping[str, Any], output_cap: int) -> int:
    """Micro-credits the router reserves for `body` sent by aiohttp (`json.dumps`) on a
    model without `pre_deduct`: a token per 4 bytes of body at the prompt price, plus
    `output_cap` tokens at the dearer of the completion and reasoning prices, rounded up."""
    prompt = -(-len(json.dumps(body).encode()) // 4)
    output_price = max(
        Decimal(str(pricing["completion_per_1k"])), Decimal(str(pricing["reasoning_per_1k"]))
    )
    credits = (prompt * Decimal(str(pricing["prompt_per_1k"])) + output_cap * output_price) / 1000
    return int((credits * MICRO).to_integral_value(rounding=ROUND_CEILING))


def micro(credits: float | int | str) -> int:
    return int(Decimal(str(credits)) * MICRO)


def chat(model: str, text: str = "hello", *, stream: bool = False, **extra: object) -> Json:
    return chat_body(model, stream=stream, text=text, **extra)


def billing_config(
    *,
    nodes: Mapping[str, Json],
    models: Mapping[str, Json],
    state: Mapping[str, Any],
    keys: Sequence[Json] = (),
    server: Mapping[str, object] | None = None,
    observability: Mapping[str, object] | None = None,
) -> str:
    """A routes.yaml text with `state:` and `keys:` (and `server:` settings if given)."""
    return routes_yaml(
        nodes,
        models,
        server=server,
        defaults=BILLING_DEFAULTS,
        state=state,
        keys=keys,
        observability=observability,
    )


def start_routers(
    config_paths: Sequence[Path], *, log_dir: Path, env: Mapping[str, str] | None = None
) -> list[Proc]:
    """Start one `router serve --log-format json` per config side by side; wait for /readyz."""
    return start_all(
        [
            router_launch(path, "--log-format", "json", log_dir=log_dir, env=env, timeout=20.0)
            for path in config_paths
        ]
    )


def log_events(proc: Proc) -> list[Json]:
    """The JSON log lines a router wrote so far (other lines are skipped)."""
    events = []
    for line in proc.output().splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


# --- the client side -----------------------------------------------------------------------


@dataclass(slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)

    def events(self) -> list[Any]:
        """The JSON payloads of an SSE answer (`[DONE]` left out)."""
        out = []
        for line in self.raw.decode().splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload and payload != "[DONE]":
                    out.append(json.loads(payload))
        return out


def client_session(limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=True),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: Json,
    *,
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    within: float = 20.0,
) -> Reply:
    """POST JSON and read the whole answer."""
    sent = {**(headers or {})}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    if request_id is not None:
        sent["X-Request-ID"] = request_id
    async with session.post(
        url, json=body, headers=sent, timeout=aiohttp.ClientTimeout(total=within)
    ) as response:
        raw = await response.read()
        return Reply(response.status, dict(response.headers), raw)


def assert_error_shape(reply: Reply, status: int, code: str) -> Json:
    """The router's error body (support.error_shape), with `status` and `code`."""
    assert reply.status == status, (reply.status, reply.raw[:300])
    return openai_error(reply.json(), reply.headers, code)


def assert_google_error_shape(reply: Reply, status: int, name: str) -> Json:
    """Google's error body on a Gemini path, with `status` (whose name is `name`)."""
    assert reply.status == status, (reply.status, reply.raw[:300])
    error = google_error(reply.json(), reply.headers, status)
    assert error["status"] == name, error
    return error


def scrape(base_url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels (0 when absent)."""
    from tests.support import http_request

    status, _, raw = http_request("GET", f"{base_url}/metrics", timeout=5.0)
    assert status == 200
    return metric_in(raw.decode(), name, **labels)


# --- the state side ------------------------------------------------------------------------


class StateView:
    """What the backend holds: ledger records, balances, live reservations."""

    def records(self) -> list[Json]:
        raise NotImplementedError

    def balance(self, name: str) -> int | None:
        """A key's balance in micro-credits, when the backend shows it (Redis only)."""
        return None

    def reservations_left(self) -> list[str]:
        return []

    def records_for(self, request_id: str) -> list[Json]:
        return [r for r in self.records() if trace_of(r) == request_id]

    async def settled(self, request_id: str, limit: float = 10.0) -> Json:
        """The one ledger record of `request_id`, once it exists."""
        found = await eventually(lambda: self.records_for(request_id), limit=limit)
        assert found, f"request {request_id} was never settled"
        assert len(found) == 1, f"request {request_id} settled {len(found)} times: {found}"
        return dict(found[0])


_INT_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "charged", "status")


class JsonlView(StateView):
    """The memory backend: the ledger is a JSONL file; balances stay inside the router."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[Json]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line still being written
        return out


class RedisView(StateView):
    """The Redis backend, read through the key layout of `router.billing.state.redis`."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def records(self) -> list[Json]:
        with self._client() as client:
            entries = client.xrange(f"{self.prefix}usage")
        out = []
        for _, fields in entries:
            record: Json = dict(fields)
            for name in _INT_FIELDS:
                record[name] = int(record.get(name) or 0)
            out.append(record)
        return out

    def balance(self, name: str) -> int | None:
        with self._client() as client:
            digest = client.hget(f"{self.prefix}keys", name)
            if digest is None:
                raise AssertionError(f"no key named {name!r} in Redis")
            value = client.hget(f"{self.prefix}key:{digest}", "credits")
        return None if value is None else int(value)

    def reservations_left(self) -> list[str]:
        """Live reservation hashes, the sweep index and taken concurrency slots."""
        with self._client() as client:
            left = sorted(client.scan_iter(match=f"{self.prefix}res:*", count=1000))
            left += [
                f"reservations:{rid}" for rid in client.zrange(f"{self.prefix}reservations", 0, -1)
            ]
            for inflight in client.scan_iter(match=f"{self.prefix}inflight:*", count=1000):
                left += [f"{inflight}:{rid}" for rid in client.zrange(inflight, 0, -1)]
        return left


def backend_state(backend: str, folder: Path, redis_url: str | None) -> tuple[Json, StateView]:
    """routes.yaml's `state:` for `backend` and a view of what it records: "memory" keeps
    its ledger in `folder`; "redis" uses `redis_url` under a prefix of its own."""
    if backend == "redis":
        assert redis_url is not None, "the redis backend needs the redis_server fixture"
        prefix = f"b-{uuid.uuid4().hex[:8]}:"
        return {"backend": "redis", "redis_url": redis_url, "prefix": prefix}, RedisView(
            redis_url, prefix
        )
    ledger = folder / "usage.jsonl"
    return {"backend": "memory", "ledger_path": str(ledger)}, JsonlView(ledger)


def backend_setup(request: Any, folder: Path, routers: Any, config: Any, **env: str) -> Setup:
    """The router for `config(state)` on the backend `request.param` names (memory or redis),
    with the view of that backend; `env` is the router's environment."""
    backend = request.param
    state, view = backend_state(backend, folder, redis_url_for(backend, request))
    return Setup(backend, routers.get(config(state), env=env or None), view)


def redis_url_for(backend: str, request: Any) -> str | None:
    """The module's redis-server URL when `backend` is redis (started on first use)."""
    return request.getfixturevalue("redis_server").url if backend == "redis" else None


@dataclass(slots=True)
class Setup:
    """A module's router on one state backend, and the view of that backend."""

    backend: str
    router: Proc
    view: StateView

    @property
    def url(self) -> str:
        return self.router.base_url
