"""The manual's examples run in a reader's terminal as they run in the test.

The examples test (tests/integration/docs) puts the checkout's `router` on PATH and sets
ROUTER_ADMIN_TOKEN; a reader's second terminal has neither until told. So a page whose
examples call `router` or read `$ROUTER_ADMIN_TOKEN` links to the section of Getting
started that sets them up, that section names the virtualenv and the token `make run`
really uses, and the SDK quick start says how to install the SDKs (`make run` installs
only the router's own packages). Pure: files only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tests.support.readme_blocks import blocks, documents
from tests.test_docs_links import anchors, local_links

SETUP_PAGE, SETUP_ANCHOR = "getting-started.md", "your-terminal"
RUN = frozenset({"sh", "bash", "console", "python"})
_ROUTER_COMMAND = re.compile(r"(?m)(?:^|^\$ |[;&|(]\s*)router (?:check|keys|usage|mock-node|serve)")


def needs(page: Path) -> set[str]:
    """What the page's runnable examples take from the reader's shell."""
    found: set[str] = set()
    for block in blocks(page, page.name):
        if block.lang not in RUN:
            continue
        if _ROUTER_COMMAND.search(block.text):
            found.add("the router command")
        if "ROUTER_ADMIN_TOKEN" in block.text:
            found.add("ROUTER_ADMIN_TOKEN")
    return found


PAGES = [p for p in documents(REPO_ROOT) if needs(p) and p.name != SETUP_PAGE]


def test_the_rule_sees_the_pages_that_need_a_set_up_shell() -> None:
    names = {p.name for p in PAGES}
    assert {"add-a-node.md", "admin-api.md", "cli.md"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_whose_examples_need_the_shell_links_to_its_set_up(page: Path) -> None:
    targets = {link.split("/")[-1] for link in local_links(page)}
    wanted = f"{SETUP_PAGE}#{SETUP_ANCHOR}"
    assert wanted in targets, f"{page.name} uses {sorted(needs(page))}: link to {wanted}"


def test_the_set_up_names_the_virtualenv_and_the_demo_token() -> None:
    page = REPO_ROOT / "docs" / SETUP_PAGE
    assert SETUP_ANCHOR in anchors(page)
    section = page.read_text(encoding="utf-8").split("## Your terminal", 1)[1].split("\n## ")[0]
    demo = (REPO_ROOT / ".ci" / "demo.sh").read_text(encoding="utf-8")
    token = re.search(r"ROUTER_ADMIN_TOKEN:-([^}\"]+)\}", demo)
    assert token is not None
    assert ". .venv/bin/activate" in section
    assert f"export ROUTER_ADMIN_TOKEN={token.group(1)}" in section


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_sdk_quick_start_says_how_to_install_the_sdks(page: str) -> None:
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    first_sdk = text.index("from openai import OpenAI")
    assert "pip install openai google-genai" in text[:first_sdk]
