"""The state store contract, run against both backends (memory, and a real redis-server)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from router.billing.pricing import cost
from router.billing.state import Outcome, SettledBy, SettleResult, open_store, sweep_periodically
from router.billing.state.ledger import parse_since
from router.billing.state.memory import MemoryStateStore
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import Pricing, StateConfig
from router.dialects.usage import Usage
from router.errors import (
    AuthRejected,
    KeyExists,
    KeyNotFound,
    StateUnavailable,
    UnlimitedCredits,
)
from tests.support import RedisServer
from tests.support.store import PRICE, T0, C, ids, rejected, settle


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def config(request, tmp_path) -> StateConfig:
    if request.param == "memory":
        return StateConfig(backend="memory", ledger_path=str(tmp_path / "usage.jsonl"))
    server = request.getfixturevalue("redis_server")
    return StateConfig(backend="redis", redis_url=server.url, prefix=f"t-{uuid.uuid4().hex}:")


@pytest.fixture
async def make_store(config):
    stores = []

    async def make(static_keys=(), **overrides):
        cfg = StateConfig(**{**_fields(config), **overrides})
        store = await open_store(cfg, static_keys)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
async def make_memory_store(tmp_path):
    """For the tests that set the clock: only the memory store's windows run on the
    caller's `now`; Redis's run on its own (tests/integration/billing/test_redis_server_time.py)."""
    stores = []

    async def make(**overrides):
        path = str(tmp_path / "usage.jsonl")
        store = await open_store(StateConfig(backend="memory", ledger_path=path, **overrides))
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def _fields(config: StateConfig) -> dict:
    return {name: getattr(config, name) for name in StateConfig.__dataclass_fields__}


# --- auth -------------------------------------------------------------------------------


async def test_no_keys_means_auth_off(make_store):
    store = await make_store()
    admission = await store.admit(None, "m", next(ids), PRICE, T0)
    assert not admission.is_metered and admission.reserved == 0
    assert (await settle(store, admission)).result is SettleResult.UNMETERED
    assert (await store.admit("whatever", "m", next(ids), PRICE, T0)).key_name is None


async def test_401_403_outcomes(make_store):
    store = await make_store()
    good = await store.create_key(KeySpec(name="a", models=("gemini-*",)))
    other = await store.create_key(KeySpec(name="b"))

    for key in (None, "", "sk-wrong"):
        err = await rejected(store.admit(key, "gemini-pro", next(ids), None, T0))
        assert (err.status, err.code) == (401, "invalid_token")
    err = await rejected(store.admit(good, "gpt-4o", next(ids), None, T0))
    assert (err.status, err.code) == (403, "model_not_allowed")
    assert (await store.admit(good, "gemini-pro", next(ids), None, T0)).key_name == "a"

    await store.disable_key("b")
    err = await rejected(store.admit(other, "gemini-pro", next(ids), None, T0))
    assert (err.status, err.code) == (401, "key_disabled")
    assert (await store.get_key("b")).spec.disabled


GLOB_CASES = [
    (("gemini-*",), "gemini-2.5-pro", True),
    (("gemini-*",), "gpt-4o", False),
    (("gpt-?o", "o[13]-*"), "gpt-4o", True),
    (("gpt-?o", "o[13]-*"), "o3-mini", True),
    (("gpt-?o", "o[13]-*"), "o2-mini", False),
    (("m-[!ab]",), "m-c", True),
    (("m-[!ab]",), "m-a", False),
    (("v1.5",), "v1x5", False),
    (("a+b%c(d)",), "a+b%c(d)", True),
    (("qwen/*",), "qwen/qwen3", True),
    (("*",), "anything/at:all", True),
]


async def test_model_globs_agree_on_both_backends(make_store):
    """The Redis backend matches with Lua patterns; they must mean what fnmatch means."""
    store = await make_store()
    for n, (globs, model, allowed) in enumerate(GLOB_CASES):
        key = await store.create_key(KeySpec(name=f"g{n}", models=globs))
        if allowed:
            await store.admit(key, model, next(ids), None, T0)
        else:
            err = await rejected(store.admit(key, model, next(ids), None, T0))
            assert err.code == "model_not_allowed", (globs, model)


async def test_static_keys(make_store):
    static = (
        KeyRecord(KeySpec(name="ops", credits=3 * C), hash_key("sk-ops"), is_static=True),
        KeyRecord(KeySpec(name="ro", models=("x",)), hash_key("sk-ro"), is_static=True),
    )
    store = await make_store(static_keys=static)
    admission = await store.admit("sk-ops", "m", next(ids), Pricing(pre_deduct=C), T0)
    assert (admission.key_name, admission.reserved) == ("ops", C)
    err = await rejected(store.admit("sk-ro", "y", next(ids), None, T0))
    assert err.code == "model_not_allowed"
    assert [k.name for k in await store.list_keys()] == ["ops", "ro"]
    assert (await store.get_key("ops")).spec.credits == 2 * C
    assert (await store.get_key("ops")).is_static
    with pytest.raises(KeyExists):
        await store.create_key(KeySpec(name="ops"))


# --- rpm and concurrency ----------------------------------------------------------------


async def test_rpm_sliding_window_with_retry_after(make_memory_store):
    store = await make_memory_store()
    key = await store.create_key(KeySpec(name="a", rpm=2))
    await store.admit(key, "m", next(ids), None, T0)
    await store.admit(key, "m", next(ids), None, T0 + 10)
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 20))
    assert (err.status, err.code) == (429, "too_many_requests")
    assert err.retry_after == pytest.approx(40.0)
    assert err.headers() == {"Retry-After": "40"}
    # A rejected request does not use up the window: at T0+60 the first admission has aged out.
    await store.admit(key, "m", next(ids), None, T0 + 60)
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 61))
    assert err.retry_after == pytest.approx(9.0)


async def test_tpm_counts_estimates_in_flight_and_usage_once_settled(make_memory_store):
    store = await make_memory_store()
    key = await store.create_key(KeySpec(name="a", tpm=1000))
    first = await store.admit(key, "m", next(ids), None, T0, tokens=600)
    # 600 in flight: 300 more fit, 500 do not; the wait is until T0's second leaves.
    await store.admit(key, "m", next(ids), None, T0 + 1, tokens=300)
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 2, tokens=500))
    assert (err.status, err.code) == (429, "too_many_requests")
    assert "token-per-minute" in err.message
    assert err.retry_after == pytest.approx(58.0)
    # Settling replaces the first estimate (600) by its usage (100): now 400 are in use.
    await settle(store, first, Usage(prompt=40, completion=50, reasoning=10))
    await store.admit(key, "m", next(ids), None, T0 + 3, tokens=500)
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 4, tokens=200))
    assert err.retry_after == pytest.approx(56.0)  # T0's 100 leaving frees enough
    # A minute after the first admissions they have aged out of the window.
    await store.admit(key, "m", next(ids), None, T0 + 61, tokens=400)


async def test_tpm_refund_frees_its_tokens_and_an_oversized_request_passes_alone(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", tpm=100))
    big = await store.admit(key, "m", next(ids), None, T0, tokens=5000)  # empty window
    await rejected(store.admit(key, "m", next(ids), None, T0 + 1, tokens=1))
    await settle(store, big, outcome=Outcome.FAILED)  # refunded: counts nothing
    await store.admit(key, "m", next(ids), None, T0 + 2, tokens=100)
    # A free request (countTokens) is never counted.
    await store.admit(key, "m", next(ids), None, T0 + 3, free=True, tokens=10_000)


async def test_tpm_takes_an_absurd_estimate_whole_and_writes_nothing_half(make_memory_store):
    """max_tokens: 10^20 is one request (alone in an empty window), not a Redis error that
    leaves the slot and reservation written; both stores agree."""
    store = await make_memory_store()
    key = await store.create_key(KeySpec(name="a", tpm=1000, max_concurrent=5))
    huge = await store.admit(key, "m", next(ids), None, T0, tokens=10**20)
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 1, tokens=1))
    assert err.code == "too_many_requests" and err.retry_after == pytest.approx(59.0)
    await settle(store, huge, Usage(prompt=10, completion=10**19))  # a node's absurd usage
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 2, tokens=1))
    assert err.retry_after == pytest.approx(58.0)


async def test_tpm_counts_an_admission_another_replica_stamped_a_second_later(make_store):
    """Replicas admit concurrently: Redis may run one stamped T0+1 before one stamped
    T0+0.9. The later-stamped tokens still count, so the limit holds exactly."""
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", tpm=1000))
    await store.admit(key, "m", next(ids), None, T0 + 1.05, tokens=900)
    err = await rejected(store.admit(key, "m", next(ids), None, T0 + 0.95, tokens=200))
    assert err.code == "too_many_requests" and 0 < err.retry_after <= 60


async def test_tpm_after_the_clock_stepped_back_waits_at_most_a_minute(make_memory_store):
    store = await make_memory_store()
    key = await store.create_key(KeySpec(name="a", tpm=1000))
    await store.admit(key, "m", next(ids), None, T0, tokens=900)
    await store.admit(key, "m", next(ids), None, T0 + 1, tokens=50)
    earlier = T0 - 600  # NTP stepped the clock back ten minutes
    await store.admit(key, "m", next(ids), None, earlier, tokens=900)
    err = await rejected(store.admit(key, "m", next(ids), None, earlier + 1, tokens=900))
    assert 0 < err.retry_after <= 60


async def test_max_concurrent_slots_released_and_double_release_harmless(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", max_concurrent=2))
    first = await store.admit(key, "m", "r1", None, T0)
    await store.admit(key, "m", "r2", None, T0)
    err = await rejected(store.admit(key, "m", "r3", None, T0))
    assert (err.status, err.code, err.retry_after) == (429, "too_many_requests", None)

    assert (await settle(store, first)).result is SettleResult.SETTLED
    again = await settle(store, first, outcome=Outcome.FAILED)
    assert (again.result, again.settled_by) == (SettleResult.ALREADY_SETTLED, SettledBy.RESERVATION)
    await store.admit(key, "m", "r3", None, T0)  # the freed slot, exactly one
    err = await rejected(store.admit(key, "m", "r4", None, T0))
    assert err.code == "too_many_requests"


async def test_admit_is_idempotent_per_request_id(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", credits=100 * C, max_concurrent=1, rpm=1))
    one = await store.admit(key, "m", "same", PRICE, T0)
    two = await store.admit(key, "m", "same", PRICE, T0)
    assert (two.key_name, two.reserved) == (one.key_name, one.reserved) == ("a", 5 * C)
    assert (await store.get_key("a")).spec.credits == 95 * C


async def test_free_admission_checks_the_key_but_counts_and_reserves_nothing(make_store):
    """countTokens: authorised, but no rpm, no slot, no credits, no ledger entry."""
    store = await make_store()
    key = await store.create_key(
        KeySpec(name="a", models=("gemini-*",), credits=1, rpm=1, max_concurrent=1)
    )
    held = await store.admit(key, "gemini-x", next(ids), None, T0)  # uses rpm and the slot
    for _ in range(3):
        free = await store.admit(key, "gemini-x", next(ids), PRICE, T0, free=True)
        assert not free.is_metered and free.reserved == 0
    assert (await store.get_key("a")).spec.credits == 1
    err = await rejected(store.admit(key, "gpt-4o", next(ids), PRICE, T0, free=True))
    assert err.code == "model_not_allowed"
    assert (
        await rejected(store.admit("nope", "gemini-x", next(ids), None, T0, free=True))
    ).code == ("invalid_token")
    await settle(store, held)
    assert len(await store.usage_records(since=0)) == 1  # the held request's only
    err = await rejected(store.admit(key, "gemini-x", next(ids), None, T0 + 1))
    assert err.code == "too_many_requests"  # the free ones took nothing: only the held one


# --- credits ----------------------------------------------------------------------------


async def test_success_charges_usage_and_settles_the_difference(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", credits=100 * C))
    admission = await store.admit(key, "m", "r1", PRICE, T0)
    assert admission.reserved == 5 * C
    assert (await store.get_key("a")).spec.credits == 95 * C

    usage = Usage(prompt=1500, completion=500, reasoning=250)  # 1.5 + 1 + 1 = 3.5 credits
    done = await settle(store, admission, usage)
    assert (done.result, done.settled_by, done.charged) == (
        SettleResult.SETTLED,
        SettledBy.USAGE,
        3_500_000,
    )
    assert done.balance == (await store.get_key("a")).spec.credits == 96_500_000

    twice = await settle(store, admission, usage)
    refund = await settle(store, admission, outcome=Outcome.FAILED)
    assert twice.result is refund.result is SettleResult.ALREADY_SETTLED
    assert (await store.get_key("a")).spec.credits == 96_500_000
    [record] = await store.usage_records(since=0)
    assert (record.request_id, record.key, record.model, record.node) == ("r1", "a", "m", "n1")
    assert (record.prompt_tokens, record.completion_tokens, record.reasoning_tokens) == (
        1500,
        500,
        250,
    )
    assert (record.charged, record.status, record.settled_by, record.outcome) == (
        3_500_000,
        200,
        "usage",
        "success",
    )
    assert (record.started, record.ended) == (T0, T0 + 1)


@pytest.mark.parametrize(
    ("outcome", "usage", "settled_by", "charged"),
    [
        (Outcome.FAILED, Usage(1000, 1000, 0), SettledBy.REFUND, 0),
        (Outcome.SUCCESS, None, SettledBy.RESERVATION, 5 * C),
        (Outcome.DISCONNECTED, Usage(1000, 500, 0), SettledBy.USAGE, 2 * C),
        (Outcome.DISCONNECTED, None, SettledBy.RESERVATION, 5 * C),
    ],
)
async def test_settlement_rules(make_store, outcome, usage, settled_by, charged):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", credits=10 * C))
    admission = await store.admit(key, "m", "r1", PRICE, T0)
    done = await settle(store, admission, usage, outcome=outcome)
    assert (done.settled_by, done.charged, done.balance) == (settled_by, charged, 10 * C - charged)
    [record] = await store.usage_records(since=0, key="a")
    assert (record.settled_by, record.charged, record.outcome) == (settled_by, charged, outcome)


async def test_insufficient_quota_and_negative_balance(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", credits=7 * C))
    admission = await store.admit(key, "m", next(ids), PRICE, T0)
    err = await rejected(store.admit(key, "m", next(ids), PRICE, T0))  # 2 left < 5
    assert (err.status, err.code) == (429, "insufficient_quota")
    # A big answer takes the balance below zero; then even a free model is refused.
    done = await settle(store, admission, Usage(prompt=10_000))
    assert done.balance == 7 * C - 10 * C
    err = await rejected(store.admit(key, "m", next(ids), Pricing(), T0))
    assert err.code == "insufficient_quota"
    assert await store.add_credits("a", 4 * C) == 1 * C
    await store.admit(key, "m", next(ids), Pricing(), T0)


async def test_unlimited_key_records_cost_without_a_balance(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a"))
    admission = await store.admit(key, "m", next(ids), PRICE, T0)
    assert admission.reserved == 0
    done = await settle(store, admission, Usage(prompt=1000))
    assert (done.charged, done.balance) == (C, None)
    assert (await store.get_key("a")).spec.credits is None
    with pytest.raises(UnlimitedCredits):
        await store.add_credits("a", C)


async def test_settle_unknown_request(make_memory_store):
    """Memory only: Redis charges an admission whose reservation it lost (a failover:
    tests/integration/billing/test_redis_server_time.py)."""
    store = await make_memory_store()
    key = await store.create_key(KeySpec(name="a"))
    admission = await store.admit(key, "m", "r1", None, T0)
    ghost = type(admission)(request_id="never", model="m", started=T0, key_name="a", key_hash="h")
    assert (await settle(store, ghost)).result is SettleResult.UNKNOWN


async def test_expired_reservations_are_swept_into_the_ledger(make_memory_store):
    store = await make_memory_store(reservation_ttl=100.0)
    key = await store.create_key(KeySpec(name="a", credits=20 * C, max_concurrent=1))
    admission = await store.admit(key, "m", "r1", PRICE, T0)
    assert await store.sweep_expired(T0 + 99) == 0
    assert await store.sweep_expired(T0 + 100) == 1
    assert await store.sweep_expired(T0 + 200) == 0
    [record] = await store.usage_records(since=0)
    assert (record.settled_by, record.outcome, record.charged, record.status) == (
        "expired",
        "expired",
        5 * C,
        0,
    )
    assert record.ended == T0 + 100
    assert (await store.get_key("a")).spec.credits == 15 * C
    late = await settle(store, admission, Usage(prompt=1), now=T0 + 300)
    assert (late.result, late.settled_by) == (SettleResult.ALREADY_SETTLED, SettledBy.EXPIRED)
    await store.admit(key, "m", "r2", PRICE, T0 + 300)  # the slot was released


async def test_concurrent_mix_balances_exactly(make_store):
    """300 concurrent requests on 1,000 credits with pre_deduct 5: the books must balance."""
    store = await make_store()
    initial = 1000 * C
    key = await store.create_key(KeySpec(name="a", credits=initial))
    rng = random.Random(6)
    plans = [
        (
            rng.choice(list(Outcome)),
            rng.random() < 0.7,  # usage seen?
            Usage(rng.randrange(3000), rng.randrange(2000), rng.randrange(1000)),
            rng.random() < 0.2,  # settle twice at once?
            rng.random() / 100,
        )
        for _ in range(300)
    ]
    refused = 0

    async def one(n: int, plan) -> None:
        nonlocal refused
        outcome, has_usage, usage, twice, pause = plan
        try:
            admission = await store.admit(key, "m", f"mix-{n}", PRICE, T0)
        except AuthRejected as err:
            assert err.code == "insufficient_quota"
            refused += 1
            return
        await asyncio.sleep(pause)
        args = (admission, usage if has_usage else None, outcome)
        calls = [store.settle(*args, node="n1", status=200, now=T0 + 5)]
        if twice:
            calls.append(store.settle(*args, node="n1", status=200, now=T0 + 5))
        results = await asyncio.gather(*calls)
        assert sorted(r.result for r in results) == sorted(
            [SettleResult.SETTLED] + [SettleResult.ALREADY_SETTLED] * (len(results) - 1)
        )

    await asyncio.gather(*(one(n, plan) for n, plan in enumerate(plans)))
    records = await store.usage_records(since=0, key="a")
    assert len(records) == 300 - refused
    assert refused > 0  # the balance really ran out
    balance = (await store.get_key("a")).spec.credits
    assert balance == initial - sum(r.charged for r in records)
    assert await store.sweep_expired(T0 + 10**6) == 0  # no reservation left behind
    for r in records:
        if r.settled_by == "usage":
            tokens = Usage(r.prompt_tokens, r.completion_tokens, r.reasoning_tokens)
            assert r.charged == cost(PRICE, tokens)


# --- admin ------------------------------------------------------------------------------


async def test_key_admin(make_store):
    store = await make_store()
    plain = await store.create_key(KeySpec(name="team-a", credits=10 * C, rpm=600))
    assert plain.startswith("sk-")
    with pytest.raises(KeyExists):
        await store.create_key(KeySpec(name="team-a"))
    record = await store.get_key("team-a")
    assert record.key_hash == hash_key(plain) and not record.is_static
    assert record.to_json() == {
        "name": "team-a",
        "models": ["*"],
        "rpm": 600,
        "tpm": None,
        "max_concurrent": None,
        "credits": 10.0,
        "disabled": False,
        "static": False,
    }
    assert await store.add_credits("team-a", 5 * C) == 15 * C
    assert await store.add_credits("team-a", -1) == 15 * C - 1
    assert await store.get_key("nobody") is None
    with pytest.raises(KeyNotFound):
        await store.add_credits("nobody", 1)
    with pytest.raises(KeyNotFound):
        await store.disable_key("nobody")
    await store.ping()


async def test_usage_records_filter_by_time_and_key(make_store):
    store = await make_store()
    a = await store.create_key(KeySpec(name="a"))
    b = await store.create_key(KeySpec(name="b"))
    for n, (key, ended) in enumerate([(a, T0 + 1), (b, T0 + 2), (a, T0 + 3)]):
        admission = await store.admit(key, "m", f"u{n}", None, T0)
        await settle(store, admission, now=ended)
    assert [r.request_id for r in await store.usage_records(since=T0 + 2)] == ["u1", "u2"]
    assert [r.request_id for r in await store.usage_records(since=0, key="a")] == ["u0", "u2"]


async def test_key_by_hash_finds_static_and_dynamic_keys_with_live_balances(make_store):
    static = (KeyRecord(KeySpec(name="ops", credits=3 * C), hash_key("sk-ops"), is_static=True),)
    store = await make_store(static_keys=static)
    plain = await store.create_key(KeySpec(name="dyn", credits=2 * C, rpm=7, max_concurrent=2))
    await store.admit("sk-ops", "m", next(ids), Pricing(pre_deduct=C), T0)
    ops = await store.key_by_hash(hash_key("sk-ops"))
    assert (ops.name, ops.spec.credits, ops.is_static) == ("ops", 2 * C, True)
    dyn = await store.key_by_hash(hash_key(plain))
    assert (dyn.name, dyn.spec.rpm, dyn.spec.max_concurrent) == ("dyn", 7, 2)
    assert dyn.spec.credits == 2 * C
    assert await store.key_by_hash(hash_key("sk-nobody")) is None
    await store.disable_key("dyn")
    assert (await store.key_by_hash(hash_key(plain))).spec.disabled


# --- memory backend only ----------------------------------------------------------------


async def test_memory_ledger_is_jsonl(tmp_path):
    path = tmp_path / "ledger.jsonl"
    store = MemoryStateStore(StateConfig(ledger_path=str(path)))
    key = await store.create_key(KeySpec(name="a", credits=10 * C))
    await settle(store, await store.admit(key, "m", "r1", PRICE, T0), Usage(prompt=1000))
    await store.close()
    [line] = path.read_text().splitlines()
    assert '"request_id":"r1"' in line and '"credits":1.0' in line and '"charged":1000000' in line
    reopened = MemoryStateStore(StateConfig(ledger_path=str(path)))
    assert [r.charged for r in await reopened.usage_records(since=0)] == [C]


async def test_memory_balances_survive_a_restart(tmp_path):
    """Issue 17 item 4: a key's balance is `credits` minus what the ledger charged it, so a
    restart (clean or not) neither refills spent credits nor loses a settled charge."""
    config = StateConfig(ledger_path=str(tmp_path / "usage.jsonl"))
    ops = KeyRecord(KeySpec(name="ops", credits=10 * C), hash_key("sk-ops"), is_static=True)
    store = MemoryStateStore(config, (ops,))
    admission = await store.admit("sk-ops", "m", next(ids), PRICE, T0)
    await settle(store, admission, Usage(prompt=3000))  # 3 credits
    live = await store.admit("sk-ops", "m", next(ids), PRICE, T0)  # in flight at the crash
    assert (await store.get_key("ops")).spec.credits == 2 * C
    del live  # never settled: a crashed process charges nothing for it
    # A crash mid-write leaves a torn line; the next record must not be glued onto it.
    store.ledger.close()
    ledger = tmp_path / "usage.jsonl"
    ledger.write_bytes(ledger.read_bytes() + b'{"request_id": "torn", "key": "ops", "charg')

    store = MemoryStateStore(config, (ops,))
    assert (await store.get_key("ops")).spec.credits == 7 * C
    await settle(store, await store.admit("sk-ops", "m", next(ids), PRICE, T0), Usage(prompt=1000))
    await store.close()
    # Rotated to a new secret and given 5 more credits in routes.yaml: the name keeps its
    # spending and the change adds the difference.
    rotated = KeyRecord(KeySpec(name="ops", credits=15 * C), hash_key("sk-new"), is_static=True)
    store = MemoryStateStore(config, (rotated,))
    try:
        assert (await store.get_key("ops")).spec.credits == 11 * C
        assert (await rejected(store.admit("sk-ops", "m", next(ids), None, T0))).code == (
            "invalid_token"
        )
    finally:
        await store.close()


async def test_reload_applies_key_changes(make_store):
    """routes.yaml's keys replaced in a running store (a reload): added keys work, removed
    ones are refused, `disabled` applies, a changed `credits` adds the difference, a
    rotated key keeps its balance, and a reservation made before settles exactly."""

    def static(name, secret, **spec):
        return KeyRecord(KeySpec(name=name, **spec), hash_key(secret), is_static=True)

    store = await make_store(
        static_keys=(
            static("a", "sk-a", credits=10 * C),
            static("b", "sk-b"),
            static("c", "sk-c", credits=5 * C),
        )
    )
    spent = await store.admit("sk-a", "m", next(ids), PRICE, T0)
    await settle(store, spent, Usage(prompt=2000))  # a: 8 left
    held = await store.admit("sk-a", "m", next(ids), PRICE, T0)  # a: 5 held, 3 left
    gone = await store.admit("sk-c", "m", next(ids), PRICE, T0)

    await store.replace_static_keys(
        (
            static("a", "sk-a2", credits=14 * C),  # rotated, 4 more credits
            static("b", "sk-b", disabled=True),
            static("d", "sk-d", credits=1 * C, models=("x",)),
        )
    )
    assert (await store.get_key("a")).spec.credits == 7 * C
    assert (await rejected(store.admit("sk-a", "m", next(ids), None, T0))).code == "invalid_token"
    assert (await rejected(store.admit("sk-b", "m", next(ids), None, T0))).code == "key_disabled"
    assert (await rejected(store.admit("sk-c", "m", next(ids), None, T0))).code == "invalid_token"
    assert (await store.admit("sk-d", "x", next(ids), None, T0)).key_name == "d"
    assert [k.name for k in await store.list_keys()] == ["a", "b", "d"]
    # Settled after the reload: the old secret's reservation refunds to the rotated key.
    await settle(store, held, Usage(prompt=1000))  # 1 charged, 4 of the 5 back
    assert (await store.get_key("a")).spec.credits == 11 * C
    assert (await settle(store, gone)).result is SettleResult.SETTLED  # a removed key's too
    # The same keys again change nothing: the difference is applied once.
    await store.replace_static_keys(
        (
            static("a", "sk-a2", credits=14 * C),
            static("b", "sk-b", disabled=True),
            static("d", "sk-d", credits=1 * C, models=("x",)),
        )
    )
    assert (await store.get_key("a")).spec.credits == 11 * C
    assert (await store.admit("sk-a2", "m", next(ids), PRICE, T0)).reserved == 5 * C


async def test_a_key_disabled_by_an_operator_stays_disabled_across_reloads(make_store):
    record = KeyRecord(KeySpec(name="ops"), hash_key("sk-ops"), is_static=True)
    store = await make_store(static_keys=(record,))
    await store.disable_key("ops")
    await store.replace_static_keys((record,))
    assert (await rejected(store.admit("sk-ops", "m", next(ids), None, T0))).code == (
        "key_disabled"
    )


async def test_insufficient_quota_names_the_reservation_and_what_is_available(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="a", credits=7 * C))
    await store.admit(key, "m", next(ids), PRICE, T0, reserve=5 * C)
    err = await rejected(store.admit(key, "m", next(ids), PRICE, T0, reserve=2_500_000))
    assert err.code == "insufficient_quota"
    assert "reserves 2.5 credits" in err.message and "2 are available" in err.message


# --- Redis backend only -----------------------------------------------------------------


async def test_unreachable_redis_at_startup_does_not_block_open(tmp_path):
    port = RedisServer(tmp_path).port  # nothing listens there
    config = StateConfig(backend="redis", redis_url=f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    store = await open_store(config, [KeyRecord(KeySpec(name="s"), hash_key("s"), True)])
    try:
        assert time.monotonic() - started < 1.0
        with pytest.raises(StateUnavailable):
            await store.admit("s", "m", next(ids), None, T0)
    finally:
        await store.close()


# --- config -----------------------------------------------------------------------------


def test_parse_since():
    assert [parse_since(t) for t in ("90", "90s", "30m", "1h", "1.5h", "7d", "2w")] == [
        90,
        90,
        1800,
        3600,
        5400,
        604800,
        1209600,
    ]
    with pytest.raises(ValueError, match="duration"):
        parse_since("yesterday")


async def test_sweep_periodically_keeps_going_when_the_backend_is_down():
    calls = []

    class Flaky:
        async def sweep_expired(self, now):
            calls.append(now)
            raise StateUnavailable()

    task = asyncio.create_task(sweep_periodically(Flaky(), interval=0.01, clock=lambda: T0))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2 and calls[0] == T0


# --- withdrawn admissions (issue 27 item 2) ----------------------------------------------


async def test_a_withdrawn_admission_is_refunded_in_the_ledger(make_store):
    store = await make_store()
    key = await store.create_key(KeySpec(name="w", credits=100 * C))
    rid = next(ids)
    await store.admit(key, "m", rid, PRICE, T0)
    assert (await store.get_key("w")).spec.credits == 95 * C
    await store.withdraw(rid, hash_key(key), "m", T0 + 1)
    assert (await store.get_key("w")).spec.credits == 100 * C
    [record] = await store.usage_records(since=0)
    assert (record.request_id, record.key, record.charged) == (rid, "w", 0)
    assert (record.outcome, record.settled_by) == (Outcome.FAILED, SettledBy.REFUND)
    await store.withdraw(rid, hash_key(key), "m", T0 + 2)  # again: nothing changes
    assert len(await store.usage_records(since=0)) == 1


@pytest.mark.integration
async def test_an_admission_landing_after_its_withdrawal_takes_nothing(redis_server):
    config = StateConfig(backend="redis", redis_url=redis_server.url, prefix=f"w-{uuid.uuid4()}:")
    store = await open_store(config)
    try:
        key = await store.create_key(KeySpec(name="w", credits=100 * C))
        rid = next(ids)
        await store.withdraw(rid, hash_key(key), "m", T0)  # Redis ran the withdrawal first
        with pytest.raises(StateUnavailable):
            await store.admit(key, "m", rid, PRICE, T0)
        assert (await store.get_key("w")).spec.credits == 100 * C
        assert await store.usage_records(since=0) == []
    finally:
        await store.close()
