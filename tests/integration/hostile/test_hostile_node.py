"""Issue 27 items 3 to 6: no node's bytes can hurt the router or a client, and nobody
pays for what a node did wrong. A real router in front of real mock nodes told to behave
like hostile ones (an endless line, headers of every kind, no answer at all), and
clients that stop reading.

Node `a` is the first choice of model `m`, node `b` its fallback; both are healthy mock
nodes until a test gives `a` a fault.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import openai
import pytest

from router.upstream.headers import MAX_NODE_HEADERS
from tests.support import MockNodes, Proc, chat_body, eventually, routes_yaml
from tests.support.billing import JsonlView, key_hash, start_routers
from tests.support.raw_node import RawNode, fixed

pytestmark = pytest.mark.integration

KEY = f"sk-hostile-node-{secrets.token_hex(8)}"
NODE_KEY = f"sk-node-{secrets.token_hex(10)}"
ADMIN = f"admin-{secrets.token_hex(8)}"
CHAT = "/v1/chat/completions"
HUGE = 40 * 1024 * 1024  # one newline-free event of 40 MB
RSS_GROWTH_LIMIT = 48 * 1024 * 1024  # the filter once kept 94 MB for it
WRITE_TIMEOUT = 1.0
PRICING = {"prompt_per_1k": 0.3, "completion_per_1k": 2.5}
OUTPUT_CAP = 1000
# The most a cut client can have been sent but not read: socket buffers on both sides.
UNREAD_SLACK = 8 * 1024 * 1024
SHORT_TOTAL = 4.0  # node `a`'s total timeout in the `short_total` router


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockNodes]:
    mocks = MockNodes(tmp_path_factory.mktemp("hostile-node"))
    try:
        mocks.start({"a": ("--api-key", NODE_KEY), "b": ("--api-key", NODE_KEY)})
        yield mocks
    finally:
        mocks.stop()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-ledger") / "usage.jsonl"


@pytest.fixture(scope="module")
def router(
    nodes: MockNodes, ledger: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    entries = {
        name: {"url": nodes[name].url, "api_key": NODE_KEY, "timeouts": {"total": 20}}
        for name in ("a", "b")
    }
    config = routes_yaml(
        entries,
        {
            "m": {
                "backends": [{"node": "a"}, {"node": "b", "priority": 2}],
                "pricing": PRICING,
                "limits": {"output_tokens": OUTPUT_CAP},
            }
        },
        server={"admin_token": ADMIN, "write_timeout": WRITE_TIMEOUT},
        state={"backend": "memory", "ledger_path": str(ledger)},
        keys=[{"name": "team", "hash": key_hash(KEY), "credits": 1000}],
    )
    folder = tmp_path_factory.mktemp("hostile-node-router")
    path = folder / "routes.yaml"
    path.write_text(config, encoding="utf-8")
    [proc] = start_routers([path], log_dir=folder)  # JSON logs: the access lines are read
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def short_total(
    nodes: MockNodes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proc, Path]]:
    """A router whose node `a` has a short `total` (write_timeout below it, as `router
    check` asks), and its ledger."""
    folder = tmp_path_factory.mktemp("hostile-short-total")
    config = routes_yaml(
        {"a": {"url": nodes["a"].url, "api_key": NODE_KEY, "timeouts": {"total": SHORT_TOTAL}}},
        {"m": {"backends": [{"node": "a"}], "pricing": PRICING, "limits": {"output_tokens": 1000}}},
        server={"admin_token": ADMIN, "write_timeout": SHORT_TOTAL - 1},
        state={"backend": "memory", "ledger_path": str(folder / "usage.jsonl")},
        keys=[{"name": "team", "hash": key_hash(KEY), "credits": 1000}],
    )
    path = folder / "routes.yaml"
    path.write_text(config, encoding="utf-8")
    [proc] = start_routers([path], log_dir=folder)
    try:
        yield proc, folder / "usage.jsonl"
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def _behaving(nodes: MockNodes) -> Iterator[None]:
    yield
    for name in ("a", "b"):
        nodes[name].reset(settle=1.0)


def _headers(rid: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {KEY}"}
    if rid is not None:
        headers["X-Request-ID"] = rid
    return headers


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _node_state(router: Proc, node: str) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(
        router.base_url + "/admin/nodes", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        state: dict[str, Any] = json.load(reply)["nodes"][node]
    return state


def _events(raw: bytes) -> list[bytes]:
    return [e[len(b"data: ") :] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]


# --- item 3: an endless line costs the router a bounded buffer -----------------------------


async def test_a_40_mb_newline_free_event_passes_in_bounded_memory(
    router: Proc, nodes: MockNodes, ledger: Path, session: aiohttp.ClientSession
) -> None:
    url = router.base_url + CHAT
    # Warm up (imports, buffers) so the peak measured after is this stream's own.
    async with session.post(url, json=chat_body("m", stream=True), headers=_headers()) as reply:
        await reply.read()
    before = _peak_rss(router.pid)
    nodes["a"].faults(huge_event=HUGE)
    rid = secrets.token_hex(8)
    # No stream_options: the router asks the node for usage itself and filters that
    # chunk out (the path that once kept the whole line), while /healthz keeps answering.
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as reader,
        reader.post(url, json=chat_body("m", stream=True), headers=_headers(rid)) as reply,
    ):
        assert reply.status == 200
        raw = bytearray()
        health = []
        async for chunk in reply.content.iter_chunked(1 << 20):
            raw += chunk
            if len(health) < 3:
                async with session.get(router.base_url + "/healthz") as probe:
                    health.append(probe.status)
    grown = _peak_rss(router.pid) - before
    assert grown < RSS_GROWTH_LIMIT, f"peak RSS grew {grown / 2**20:.1f} MiB"
    assert health == [200, 200, 200]
    events = _events(bytes(raw))
    huge = json.loads(events[1])  # after the role chunk, as the node sent it
    assert huge["choices"][0]["delta"]["content"] == "x" * HUGE
    assert events[-1] == b"[DONE]"
    assert not any(b'"usage":{' in e for e in events), "the router's usage chunk got through"
    record = await JsonlView(ledger).settled(rid)
    assert (record["outcome"], record["settled_by"]) == ("success", "usage")


# --- item 4: a node's headers pass by an allowlist ------------------------------------------


async def test_only_allowed_node_headers_reach_the_client(
    router: Proc, nodes: MockNodes, session: aiohttp.ClientSession
) -> None:
    a = nodes["a"].url
    nodes["a"].faults(
        headers={
            "Set-Cookie": "session=node-a; Path=/",
            "Location": f"{a}/internal",
            "X-Upstream-Key": NODE_KEY,
            "X-Big": "y" * 100_000,
            "x-ratelimit-big": "9" * 100_000,
            "x-ratelimit-remaining-requests": "57",
            "anthropic-ratelimit-tokens-remaining": "900",
            "openai-processing-ms": "12",
            "retry-after-ms": "250",
            "x-request-id": f"{a}/v1/chat/completions",
        }
    )
    async with session.post(
        router.base_url + CHAT, json=chat_body("m"), headers=_headers()
    ) as reply:
        assert reply.status == 200
        await reply.read()
        seen = {name.lower(): value for name, value in reply.headers.items()}
    assert seen.get("x-ratelimit-remaining-requests") == "57", seen
    assert seen["anthropic-ratelimit-tokens-remaining"] == "900"
    assert seen["openai-processing-ms"] == "12"
    assert seen["retry-after-ms"] == "250"
    for dropped in ("set-cookie", "location", "x-upstream-key", "x-big", "x-ratelimit-big"):
        assert dropped not in seen, dropped
    assert "x-upstream-request-id" not in seen  # a URL is not a request id
    assert NODE_KEY not in str(seen) and a not in str(seen)


async def test_many_allowed_node_headers_do_not_break_the_openai_sdk(
    router: Proc, nodes: MockNodes
) -> None:
    """Each header under the size cap, but 180 KB of them (sixty allowed `x-ratelimit-*`
    of 3 KB): the openai SDK's HTTP parser (h11 via httpx) gives up on a head past
    100 KiB, so all of them together must be bounded too. The content headers come first."""
    nodes["a"].faults(headers={f"x-ratelimit-junk-{i}": "9" * 3000 for i in range(60)})
    client = openai.AsyncOpenAI(base_url=router.base_url + "/v1", api_key=KEY, max_retries=0)
    try:
        reply = await client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hello"}]
        )
    finally:
        await client.close()
    assert reply.http_response.headers["content-type"].startswith("application/json")
    assert reply.parse().choices[0].message.content
    node_bytes = sum(
        len(name) + len(value)
        for name, value in reply.http_response.headers.items()
        if name.startswith("x-ratelimit-")
    )
    assert 0 < node_bytes <= MAX_NODE_HEADERS, node_bytes


async def test_a_nodes_message_is_cleaned_of_every_spelling_of_it(
    router: Proc, nodes: MockNodes, session: aiohttp.ClientSession
) -> None:
    spellings = {}
    for name in ("a", "b"):
        port = nodes[name].url.rsplit(":", 1)[1]
        spellings[name] = [
            f"http://localhost:{port}/v1",
            f"[::1]:{port}",
            quote(NODE_KEY, safe=""),
            base64.b64encode(NODE_KEY.encode()).decode(),
            base64.b64encode(f"Bearer {NODE_KEY}".encode()).decode(),
        ]
        nodes[name].faults(status=503, error_message="overloaded: " + " ".join(spellings[name]))
    async with session.post(
        router.base_url + CHAT, json=chat_body("m"), headers=_headers()
    ) as reply:
        assert reply.status == 503
        message = (await reply.json())["error"]["message"]
    assert message.startswith("overloaded: ")
    for spelling in spellings["a"] + spellings["b"]:
        assert spelling not in message, message


async def test_a_nodes_own_error_answer_is_cleaned_of_it_too(
    router: Proc, nodes: MockNodes, session: aiohttp.ClientSession
) -> None:
    """A 4xx is the node's answer, passed to the client (not failed over), but it is
    still the node's text: its address and key go the way a 5xx message's do."""
    port = nodes["a"].url.rsplit(":", 1)[1]
    named = [nodes["a"].url, f"http://localhost:{port}/v1", NODE_KEY]
    nodes["a"].faults(status=400, error_message="bad request at " + " and ".join(named))
    async with session.post(
        router.base_url + CHAT, json=chat_body("m"), headers=_headers()
    ) as reply:
        assert reply.status == 400
        message = (await reply.json())["error"]["message"]
    assert message.startswith("bad request at "), message
    for spelling in named:
        assert spelling not in message, message


# --- item 5: an answer without a body is a node failure --------------------------------------


@pytest.mark.parametrize(
    ("status", "headers"), [(204, {}), (307, {"Location": "http://127.0.0.1:1/internal"})]
)
async def test_no_answer_from_a_node_fails_over_and_is_counted(
    router: Proc,
    nodes: MockNodes,
    ledger: Path,
    session: aiohttp.ClientSession,
    status: int,
    headers: dict[str, str],
) -> None:
    errors_before = _upstream_errors(await _metrics(session, router), "a")
    nodes["a"].faults(status=status, headers=headers)
    rid = secrets.token_hex(8)
    async with session.post(
        router.base_url + CHAT, json=chat_body("m"), headers=_headers(rid), allow_redirects=False
    ) as reply:
        assert reply.status == 200
        assert reply.headers["X-Mock-Node"] == "b"
        assert "Location" not in reply.headers
        await reply.read()
    record = await JsonlView(ledger).settled(rid)
    assert (record["node"], record["settled_by"]) == ("b", "usage")
    assert _upstream_errors(await _metrics(session, router), "a") == errors_before + 1

    nodes["b"].faults(status=status, headers=headers)  # no node answers: a refund
    rid = secrets.token_hex(8)
    async with session.post(
        router.base_url + CHAT, json=chat_body("m"), headers=_headers(rid), allow_redirects=False
    ) as reply:
        assert reply.status == 502
        assert (await reply.json())["error"]["code"] == "upstream_error"
    record = await JsonlView(ledger).settled(rid)
    assert (record["charged"], record["settled_by"]) == (0, "refund")


async def test_an_empty_200_from_a_node_is_no_answer_either(
    nodes: MockNodes, ledger: Path, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """A node (or a proxy in front of it) that answers 200 with an empty body gave no
    answer where one was due: failed over like a 204, never charged as a success."""
    empty = await RawNode(
        fixed(b"HTTP/1.1 200 OK", b"Content-Type: application/json\r\nContent-Length: 0\r\n", b"")
    ).start()
    config = routes_yaml(
        {"a": {"url": empty.url}, "b": {"url": nodes["b"].url, "api_key": NODE_KEY}},
        {"m": {"backends": [{"node": "a"}, {"node": "b", "priority": 2}], "pricing": PRICING}},
        server={"admin_token": ADMIN},
        state={"backend": "memory", "ledger_path": str(tmp_path / "usage.jsonl")},
        keys=[{"name": "team", "hash": key_hash(KEY), "credits": 1000}],
    )
    (tmp_path / "routes.yaml").write_text(config, encoding="utf-8")
    [proc] = await asyncio.to_thread(start_routers, [tmp_path / "routes.yaml"], log_dir=tmp_path)
    try:
        rid = secrets.token_hex(8)
        async with session.post(
            proc.base_url + CHAT, json=chat_body("m"), headers=_headers(rid)
        ) as reply:
            assert reply.status == 200
            assert reply.headers.get("X-Mock-Node") == "b"
            assert (await reply.json())["choices"][0]["message"]["content"]
        record = await JsonlView(tmp_path / "usage.jsonl").settled(rid)
        assert (record["node"], record["settled_by"]) == ("b", "usage"), record
        assert _upstream_errors(await _metrics(session, proc), "a") == 1
    finally:
        await asyncio.to_thread(proc.stop)
        assert empty.server is not None
        empty.server.close()


async def _metrics(session: aiohttp.ClientSession, router: Proc) -> str:
    async with session.get(router.base_url + "/metrics") as reply:
        return await reply.text()


def _upstream_errors(metrics: str, node: str, reason: str | None = "not_an_answer") -> float:
    """router_upstream_errors_total of `node` for `reason` (None: every reason)."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(f'router_upstream_errors_total{{node="{node}",'):
            continue
        if reason is None or f'reason="{reason}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _reservation(prompt_tokens: int) -> int:
    """Micro-credits model `m` reserves: the prompt estimate and the output cap, priced."""
    return -(-(prompt_tokens * 300_000 + OUTPUT_CAP * 2_500_000) // 1000)


def _records(ledger: Path, rids: list[str]) -> list[dict[str, Any]]:
    """The ledger records of these client request ids, once there is one for each."""
    found = [r for r in JsonlView(ledger).records() if r["request_id"].rpartition(":")[0] in rids]
    return found if len(found) >= len(rids) else []


# --- item 6: a client that does not read is cut, and it is its own fault ---------------------


async def _open_stream(router: Proc, rid: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A streamed request of model `m` on a raw connection (nothing read yet); the
    reader buffers up to 1 MiB before it stops taking bytes from its socket."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", int(router.base_url.rsplit(":", 1)[1]), limit=1 << 20
    )
    body = json.dumps(chat_body("m", stream=True)).encode()
    writer.write(
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"X-Request-ID: {rid}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    return reader, writer


async def _stall_reading(router: Proc, rid: str) -> tuple[int, float]:
    """Open a stream and read nothing for 3 write timeouts; then read what is left.
    Returns the bytes read and the seconds the router took to end the stream."""
    reader, writer = await _open_stream(router, rid)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.sleep(3 * WRITE_TIMEOUT)
    got = 0
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), timeout=10):
            got += len(chunk)
    except ConnectionError:
        pass
    finally:
        writer.close()
    return got, loop.time() - started


async def test_a_client_that_stops_reading_is_cut_and_the_node_is_not_blamed(
    router: Proc, nodes: MockNodes, ledger: Path, session: aiohttp.ClientSession
) -> None:
    errors_before = _upstream_errors(await _metrics(session, router), "a", None)
    nodes["a"].faults(huge_event=HUGE)  # far more than the sockets between them buffer
    rids = [secrets.token_hex(8) for _ in range(3)]
    received = {}
    for rid in rids:
        received[rid], _ = await _stall_reading(router, rid)
        assert 0 < received[rid] < HUGE, received  # cut: it never got the whole answer
    records = await eventually(lambda: _records(ledger, rids), limit=15)
    assert len(records) == len(rids), records
    for record in records:
        assert (record["outcome"], record["settled_by"], record["node"]) == (
            "client_slow",
            "delivered",
            "a",
        ), record
        # What it was sent: the prompt estimate, and the output the router handed to its
        # connection: what it read later, and at most the socket buffers it left unread
        # when it was cut (the huge event counts byte for byte past the 4 MiB the router
        # reads of one event, else not at all). Never above the reservation.
        got = received[record["request_id"].rpartition(":")[0]]
        assert record["prompt_tokens"] > 0 and record["charged"] > 0, record
        assert record["completion_tokens"] <= -(-(got + UNREAD_SLACK) // 4), (record, got)
        assert record["charged"] <= _reservation(record["prompt_tokens"]), record
    state = _node_state(router, "a")
    assert (state["state"], state["consecutive_failures"]) == ("healthy", 0), state
    assert _upstream_errors(await _metrics(session, router), "a", None) == errors_before
    access = [
        json.loads(line)
        for line in router.output().splitlines()
        if line.startswith("{") and '"access"' in line
    ]
    slow = [line for line in access if line.get("trace_id") in rids]
    assert slow and all(line["client_slow"] for line in slow), slow


async def test_a_client_reading_too_slowly_for_the_nodes_total_is_not_blamed_on_the_node(
    short_total: tuple[Proc, Path], nodes: MockNodes
) -> None:
    """Issue 27 item 6, a client just under `write_timeout`: it reads all the time (256
    KiB every 0.1 s: no write waits anywhere near `write_timeout`), but at that pace a
    40 MB event cannot reach it within the node's `total`. Its slowness is its own: the
    node must not be blamed, and what it received is paid for (client_slow, delivered),
    not refunded. (Before: the node's total fired while reading from it was paused for
    the client, and the node was failed mid-answer and the request refunded.)"""
    router, ledger = short_total
    nodes["a"].faults(huge_event=HUGE)
    rid = secrets.token_hex(8)
    reader, writer = await _open_stream(router, rid)
    loop = asyncio.get_running_loop()
    got = 0
    try:  # until the router ends the answer (the connection then idles: 2 s is plenty)
        ends = loop.time() + 3 * SHORT_TOTAL
        while loop.time() < ends and (
            chunk := await asyncio.wait_for(reader.read(256 * 1024), timeout=2)
        ):
            got += len(chunk)
            await asyncio.sleep(0.1)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
    assert 0 < got < HUGE, got
    record = await JsonlView(ledger).settled(rid)
    state = _node_state(router, "a")
    assert (state["consecutive_failures"], record["outcome"], record["settled_by"]) == (
        0,
        "client_slow",
        "delivered",
    ), (state, record)
    assert record["charged"] > 0, record
