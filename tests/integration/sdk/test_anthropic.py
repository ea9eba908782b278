"""The anthropic SDKs (Python, and Node's @anthropic-ai/sdk) through a real router (issue 29).

One router (memory backend, keys, a JSONL ledger) in front of one mock node per kind in
`KINDS`: `anthropic` (`--dialect anthropic`, its answers relayed byte for byte), and the
single-dialect `gemini` and `openai` nodes (translated both ways). Each test runs
against each kind and shows what an Anthropic client sees: `messages.create` and
`messages.stream`, thinking blocks, a tool-use round trip streamed and not, an image,
`count_tokens` free in the ledger, `models.list`, the error classes the SDK maps from
each status, a keep-alive ping, and a mid-stream failure that raises; and, across
dialects, failover and a continued answer. Billing is checked against the usage the
client was told.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import anthropic
import openai
import pytest
from google import genai

from router.mock import messages as mock_messages
from router.mock.answers import Answer, MockSettings
from tests.support import MockNodes, Proc, http_request
from tests.support.billing import (
    FLOW_PRICING,
    JsonlView,
    billing_config,
    hashed_key,
    key_hash,
    new_request_id,
)
from tests.support.node_sdk import FETCH_TAP, MOCK_CONTROLS, run_node

pytestmark = pytest.mark.integration

NODE_KEY = f"sk-node-{secrets.token_hex(6)}"
KEYS = {name: f"sk-an-{name}-{secrets.token_hex(8)}" for name in ("main", "narrow")}
KINDS = ["anthropic", "gemini", "openai"]
# How each kind of node is started: every one takes its key its own way.
MOCK_NODES = {kind: ("--dialect", kind, "--api-key", NODE_KEY, "--chunks", "3") for kind in KINDS}
# What each node answers (its name is in the text).
ANSWERS = {kind: Answer.of(MockSettings(name=kind, chunks=3)) for kind in KINDS}
# An OpenAI node reasons unasked (the seeds' reasoning_content): its thinking comes first.
BLOCKS = {kind: ["thinking", "text"] if kind == "openai" else ["text"] for kind in KINDS}
# Events a node sends up to its answer's first text (then the cut_after fault drops it):
# Anthropic's message_start, ping, block start; OpenAI's role chunk and two reasoning ones.
BEFORE_FIRST_TEXT = {"anthropic": 3, "gemini": 0, "openai": 3}
# Keys with one request's credits and one request a minute, one per kind (the minute is
# shared by the tests of every kind).
TIGHT = {kind: f"sk-an-tight-{kind}-{secrets.token_hex(8)}" for kind in KINDS}
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
HI: Any = [{"role": "user", "content": "hello there"}]
READ = {"name": "Read", "arguments": {"file_path": "/srv/notes.txt"}}
TOOLS: Any = [
    {
        "name": "Read",
        "description": "Read a file",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}},
            "required": ["file_path"],
        },
    }
]
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b8a8a70000000049454e44ae426082"
    )
).decode()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers) -> Setup:
    ledger = tmp_path_factory.mktemp("anthropic") / "usage.jsonl"
    nodes = {
        kind: {"url": mock_nodes[kind].url, "api_key": NODE_KEY, "dialect": kind}
        for kind in MOCK_NODES
    }
    models: dict[str, Any] = {
        f"m-{kind}": {"backends": [{"node": kind}], "pricing": FLOW_PRICING} for kind in MOCK_NODES
    }
    # An Anthropic node first, a Gemini node next: failover and continuation across them.
    models["m-mixed"] = {
        "backends": [{"node": "anthropic"}, {"node": "gemini", "priority": 1}],
        "on_midstream_failure": "continue",
        "pricing": FLOW_PRICING,
    }
    keys = [
        {"name": "main", "hash": key_hash(KEYS["main"]), "models": ["m-*"], "credits": 1000},
        # One request's reservation, one request a minute: count_tokens must not touch them.
        *(
            hashed_key(f"tight-{kind}", key, models=["m-*"], credits=5, rpm=1)
            for kind, key in TIGHT.items()
        ),
        {"name": "narrow", "hash": key_hash(KEYS["narrow"]), "models": ["other-*"]},
    ]
    state = {"backend": "memory", "ledger_path": str(ledger)}
    server = {"keepalive_interval": 0.3}
    text = billing_config(nodes=nodes, models=models, state=state, keys=keys, server=server)
    return Setup(routers.get(text), JsonlView(ledger))


class Setup:
    def __init__(self, router: Proc, view: JsonlView) -> None:
        self.router = router
        self.view = view

    @property
    def url(self) -> str:
        return self.router.base_url

    def client(self, key: str = KEYS["main"], **options: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.url, api_key=key, max_retries=0, timeout=30, **options
        )


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, fresh_nodes: MockNodes) -> str:
    """The kind of node the model of this test is served by."""
    value: str = request.param
    return value


def _text(message: Any) -> str:
    """The text of an answer (its text blocks)."""
    return "".join(block.text for block in message.content if block.type == "text")


def _rid() -> dict[str, str]:
    return {"X-Request-ID": new_request_id()}


async def _billed(setup: Setup, headers: dict[str, str], usage: Any) -> dict[str, Any]:
    """The request's ledger record, which must hold the usage the client was told."""
    record = await setup.view.settled(headers["X-Request-ID"])
    prompt = usage.input_tokens + (usage.cache_read_input_tokens or 0)
    prompt += usage.cache_creation_input_tokens or 0
    details = usage.output_tokens_details
    thinking = details.thinking_tokens if details is not None else 0
    told = (prompt, usage.output_tokens - thinking, thinking)
    billed = (record["prompt_tokens"], record["completion_tokens"], record["reasoning_tokens"])
    assert billed == told, record
    assert record["settled_by"] == "usage" and record["status"] == 200, record
    return record


# --- answers --------------------------------------------------------------------------------


async def test_messages_create(setup: Setup, kind: str) -> None:
    headers = _rid()
    raw = setup.client().messages.with_raw_response.create(
        model=f"m-{kind}", max_tokens=200, messages=HI, extra_headers=headers
    )
    answer = raw.parse()
    assert [block.type for block in answer.content] == BLOCKS[kind]
    assert _text(answer) == ANSWERS[kind].content
    assert answer.stop_reason == "end_turn" and answer.model == f"m-{kind}"
    assert answer._request_id == headers["X-Request-ID"]  # Anthropic's request-id header
    await _billed(setup, headers, answer.usage)


async def test_messages_stream_text_and_final_message(setup: Setup, kind: str) -> None:
    headers = _rid()
    with setup.client().messages.stream(
        model=f"m-{kind}", max_tokens=200, messages=HI, extra_headers=headers
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == list(ANSWERS[kind].content_parts)
    assert _text(final) == ANSWERS[kind].content
    assert final.stop_reason == "end_turn"
    await _billed(setup, headers, final.usage)


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_blocks(setup: Setup, kind: str, stream: bool) -> None:
    headers = _rid()
    client, model = setup.client(), f"m-{kind}"
    if stream:
        with client.messages.stream(
            model=model, max_tokens=2000, thinking=THINKING, messages=HI, extra_headers=headers
        ) as events:
            thoughts = [e.thinking for e in events if e.type == "thinking"]
            answer = events.get_final_message()
        assert "".join(thoughts) == ANSWERS[kind].reasoning
    else:
        answer = client.messages.create(
            model=model, max_tokens=2000, thinking=THINKING, messages=HI, extra_headers=headers
        )
    thinking, text = answer.content
    assert thinking.type == "thinking" and thinking.thinking == ANSWERS[kind].reasoning
    if kind == "anthropic":  # other nodes sign nothing here: the signature stays empty
        assert thinking.signature  # to be sent back on the next turn
    assert text.type == "text" and text.text == ANSWERS[kind].content
    record = await _billed(setup, headers, answer.usage)
    assert record["reasoning_tokens"] == ANSWERS[kind].reasoning_tokens


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_use_round_trip(
    setup: Setup, kind: str, stream: bool, mock_nodes: MockNodes
) -> None:
    mock_nodes[kind].faults(tool_call=READ)
    client, model = setup.client(), f"m-{kind}"
    asked: Any = [{"role": "user", "content": "What do my notes say?"}]

    def ask(conversation: Any) -> Any:
        if not stream:
            return client.messages.create(
                model=model, max_tokens=300, tools=TOOLS, messages=conversation
            )
        with client.messages.stream(
            model=model, max_tokens=300, tools=TOOLS, messages=conversation
        ) as events:
            return events.get_final_message()

    called = ask(asked)
    assert called.stop_reason == "tool_use"
    (call,) = [block for block in called.content if block.type == "tool_use"]
    assert (call.name, call.input) == ("Read", READ["arguments"])
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "Buy milk."}
    conversation = [
        *asked,
        {"role": "assistant", "content": called.content},
        {"role": "user", "content": [result]},
    ]
    final = ask(conversation)
    assert final.stop_reason == "end_turn"
    # The scripted node answers with the result it got (Gemini's wrapped in an object).
    assert final.content[-1].text.startswith("Tool result: ")
    assert "Buy milk." in final.content[-1].text


async def test_an_image(setup: Setup, kind: str, mock_nodes: MockNodes) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    content: Any = [image, {"type": "text", "text": "What is this?"}]
    answer = setup.client().messages.create(
        model=f"m-{kind}", max_tokens=100, messages=[{"role": "user", "content": content}]
    )
    assert _text(answer) == ANSWERS[kind].content
    seen = mock_nodes[kind].last_request()
    assert seen is not None and seen["body_len"] > len(PNG)  # the image reached the node


def test_an_anthropic_node_gets_the_clients_bytes_and_the_client_the_nodes(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    body = json.dumps({"model": "m-anthropic", "max_tokens": 50, "messages": HI}).encode()
    status, headers, raw = http_request(
        "POST",
        f"{setup.url}/v1/messages?beta=true",
        body,
        {"x-api-key": KEYS["main"], "anthropic-version": "2023-06-01", "anthropic-beta": "b1"},
    )
    assert status == 200
    seen = mock_nodes["anthropic"].last_request()
    assert seen is not None
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()  # byte for byte
    assert seen["query"] == {"beta": "true"}
    sent = {name.lower(): value for name, value in seen["headers"].items()}
    assert sent["x-api-key"] == NODE_KEY  # the node's key, never the client's
    assert (sent["anthropic-version"], sent["anthropic-beta"]) == ("2023-06-01", "b1")
    node_answer = mock_messages.message(
        json.loads(body), ANSWERS["anthropic"], json.loads(raw)["id"]
    )
    assert raw == json.dumps(node_answer, separators=(",", ":")).encode()
    assert headers["request-id"] == headers["X-Request-ID"]


# --- count_tokens and the model list --------------------------------------------------------


async def test_count_tokens_is_free(setup: Setup, kind: str) -> None:
    tight = setup.client(TIGHT[kind])
    counted = [
        tight.messages.count_tokens(model=f"m-{kind}", messages=HI).input_tokens for _ in range(3)
    ]
    assert counted[0] > 0 and len(set(counted)) == 1
    headers = _rid()  # rpm 1 and one reservation's credits: still both there
    answer = tight.messages.create(
        model=f"m-{kind}", max_tokens=100, messages=HI, extra_headers=headers
    )
    await _billed(setup, headers, answer.usage)
    assert [r["key"] for r in setup.view.records()].count(f"tight-{kind}") == 1
    with pytest.raises(anthropic.AuthenticationError):  # free, but not without a key
        setup.client("sk-wrong").messages.count_tokens(model=f"m-{kind}", messages=HI)


def test_models_list_and_retrieve(setup: Setup) -> None:
    client = setup.client()
    listed = [model.id for model in client.models.list()]
    assert listed == [*(f"m-{kind}" for kind in MOCK_NODES), "m-mixed"]
    model = client.models.retrieve("m-anthropic")
    assert (model.id, model.type) == ("m-anthropic", "model")
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("m-none")


# --- errors ---------------------------------------------------------------------------------


def test_each_error_class_the_sdk_maps(setup: Setup, kind: str, mock_nodes: MockNodes) -> None:
    def create(key: str = KEYS["main"], model: str = f"m-{kind}") -> Any:
        return setup.client(key).messages.create(model=model, max_tokens=50, messages=HI)

    with pytest.raises(anthropic.AuthenticationError) as caught:
        create("sk-wrong")
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.PermissionDeniedError):
        create(KEYS["narrow"])
    with pytest.raises(anthropic.NotFoundError) as missing:
        create(model="m-none")
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    mock_nodes[kind].faults(status=500, error_message="the model crashed")
    with pytest.raises(anthropic.InternalServerError) as crashed:
        create()
    assert "the model crashed" in str(crashed.value)
    mock_nodes[kind].faults(status=529 if kind == "anthropic" else 503, error_message="busy")
    with pytest.raises(anthropic.OverloadedError) as busy:
        create()
    assert busy.value.status_code == 529
    assert busy.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    mock_nodes[kind].faults(reset=True)
    tight = setup.client(TIGHT[kind])
    with pytest.raises(anthropic.RateLimitError):  # rpm 1
        for _ in range(3):
            tight.messages.create(model=f"m-{kind}", max_tokens=10, messages=HI)


def test_the_key_as_bearer_and_two_keys_that_differ(setup: Setup) -> None:
    client = anthropic.Anthropic(
        base_url=setup.url, auth_token=KEYS["main"], max_retries=0, timeout=30
    )  # Claude Code's ANTHROPIC_AUTH_TOKEN
    assert client.messages.create(model="m-anthropic", max_tokens=20, messages=HI).content
    body = json.dumps({"model": "m-anthropic", "max_tokens": 20, "messages": HI}).encode()
    both = {"x-api-key": KEYS["main"], "anthropic-version": "2023-06-01"}
    same = {**both, "Authorization": f"Bearer {KEYS['main']}"}
    assert http_request("POST", f"{setup.url}/v1/messages", body, same)[0] == 200
    differ = {**both, "Authorization": f"Bearer {KEYS['narrow']}"}
    status, _, raw = http_request("POST", f"{setup.url}/v1/messages", body, differ)
    assert status == 401, raw
    error = json.loads(raw)["error"]
    assert error["type"] == "authentication_error" and "different API keys" in error["message"]


# --- streams that do not go smoothly --------------------------------------------------------


def test_a_slow_stream_gets_pings_the_sdk_skips(
    setup: Setup, kind: str, mock_nodes: MockNodes
) -> None:
    # Half a second between the node's events; the router's keep-alive is due after 0.3 s.
    # (Before a stream's first byte there is no stream to keep alive: no ping then.)
    mock_nodes[kind].faults(chunk_delay=0.5)
    body = {"model": f"m-{kind}", "max_tokens": 50, "messages": HI, "stream": True}
    status, _, raw = http_request(
        "POST",
        f"{setup.url}/v1/messages",
        json.dumps(body).encode(),
        {"x-api-key": KEYS["main"], "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert status == 200
    pings = raw.count(b'event: ping\ndata: {"type":"ping"}\n\n')
    node_pings = 1 if kind == "anthropic" else 0  # an Anthropic node sends one itself
    assert pings - node_pings >= 2, raw  # the router's keep-alives
    mock_nodes[kind].faults(chunk_delay=0.35)
    with setup.client().messages.stream(model=f"m-{kind}", max_tokens=50, messages=HI) as stream:
        assert "".join(stream.text_stream) == ANSWERS[kind].content


def test_a_failure_mid_stream_raises(setup: Setup, kind: str, mock_nodes: MockNodes) -> None:
    mock_nodes[kind].faults(cut_after=BEFORE_FIRST_TEXT[kind] + 1)  # the first text, then a cut
    received = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        setup.client().messages.stream(model=f"m-{kind}", max_tokens=50, messages=HI) as stream,
    ):
        received.extend(stream.text_stream)
    assert received == [ANSWERS[kind].content_parts[0]]
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "mid-answer" in str(caught.value)


# --- across dialects ------------------------------------------------------------------------


def test_failover_before_the_first_byte_to_a_node_of_another_dialect(
    setup: Setup, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["anthropic"].faults(status=529, error_message="overloaded")
    answer = setup.client().messages.create(model="m-mixed", max_tokens=100, messages=HI)
    assert _text(answer) == ANSWERS["gemini"].content
    assert fresh_nodes["anthropic"].requests() == 1 and fresh_nodes["gemini"].requests() == 1


def test_a_cut_answer_continues_at_a_node_of_another_dialect(
    setup: Setup, fresh_nodes: MockNodes
) -> None:
    fresh_nodes["anthropic"].faults(cut_after=BEFORE_FIRST_TEXT["anthropic"] + 1)
    with setup.client().messages.stream(model="m-mixed", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    # The mock nodes continue each other's answers part by part (router.mock.answers).
    assert text.startswith("Hello from anthropic.") and text.endswith(" Part 3 of 3.")
    assert [block.type for block in final.content] == ["text"]  # one block, continued
    continued = fresh_nodes["gemini"].last_request()
    assert continued is not None and continued["path"].endswith(":streamGenerateContent")
    assert continued["body"]["contents"][-1]["role"] == "model"  # the prefill, Gemini's way


async def test_openai_and_gemini_clients_of_an_anthropic_node(
    setup: Setup, fresh_nodes: MockNodes
) -> None:
    """The other way round: an Anthropic node serves the other dialects' clients."""
    answer = ANSWERS["anthropic"]
    with openai.OpenAI(
        base_url=f"{setup.url}/v1", api_key=KEYS["main"], max_retries=0, timeout=30
    ) as client:
        headers = _rid()
        reply = client.chat.completions.create(
            model="m-anthropic", messages=HI, reasoning_effort="low", extra_headers=headers
        )
        message = reply.choices[0].message
        assert message.content == answer.content
        assert message.model_extra is not None
        assert message.model_extra["reasoning_content"] == answer.reasoning  # its thinking
        record = await setup.view.settled(headers["X-Request-ID"])
        assert record["prompt_tokens"] == reply.usage.prompt_tokens  # type: ignore[union-attr]
        stream = client.chat.completions.create(model="m-anthropic", messages=HI, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == answer.content
    sent = fresh_nodes["anthropic"].last_request()
    assert sent is not None and sent["path"] == "/v1/messages"
    options = genai.types.HttpOptions(base_url=setup.url, api_version="v1beta", timeout=30_000)
    with genai.Client(api_key=KEYS["main"], http_options=options) as google:
        reply = google.models.generate_content(model="m-anthropic", contents="hello")
        assert reply.text == answer.content


# --- Node's @anthropic-ai/sdk ---------------------------------------------------------------

NODE_SCRIPT = """
import Anthropic from "@anthropic-ai/sdk";
const client = new Anthropic({baseURL: process.env.BASE, apiKey: process.env.KEY, maxRetries: 0});
const model = process.env.MODEL;
const messages = [{role: "user", content: "hello there"}];
const made = await client.messages.create({model, max_tokens: 100, messages});
const madeText = made.content.filter((b) => b.type === "text").map((b) => b.text).join("");
const stream = client.messages.stream({model, max_tokens: 100, messages,
  thinking: {type: "enabled", budget_tokens: 1024}});
let text = "";
stream.on("text", (piece) => { text += piece; });
const final = await stream.finalMessage();
const counted = await client.messages.countTokens({model, messages});
const listed = [];
for await (const m of client.models.list()) listed.push(m.id);
let missing = null;
try { await client.messages.create({model: "m-none", max_tokens: 5, messages}); }
catch (e) { missing = [e.constructor.name, e.status]; }
console.log(JSON.stringify({made: madeText, text,
  kinds: final.content.map((b) => b.type), counted: counted.input_tokens, listed, missing}));
"""


def test_node_sdk(setup: Setup, kind: str) -> None:
    env = {"BASE": setup.url, "KEY": KEYS["main"], "MODEL": f"m-{kind}"}
    found = run_node(NODE_SCRIPT, env)
    assert found["made"] == ANSWERS[kind].content and found["text"] == ANSWERS[kind].content
    assert found["kinds"] == ["thinking", "text"]
    assert found["counted"] > 0 and f"m-{kind}" in found["listed"]
    assert found["missing"] == ["NotFoundError", 404]


# A tool round trip (answered and streamed), an image, each error class the SDK maps from
# a status, pings in a slow stream and a failure mid-stream: the node's faults set through
# its `/_mock/*` controls, as the Python tests above set them.
NODE_ROUGH_SCRIPT = (
    MOCK_CONTROLS
    + FETCH_TAP
    + """
import Anthropic from "@anthropic-ai/sdk";
const options = {baseURL: process.env.BASE, maxRetries: 0};
const client = new Anthropic({...options, apiKey: process.env.KEY});
const model = process.env.MODEL;
const tools = JSON.parse(process.env.TOOLS);
const asked = [{role: "user", content: "What do my notes say?"}];
const ask = (conversation, streamed) => streamed
  ? client.messages.stream({model, max_tokens: 300, tools, messages: conversation}).finalMessage()
  : client.messages.create({model, max_tokens: 300, tools, messages: conversation});
await faults("NODE", {tool_call: JSON.parse(process.env.READ)});
const rounds = [];
for (const streamed of [false, true]) {
  const called = await ask(asked, streamed);
  const call = called.content.find((b) => b.type === "tool_use");
  const final = await ask([...asked, {role: "assistant", content: called.content},
    {role: "user", content: [{type: "tool_result", tool_use_id: call.id, content: "Buy milk."}]}],
    streamed);
  rounds.push([called.stop_reason, call.name, call.input, final.stop_reason,
    final.content.at(-1).text]);
}
await faults("NODE", {});
const image = await client.messages.create({model, max_tokens: 100, messages: [{role: "user",
  content: [{type: "image", source: {type: "base64", media_type: "image/png",
    data: process.env.PNG}}, {type: "text", text: "What is this?"}]}]});
const imageSent = (await (await fetch(process.env.NODE + "/_mock/last_request")).json()).body_len;
const errors = {};
async function caught(name, request, apiKey = process.env.KEY) {
  try {
    await new Anthropic({...options, apiKey}).messages.create(
      {model, max_tokens: 10, messages: asked, ...request});
    errors[name] = "no error";
  } catch (e) { errors[name] = [e.constructor.name, e.status, e.error?.error?.type]; }
}
await caught("wrong-key", {}, "sk-wrong");
await caught("narrow-key", {}, process.env.NARROW);
await caught("unknown-model", {model: "m-none"});
await faults("NODE", {status: 500, error_message: "the model crashed"});
await caught("node-500", {});
await faults("NODE", {status: Number(process.env.BUSY), error_message: "busy"});
await caught("node-busy", {});
await faults("NODE", {});
for (let i = 0; i < 3 && errors["rpm"]?.[0] !== "RateLimitError"; i++) {
  await caught("rpm", {}, process.env.TIGHT);
}
await faults("NODE", {chunk_delay: 0.5});
let slow = "";
const slowStream = new Anthropic({...options, apiKey: process.env.KEY, fetch: tappedFetch})
  .messages.stream({model, max_tokens: 50, messages: asked});
slowStream.on("text", (piece) => { slow += piece; });
await slowStream.finalMessage();
const raw = await taps.at(-1).text();  // the bytes the SDK read
const pings = raw.split('event: ping\\ndata: {"type":"ping"}\\n\\n').length - 1;
await faults("NODE", {cut_after: Number(process.env.CUT_AFTER)});
let cut = "", midstream = "no error";
try {
  const cutStream = client.messages.stream({model, max_tokens: 50, messages: asked});
  cutStream.on("text", (piece) => { cut += piece; });
  await cutStream.finalMessage();
} catch (e) { midstream = [e.constructor.name, e.error?.error?.type, e.message]; }
console.log(JSON.stringify({rounds, image: [image.content.at(-1).text, imageSent], errors,
  pings, slow, cut, midstream}));
"""
)


def test_node_sdk_tools_images_errors_and_rough_streams(
    setup: Setup, kind: str, mock_nodes: MockNodes
) -> None:
    env = {
        "BASE": setup.url,
        "KEY": KEYS["main"],
        "NARROW": KEYS["narrow"],
        "TIGHT": TIGHT[kind],
        "MODEL": f"m-{kind}",
        "NODE": mock_nodes[kind].url,
        "TOOLS": json.dumps(TOOLS),
        "READ": json.dumps(READ),
        "PNG": PNG,
        "BUSY": "529" if kind == "anthropic" else "503",
        "CUT_AFTER": str(BEFORE_FIRST_TEXT[kind] + 1),
    }
    found = run_node(NODE_ROUGH_SCRIPT, env)
    for called, name, arguments, finished, text in found["rounds"]:
        assert (called, name, arguments, finished) == (
            "tool_use",
            "Read",
            READ["arguments"],
            "end_turn",
        )
        assert text.startswith("Tool result: ") and "Buy milk." in text
    assert len(found["rounds"]) == 2  # answered, then streamed
    text, sent_length = found["image"]
    assert text == ANSWERS[kind].content and sent_length > len(PNG)
    errors = found["errors"]
    crashed = errors.pop("node-500")  # a node's failure: the router answers 502
    assert crashed[0] == "InternalServerError" and crashed[1] >= 500, crashed
    assert crashed[2] == "api_error", crashed
    assert errors == {
        "wrong-key": ["AuthenticationError", 401, "authentication_error"],
        "narrow-key": ["PermissionDeniedError", 403, "permission_error"],
        "unknown-model": ["NotFoundError", 404, "not_found_error"],
        "node-busy": ["OverloadedError", 529, "overloaded_error"],
        "rpm": ["RateLimitError", 429, "rate_limit_error"],
    }
    node_pings = 1 if kind == "anthropic" else 0  # an Anthropic node sends one itself
    assert found["pings"] - node_pings >= 2  # the router's keep-alives
    assert found["slow"] == ANSWERS[kind].content  # the SDK skipped them
    assert found["cut"] == ANSWERS[kind].content_parts[0]
    name, error_type, message = found["midstream"]
    assert name == "APIError" and error_type == "api_error", found["midstream"]
    assert "mid-answer" in message, found["midstream"]
