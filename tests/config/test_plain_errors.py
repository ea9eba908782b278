"""routes.yaml's problems as `router check` words them (issue 30): a misspelt key gets a
suggestion, a YAML syntax error plain words with its line, and the first problem is the
real one. Pure: parse_config on text, no process."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config.loader import load_sections, parse_config
from router.config.yaml_words import plain_words
from router.errors import ConfigError

GOOD = """\
version: 1
nodes:
  node62:
    url: http://127.0.0.1:9001
  node63:
    url: http://127.0.0.1:9002
models:
  gemini:
    strategy: weighted
    backends: [{node: node62}, {node: node63}]
"""


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ=environ or {})
    return [f"{p.line}|{p.path}|{p.message}" for p in caught.value.problems]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    url: http://127.0.0.1:9001\n",
            "    url: http://127.0.0.1:9001\n    max_inflght: 5\n",
            "5|nodes.node62.max_inflght|unknown key (did you mean max_inflight?)",
        ),
        (
            "    strategy: weighted\n",
            "    strategy: weigthed\n",
            "9|models.gemini.strategy|unknown strategy 'weigthed' (did you mean weighted?) "
            "(use weighted | least_inflight | latency)",
        ),
        (
            "{node: node63}]",
            "{node: node64}]",
            "10|models.gemini.backends[1].node|unknown node 'node64' "
            "(did you mean node62 or node63?)",
        ),
        (
            "    url: http://127.0.0.1:9002\n",
            "    url: http://127.0.0.1:9002\n    timeouts: {frist_byte: 3}\n",
            "7|nodes.node63.timeouts.frist_byte|unknown key (did you mean first_byte?)",
        ),
    ],
)
def test_a_near_miss_is_named(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert problems(GOOD.replace(old, new)) == [expected]


def test_a_misspelt_section_is_the_first_and_only_problem() -> None:
    # Before: "models: at least one model is required" came first, the cause last.
    assert problems(GOOD.replace("models:", "modles:")) == [
        "7|modles|unknown key (did you mean models?)"
    ]


def test_a_misspelt_nodes_section_is_the_only_problem() -> None:
    # Before: six more lines followed it, "unknown node 'node62'" for every backend.
    assert problems(GOOD.replace("nodes:", "node:")) == ["2|node|unknown key (did you mean nodes?)"]


def test_a_misspelt_required_key_is_named_and_not_reported_missing() -> None:
    # Before: "backends: must be a non-empty list of backends" came first, the cause last.
    assert problems(GOOD.replace("    backends:", "    backend:")) == [
        "10|models.gemini.backend|unknown key (did you mean backends?)"
    ]


def test_a_node_needs_its_url() -> None:
    # Before: a node without `url:` was valid, and every request to it failed.
    without = GOOD.replace("    url: http://127.0.0.1:9002\n", "    max_inflight: 4\n")
    assert problems(without) == ["5|nodes.node63.url|is required"]
    misspelt = GOOD.replace("    url: http://127.0.0.1:9002", "    ulr: http://127.0.0.1:9002")
    assert problems(misspelt) == ["6|nodes.node63.ulr|unknown key (did you mean url?)"]
    empty = GOOD.replace("url: http://127.0.0.1:9002", "url: ${NODE63_URL:-}")
    assert problems(empty) == ["6|nodes.node63.url|must be an http:// or https:// URL with a host"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("nodes:\n  a:\n    url: x\n   b: 1\n", 4, "indented differently from the lines before"),
        ("m:\n  l:\n    - {node: a}\n   - {node: b}\n", 4, "list item is indented differently"),
        ("nodes:\n\ta: 1\n", 2, "a tab character"),
        ("server:\n  host: a: b\n", 2, "quote such a value"),
        ("models:\n  m: {backends: [{node: a}]\n", 3, "mapping is not closed"),
        ('server:\n  host: "abc\n', 3, "quoted string is not closed"),
        ("a: *x\n", 1, "anchor &name that is not defined"),
    ],
)
def test_yaml_syntax_errors_in_plain_words(text: str, line: int, words: str) -> None:
    [problem] = problems(text)
    where, path, message = problem.split("|")
    assert (where, path) == (str(line), "")
    assert message.startswith("invalid YAML: ") and words in message, message
    assert "<block" not in message and "expected" not in message


def test_an_unknown_yaml_error_keeps_pyyamls_words() -> None:
    assert plain_words("something new", "while doing x") == "something new (while doing x)"


def test_a_command_that_reads_only_some_sections_ignores_unset_variables_elsewhere(
    tmp_path,
) -> None:
    text = GOOD.replace("version: 1\n", "version: 1\nserver:\n  admin_token: ${UNSET_TOKEN}\n")
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_sections(path, ("state", "keys"), environ={})
    assert config.server.admin_token is None
    keyed = text + "keys:\n  - name: a\n    key: ${UNSET_KEY}\n"
    path.write_text(keyed, encoding="utf-8")
    with pytest.raises(ConfigError, match="UNSET_KEY"):  # one it uses is still needed
        load_sections(path, ("state", "keys"), environ={})


def test_one_wording_for_counts() -> None:
    with pytest.raises(ConfigError) as one:
        parse_config(GOOD.replace("models:", "modles:"), source="r.yaml", environ={})
    assert one.value.headline() == "r.yaml: 1 problem"
    with pytest.raises(ConfigError) as two:
        parse_config(GOOD.replace("node62}", "node9}").replace("weighted", "w"), environ={})
    assert two.value.headline() == "routes.yaml: 2 problems"


def test_every_section_the_loader_reads_is_a_known_top_level_key() -> None:
    # A section read but missing from TOP_LEVEL_KEYS would be refused as unknown.
    import inspect
    import re

    from router.config import loader

    source = inspect.getsource(loader)
    read = set(re.findall(r'top\.(?:section|raw_value|at|integer|string)\("([a-z_]+)"', source))
    assert read and read <= set(loader.TOP_LEVEL_KEYS), read - set(loader.TOP_LEVEL_KEYS)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab: -[]{}\"'\t\n#&*!|>,%@`?")), max_size=80))
def test_any_broken_yaml_is_a_located_problem_in_words(text: str) -> None:
    try:
        parse_config(text, environ={})
    except ConfigError as exc:
        for problem in exc.problems:
            words = problem.message.replace("<<", "")
            assert words and "<" not in words and "expected" not in words, problem
