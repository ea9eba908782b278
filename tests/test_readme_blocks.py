"""The README reader of tests/test_readme_examples.py: blocks, fragments, console output.

Pure tables (no process): if the reader misread the README, the examples test could pass
without running what the README shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.readme_blocks import (
    FRAGMENT_MARKER,
    Step,
    blocks,
    console_steps,
    documents,
    merged,
    output_matches,
    rewrite,
    shell_commands,
)

MARKDOWN = f"""\
# One

```sh
make run
```

{FRAGMENT_MARKER}
```yaml
state: {{backend: redis}}
```

```console
$ router keys list
NAME
```

## Two

```console
$ router check routes.yaml
```
"""


def test_documents_are_the_readme_then_every_docs_page(tmp_path: Path) -> None:
    (tmp_path / "docs" / "deeper").mkdir(parents=True)
    for name in ("README.md", "docs/b.md", "docs/a.md", "docs/deeper/c.md", "docs/x.png"):
        (tmp_path / name).write_text("# page\n", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in documents(tmp_path)]
    assert found == ["README.md", "docs/a.md", "docs/b.md", "docs/deeper/c.md"]


def test_blocks_carry_their_fragment_until_the_next_heading(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    found = blocks(path, "docs/one.md")
    assert [(b.line, b.lang) for b in found] == [
        (3, "sh"),
        (8, "yaml"),
        (12, "console"),
        (19, "console"),
    ]
    assert found[0].id == "docs/one.md:3:sh"
    sh, fragment, listing, check = found
    assert fragment.marker == FRAGMENT_MARKER and not fragment.is_full_config
    assert sh.fragment is None and fragment.fragment is None
    assert listing.fragment == "state: {backend: redis}\n"
    assert check.fragment is None  # a new heading ends the fragment's reach


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$ a\nout\n", [Step("a", ("out",))]),
        ("$ a \\\n  b\n$ c\n", [Step("a \\\n  b", ()), Step("c", ())]),
        ("$ a\n\nx\n", [Step("a", ("", "x"))]),
    ],
)
def test_console_steps(text: str, steps: list[Step]) -> None:
    assert console_steps(text) == steps


def test_console_output_before_a_command_is_refused() -> None:
    with pytest.raises(ValueError, match="before any"):
        console_steps("output\n$ a\n")


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (("sk-...",), "sk-abc\n", True),
        (("sk-...",), "pk-abc\n", False),
        (("a", "b"), "a\n", False),
        (("a",), "a\nb\n", False),
        (("a  ...  c",), "a  9999.9  c   \n", True),
        ((), "", True),
        ((), "noise\n", False),
    ],
)
def test_output_matches(expected: tuple[str, ...], actual: str, matches: bool) -> None:
    assert output_matches(expected, actual) is matches


def test_rewrite_moves_addresses_and_makes_curl_fail_on_http_errors() -> None:
    text = "curl -s localhost:8080/x && mycurl y\n"
    assert rewrite(text, {"localhost:8080": "127.0.0.1:5"}) == (
        "curl --fail-with-body -s 127.0.0.1:5/x && mycurl y\n"
    )


def test_merged_lays_mappings_over_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    assert merged(base, {"a": {"c": [2], "e": 3}}) == {"a": {"b": 1, "c": [2], "e": 3}, "d": 2}


def test_shell_commands_join_continuations_and_drop_comments() -> None:
    text = "make run     # comment\n# only a comment\n\ncurl a \\\n  -d b\n"
    assert shell_commands(text) == ["make run", "curl a -d b"]
