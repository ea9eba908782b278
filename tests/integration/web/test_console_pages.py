"""The admin console, the playground and every page on a desktop and a phone (issue 30).

Real Chromium (Debian's) at 1280x800 and 390x844 against a real router and mock nodes:
an operator logs in with the admin token, creates a key, uses it in the playground, tops
it up, disables it (the next request gets 401) and exports the ledger as CSV whose sum
is the balance change; an answer's Markdown is rendered and its `<script>` shown as
text; a stopped answer's cost is shown; the snippets run; the history matches the
screen; no page overflows sideways or puts an action off-screen at 390 px. The tests
take the screenshots of every page at both sizes (docs/screenshots/ with
UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support import REPO_ROOT, MockNodes, http_request, node_entry, routes_yaml
from tests.support.browser import (
    DESKTOP,
    PHONE,
    open_page,
    overflow,
    playwright,
    shoot,
    type_secret,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

expect = playwright().expect
ADMIN, STATIC_KEY = "console-tests-admin-token", "sk-console-tests-static"
FLASH, MARKDOWN = "gemini-2.5-flash", "gemini-markdown"
PROMPT_PER_1K, COMPLETION_PER_1K = Decimal(1), Decimal(2)
ANSWER = (
    "Here is **code**:\n\n```python\nprint('hi')\n```\n\n"
    '<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> '
    "[a link](javascript:window.pwned=3) and [a real one](https://example.invalid/x)\n\n"
    "- one\n- two"
)
SIZES = [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="390x844")]
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)


MOCK_NODES = {"node62": (), "node64": ("--answer", ANSWER, "--chunks", "4")}


@pytest.fixture(scope="module")
def base_url(routers, mock_nodes: MockNodes) -> str:
    pricing = {"prompt_per_1k": 1, "completion_per_1k": 2}
    text = routes_yaml(
        {
            "node62": node_entry(mock_nodes["node62"].url),
            "node64": node_entry(mock_nodes["node64"].url),
        },
        {
            FLASH: {"backends": [{"node": "node62"}], "pricing": pricing},
            MARKDOWN: {"backends": [{"node": "node64"}], "pricing": pricing},
        },
        server={"admin_token": ADMIN},
        keys=[{"name": "static", "key": STATIC_KEY, "credits": 1000}],
        tag="console pages",
    )
    return str(routers.get(text).base_url)


class Opened:
    """A page at one size, failing the test on a console error it did not expect."""

    def __init__(self, browser: Any, size: tuple[int, int], base_url: str, **options: Any):
        self.context, self.page, self.problems = open_page(browser, *size, **options)
        self.width = size[0]
        self.base_url = base_url
        self.expected: list[str] = []

    def goto(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        return self.page

    def close(self) -> None:
        self.context.close()
        unexpected = [p for p in self.problems if not any(e in p for e in self.expected)]
        assert unexpected == [], f"console errors: {unexpected}"

    @property
    def phone(self) -> bool:
        return self.width < 700

    def settings(self) -> None:
        """The playground's settings fold away on a phone: open them."""
        if self.page.locator("#settings").get_attribute("open") is None:
            self.page.click("#settings summary")

    def fits(self, where: str) -> None:
        found = overflow(self.page)
        assert found["scroll"] <= found["width"], f"{where}: {found}"
        assert found["outside"] == [], f"{where}: off-screen: {found['outside']}"


@pytest.fixture
def opened(request: pytest.FixtureRequest, browser: Any, base_url: str) -> Iterator[Opened]:
    size = getattr(request, "param", DESKTOP)
    page = Opened(browser, size, base_url, accept_downloads=True)
    yield page
    page.close()


def chat(base_url: str, key: str, model: str = FLASH) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}
    status, _, raw = http_request(
        "POST", base_url + "/v1/chat/completions", orjson.dumps(body), headers
    )
    return status, orjson.loads(raw)


def exact(page: Any, selector: str) -> Decimal:
    """A credits figure as the page holds it exactly (the text shows four decimals)."""
    return Decimal(page.get_attribute(selector, "title").split()[0])


def send(page: Any, text: str, model: str = FLASH) -> None:
    page.wait_for_selector(f"#model option[value='{model}']", state="attached")
    if page.input_value("#model") != model:
        page.select_option("#model", model)
    page.fill("#prompt", text)
    page.click("#send")


@pytest.mark.parametrize("opened", SIZES, indirect=True)
def test_an_operator_makes_a_key_uses_tops_up_disables_and_exports_it(opened: Opened):
    page, name = opened.goto("/console"), f"team-{opened.width}"
    expect(page.locator("#notice")).to_contain_text("admin token")
    type_secret(page, "#token", ADMIN)
    expect(page.locator("#keys tr[data-key='static']")).to_be_visible()
    page.click("#create-box summary")
    page.fill("#new-name", name)
    page.fill("#new-credits", "10")
    page.fill("#new-rpm", "600")
    page.fill("#new-models", "gemini-*")
    page.click("#create")
    expect(page.locator("#created")).to_be_visible()
    key = page.inner_text("#created-key")
    assert key.startswith("sk-")
    assert page.inner_text("#created-entry").startswith(f"- {{name: {name}, hash: ")
    expect(page.locator(f"#keys tr[data-key='{name}']")).to_contain_text("600 rpm")
    opened.fits("console with a new key")

    page = opened.goto("/")  # the key in the playground
    if opened.phone:
        opened.settings()
    type_secret(page, "#key", key)
    send(page, "hello")
    page.wait_for_selector("#result[data-charged]")
    charged = Decimal(page.get_attribute("#result", "data-charged"))
    assert charged > 0 and "charged" in page.inner_text("#result")

    page = opened.goto("/console")  # the token was kept for the tab: not asked again
    row = page.locator(f"#keys tr[data-key='{name}']")
    expect(row).to_be_visible()
    balance = exact(page, f"#keys tr[data-key='{name}'] td[data-label='balance']")
    assert balance == Decimal(10) - charged
    row.locator("input.amount").fill("2.5")
    row.locator("button[data-action='top-up']").click()
    expect(page.locator("#key-message")).to_have_text(f"topped up {name} by 2.5")
    topped = exact(page, f"#keys tr[data-key='{name}'] td[data-label='balance']")
    assert topped == balance + Decimal("2.5")

    page.locator(f"#keys tr[data-key='{name}'] button[data-action='disable']").click()
    expect(page.locator("#key-message")).to_have_text(f"disabled {name}")
    status, refused = chat(opened.base_url, key)
    assert (status, refused["error"]["code"]) == (401, "key_disabled")

    page.select_option("#f-key", name)
    expect(page.locator("#page")).to_have_text("1-1 of 1")
    expect(page.locator("#totals")).to_contain_text("1 request · ")
    with page.expect_download() as download:
        page.click("#export")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["key"] for r in rows] == [name]
    spent = sum(Decimal(r["credits"]) for r in rows)
    assert spent == Decimal(10) + Decimal("2.5") - topped  # the CSV is the balance change
    opened.fits("console after the export")
    page.select_option("#f-key", "")
    shoot(page, f"console-{opened.width}")


def test_an_action_is_reported_done_once_the_list_shows_it(opened: Opened):
    page = opened.goto("/console")
    type_secret(page, "#token", ADMIN)
    row = page.locator("#keys tr[data-key='static']")
    expect(row).to_be_visible()
    before = exact(page, "#keys tr[data-key='static'] td[data-label='balance']")
    held: list[Any] = []  # the listing the page reads after the top-up, answered later

    def hold(route: Any) -> None:
        if route.request.method == "GET":
            held.append(route)
        else:
            route.continue_()

    page.route("**/admin/keys", hold)
    row.locator("input.amount").fill("1")
    row.locator("button[data-action='top-up']").click()
    while not held:
        page.wait_for_timeout(50)
    # The top-up is made but the list still shows the old balance: not "done" yet.
    assert page.inner_text("#key-message") == ""
    held[0].continue_()
    page.unroute("**/admin/keys")
    expect(page.locator("#key-message")).to_have_text("topped up static by 1")
    after = exact(page, "#keys tr[data-key='static'] td[data-label='balance']")
    assert after == before + 1


def test_on_an_open_router_the_console_says_a_first_key_turns_auth_on(
    browser: Any, routers, mock_nodes: MockNodes
):
    text = routes_yaml(
        {"node62": node_entry(mock_nodes["node62"].url)},
        {FLASH: {"backends": [{"node": "node62"}]}},
        server={"admin_token": ADMIN},
        tag="console on an open router",
    )
    opened = Opened(browser, DESKTOP, str(routers.get(text).base_url))
    try:
        page = opened.goto("/console")
        type_secret(page, "#token", ADMIN)
        auth = page.locator("#auth-off")
        expect(auth).to_be_visible()  # before the first key, not after: it is news then
        expect(auth).to_contain_text("turns auth on")
        page.click("#create-box summary")
        page.fill("#new-name", "first")
        page.click("#create")
        expect(page.locator("#created")).to_be_visible()
        expect(auth).to_be_hidden()
        status, refused = chat(opened.base_url, "anything")
        assert (status, refused["error"]["code"]) == (401, "invalid_token")
    finally:
        opened.close()


@pytest.mark.parametrize("opened", [pytest.param(PHONE, id="390x844")], indirect=True)
def test_on_a_phone_the_playground_shows_the_key_field_it_asks_for(opened: Opened):
    opened.expected.append("status of 401")
    page = opened.goto("/")  # keys are on: the page asks for a key before listing models
    expect(page.locator("#error")).to_contain_text("API key")
    expect(page.locator("#key")).to_be_visible()
    type_secret(page, "#key", "sk-not-a-key")
    expect(page.locator("#error")).to_contain_text("HTTP 401")
    page.reload()  # the settings fold away again, the wrong key is still the tab's
    expect(page.locator("#error")).to_contain_text("HTTP 401")
    expect(page.locator("#key")).to_be_visible()


@pytest.mark.parametrize("opened", SIZES, indirect=True)
def test_markdown_is_rendered_and_html_in_an_answer_is_only_text(opened: Opened):
    page = opened.goto("/")
    type_secret(page, "#key", STATIC_KEY)
    send(page, "show me markdown", MARKDOWN)
    answer = page.locator(".answer").last
    expect(answer.locator("pre.code code")).to_have_text("print('hi')")
    expect(answer.locator("strong")).to_have_text("code")
    expect(answer.locator("li")).to_have_count(2)
    page.wait_for_selector("#result[data-charged]")
    shown = answer.inner_text()
    assert "<script>window.pwned = 1</script>" in shown
    assert '<img src=x onerror="window.pwned = 2">' in shown
    assert answer.locator("script, img, iframe").count() == 0
    links = answer.locator("a")
    assert links.count() == 1 and links.get_attribute("href") == "https://example.invalid/x"
    assert links.get_attribute("rel") == "noopener noreferrer nofollow"
    assert "[a link](javascript:window.pwned=3)" in shown
    assert page.evaluate("window.pwned") is None


@pytest.mark.parametrize("opened", SIZES, indirect=True)
def test_a_stopped_answer_shows_its_cost(opened: Opened, mock_nodes: MockNodes):
    mock_nodes["node62"].faults(chunk_delay=0.4)
    page = opened.goto("/")
    type_secret(page, "#key", STATIC_KEY)
    send(page, "a long answer please")
    expect(page.locator(".answer").last).to_contain_text("Part 2")
    page.click("#stop")
    page.wait_for_selector("#result[data-charged]")
    result = page.inner_text("#result")
    assert result.startswith("stopped after ") and " · charged " in result
    assert page.locator(".msg.assistant.stopped").count() == 1


def test_stop_costs_at_most_what_the_received_text_is_worth(opened: Opened, mock_nodes: MockNodes):
    mock_nodes["node62"].faults(chunk_delay=0.4)
    page = opened.goto("/")
    type_secret(page, "#key", STATIC_KEY)
    with page.expect_request("**/api/v1/chat/completions") as sent:
        send(page, "a long answer please")
    expect(page.locator(".answer").last).to_contain_text("Part 2")
    page.click("#stop")
    page.wait_for_selector("#result[data-charged]")
    received = page.locator(".answer").last.inner_text()
    received += page.locator(".reasoning-text").last.inner_text()
    body_bytes = len(sent.value.post_data.encode())
    # What the received text is worth at the documented estimator (a token per 4 bytes of
    # request body, 4 characters of output), with a token of slack each way.
    prompt_tokens = body_bytes // 4 + 1
    output_tokens = len(received) // 4 + 1
    worth = (prompt_tokens * PROMPT_PER_1K + output_tokens * COMPLETION_PER_1K) / 1000
    charged = Decimal(page.get_attribute("#result", "data-charged"))
    assert 0 < charged <= worth, (charged, worth, received)


def test_history_matches_the_screen_after_a_failure(opened: Opened, mock_nodes: MockNodes):
    opened.expected.append("status of 502")
    page = opened.goto("/")
    type_secret(page, "#key", STATIC_KEY)
    page.fill("#system", "Be brief.")
    send(page, "first")
    page.wait_for_selector("#result[data-charged]")
    mock_nodes["node62"].faults(status=500)
    send(page, "this one fails")
    expect(page.locator("#error")).to_contain_text("HTTP 502")
    assert page.input_value("#prompt") == "this one fails"  # back in the input to retry
    assert page.locator(".msg").count() == 2  # the failed turn left the screen
    mock_nodes["node62"].faults(reset=True)
    with page.expect_request("**/api/v1/chat/completions") as again:
        page.click("#send")
    messages = json.loads(again.value.post_data)["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Be brief." and messages[3]["content"] == "this one fails"
    page.wait_for_selector("#result[data-charged]")
    assert page.locator(".msg").count() == 4


def node_sdk_dir() -> Path | None:
    modules = REPO_ROOT / "tests" / "node" / "node_modules"
    return modules if (modules / "openai").exists() and shutil.which("node") else None


def test_the_snippets_run(opened: Opened, tmp_path: Path):
    page = opened.goto("/")
    type_secret(page, "#key", STATIC_KEY)
    page.wait_for_selector(f"#model option[value='{FLASH}']", state="attached")
    image = tmp_path / "dot.png"
    image.write_bytes(PNG * 40)  # long enough to be cut
    page.set_input_files("#image", str(image))
    expect(page.locator("#thumb")).to_be_visible()
    page.fill("#max-tokens", "77")
    page.fill("#prompt", 'is it true, false or null? say "yes"')
    snippets = {}
    for button in ("curl", "python", "js"):
        page.click(f"#copy-{button}")
        snippets[button] = page.inner_text("#snippet")
    for text in snippets.values():
        assert STATIC_KEY not in text and "ROUTER_KEY" in text
        assert "characters cut]" in text  # the base64 image, shortened and marked
        assert "77" in text
    assert '"is it true, false or null? say \\"yes\\""' in snippets["python"]
    assert "True" in snippets["python"]  # include_usage: a Python literal, not JSON's true
    env = {**os.environ, "ROUTER_KEY": STATIC_KEY}
    runs = {
        "curl": [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            snippets["curl"].replace("curl ", "curl -f ", 1),
        ],
        "python": [sys.executable, "-W", "error", "-c", snippets["python"]],
    }
    modules = node_sdk_dir()
    if modules is not None:
        script = tmp_path / "snippet.mjs"
        script.write_text(snippets["js"], encoding="utf-8")
        (tmp_path / "node_modules").symlink_to(modules)
        runs["js"] = ["node", str(script)]
    for name, command in runs.items():
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        assert "Part 2" in done.stdout or "Part 2" in done.stdout.replace("\\", ""), (name, done)
    if modules is None:
        pytest.skip("the JavaScript snippet needs node and tests/node's openai (make node-sdks)")


@pytest.mark.parametrize("opened", SIZES, indirect=True)
def test_every_page_fits_and_the_input_stays_in_view(opened: Opened):
    page = opened.goto("/")
    opened.settings()
    type_secret(page, "#key", STATIC_KEY)
    page.wait_for_selector(f"#model option[value='{FLASH}']", state="attached")
    if opened.phone:
        page.click("#settings summary")  # folded again: the conversation gets the room
    for turn in range(6):
        send(page, f"turn {turn}: " + "a long line of text " * 8)
        page.wait_for_selector("#result[data-charged]")
    height = page.viewport_size["height"]
    for selector in ("#prompt", "#send", "#result"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height + 1, (
            selector,
            box,
        )
    opened.fits("playground")
    shoot(page, f"playground-{opened.width}", full_page=False)  # as a person sees it
    # One count of the same answer everywhere: the stream's usage, the ledger, the account.
    streamed = page.inner_text("#result").split(" tokens · ")[0]
    ledger = page.locator(".msg.assistant .meta").last.inner_text().split(" tokens · ")[0]
    assert streamed == ledger and streamed.startswith("prompt "), (streamed, ledger)
    page = opened.goto("/account")
    page.wait_for_selector("#recent tr")
    assert page.inner_text("#recent tr:first-child td[data-label='tokens']") == ledger
    page.select_option("#f-model", FLASH)
    listed = int(page.inner_text("#page").rsplit(" of ", 1)[1])
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == listed and {r["model"] for r in rows} == {FLASH}
    expect(page.locator("#day-tokens")).to_contain_text("prompt ")
    expect(page.locator("#day-tokens")).to_contain_text("answer ")
    opened.fits("account")
    shoot(page, f"account-{opened.width}")
    page = opened.goto("/status")
    type_secret(page, "#token", ADMIN)
    expect(page.locator("#nodes tr[data-node='node62'] .state")).to_have_text("healthy")
    expect(page.locator("#legend li").first).to_be_visible()
    opened.fits("status")
    shoot(page, f"status-{opened.width}")
    page = opened.goto("/console")  # the token typed on the status page serves here too
    expect(page.locator("#keys tr[data-key='static']")).to_be_visible()
    opened.fits("console")
