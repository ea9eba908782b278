"""Issue 14's problems 1-3 against a real router with keys and pricing on two mock nodes:
credentials never reach a node, malformed input is a 4xx that names the problem (never a
500), and nothing but the probes answers without a valid key.
"""

from __future__ import annotations

import collections
import gzip
import os
import socket
import time
from urllib.parse import quote

import orjson
import pytest

from tests.support import CHAT, MockNodes, Proc, Routers, routes_yaml
from tests.support.billing import scrape
from tests.support.hostile import (
    CLIENT_KEY,
    FLASH,
    GENERATE,
    HOSTILE_NODES,
    NODE_KEY,
    OTHER_KEY,
    PRICING,
    chat_json,
    gemini_json,
    get_bytes,
    hostile_config,
    key_hash,
    post_bytes,
    raw_exchange,
)

pytestmark = pytest.mark.integration


MOCK_NODES = HOSTILE_NODES


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    return routers.get(hostile_config(mock_nodes))


def port_of(proc: Proc) -> int:
    return int(proc.base_url.rsplit(":", 1)[1])


def last_node_request(mock_nodes: MockNodes) -> dict[str, object]:
    seen = [r for r in (mock_nodes["a"].last_request(), mock_nodes["b"].last_request()) if r]
    assert seen, "no node saw the request"
    return seen[-1]


def _reset(mock_nodes: MockNodes) -> None:
    for name in ("a", "b"):
        mock_nodes[name].reset(settle=0.5)


# --- problem 1: the client's key never reaches a node -------------------------------------


@pytest.mark.parametrize(
    "spelling", ["key", "%6Bey", "k%65y", "%6B%65%79", "KEY", "Key", "k%2565y", "key%00", "key[]"]
)
def test_a_query_key_in_any_spelling_authenticates_and_never_reaches_the_node(
    router: Proc, mock_nodes: MockNodes, spelling: str
) -> None:
    _reset(mock_nodes)
    path = f"{GENERATE}?{spelling}={quote(CLIENT_KEY)}&alt=sse"
    reply = raw_exchange(port_of(router), post_bytes(path, gemini_json(), key=""))
    assert reply.status == 200, reply
    seen = last_node_request(mock_nodes)
    assert CLIENT_KEY not in repr(seen), seen
    assert seen["query"] == {"alt": "sse"}


@pytest.mark.parametrize(
    ("path", "headers", "key"),
    [
        (f"{GENERATE}?key={OTHER_KEY}", [], CLIENT_KEY),
        (GENERATE, [(b"x-goog-api-key", OTHER_KEY.encode())], CLIENT_KEY),
        (f"{GENERATE}?key={CLIENT_KEY}&%6Bey={OTHER_KEY}", [], ""),
        (CHAT, [(b"Authorization", b"Bearer " + OTHER_KEY.encode())], CLIENT_KEY),
    ],
    # Named, since the keys are random and pytest-xdist needs the same ids in every worker.
    ids=["query-vs-bearer", "goog-header-vs-bearer", "two-query-spellings", "two-bearers"],
)
def test_credentials_that_disagree_get_401(
    router: Proc, path: str, headers: list[tuple[bytes, bytes]], key: str
) -> None:
    body = gemini_json() if path.startswith("/v1beta") else chat_json()
    reply = raw_exchange(port_of(router), post_bytes(path, body, headers, key=key))
    assert reply.status == 401, reply
    if path.startswith("/v1beta"):  # Google's error shape
        assert (reply.error()["code"], reply.error()["status"]) == (401, "UNAUTHENTICATED")
    else:
        assert reply.error()["code"] == "invalid_token"
    assert "different API keys" in reply.error()["message"]


# --- problem 2: malformed input is a 4xx naming the problem, never a 500 ------------------


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        ([(b"X-Note", b"\xff\xfe")], chat_json(), 400, "'X-Note' is not valid UTF-8"),
        ([(b"X-Note", b"caf\xe9")], chat_json(), 400, "'X-Note' is not valid UTF-8"),
        ([(b"Content-Encoding", b"gzip")], chat_json(), 400, "could not be read or decoded"),
        ([(b"Content-Encoding", b"compress")], chat_json(), 415, "'compress' is not supported"),
        ([(b"Content-Encoding", b"br")], chat_json(), 415, "'br' is not supported"),
        ([(b"Content-Encoding", b"zstd")], chat_json(), 415, "'zstd' is not supported"),
        ([(b"Content-Encoding", b"gzip, br")], chat_json(), 415, "'gzip, br' is not supported"),
        ([], b"[" * 2000 + b"]" * 2000, 400, "depth limit"),
        ([], b'{"model": "m", "messages": [], "n": 1e999}', 400, "not valid JSON"),
        ([], chat_json(model=12), 400, "'model' is required and must be a non-empty string"),
        ([], chat_json(model=["x"]), 400, "'model'"),
        ([], b"\xff\xfe{", 400, "not valid JSON"),
    ],
    ids=[
        *("header-not-utf8", "header-latin1", "gzip-not-gzip", "compress", "br", "zstd"),
        *("gzip-then-br", "deep-nesting", "huge-number", "model-number", "model-list"),
        "body-not-utf8",
    ],
)
def test_malformed_requests_get_a_4xx_that_names_the_problem(
    router: Proc, headers: list[tuple[bytes, bytes]], body: bytes, status: int, says: str
) -> None:
    reply = raw_exchange(port_of(router), post_bytes(CHAT, body, headers))
    assert reply.status == status, reply
    assert says in reply.error()["message"], reply.error()
    log = router.output()
    assert "Traceback" not in log, log[log.find("Traceback") - 300 :][:3000]


def test_a_gzip_body_is_decoded_and_the_node_gets_it_plain(
    router: Proc, mock_nodes: MockNodes
) -> None:
    _reset(mock_nodes)
    body = gzip.compress(chat_json())
    errors = scrape(router.base_url, "router_upstream_errors_total")
    for _ in range(5):  # a node failing each of these would be out after three
        request = post_bytes(CHAT, body, [(b"Content-Encoding", b"gzip")])
        reply = raw_exchange(port_of(router), request)
        assert reply.status == 200, reply
    seen = last_node_request(mock_nodes)
    headers = {str(k).lower() for k in seen["headers"]}  # type: ignore[attr-defined]
    assert "content-encoding" not in headers
    assert seen["model"] == FLASH
    assert scrape(router.base_url, "router_upstream_errors_total") == errors


# --- problem 3: nothing but the probes answers without a valid key ------------------------


@pytest.mark.parametrize("key", ["", "sk-not-a-key"])
@pytest.mark.parametrize(
    "request_bytes",
    [
        lambda key: post_bytes(CHAT, chat_json(model="no-such-model"), key=key),
        lambda key: post_bytes(CHAT, chat_json(), key=key),
        lambda key: post_bytes("/v1beta/models/no-such-model:generateContent", b"{}", key=key),
        lambda key: get_bytes("/v1/models", key),
        lambda key: get_bytes(f"/v1/models/{FLASH}", key),
        lambda key: get_bytes("/v1beta/models", key),
        lambda key: get_bytes("/v1/models/no-such-model", key),
    ],
)
def test_without_a_valid_key_everything_is_401(router: Proc, request_bytes, key: str) -> None:
    reply = raw_exchange(port_of(router), request_bytes(key))
    assert reply.status == 401, reply
    assert b"no-such-model" not in reply.body and FLASH.encode() not in reply.body


def test_with_a_valid_key_an_unknown_model_is_404(router: Proc) -> None:
    reply = raw_exchange(port_of(router), post_bytes(CHAT, chat_json(model="no-such-model")))
    assert reply.status == 404, reply
    assert reply.error()["code"] == "model_not_found"
    listed = raw_exchange(port_of(router), get_bytes("/v1/models", CLIENT_KEY))
    assert listed.status == 200 and FLASH.encode() in listed.body


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_answer_without_a_key(router: Proc, path: str) -> None:
    assert raw_exchange(port_of(router), get_bytes(path)).status == 200


def test_public_models_opens_the_model_list_only(mock_nodes: MockNodes, routers: Routers) -> None:
    public = routers.get(hostile_config(mock_nodes, public_models=True))
    listed = raw_exchange(port_of(public), get_bytes("/v1/models"))
    assert listed.status == 200 and FLASH.encode() in listed.body
    chat = raw_exchange(port_of(public), post_bytes(CHAT, chat_json(), key=""))
    assert chat.status == 401


def test_a_body_that_stalls_gets_408_while_others_are_served(
    mock_nodes: MockNodes, routers: Routers
) -> None:
    slow = routers.get(hostile_config(mock_nodes, body_timeout=1))
    port = port_of(slow)
    stalled = post_bytes(CHAT, chat_json())
    stalled = stalled.replace(b"Content-Length: ", b"Content-Length: 9")  # 9x the real size
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(stalled)
        good = raw_exchange(port, post_bytes(CHAT, chat_json()))
        assert good.status == 200, good
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request_timeout" in answer


# --- issue 17 item 5: a bad header byte never costs a node connection or a file --------------

BAD_HEADERS = [
    [(b"X-Trace", b"\xff\xfe")],
    [(b"X-Caf\xe9", b"1")],
    [(b"X-Label", b"caf\xe9")],
    [(b"User-Agent", b"sdk/\xc3\x28")],
]


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_bad_header_bytes_leak_no_file_or_node_connection(
    router: Proc, mock_nodes: MockNodes
) -> None:
    _reset(mock_nodes)
    port = port_of(router)
    for headers in BAD_HEADERS:  # warm up: whatever is opened once (pools, logs) is open
        raw_exchange(port, post_bytes(CHAT, chat_json(), headers))
    before = _open_files(router.pid)
    statuses: collections.Counter[int] = collections.Counter()
    for i in range(500):
        headers = BAD_HEADERS[i % len(BAD_HEADERS)]
        path = CHAT if i % 2 else GENERATE
        body = chat_json() if i % 2 else gemini_json()
        statuses[raw_exchange(port, post_bytes(path, body, headers)).status] += 1
    assert set(statuses) <= {200, 400}, statuses  # never a 500, never a 503
    time.sleep(0.5)  # connections closed by the clients are reaped by now
    after = _open_files(router.pid)
    assert after <= before + 4, (before, after)  # a leak would show about 500 more
    ok = raw_exchange(port, post_bytes(CHAT, chat_json()))
    assert ok.status == 200, ok


# --- issue 17 item 8: a wrong key is refused before the body is read --------------------------


@pytest.mark.parametrize("path", [CHAT, GENERATE])
@pytest.mark.parametrize("key", ["sk-not-a-key-at-all", ""])
def test_a_wrong_key_is_refused_before_the_body_arrives(router: Proc, path: str, key: str) -> None:
    # The head announces 60 MB that never come: a router reading the body first would
    # wait for it (body_timeout, 60 s) instead of answering at once.
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines.append(f"Content-Length: {60 * 1024 * 1024}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    reply = raw_exchange(port_of(router), head + b'{"model": "', timeout=3.0)
    assert reply.status == 401, reply


def test_a_good_key_still_gets_its_body_read(router: Proc) -> None:
    for path, body in ((CHAT, chat_json()), (GENERATE, gemini_json())):
        for _ in range(2):  # the second time the key is known from the first
            reply = raw_exchange(port_of(router), post_bytes(path, body))
            assert reply.status == 200, reply


# --- issue 17 item 1: a Gemini model name never carries a path ---------------------------------


@pytest.fixture(scope="module")
def glob_router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    """A cheap `gemini-*` glob, the way an operator prices a family of models."""
    entries = {"a": {"url": mock_nodes["a"].url, "api_key": NODE_KEY}}
    models = {"gemini-*": {"backends": [{"node": "a"}], "pricing": PRICING}}
    keys = [{"name": "client", "hash": key_hash(CLIENT_KEY), "credits": 100_000}]
    return routers.get(routes_yaml(entries, models, keys=keys, tag="glob"))


@pytest.mark.parametrize(
    "model",
    [
        "gemini-cheap%2F..%2Fgemini-2.5-pro",
        "gemini-cheap%2f..%2fgemini-2.5-pro",
        "gemini-cheap%5C..%5Cgemini-2.5-pro",
        "gemini-cheap%252F..%252Fgemini-2.5-pro",
        "gemini-%2Fetc",
    ],
)
def test_a_gemini_model_name_with_a_slash_is_refused(
    glob_router: Proc, mock_nodes: MockNodes, model: str
) -> None:
    _reset(mock_nodes)
    path = f"/v1beta/models/{model}:generateContent"
    reply = raw_exchange(port_of(glob_router), post_bytes(path, gemini_json()))
    assert reply.status == 400, reply
    body = orjson.loads(reply.body)
    assert body["error"]["status"] == "INVALID_ARGUMENT", body
    assert "model name" in body["error"]["message"], body
    assert mock_nodes["a"].last_request() is None  # never routed by one name, served as another


def test_a_plain_gemini_model_on_a_glob_is_still_served(glob_router: Proc) -> None:
    path = "/v1beta/models/gemini-cheap:generateContent"
    reply = raw_exchange(port_of(glob_router), post_bytes(path, gemini_json()))
    assert reply.status == 200, reply
