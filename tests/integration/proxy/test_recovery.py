"""Issue 18 items 1-3: what the router now rescues instead of failing cleanly.

A real router in front of two real mock nodes: `one` serves the models under test,
`other` serves their fallbacks. Each test scripts `one` with a fault (a 429 with
Retry-After once, a 500 once, a 400 with an error code) and checks what the client got
and which node was asked how often.
"""

from __future__ import annotations

import time

import openai
import orjson
import pytest

from tests.support import (
    GEMINI_BODY,
    MockNodes,
    Proc,
    Routers,
    chat_body,
    http_request,
    node_entry,
    routes_yaml,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

JSON = {"Content-Type": "application/json"}
CONTEXT = "context_length_exceeded"


MOCK_NODES_SETTLE = 0.5  # a request still stalled on a node is not worth waiting for
MOCK_NODES = {"one": (), "other": ()}


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    entries = {
        "one": node_entry(mock_nodes["one"].url, timeouts={"first_byte": 0.5, "first_token": 0.8}),
        "other": node_entry(mock_nodes["other"].url),
    }
    models = {
        "solo": {"backends": [{"node": "one"}], "fallbacks": ["backup"]},
        "backup": {"backends": [{"node": "other"}]},
        "small": {"backends": [{"node": "one"}], "fallbacks_on": {CONTEXT: ["large"]}},
        "large": {"backends": [{"node": "other"}]},
        "plain": {"backends": [{"node": "one"}], "fallbacks": ["backup"]},
    }
    # The shipped defaults for same-node retries (the test support turns them off).
    defaults = {"retry_same_node": 1, "retry_wait": {"base": 0.05, "max": 5}}
    return routers.get(routes_yaml(entries, models, defaults=defaults))


def _chat(router: Proc, model: str) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    status, headers, body = http_request(
        "POST",
        router.base_url + "/v1/chat/completions",
        orjson.dumps(chat_body(model)),
        JSON,
        timeout=15.0,
    )
    return status, headers, body, time.monotonic() - started


def _answered_by(body: bytes) -> str:
    return str(orjson.loads(body)["model"])


# --- item 1: Retry-After ------------------------------------------------------------------


def _after_one_429(router: Proc, mock_nodes: MockNodes, retry_after: str) -> tuple[str, float]:
    """Model `solo` asked once while its node answers one 429 with `retry_after`: which
    model answered, and how long the client waited."""
    mock_nodes["one"].faults(status=429, retry_after=retry_after, status_times=1)
    status, _, body, elapsed = _chat(router, "solo")
    assert status == 200, body
    return _answered_by(body), elapsed


def test_a_429_with_retry_after_is_retried_on_the_same_node_after_that_wait(
    router: Proc, mock_nodes: MockNodes
) -> None:
    answered, elapsed = _after_one_429(router, mock_nodes, "2")
    assert answered == "solo"  # the same node, not the fallback model
    assert mock_nodes["one"].requests() == 2 and mock_nodes["other"].requests() == 0
    assert 1.7 <= elapsed <= 2.3, f"the retry came after {elapsed:.2f} s, not 2 s"


def test_a_retry_after_longer_than_the_maximum_fails_over_at_once(
    router: Proc, mock_nodes: MockNodes
) -> None:
    answered, elapsed = _after_one_429(router, mock_nodes, "30")
    assert answered == "backup"
    assert mock_nodes["one"].requests() == 1 and mock_nodes["other"].requests() == 1
    assert elapsed < 1.5, f"waited {elapsed:.2f} s for a Retry-After it would not honour"


def test_an_http_date_retry_after_is_honoured(router: Proc, mock_nodes: MockNodes) -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
    mock_nodes["one"].faults(status=503, retry_after=when, status_times=1)
    status, _, body, elapsed = _chat(router, "solo")
    assert status == 200 and _answered_by(body) == "solo", body
    assert mock_nodes["one"].requests() == 2
    assert 0.7 <= elapsed <= 2.5, elapsed  # the date has a one-second resolution


# --- item 2: one same-node retry ----------------------------------------------------------


def test_a_one_node_model_survives_one_500(router: Proc, mock_nodes: MockNodes) -> None:
    mock_nodes["one"].faults(status=500, status_times=1)
    status, _, body, _ = _chat(router, "plain")
    assert status == 200, body
    assert _answered_by(body) == "plain"
    assert mock_nodes["one"].requests() == 2 and mock_nodes["other"].requests() == 0


def test_a_node_failing_twice_goes_to_the_fallback(router: Proc, mock_nodes: MockNodes) -> None:
    mock_nodes["one"].faults(status=500, status_times=2)
    status, _, body, _ = _chat(router, "plain")
    assert status == 200 and _answered_by(body) == "backup", body
    assert mock_nodes["one"].requests() == 2 and mock_nodes["other"].requests() == 1


def test_a_timeout_is_not_retried_on_the_same_node(router: Proc, mock_nodes: MockNodes) -> None:
    mock_nodes["one"].faults(first_byte_delay=1.0)
    status, _, body, _ = _chat(router, "plain")
    assert status == 200 and _answered_by(body) == "backup", body
    assert mock_nodes["one"].requests() == 1 and mock_nodes["other"].requests() == 1


def test_a_first_token_timeout_is_an_ordinary_failover(router: Proc, mock_nodes: MockNodes) -> None:
    # Item 5: the role chunk arrives, then nothing; under `first_token` nothing reached the
    # client yet, so the request goes on to the fallback (and, a timeout, not to `one` again).
    mock_nodes["one"].faults(stall_after_role=True)
    status, _, body = http_request(
        "POST",
        router.base_url + "/v1/chat/completions",
        orjson.dumps(chat_body("plain", stream=True)),
        JSON,
        timeout=15.0,
    )
    assert status == 200, body
    events = [line for line in body.split(b"\n") if line.startswith(b"data: {")]
    models = {orjson.loads(line[6:])["model"] for line in events}
    assert models == {"backup"}, body  # one stream, from the fallback only
    assert sum(b'"role"' in line for line in events) == 1
    assert body.rstrip().endswith(b"data: [DONE]")
    assert mock_nodes["one"].requests() == 1 and mock_nodes["other"].requests() == 1


# --- item 3: fallbacks_on -----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_context_length_exceeded_is_answered_by_the_bigger_model(
    router: Proc, mock_nodes: MockNodes, stream: bool
) -> None:
    mock_nodes["one"].faults(status=400, error_code=CONTEXT, error_message="too long for me")
    client = openai.OpenAI(api_key="none", base_url=router.base_url + "/v1", max_retries=0)
    messages = [{"role": "user", "content": "hello"}]
    if stream:
        chunks = list(client.chat.completions.create(model="small", messages=messages, stream=True))  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        models = {c.model for c in chunks}
    else:
        answer = client.chat.completions.create(model="small", messages=messages)  # type: ignore[arg-type]
        text, models = answer.choices[0].message.content or "", {answer.model}
    assert text and models == {"large"}
    assert mock_nodes["one"].requests() == 1 and mock_nodes["other"].requests() == 1


def test_a_gemini_error_status_is_read_the_same_way(router: Proc, mock_nodes: MockNodes) -> None:
    mock_nodes["one"].faults(status=400, error_code=CONTEXT)
    status, _, body = http_request(
        "POST",
        router.base_url + "/v1beta/models/small:generateContent",
        orjson.dumps(GEMINI_BODY),
        JSON,
    )
    assert status == 200, body
    assert mock_nodes["one"].requests() == 1 and mock_nodes["other"].requests() == 1
    seen = mock_nodes["other"].last_request()
    assert seen is not None and "/models/large:generateContent" in seen["path"], seen


def test_an_ordinary_400_still_goes_straight_back(router: Proc, mock_nodes: MockNodes) -> None:
    mock_nodes["one"].faults(
        status=400, error_code="invalid_value", error_message="bad temperature"
    )
    status, _, body, _ = _chat(router, "small")
    assert status == 400, body
    error = orjson.loads(body)["error"]
    assert (error["code"], error["message"]) == ("invalid_value", "bad temperature")
    assert mock_nodes["one"].requests() == 1 and mock_nodes["other"].requests() == 0


def test_a_model_without_fallbacks_on_passes_the_400_back(
    router: Proc, mock_nodes: MockNodes
) -> None:
    mock_nodes["one"].faults(status=400, error_code=CONTEXT)
    status, _, body, _ = _chat(router, "plain")
    assert status == 400 and orjson.loads(body)["error"]["code"] == CONTEXT, body
    assert mock_nodes["other"].requests() == 0


def test_when_the_bigger_model_fails_the_client_gets_the_first_answer(
    router: Proc, mock_nodes: MockNodes
) -> None:
    mock_nodes["one"].faults(status=400, error_code=CONTEXT, error_message="too long for me")
    mock_nodes["other"].faults(status=503)
    status, headers, body, _ = _chat(router, "small")
    assert status == 400, body
    error = orjson.loads(body)["error"]
    assert (error["code"], error["message"]) == (CONTEXT, "too long for me")
    assert "x-request-id" in {name.lower() for name in headers}
    assert mock_nodes["other"].requests() >= 1
