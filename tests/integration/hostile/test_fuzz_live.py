"""A raw-socket fuzzer against a live router with keys and pricing on two mock nodes (its
model continues streams cut mid-answer, routes by a session header and hedges).

Thousands of mutated requests (request lines, headers, bodies, chunked framing,
truncations), sent from a few threads in batches, with a fixed seed so a failure
replays. After every batch a good request must still be answered. At the end: no 500,
no traceback in the log, no exchange that hung, no key, node URL, node key or prompt in
any answer or log line, and a ledger whose every charge is its usage's price.

Bounded: FUZZ_REQUESTS (default 5000) requests and FUZZ_SECONDS (default 120) seconds,
whichever comes first; at least a fifth of the requests must have been sent.
"""

from __future__ import annotations

import collections
import os
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.support import CHAT, MockNodes, Proc, Routers
from tests.support.hostile import (
    CLIENT_KEY,
    CREDITS,
    FLASH,
    GENERATE,
    HOSTILE_NODES,
    NODE_KEY,
    OTHER_KEY,
    PROMPT,
    chat_json,
    gemini_json,
    get_bytes,
    hostile_config,
    post_bytes,
    raw_exchange,
)

pytestmark = pytest.mark.integration

REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "5000"))
SECONDS = float(os.environ.get("FUZZ_SECONDS", "120"))
BATCH = 250
THREADS = 16
ANSWER_WITHIN = 5.0  # a complete request is answered within this, or it hung
CLOSE_WITHIN = 5.0  # after the client half-closes, the router closes within this


MOCK_NODES = HOSTILE_NODES


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    return routers.get(hostile_config(mock_nodes, tag="fuzz"))


@pytest.fixture(scope="module")
def folder(routers: Routers) -> Path:
    """Where the router's routes.yaml, and so its memory-backend ledger, live."""
    return routers.directory


def ledger(folder: Path) -> list[dict[str, object]]:
    path = folder / "usage.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [orjson.loads(line) for line in lines if line.endswith("}")]


# --- mutations -----------------------------------------------------------------------------

Mutation = Callable[[random.Random], bytes]
NASTY = [b"\x00", b"\xff", b"\r", b"\n", b"\r\n", b" ", b":", b"%", b"\xc3(", b"{", b'"', b"\t"]


def _base(rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        return post_bytes(CHAT, chat_json())
    if choice == 1:
        return post_bytes(f"{GENERATE}?alt=sse", gemini_json())
    if choice == 2:
        return post_bytes(f"{GENERATE}?key={CLIENT_KEY}", gemini_json(), key="")
    if choice == 3:
        return get_bytes("/v1/models", CLIENT_KEY)
    return post_bytes(
        CHAT,
        orjson.dumps(
            {"model": FLASH, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
        ),
    )


def _split(request: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes, fix_length: bool = True) -> bytes:
    if fix_length:
        lines = [ln for ln in lines if not ln.lower().startswith(b"content-length:")]
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def mutate_request_line(rng: random.Random) -> bytes:
    lines, body = _split(_base(rng))
    method, _, rest = lines[0].partition(b" ")
    target, _, version = rest.rpartition(b" ")
    pick = rng.randrange(6)
    if pick == 0:
        method = rng.choice([b"GET", b"PUT", b"DELETE", b"PATCH", b"FOO", b"", b"P\x00ST"])
    elif pick == 1:
        version = rng.choice([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b"HTXP/1.1", b""])
    elif pick == 2:
        cut = rng.randrange(len(target) + 1)
        target = target[:cut] + rng.choice([*NASTY, b"/..", b"%2e%2e/", b"?key=x&"]) + target[cut:]
    elif pick == 3:
        target = b"/" + b"a" * rng.choice([100, 5000, 20000])
    elif pick == 4:
        target = (
            target
            + b"?"
            + b"&".join(
                rng.choice([b"%6Bey=", b"KEY=", b"k%2565y=", b"key[]=", b"alt=sse"])
                + rng.choice([CLIENT_KEY.encode(), OTHER_KEY.encode(), b"junk"])
                for _ in range(rng.randrange(1, 4))
            )
        )
    else:
        target = rng.choice([b"*", b"http://127.0.0.1/v1/models", b"", b"/v1beta/models/:x"])
    lines[0] = b" ".join(p for p in (method, target, version) if p is not None)
    return _join(lines, body)


def mutate_headers(rng: random.Random) -> bytes:
    lines, body = _split(_base(rng))
    for _ in range(rng.randrange(1, 4)):
        pick = rng.randrange(7)
        if pick == 0:
            name = rng.choice([b"X-Fuzz", b"X-Session-ID"])  # the model's affinity header
            lines.append(name + b": " + bytes(rng.randrange(256) for _ in range(rng.randrange(30))))
        elif pick == 1:
            lines.append(
                rng.choice(
                    [
                        b"Content-Encoding: gzip",
                        b"Content-Encoding: br",
                        b"Content-Encoding: zz",
                        b"Content-Encoding: deflate",
                    ]
                )
            )
        elif pick == 2:
            lines.append(
                rng.choice(
                    [
                        b"x-goog-api-key: " + OTHER_KEY.encode(),
                        b"Authorization: Basic Zm9vOmJhcg==",
                        b"Authorization: Bearer " + CLIENT_KEY.encode() + b"\xe9",
                        b"Authorization: ",
                    ]
                )
            )
        elif pick == 3:
            lines.append(b"X-Big: " + b"v" * rng.choice([1000, 9000, 70000]))
        elif pick == 4:
            lines.insert(
                rng.randrange(1, len(lines) + 1),
                rng.choice(
                    [
                        b"NoColon",
                        b": empty-name",
                        b" folded",
                        b"X\x00Y: 1",
                        b"X-Request-ID: ../../etc",
                    ]
                ),
            )
        elif pick == 5:
            lines.extend(b"X-Many-%d: 1" % i for i in range(rng.choice([50, 150])))
        else:
            lines.append(b"Expect: 100-continue")
    return _join(lines, body)


def mutate_body(rng: random.Random) -> bytes:
    lines, body = _split(_base(rng))
    pick = rng.randrange(6)
    if pick == 0 and body:
        data = bytearray(body)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        body = bytes(data)
    elif pick == 1:
        body = rng.choice([b"[" * 3000 + b"]" * 3000, b'{"a":' * 2000 + b"1" + b"}" * 2000])
    elif pick == 2:
        model = rng.choice([12, None, [], {}, True, "", "x" * 5000, 1e308, -(2**70)])
        body = orjson.dumps({"model": FLASH, "messages": []}).replace(
            f'"{FLASH}"'.encode(),
            str(model).encode() if not isinstance(model, str) else orjson.dumps(model),
        )
    elif pick == 3:
        body = b'{"model":"%s","messages":[{"role":"user","content":"%s"}],"n":%s}' % (
            FLASH.encode(),
            PROMPT.encode(),
            rng.choice([b"1e999", b"-1e999", b"1" * 400, b"NaN"]),
        )
    elif pick == 4:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    else:
        body = b""
    return _join(lines, body)


def mutate_chunked(rng: random.Random) -> bytes:
    lines, body = _split(_base(rng))
    lines = [ln for ln in lines if not ln.lower().startswith(b"content-length:")]
    lines.append(b"Transfer-Encoding: chunked")
    pick = rng.randrange(5)
    if pick == 0:
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)  # correct
    elif pick == 1:
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) + rng.randrange(1, 9), body)
    elif pick == 2:
        framed = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
    elif pick == 3:
        framed = b"".join(b"1\r\n%s\r\n" % body[i : i + 1] for i in range(len(body))) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: 5")  # both framings: smuggling-shaped
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return _join(lines, framed, fix_length=False)


def mutate_truncated(rng: random.Random) -> bytes:
    request = _base(rng)
    return request[: rng.randrange(1, len(request))]


MUTATIONS: list[tuple[Mutation, bool]] = [  # (mutation, may leave the request incomplete)
    (mutate_request_line, False),
    (mutate_headers, False),
    (mutate_body, False),
    (mutate_chunked, True),
    (mutate_truncated, True),
]


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    request: bytes
    status: int
    answer: bytes
    hung: bool


def send(port: int, request: bytes, incomplete: bool) -> Outcome:
    """Send; a complete request must be answered within ANSWER_WITHIN. When no answer came,
    or the request may be `incomplete` (a truncation, chunked framing), half-close: the
    router must then close within CLOSE_WITHIN."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as sock:
        data = b""
        try:
            sock.sendall(request)
            if incomplete:
                raise TimeoutError  # go straight to the half-close
            while chunk := sock.recv(65536):
                data += chunk
            return _outcome(request, data, hung=False)
        except TimeoutError:
            pass  # no (whole) answer yet: an incomplete request, or aiohttp's lingering read
        except OSError:
            return _outcome(request, data, hung=False)
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(CLOSE_WITHIN)
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            return _outcome(request, data, hung=True)
        except OSError:
            pass
        return _outcome(request, data, hung=False)


def _outcome(request: bytes, data: bytes, *, hung: bool) -> Outcome:
    status = 0
    if data.startswith(b"HTTP/"):
        try:
            status = int(data.split(b" ", 2)[1])
        except (IndexError, ValueError):
            status = -1
    return Outcome(request, status, data, hung)


SECRETS = (CLIENT_KEY, OTHER_KEY, NODE_KEY, PROMPT)


def leaks(text: bytes, node_urls: list[str]) -> list[str]:
    found = [s for s in SECRETS if s.encode() in text]
    return found + [u for u in node_urls if u.encode() in text]


def test_the_router_survives_thousands_of_mutated_requests(
    router: Proc, mock_nodes: MockNodes, folder: Path
) -> None:
    port = int(router.base_url.rsplit(":", 1)[1])
    node_urls = [mock_nodes[n].url.split("//", 1)[1] for n in ("a", "b")]
    rng = random.Random(14)
    deadline = time.monotonic() + SECONDS
    sent, problems, statuses = 0, [], collections.Counter[int]()
    with ThreadPoolExecutor(THREADS) as pool:
        while sent < REQUESTS and time.monotonic() < deadline:
            chosen = [rng.choice(MUTATIONS) for _ in range(min(BATCH, REQUESTS - sent))]
            batch = [(mutation(rng), incomplete) for mutation, incomplete in chosen]
            for outcome in pool.map(lambda r: send(port, *r), batch):
                statuses[outcome.status] += 1
                if outcome.status >= 500 and outcome.status not in (502, 503, 504):
                    problems.append(f"{outcome.status} for {outcome.request[:300]!r}")
                if outcome.hung:
                    problems.append(f"hung on {outcome.request[:300]!r}")
                if found := leaks(outcome.answer, node_urls):
                    problems.append(
                        f"{found} leaked in {outcome.answer[:600]!r} for {outcome.request[:300]!r}"
                    )
            sent += len(batch)
            good = raw_exchange(port, post_bytes(CHAT, chat_json(text="still there?")))
            assert good.status == 200, f"after {sent} requests: {good}"
            assert not problems, problems[:5]
    assert sent >= REQUESTS // 5, f"only {sent} requests in {SECONDS} s"
    # The mutations reach every layer: proxied answers, refusals, parser errors, closes.
    assert {0, 200, 400, 401} <= set(statuses), statuses
    print(f"fuzz: {sent} requests, statuses {dict(statuses)}")
    log = router.output()
    assert "Traceback" not in log, log[log.find("Traceback") - 500 :][:3000]
    found = leaks(log.encode(), node_urls)
    assert not found, found
    # Settling is asynchronous: give the last ones a moment, then read the ledger.
    time.sleep(1.0)
    records = ledger(folder)
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids)), "a request was settled twice"
    client = [r for r in records if r["key"] == "client"]
    assert len(client) >= sent // BATCH  # at least every good request between batches
    charged = [int(r["charged"]) for r in client]  # type: ignore[call-overload]
    assert all(c >= 0 for c in charged) and sum(charged) <= CREDITS * 1_000_000
