"""The playground's Markdown renderer (router/web/ui/markdown.js) in Chromium: a table of
cases, and hypothesis-made answers that never yield an element or attribute outside the
renderer's fixed set and never lose a `<` (so no HTML can ever be made of one).

The module is loaded from a real router, as the playground loads it; the renderer runs
on the page, under the pages' Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import closed_port_url, node_entry, routes_yaml
from tests.support.browser import open_page

pytestmark = pytest.mark.integration

TAGS = {
    "p",
    "br",
    "h3",
    "h4",
    "h5",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "code",
    "strong",
    "em",
    "a",
    "hr",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ATTRIBUTES = {"class", "href", "target", "rel", "data-language", "start"}
RENDER = """async (texts) => {
  const { renderMarkdown } = await import('/ui/markdown.js');
  return texts.map((text) => {
    const box = document.createElement('div');
    box.append(renderMarkdown(text));
    const elements = [...box.querySelectorAll('*')];
    return {
      html: box.innerHTML,
      text: box.textContent,
      tags: elements.map((e) => e.tagName.toLowerCase()),
      attributes: elements.flatMap((e) => [...e.attributes].map((a) => [a.name, a.value])),
    };
  });
}"""


@pytest.fixture(scope="module")
def page(browser: Any, routers) -> Iterator[Any]:
    text = routes_yaml(
        {"n": node_entry(closed_port_url())},
        {"m": {"backends": [{"node": "n"}]}},
        tag="markdown renderer",
    )
    context, opened, problems = open_page(browser, 800, 600)
    opened.goto(routers.get(text).base_url + "/")
    yield opened
    context.close()
    assert [p for p in problems if "Failed to load resource" not in p] == []


def render(page: Any, *texts: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(RENDER, list(texts))
    return result


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("plain", "<p>plain</p>"),
        ("**b** and *i* and `c`", "<p><strong>b</strong> and <em>i</em> and <code>c</code></p>"),
        (
            "```py\nx = '<b>'\n```",
            '<pre class="code" data-language="py"><code data-language="py">'
            "x = '&lt;b&gt;'</code></pre>",
        ),
        ("```\nunclosed", '<pre class="code"><code>unclosed</code></pre>'),  # mid-stream
        ("# Title", "<h3>Title</h3>"),
        ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
        ("3. c\n4. d", '<ol start="3"><li>c</li><li>d</li></ol>'),
        ("> quoted", "<blockquote><p>quoted</p></blockquote>"),
        ("a\nb", "<p>a<br>b</p>"),
        ("---", "<hr>"),
        (
            "[x](https://example.invalid/a?b=1)",
            '<p><a href="https://example.invalid/a?b=1" target="_blank" '
            'rel="noopener noreferrer nofollow">x</a></p>',
        ),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
        ("[x](/relative)", "<p>[x](/relative)</p>"),
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ('<img src=x onerror="alert(1)">', '<p>&lt;img src=x onerror="alert(1)"&gt;</p>'),
        ("**<b>bold</b>**", "<p><strong>&lt;b&gt;bold&lt;/b&gt;</strong></p>"),
        (
            "| a | b |\n| --- | --- |\n| 1 | 2 |",
            '<div class="scroll"><table><thead><tr><th>a</th><th>b</th></tr></thead>'
            "<tbody><tr><td>1</td><td>2</td></tr></tbody></table></div>",
        ),
        ("snake_case_name and 2*3*4", "<p>snake_case_name and 2*3*4</p>"),
    ],
)
def test_markdown_cases(page: Any, markdown: str, html: str) -> None:
    [done] = render(page, markdown)
    assert done["html"] == html


MARKUP = st.text(alphabet=st.sampled_from(list("<>&\"'`*_[]()#-|:/\n ab=x1.")), max_size=120)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(MARKUP, min_size=1, max_size=8))
def test_no_answer_makes_an_element_or_attribute_of_its_own(page: Any, texts: list[str]) -> None:
    for text, done in zip(texts, render(page, *texts), strict=True):
        assert set(done["tags"]) <= TAGS, (text, done["html"])
        names = {name for name, _ in done["attributes"]}
        assert names <= ATTRIBUTES, (text, done["html"])
        for name, value in done["attributes"]:
            if name == "href":
                assert value.startswith(("http://", "https://")), (text, value)
        assert done["text"].count("<") == text.count("<"), (text, done["html"])
        assert done["text"].count("&") == text.count("&"), (text, done["html"])
