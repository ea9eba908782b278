"""The playground, account and status pages in a real Chromium (Debian's), driven by Playwright.

One router, two mock nodes and one browser serve the whole module. Each test opens its own
browser context (so sessionStorage starts empty) and fails on any console error. The
admin console, the phone layouts and the screenshots of every page are in
tests/integration/web/test_console_pages.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support import MockNodes, eventually_blocking, node_entry, routes_yaml
from tests.support.browser import open_page, playwright, type_secret

pytestmark = pytest.mark.integration

expect = playwright().expect
KEY, ADMIN = "sk-page-tests-alice", "page-tests-admin-token"


MOCK_NODES = {"node62": (), "node63": ()}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("page-ledger") / "usage.jsonl"


@pytest.fixture(scope="module")
def base_url(routers, mock_nodes: MockNodes, ledger: Path) -> str:
    probes = {"interval": 0.25, "timeout": 0.5, "unhealthy_threshold": 1, "healthy_threshold": 1}
    text = routes_yaml(
        {
            "node62": node_entry(mock_nodes["node62"].url, health=False),
            "node63": node_entry(mock_nodes["node63"].url, health=probes),
        },
        {
            "gemini-2.5-flash": {
                "backends": [{"node": "node62"}],
                "pricing": {"pre_deduct": 1, "prompt_per_1k": 1, "completion_per_1k": 2},
            },
            "side-model": {"backends": [{"node": "node63", "weight": 2}]},
        },
        server={"admin_token": ADMIN},
        # Passive ejection stays off (as in TEST_DEFAULTS); a probed-out node is back soon.
        defaults={"ejection": {"consecutive_failures": 1000, "max_percent": 0, "base_seconds": 1}},
        state={"backend": "memory", "ledger_path": str(ledger)},
        keys=[{"name": "alice", "key": KEY, "credits": 100, "rpm": 600, "max_concurrent": 4}],
        tag="web pages",
    )
    return str(routers.get(text).base_url)


@pytest.fixture(autouse=True)
def fresh_nodes(mock_nodes: MockNodes) -> None:
    mock_nodes.reset()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context, opened, problems = open_page(browser, 1100, 760)
    opened.expected_errors = []  # a test that provokes an HTTP error names it here
    yield opened
    context.close()
    unexpected = [p for p in problems if not any(e in p for e in opened.expected_errors)]
    assert unexpected == [], f"console errors: {unexpected}"


def ledger_charge(ledger: Path, trace_id: str) -> Decimal:
    for line in ledger.read_text().splitlines():
        entry = json.loads(line)
        if entry["request_id"].startswith(trace_id + ":"):
            return Decimal(str(entry["credits"]))
    raise AssertionError(f"no ledger record for {trace_id}")


def account_balance(page: Any, base_url: str) -> Decimal:
    page.goto(base_url + "/account")
    type_secret(page, "#key", KEY)
    page.wait_for_selector("#summary:not([hidden])")
    # The page shows four decimals; the exact balance is in the title.
    return Decimal(page.get_attribute("#balance", "title").split()[0])


def test_playground_streams_reasoning_then_the_answer_and_the_balance_drops_by_the_charge(
    page, base_url, mock_nodes, ledger
):
    before = account_balance(page, base_url)
    mock_nodes["node62"].faults(chunk_delay=0.2)
    page.goto(base_url + "/")
    page.wait_for_selector("#model option[value='gemini-2.5-flash']", state="attached")
    page.fill("#prompt", "hello")
    page.press("#prompt", "Control+Enter")
    seen: list[tuple[str, str]] = []  # (reasoning, answer) as the page showed them
    while not page.locator("#result").inner_text():
        reasoning = page.locator(".reasoning-text").last.inner_text()
        answer = page.locator(".answer").last.inner_text()
        if not seen or seen[-1] != (reasoning, answer):
            seen.append((reasoning, answer))
        page.wait_for_timeout(50)
    answers = [a for _, a in seen if a]
    assert len(set(answers)) >= 3, f"the answer did not grow over several frames: {seen}"
    assert all(a.startswith(b) for a, b in zip(answers[1:], answers, strict=False))
    assert any(r and not a for r, a in seen), "reasoning did not stream before the answer"
    assert "Thinking about the question" in page.locator(".reasoning-text").last.inner_text()
    page.wait_for_selector("#result[data-charged]")
    trace_id = page.evaluate(
        "fetch('/api/v1/account', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('router.key')}}).then(r => r.json())"
        ".then(a => a.recent[0].request_id)"
    )
    charge = ledger_charge(ledger, trace_id)
    assert charge > 0
    assert Decimal(page.get_attribute("#result", "data-charged")) == charge
    after = account_balance(page, base_url)
    assert before - after == charge
    page.wait_for_selector("#recent tr")


def test_stop_cancels_the_nodes_request(page, base_url, mock_nodes):
    mock_nodes["node62"].faults(chunk_delay=0.5)
    page.goto(base_url + "/")
    type_secret(page, "#key", KEY)
    page.wait_for_selector("#model option[value='gemini-2.5-flash']", state="attached")
    page.fill("#prompt", "a long answer please")
    page.click("#send")
    expect(page.locator(".reasoning-text").last).not_to_be_empty()
    page.click("#stop")
    expect(page.locator("#result")).to_contain_text("stopped")
    assert eventually_blocking(lambda: mock_nodes["node62"].stats()["cancelled"] >= 1), mock_nodes[
        "node62"
    ].stats()
    assert page.inner_text("#error") == ""


def test_a_wrong_key_shows_the_routers_401_message(page, base_url):
    page.expected_errors.append("status of 401 (Unauthorized)")  # Chromium logs the fetch
    page.goto(base_url + "/playground")
    # Keys are on, so the model list waits for one rather than showing a 401.
    expect(page.locator("#error")).to_have_text("Type your API key to list the models.")
    type_secret(page, "#key", "sk-not-a-key")
    expect(page.locator("#error")).to_have_text(
        "models: invalid or missing API key (invalid_token, HTTP 401)"
    )
    assert page.locator("#model option").count() == 0
    type_secret(page, "#key", KEY)
    page.wait_for_selector("#model option[value='gemini-2.5-flash']", state="attached")
    assert page.inner_text("#error") == ""
    # A wrong key typed once the list is there keeps the list; the chat call says why.
    type_secret(page, "#key", "sk-not-a-key")
    page.fill("#prompt", "hello")
    page.click("#send")
    expect(page.locator("#error")).to_have_text(
        "invalid or missing API key (invalid_token, HTTP 401)"
    )
    assert page.evaluate("Object.keys(localStorage).length") == 0
    page.fill("#prompt", "again")
    page.click("#copy-curl")
    curl = page.inner_text("#snippet")
    assert "$ROUTER_KEY" in curl and "sk-not-a-key" not in curl and '"again"' in curl
    page.click("#copy-python")
    python = page.inner_text("#snippet")
    assert "from openai import OpenAI" in python and "sk-not-a-key" not in python


def test_status_page_shows_an_ejection_and_drains_a_node(page, base_url, mock_nodes):
    page.goto(base_url + "/status")
    expect(page.locator("#notice")).to_contain_text("admin token")
    type_secret(page, "#token", ADMIN)
    state = page.locator("#nodes tr[data-node='node63'] .state")
    expect(state).to_have_text("healthy")
    mock_nodes["node63"].faults(health_status=500)
    expect(state).to_have_text("ejected", timeout=2000)
    mock_nodes["node63"].faults(reset=True)
    expect(state).to_have_text("healthy")
    page.click("#nodes tr[data-node='node63'] button:text('Drain')")
    expect(state).to_have_text("draining")
    expect(page.locator("#message")).to_have_text("drain node63: draining")
    page.click("#nodes tr[data-node='node63'] button:text('Enable')")
    expect(state).to_have_text("healthy")


def test_status_page_says_a_wrong_token_is_wrong(page, base_url):
    page.expected_errors.append("status of 401 (Unauthorized)")
    page.goto(base_url + "/status")
    type_secret(page, "#token", "not-the-token")
    expect(page.locator("#notice")).to_contain_text("HTTP 401")
    assert page.is_hidden("#nodes-box")


@pytest.mark.parametrize("path", ["/", "/account", "/console", "/status"])
def test_pages_fit_a_360_pixel_screen(browser, base_url, path):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        narrow = context.new_page()
        narrow.goto(base_url + path)
        width = narrow.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide at 360 px"
        narrow.keyboard.press("Tab")
        focused = narrow.evaluate("document.activeElement.tagName")
        assert focused == "A", "the first Tab should reach the navigation"
    finally:
        context.close()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)


def test_an_attached_image_goes_as_a_data_url_with_the_chosen_options(page, base_url, tmp_path):
    image = tmp_path / "dot.png"
    image.write_bytes(PNG)
    page.goto(base_url + "/")
    type_secret(page, "#key", KEY)
    page.wait_for_selector("#model option[value='gemini-2.5-flash']", state="attached")
    page.uncheck("#stream")
    page.select_option("#effort", "low")
    page.check("#thoughts")
    page.set_input_files("#image", str(image))
    expect(page.locator("#image-name")).to_have_text("dot.png")
    page.fill("#prompt", "what is this?")
    with page.expect_request("**/api/v1/chat/completions") as sent:
        page.click("#send")
    body = json.loads(sent.value.post_data)
    text, picture = body["messages"][-1]["content"]
    assert text == {"type": "text", "text": "what is this?"}
    assert picture["image_url"]["url"].startswith("data:image/png;base64,")
    assert (body["stream"], body["reasoning_effort"]) == (False, "low")
    assert body["extra_body"] == {"google": {"thinking_config": {"include_thoughts": True}}}
    expect(page.locator(".answer").last).to_contain_text("Hello from node62")
    expect(page.locator("#result")).to_contain_text("charged")


def test_status_page_without_an_admin_token_says_how_to_enable_it(page, routers, mock_nodes):
    page.expected_errors.append("status of 404 (Not Found)")  # /admin/status does not exist
    text = routes_yaml(
        {"node62": node_entry(mock_nodes["node62"].url)},
        {"gemini-2.5-flash": {"backends": [{"node": "node62"}]}},
        tag="web pages without admin token",
    )
    page.goto(routers.get(text).base_url + "/status")
    type_secret(page, "#token", "anything")
    expect(page.locator("#notice")).to_contain_text("set server.admin_token in routes.yaml")
    assert page.is_hidden("#nodes-box")
