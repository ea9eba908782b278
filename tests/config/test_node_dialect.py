"""A node's `dialect:` in routes.yaml (issue 28 item 2): what it speaks, located problems."""

from __future__ import annotations

import pytest

from router.config.loader import parse_config
from router.dialects.names import DialectName
from router.errors import ConfigError
from tests.support.routes import one_node_routes

OPENAI, GEMINI = DialectName.OPENAI, DialectName.GEMINI


@pytest.mark.parametrize(
    ("extra", "speaks"),
    [
        ("", {OPENAI, GEMINI}),  # the default: today's behaviour
        (", dialect: both", {OPENAI, GEMINI}),
        (", dialect: openai", {OPENAI}),
        (", dialect: gemini", {GEMINI}),
        (", dialect: [gemini]", {GEMINI}),
        (", dialect: [openai, gemini]", {OPENAI, GEMINI}),
    ],
)
def test_a_node_speaks_what_its_dialect_names(extra: str, speaks: set[DialectName]) -> None:
    node = parse_config(one_node_routes(extra), environ={}).nodes["a"]
    assert node.speaks == speaks


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", dialect: gemeni", "unknown dialect 'gemeni' (use openai | gemini | anthropic | both)"),
        (", dialect: 3", "unknown dialect '3'"),
        (", dialect: []", "names no dialect"),
        (", dialect: [openai, claude]", "unknown dialect 'claude'"),
        (", dialect: {a: 1}", "unknown dialect"),
    ],
)
def test_a_wrong_dialect_is_named_with_its_path_and_line(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(one_node_routes(extra), environ={})
    (problem,) = info.value.problems
    assert problem.path == "nodes.a.dialect"
    assert problem.line == 3
    assert message in problem.message
