"""The README's links into docs/ lead somewhere, and the README stays a short first read.

MkDocs checks the links between the pages under docs/ (`make docs`, `--strict`), but
it never reads README.md, which GitHub and PyPI show first. Pure: files only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

from tests.support import REPO_ROOT

README = REPO_ROOT / "README.md"
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```")
_HEADING = re.compile(r"^#{1,6} +(.+?)[ \t]*$", re.MULTILINE)


def prose(text: str) -> str:
    """The Markdown outside fenced blocks (a `#` comment in a shell block is no heading)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return "\n".join(kept)


def anchors(page: Path) -> set[str]:
    """The ids MkDocs gives a page's headings (its default `toc` slugs)."""
    titles = _HEADING.findall(prose(page.read_text(encoding="utf-8")))
    return {slugify(re.sub(r"[`*]", "", title), "-") for title in titles}


def local_links(page: Path) -> list[str]:
    """The page's links that point inside the checkout."""
    found = _LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [link for link in found if not re.match(r"[a-z]+:", link)]


def broken(page: Path) -> list[str]:
    """Each local link of `page` whose file, or whose heading, does not exist."""
    problems = []
    for link in local_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.is_file():
            problems.append(f"{link}: no file {path}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{link}: no heading #{anchor} in {path.name}")
    return problems


def test_every_readme_link_leads_to_a_file_and_heading() -> None:
    assert local_links(README), "the README links into docs/"
    assert broken(README) == []


def test_the_readme_links_the_manual() -> None:
    linked = {(README.parent / link.partition("#")[0]).resolve() for link in local_links(README)}
    assert (REPO_ROOT / "docs" / "index.md").resolve() in linked


def test_the_readme_is_a_first_read() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines: move the detail into docs/"


@pytest.mark.parametrize(
    ("markdown", "problems"),
    [
        ("[a](docs/there.md)", []),
        ("[a](docs/there.md#a-heading)", []),
        ("[a](docs/there.md#no-such-heading)", ["docs/there.md#no-such-heading: no heading"]),
        ("[a](docs/gone.md)", ["docs/gone.md: no file"]),
        ("![a](docs/picture.png)", []),
        ("[a](#top-heading)", []),
        ("[a](#missing)", ["#missing: no heading"]),
        ("[a](https://example.invalid/x)", []),
        ("```sh\n# [a](docs/gone.md)\n```", []),
    ],
)
def test_broken_finds_missing_files_and_headings(
    tmp_path: Path, markdown: str, problems: list[str]
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n\n## A `heading`\n", encoding="utf-8")
    (tmp_path / "docs" / "picture.png").write_bytes(b"")
    page = tmp_path / "README.md"
    page.write_text(f"# Top heading\n\n{markdown}\n", encoding="utf-8")
    found = broken(page)
    assert len(found) == len(problems)
    for problem, expected in zip(found, problems, strict=True):
        assert problem.startswith(expected)
