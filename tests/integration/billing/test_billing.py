"""Keys, limits and credits through real HTTP: one router process per state backend.

Every test runs twice: against a router with the memory backend (ledger = JSONL file) and
against one with the Redis backend (a real redis-server; ledger = the `usage` stream).
Mock nodes are started once for the module with fixed faults (no test changes them):
`good1`/`good2` answer, `bad1`/`bad2` always 500, `flaky` 500s 30% of the time, `slow`
streams an event every 0.2 s, `hang` never answers. Charges are checked against prices
computed from the mock node's deterministic token counts.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.support import CHAT, GEMINI_BODY, MockNodes, eventually
from tests.support.billing import (
    CONTENT_TOKENS,
    FLAT_PRICING,
    FLOW_PRICING,
    MICRO,
    OVERSHOOT_PRICING,
    REASONING_TOKENS,
    STORM_PRICING,
    Reply,
    Setup,
    assert_error_shape,
    assert_google_error_shape,
    auto_reservation,
    backend_setup,
    billing_config,
    chat,
    client_session,
    expected_cost,
    hashed_key,
    key_hash,
    log_events,
    new_request_id,
    post,
    scrape,
    trace_of,
)

pytestmark = pytest.mark.integration

GEMINI = "/v1beta/models/gemini-ok:generateContent"
KEY_NAMES = (
    "auth",
    "flow",
    "rpm",
    "nomodel",
    "disabled",
    "poor",
    "conc",
    "dup",
    "storm",
    "small",
    "smallflat",
)
# Plain keys exist only here and in the router's environment (never in routes.yaml).
KEYS = {name: f"sk-bt-{name}-{secrets.token_hex(12)}" for name in KEY_NAMES}
WRONG_KEY = f"sk-bt-wrong-{secrets.token_hex(12)}"
STORM_CREDITS = 1000
RESERVE = 5 * MICRO  # pre_deduct of every model here but the ovr-* ones
OVERSHOOT_CREDITS = 100
OVERSHOOT_MODEL_CAP = 64  # ovr-auto's limits.output_tokens
BURST = 50


MOCK_NODES = {
    "good1": (),
    "good2": (),
    "bad1": ("--status", "500"),
    "bad2": ("--status", "500"),
    "flaky": ("--status", "500", "--error-rate", "0.3", "--seed", "7"),
    "slow": ("--chunk-delay", "0.2"),
    "hang": ("--hang",),
    # Answers after 3 s: a burst is admitted in full before anything settles.
    "late": ("--first-byte-delay", "3"),
}


def _config_text(mock_nodes: MockNodes, state: dict[str, Any]) -> str:
    url = {name: mock_nodes[name].url for name in mock_nodes.nodes}
    nodes: dict[str, dict[str, Any]] = {
        name: {"url": url[name]} for name in ("good1", "good2", "bad1", "bad2", "flaky")
    }
    nodes["slow"] = {"url": url["slow"]}
    nodes["late"] = {"url": url["late"]}
    # One hanging mock behind two node entries: a short and a long first-byte timeout.
    nodes["hang_short"] = {"url": url["hang"], "retries": 0, "timeouts": {"first_byte": 1}}
    nodes["hang_long"] = {"url": url["hang"], "retries": 0, "timeouts": {"first_byte": 30}}

    def model(*backends: dict[str, Any], pricing: dict[str, Any] = FLOW_PRICING) -> dict[str, Any]:
        return {"backends": list(backends), "pricing": pricing}

    models = {
        "gemini-ok": model({"node": "good1"}),
        "gemini-fail": model({"node": "bad1"}, {"node": "bad2"}),
        "gemini-failover": model({"node": "bad1"}, {"node": "good2", "priority": 1}),
        "gemini-slow": model({"node": "slow"}),
        "gemini-hang-short": model({"node": "hang_short"}),
        "gemini-hang-long": model({"node": "hang_long"}),
        "storm-flaky": model({"node": "flaky"}, {"node": "good2"}, pricing=STORM_PRICING),
        "storm-ok": model({"node": "good1"}, pricing=STORM_PRICING),
        "storm-fail": model({"node": "bad1"}, {"node": "bad2"}, pricing=STORM_PRICING),
        "storm-slow": model({"node": "slow"}, pricing=STORM_PRICING),
        "ovr-auto": {
            **model({"node": "late"}, pricing=OVERSHOOT_PRICING),
            "limits": {"output_tokens": OVERSHOOT_MODEL_CAP},
        },
        "ovr-flat": model({"node": "late"}, pricing=FLAT_PRICING),
    }
    gemini = ["gemini-*"]
    keys: list[dict[str, Any]] = [
        {"name": "auth", "key": "${BT_KEY_AUTH}", "models": gemini},
        {"name": "flow", "hash": key_hash(KEYS["flow"]), "models": gemini, "credits": 1000},
        {"name": "rpm", "key": "${BT_KEY_RPM}", "models": gemini, "rpm": 2},
        {"name": "nomodel", "hash": key_hash(KEYS["nomodel"]), "models": ["gpt-*"]},
        {"name": "disabled", "hash": key_hash(KEYS["disabled"]), "disabled": True},
        {"name": "poor", "hash": key_hash(KEYS["poor"]), "models": gemini, "credits": 3},
        {"name": "conc", "hash": key_hash(KEYS["conc"]), "models": gemini, "max_concurrent": 2},
        hashed_key("dup", KEYS["dup"], models=gemini, credits=1000, max_concurrent=1),
        hashed_key("storm", KEYS["storm"], models=["storm-*"], credits=STORM_CREDITS),
        hashed_key("small", KEYS["small"], models=["ovr-*"], credits=OVERSHOOT_CREDITS),
        hashed_key("smallflat", KEYS["smallflat"], models=["ovr-*"], credits=OVERSHOOT_CREDITS),
    ]
    return billing_config(nodes=nodes, models=models, state=state, keys=keys)


@pytest.fixture(scope="module", params=["memory", "redis"])
def setup(request, tmp_path_factory, mock_nodes, routers) -> Setup:
    folder = tmp_path_factory.mktemp(f"billing-{request.param}")
    env = {"BT_KEY_AUTH": KEYS["auth"], "BT_KEY_RPM": KEYS["rpm"]}
    return backend_setup(request, folder, routers, lambda s: _config_text(mock_nodes, s), **env)


# --- keys ----------------------------------------------------------------------------------


async def test_every_key_form_is_accepted_charged_and_never_forwarded(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    key = KEYS["auth"]
    forms: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        ("bearer", CHAT, chat("gemini-ok"), {"Authorization": f"Bearer {key}"}),
        ("bare", CHAT, chat("gemini-ok"), {"Authorization": key}),
        ("goog", GEMINI, GEMINI_BODY, {"x-goog-api-key": key}),
        ("query", f"{GEMINI}?key={key}", GEMINI_BODY, {}),
    ]
    cost = expected_cost(FLOW_PRICING, "hello")
    async with client_session() as session:
        for form, path, body, headers in forms:
            rid = new_request_id()
            reply = await post(session, setup.url + path, body, headers=headers, request_id=rid)
            assert reply.status == 200, (form, reply.raw[:300])
            seen = mock_nodes["good1"].last_request()
            assert seen is not None
            assert seen["headers"].get("X-Request-ID") == rid, form
            lowered = {name.lower() for name in seen["headers"]}
            assert "authorization" not in lowered, (form, seen["headers"])
            assert "x-goog-api-key" not in lowered, (form, seen["headers"])
            assert "key" not in seen["query"], (form, seen["query"])
            assert all(key not in str(value) for value in seen["headers"].values()), form
            record = await setup.view.settled(rid)
            assert record["key"] == "auth", form
            assert record["charged"] == cost, (form, record)
        # `?key=` is a Gemini convention only: on the OpenAI path it is no key at all.
        reply = await post(session, f"{setup.url}{CHAT}?key={key}", chat("gemini-ok"))
        assert_error_shape(reply, 401, "invalid_token")


async def test_refusals_have_the_error_shape_and_are_counted(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    url = setup.url + CHAT
    before = {
        reason: scrape(setup.url, "router_auth_failures_total", reason=reason)
        for reason in ("invalid_token", "key_disabled", "model_not_allowed")
    }
    limited_before = scrape(setup.url, "router_rate_limited_total", model="gemini-ok")
    node_before = mock_nodes["good1"].requests()
    async with client_session() as session:
        assert_error_shape(await post(session, url, chat("gemini-ok")), 401, "invalid_token")
        wrong = await post(session, url, chat("gemini-ok"), key=WRONG_KEY)
        assert_error_shape(wrong, 401, "invalid_token")
        goog_wrong = await post(
            session, setup.url + GEMINI, GEMINI_BODY, headers={"x-goog-api-key": WRONG_KEY}
        )
        assert_google_error_shape(goog_wrong, 401, "UNAUTHENTICATED")
        disabled = await post(session, url, chat("gemini-ok"), key=KEYS["disabled"])
        assert_error_shape(disabled, 401, "key_disabled")
        other = await post(session, url, chat("gemini-ok"), key=KEYS["nomodel"])
        assert_error_shape(other, 403, "model_not_allowed")
        poor = await post(session, url, chat("gemini-ok"), key=KEYS["poor"])
        assert_error_shape(poor, 429, "insufficient_quota")
        for _ in range(2):
            assert (await post(session, url, chat("gemini-ok"), key=KEYS["rpm"])).status == 200
        limited = await post(session, url, chat("gemini-ok"), key=KEYS["rpm"])
        assert_error_shape(limited, 429, "too_many_requests")
        retry_after = limited.headers.get("Retry-After")
        assert retry_after is not None and retry_after.isdigit(), limited.headers
        assert 1 <= int(retry_after) <= 60
    # Only the two admitted rpm requests reached a node.
    assert mock_nodes["good1"].requests() - node_before == 2
    after = {
        reason: scrape(setup.url, "router_auth_failures_total", reason=reason) for reason in before
    }
    assert after["invalid_token"] - before["invalid_token"] == 3
    assert after["key_disabled"] - before["key_disabled"] == 1
    assert after["model_not_allowed"] - before["model_not_allowed"] == 1
    limited_after = scrape(setup.url, "router_rate_limited_total", model="gemini-ok")
    assert limited_after - limited_before == 2  # insufficient_quota and rpm


async def test_client_keys_never_appear_in_logs(setup: Setup) -> None:
    async with client_session() as session:
        for name in ("auth", "flow"):
            await post(session, setup.url + CHAT, chat("gemini-ok"), key=KEYS[name])
            await post(session, f"{setup.url}{GEMINI}?key={KEYS[name]}", GEMINI_BODY)
        await post(session, setup.url + CHAT, chat("gemini-ok"), key=WRONG_KEY)
        await post(session, f"{setup.url}{GEMINI}?key={WRONG_KEY}", GEMINI_BODY)
    await asyncio.sleep(0.3)  # let the access log lines be written
    output = setup.router.output()
    assert "access" in output
    for secret in (*KEYS.values(), WRONG_KEY):
        assert secret not in output


async def test_metered_requests_are_logged_without_an_internal_error(setup: Setup) -> None:
    rid = new_request_id()
    async with client_session() as session:
        reply = await post(
            session, setup.url + CHAT, chat("gemini-ok"), key=KEYS["flow"], request_id=rid
        )
    assert reply.status == 200
    await setup.view.settled(rid)

    def access() -> list[dict[str, Any]]:
        return [
            e
            for e in log_events(setup.router)
            if e.get("event") == "access" and e.get("trace_id") == rid
        ]

    lines = await eventually(access, limit=3.0)
    errors = [e for e in log_events(setup.router) if e.get("level") == "error"]
    assert not errors, errors[:2]
    assert len(lines) == 1 and lines[0]["status"] == 200, lines
    usage = reply.json()["usage"]
    assert lines[0]["usage"]["prompt"] == usage["prompt_tokens"] > 0
    assert set(lines[0]["usage"]) == {"prompt", "completion", "reasoning"}


# --- credits -------------------------------------------------------------------------------


async def test_success_is_charged_exactly_its_usage(setup: Setup) -> None:
    text = "What does one request of forty-odd characters cost?"
    cost = expected_cost(FLOW_PRICING, text)
    balance = setup.view.balance("flow")
    metric = scrape(setup.url, "router_credits_charged_total", model="gemini-ok")
    rid = new_request_id()
    async with client_session() as session:
        reply = await post(
            session, setup.url + CHAT, chat("gemini-ok", text), key=KEYS["flow"], request_id=rid
        )
    assert reply.status == 200
    usage = reply.json()["usage"]
    record = await setup.view.settled(rid)
    assert record["charged"] == cost
    assert (record["settled_by"], record["outcome"], record["status"]) == ("usage", "success", 200)
    assert record["prompt_tokens"] == usage["prompt_tokens"] == len(text) // 4 + 1
    assert record["reasoning_tokens"] == 16
    assert record["completion_tokens"] == usage["completion_tokens"] - 16
    if balance is not None:
        assert setup.view.balance("flow") == balance - cost
    charged = await eventually(
        lambda: scrape(setup.url, "router_credits_charged_total", model="gemini-ok") > metric
    )
    assert charged
    delta = scrape(setup.url, "router_credits_charged_total", model="gemini-ok") - metric
    assert delta == pytest.approx(cost / MICRO, abs=1e-9)


async def test_stream_is_charged_from_injected_usage_the_client_never_sees(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    cost = expected_cost(FLOW_PRICING, "hello")
    balance = setup.view.balance("flow")
    rid = new_request_id()
    async with client_session() as session:
        reply = await post(
            session,
            setup.url + CHAT,
            chat("gemini-ok", stream=True),
            key=KEYS["flow"],
            request_id=rid,
        )
    assert reply.status == 200
    seen = mock_nodes["good1"].last_request()
    assert seen is not None and seen["stream_options"] == {"include_usage": True}
    events = reply.events()
    assert events and events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(e["choices"] != [] for e in events), "the usage-only chunk reached the client"
    assert all(e.get("usage") is None for e in events)
    assert reply.raw.rstrip().endswith(b"data: [DONE]")
    record = await setup.view.settled(rid)
    assert (record["charged"], record["settled_by"]) == (cost, "usage")
    if balance is not None:
        assert setup.view.balance("flow") == balance - cost


async def test_stream_that_asked_for_usage_gets_it_and_is_charged_once(setup: Setup) -> None:
    cost = expected_cost(FLOW_PRICING, "hello")
    rid = new_request_id()
    body = chat("gemini-ok", stream=True, stream_options={"include_usage": True})
    async with client_session() as session:
        reply = await post(session, setup.url + CHAT, body, key=KEYS["flow"], request_id=rid)
    assert reply.status == 200
    usage_chunks = [e for e in reply.events() if e["choices"] == []]
    assert len(usage_chunks) == 1
    assert usage_chunks[0]["usage"]["prompt_tokens"] == 2
    record = await setup.view.settled(rid)
    assert (record["charged"], record["settled_by"]) == (cost, "usage")


async def test_every_node_failing_is_refunded_in_full(setup: Setup) -> None:
    balance = setup.view.balance("flow")
    refunded = scrape(setup.url, "router_credits_refunded_total", model="gemini-fail")
    rid = new_request_id()
    async with client_session() as session:
        reply = await post(
            session, setup.url + CHAT, chat("gemini-fail"), key=KEYS["flow"], request_id=rid
        )
    assert_error_shape(reply, 502, "upstream_error")
    record = await setup.view.settled(rid)
    assert (record["charged"], record["settled_by"], record["outcome"]) == (0, "refund", "failed")
    if balance is not None:
        assert setup.view.balance("flow") == balance
    await eventually(
        lambda: scrape(setup.url, "router_credits_refunded_total", model="gemini-fail") > refunded
    )
    delta = scrape(setup.url, "router_credits_refunded_total", model="gemini-fail") - refunded
    assert delta == pytest.approx(5.0)


async def test_failover_charges_once(setup: Setup, mock_nodes: MockNodes) -> None:
    cost = expected_cost(FLOW_PRICING, "hello")
    balance = setup.view.balance("flow")
    failed_before = mock_nodes["bad1"].requests()
    rid = new_request_id()
    async with client_session() as session:
        reply = await post(
            session, setup.url + CHAT, chat("gemini-failover"), key=KEYS["flow"], request_id=rid
        )
    assert reply.status == 200
    assert reply.headers.get("X-Mock-Node") == "good2"
    assert mock_nodes["bad1"].requests() > failed_before
    record = await setup.view.settled(rid)
    assert (record["node"], record["charged"], record["settled_by"]) == ("good2", cost, "usage")
    await asyncio.sleep(0.3)  # a second settlement would show up by now
    assert len(setup.view.records_for(rid)) == 1
    if balance is not None:
        assert setup.view.balance("flow") == balance - cost


async def _read_then_leave(
    session: aiohttp.ClientSession, url: str, key: str, rid: str, until: bytes = b""
) -> int:
    """Start a stream, read its first line (holding `until`), then drop the connection;
    returns the status."""
    headers = {"Authorization": f"Bearer {key}", "X-Request-ID": rid}
    body = chat("gemini-slow", stream=True)
    async with session.post(url, json=body, headers=headers) as response:
        if response.status == 200:
            while until not in await response.content.readline():
                pass
        response.close()
        return response.status


async def test_client_leaving_mid_stream_pays_what_it_received(setup: Setup) -> None:
    """Issue 27 item 1: a stopped stream is charged its prompt and the output it received,
    never its reservation (the mock reports usage only at the end, after the client left)."""
    balance = setup.view.balance("flow")
    rid = new_request_id()
    async with client_session() as session:
        url = setup.url + CHAT
        assert await _read_then_leave(session, url, KEYS["flow"], rid, b'"content":"Hello') == 200
    record = await setup.view.settled(rid)
    assert (record["outcome"], record["settled_by"]) == ("disconnected", "delivered")
    # The prompt from its body (4 bytes a token, as aiohttp sent it), the output from what
    # the client was sent: reasoning and at least the first content delta, not the rest.
    body = json.dumps(chat("gemini-slow", stream=True)).encode()
    assert record["prompt_tokens"] == -(-len(body) // 4)
    assert 4 <= record["completion_tokens"] < CONTENT_TOKENS
    assert 0 < record["reasoning_tokens"] <= REASONING_TOKENS
    charged = price(FLOW_PRICING, record)
    assert record["charged"] == charged < RESERVE // 100
    if balance is not None:
        assert setup.view.balance("flow") == balance - charged


async def test_client_leaving_after_the_whole_text_pays_the_nodes_usage(setup: Setup) -> None:
    """The client left after the finish reason, before the usage: it had the whole answer,
    and the node's usage, read within the grace, is what it pays."""
    cost = expected_cost(FLOW_PRICING, "hello")
    rid = new_request_id()
    async with client_session() as session:
        url = setup.url + CHAT
        assert await _read_then_leave(session, url, KEYS["flow"], rid, b'"finish_reason":"s') == 200
    record = await setup.view.settled(rid)
    assert (record["outcome"], record["settled_by"], record["charged"]) == (
        "disconnected",
        "usage",
        cost,
    )


def price(pricing: dict[str, Any], record: dict[str, Any]) -> int:
    """Micro-credits for a ledger record's token counts (rounded half up once)."""
    thousandths = sum(
        record[f"{kind}_tokens"] * int(Decimal(str(pricing[f"{kind}_per_1k"])) * MICRO)
        for kind in ("prompt", "completion", "reasoning")
    )
    return (thousandths + 500) // 1000


# --- limits --------------------------------------------------------------------------------


async def test_concurrency_slots_are_always_released(setup: Setup) -> None:
    url = setup.url + CHAT
    key = KEYS["conc"]
    async with client_session() as session:
        assert (await post(session, url, chat("gemini-ok"), key=key)).status == 200
        assert (await post(session, url, chat("gemini-fail"), key=key)).status == 502
        timed_out = await post(session, url, chat("gemini-hang-short"), key=key)
        assert_error_shape(timed_out, 504, "upstream_timeout")
        # Two hanging requests at once, both abandoned by their clients.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.gather(
                post(session, url, chat("gemini-hang-long"), key=key, within=0.5),
                post(session, url, chat("gemini-hang-long"), key=key, within=0.5),
            )
        assert await _read_then_leave(session, url, key, new_request_id()) == 200

        # Both slots are free again: two streams run at once and a third is refused.
        async def hold(gate: asyncio.Event) -> Reply:
            headers = {"Authorization": f"Bearer {key}"}
            async with session.post(
                url, json=chat("gemini-slow", stream=True), headers=headers
            ) as r:
                if r.status == 200:
                    await r.content.readline()
                gate.set()
                return Reply(r.status, dict(r.headers), await r.read())

        deadline = asyncio.get_running_loop().time() + 5.0
        while True:
            gates = [asyncio.Event(), asyncio.Event()]
            holders = [asyncio.create_task(hold(g)) for g in gates]
            for gate in gates:
                await asyncio.wait_for(gate.wait(), 10)
            if all(not h.done() or h.result().status == 200 for h in holders):
                break
            # A slot still taken: wait for the stragglers, then allow a little more time.
            await asyncio.gather(*holders)
            assert asyncio.get_running_loop().time() < deadline, [
                h.result().status for h in holders
            ]
            await asyncio.sleep(0.2)
        third = await post(session, url, chat("gemini-ok"), key=key)
        assert_error_shape(third, 429, "too_many_requests")
        assert [r.status for r in await asyncio.gather(*holders)] == [200, 200]
        # And once they end, the key runs requests again.
        assert (await post(session, url, chat("gemini-ok"), key=key)).status == 200


# --- the storm -----------------------------------------------------------------------------

STORM_SIZE = 300
# (kind, model, stream, include_usage); `leave` streams are abandoned after their first event.
STORM_KINDS = (
    ("plain", "storm-flaky", False, False),
    ("stream", "storm-flaky", True, False),
    ("stream_usage", "storm-ok", True, True),
    ("fail", "storm-fail", False, False),
    ("leave", "storm-slow", True, False),
    ("plain_ok", "storm-ok", False, False),
)


@dataclass(slots=True)
class Sent:
    kind: str
    status: int | None = None  # None: still running (or cancelled before an answer)
    code: str | None = None
    streaming: bool = False
    left: bool = False


async def _storm_one(
    session: aiohttp.ClientSession,
    url: str,
    rid: str,
    sent: Sent,
    spec: tuple[str, str, bool, bool],
) -> None:
    kind, model, stream, include_usage = spec
    body = chat(model, stream=stream)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    headers = {"Authorization": f"Bearer {KEYS['storm']}", "X-Request-ID": rid}
    async with session.post(url, json=body, headers=headers) as response:
        sent.status = response.status
        if response.status != 200:
            document = await response.json()
            sent.code = document["error"]["code"]
            return
        if kind == "leave":
            await response.content.readline()
            sent.streaming = True
            try:
                await asyncio.sleep(60)  # until the test cancels this client
            except asyncio.CancelledError:
                sent.left = True
                response.close()
                raise
        raw = await response.read()
    if stream:
        reply = Reply(200, {}, raw)
        usage_chunks = [e for e in reply.events() if e.get("choices") == []]
        assert len(usage_chunks) == (1 if include_usage else 0), (kind, raw[-400:])


async def _leave_once_streaming(sent: Sent, task: asyncio.Task[None]) -> None:
    """Cancel a `leave` client once its first event arrived (or it was refused)."""
    await eventually(lambda: sent.streaming or task.done(), limit=30)
    task.cancel()


async def test_300_concurrent_requests_balance_matches_the_ledger(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    view = setup.view
    injected = mock_nodes["flaky"].stats()["errors_injected"]
    models = sorted({spec[1] for spec in STORM_KINDS})
    charged_before = sum(scrape(setup.url, "router_credits_charged_total", model=m) for m in models)
    refunded_before = sum(
        scrape(setup.url, "router_credits_refunded_total", model=m) for m in models
    )
    sent: dict[str, Sent] = {}
    tasks: dict[str, asyncio.Task[None]] = {}
    async with client_session(limit=STORM_SIZE + 10) as session:
        for i in range(STORM_SIZE):
            spec = STORM_KINDS[i % len(STORM_KINDS)]
            rid = new_request_id()
            sent[rid] = Sent(spec[0])
            tasks[rid] = asyncio.create_task(
                _storm_one(session, setup.url + CHAT, rid, sent[rid], spec)
            )
        # Abandon every `leave` stream that got going, once its first event arrived.
        for rid, task in tasks.items():
            if sent[rid].kind != "leave":
                continue
            await _leave_once_streaming(sent[rid], task)
        results = await asyncio.gather(*tasks.values(), return_exceptions=True)
    crashed = [
        r
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    ]
    assert not crashed, crashed[:3]

    refused = {rid for rid, s in sent.items() if s.status == 429}
    admitted = {rid for rid, s in sent.items() if s.status is not None and s.status != 429}
    statuses = collections.Counter((s.kind, s.status, s.code) for s in sent.values())
    assert len(refused) + len(admitted) == STORM_SIZE, statuses
    assert {sent[rid].code for rid in refused} == {"insufficient_quota"}, statuses
    for rid in admitted:
        s = sent[rid]
        expected = 502 if s.kind == "fail" else 200
        assert s.status == expected, statuses
        assert s.kind != "leave" or s.left, statuses
    assert refused, f"1,000 credits paid for every request: {statuses}"
    assert mock_nodes["flaky"].stats()["errors_injected"] > injected, "no failover was exercised"

    def storm_records() -> list[dict[str, Any]]:
        return [r for r in view.records() if r["key"] == "storm"]

    await eventually(lambda: len(storm_records()) >= len(admitted), limit=20)
    await asyncio.sleep(0.5)  # anything settling late (or twice) shows up by now
    records = storm_records()
    assert len({r["request_id"] for r in records}) == len(records), "a ledger id repeats"
    ids = collections.Counter(trace_of(r) for r in records)
    assert [rid for rid, n in ids.items() if n > 1] == [], "request ids charged twice"
    assert set(ids) == admitted, (len(ids), len(admitted), statuses)

    cost = expected_cost(STORM_PRICING, "hello")
    for record in records:
        kind = sent[trace_of(record)].kind
        how = (record["outcome"], record["settled_by"], record["charged"])
        if kind == "fail":
            assert how == ("failed", "refund", 0), record
        elif kind == "leave" and record["outcome"] == "disconnected":
            # What it received (or, had it left after the finish, the node's usage).
            assert record["settled_by"] in ("delivered", "usage"), record
            assert record["charged"] == price(STORM_PRICING, record) <= RESERVE, record
        elif kind == "leave":
            assert how == ("success", "usage", cost), record
        else:
            assert how == ("success", "usage", cost), record
    total = sum(r["charged"] for r in records)

    balance = view.balance("storm")
    if balance is not None:
        assert balance == STORM_CREDITS * MICRO - total
        assert view.reservations_left() == []
    charged = sum(scrape(setup.url, "router_credits_charged_total", model=m) for m in models)
    refunded = sum(scrape(setup.url, "router_credits_refunded_total", model=m) for m in models)
    assert charged - charged_before == pytest.approx(total / MICRO, abs=1e-6)
    assert refunded - refunded_before == pytest.approx(
        (RESERVE * len(admitted) - total) / MICRO, abs=1e-6
    )


@pytest.mark.parametrize(
    "action", ["streamGenerateContent?alt=sse", "streamGenerateContent", "generateContent"]
)
async def test_gemini_answers_are_charged_from_usage_metadata(setup: Setup, action: str) -> None:
    cost = expected_cost(FLOW_PRICING, "hello")
    rid = new_request_id()
    path = f"/v1beta/models/gemini-ok:{action}"
    async with client_session() as session:
        reply = await post(
            session,
            setup.url + path,
            GEMINI_BODY,
            headers={"x-goog-api-key": KEYS["flow"]},
            request_id=rid,
        )
    assert reply.status == 200, reply.raw[:300]
    record = await setup.view.settled(rid)
    assert (record["charged"], record["settled_by"]) == (cost, "usage")
    tokens = (record["prompt_tokens"], record["completion_tokens"], record["reasoning_tokens"])
    assert tokens == (2, 20, 16)


async def test_a_reused_request_id_does_not_ride_on_another_admission(setup: Setup) -> None:
    """X-Request-ID is the client's to choose: two requests sharing one are two requests.

    The key allows one request at a time. Two overlapping streams that carry the same
    X-Request-ID must not both be admitted on one reservation (the second would bypass
    max_concurrent, rpm and the credit check, and settle as "already settled": free).
    """
    rid = new_request_id()
    url = setup.url + CHAT
    headers = {"Authorization": f"Bearer {KEYS['dup']}", "X-Request-ID": rid}
    balance = setup.view.balance("dup")
    async with client_session() as session:

        async def stream() -> int:
            body = chat("gemini-slow", stream=True)
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                return response.status

        first = asyncio.create_task(stream())
        await asyncio.sleep(0.3)  # the first is admitted and streaming
        second = await stream()
        statuses = sorted([await first, second])
    await asyncio.sleep(0.5)
    records = setup.view.records_for(rid)
    charged = sum(r["charged"] for r in records)
    answered = statuses.count(200)
    cost = expected_cost(FLOW_PRICING, "hello")
    detail = f"statuses {statuses}, ledger {[(r['settled_by'], r['charged']) for r in records]}"
    assert charged == answered * cost, (
        f"answers paid for: {charged} != {answered} x {cost}; {detail}"
    )
    if balance is not None:
        assert setup.view.balance("dup") == balance - charged
    assert statuses == [200, 429], f"max_concurrent 1 let two requests run at once: {detail}"


async def test_a_live_request_id_is_no_key(setup: Setup) -> None:
    """A request without any key must be refused, whatever X-Request-ID it carries.

    While a metered stream runs, its request id is live; a keyless request that presents
    the same X-Request-ID must not be admitted on that stream's reservation.
    """
    rid = new_request_id()
    url = setup.url + CHAT
    async with client_session() as session:
        streaming = asyncio.create_task(
            post(session, url, chat("gemini-slow", stream=True), key=KEYS["flow"], request_id=rid)
        )
        await asyncio.sleep(0.3)  # admitted and streaming
        keyless = await post(session, url, chat("gemini-ok"), request_id=rid)
        assert (await streaming).status == 200
    assert_error_shape(keyless, 401, "invalid_token")


# --- overshoot (issue 17 item 3) -------------------------------------------------------------


async def _burst(setup: Setup, key: str, body: dict[str, Any]) -> tuple[list[Reply], list[str]]:
    """BURST identical requests at once (the node answers after 3 s: every admission is
    decided before anything settles); the replies and their request ids."""
    rids = [new_request_id() for _ in range(BURST)]
    async with client_session(limit=BURST + 10) as session:
        replies = await asyncio.gather(
            *(post(session, setup.url + CHAT, body, key=key, request_id=rid) for rid in rids)
        )
    return list(replies), rids


async def _charged(setup: Setup, rids: list[str], replies: list[Reply]) -> int:
    """The ledger's total for the admitted requests, once each is settled exactly once."""
    admitted = [rid for rid, reply in zip(rids, replies, strict=True) if reply.status == 200]
    return sum([(await setup.view.settled(rid))["charged"] for rid in admitted])


async def test_50_concurrent_requests_on_a_small_balance_cannot_overspend(setup: Setup) -> None:
    """No `pre_deduct`: each request reserves its worst case (prompt estimate and output
    cap priced), so the reservations held at once never exceed the balance: the
    documented overshoot bound is 0 when the node keeps to the cap. Before issue 17 the
    default reserved nothing and this burst took the key from 100 to -1,750 credits."""
    body = chat("ovr-auto", max_tokens=36)  # the mock writes exactly 36 output tokens
    reserve = auto_reservation(body, OVERSHOOT_PRICING, 36)
    cost = expected_cost(OVERSHOOT_PRICING, "hello")
    assert cost == 37 * MICRO
    fits = OVERSHOOT_CREDITS * MICRO // reserve
    replies, rids = await _burst(setup, KEYS["small"], body)
    statuses = collections.Counter(reply.status for reply in replies)
    assert statuses == {200: fits, 429: BURST - fits}, (statuses, reserve)
    for reply in replies:
        if reply.status == 429:
            message = assert_error_shape(reply, 429, "insufficient_quota")["error"]["message"]
            assert f"reserves {reserve / MICRO:g} credits" in message, message
    charged = await _charged(setup, rids, replies)
    assert charged == fits * cost
    overshoot = max(0, charged - OVERSHOOT_CREDITS * MICRO)
    assert overshoot == 0, f"overspent by {overshoot / MICRO} credits"
    balance = setup.view.balance("small")
    if balance is not None:
        assert balance == OVERSHOOT_CREDITS * MICRO - charged
        assert setup.view.reservations_left() == []
    # Without max_tokens the model's limits.output_tokens is the cap: too dear for what is left.
    async with client_session() as session:
        alone = await post(session, setup.url + CHAT, chat("ovr-auto"), key=KEYS["small"])
    assert_error_shape(alone, 429, "insufficient_quota")


async def test_a_flat_pre_deduct_overshoots_at_most_its_documented_bound(setup: Setup) -> None:
    """A flat `pre_deduct` p lets at most balance // p requests in at once, so a burst
    overspends by at most (balance // p) x (cost - p): here 10 x 27 = 270 credits, reached."""
    pre_deduct = FLAT_PRICING["pre_deduct"]
    cost = expected_cost(FLAT_PRICING, "hello")
    fits = OVERSHOOT_CREDITS // pre_deduct
    bound = fits * (cost - pre_deduct * MICRO)
    replies, rids = await _burst(setup, KEYS["smallflat"], chat("ovr-flat"))
    statuses = collections.Counter(reply.status for reply in replies)
    assert statuses == {200: fits, 429: BURST - fits}, statuses
    charged = await _charged(setup, rids, replies)
    overshoot = max(0, charged - OVERSHOOT_CREDITS * MICRO)
    assert overshoot <= bound
    assert overshoot == bound == 270 * MICRO  # every admitted request cost 37 > 10
    balance = setup.view.balance("smallflat")
    if balance is not None:
        assert balance == OVERSHOOT_CREDITS * MICRO - charged
