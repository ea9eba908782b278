"""PyYAML's syntax errors in plain words, with a hint of what to change.

Pure. PyYAML says what its parser expected ("expected <block end>, but found
'<block mapping start>'"); an operator needs what is wrong with the line and what to do.
Each rule matches PyYAML's problem text (and, where it helps, its context); an error no
rule knows keeps PyYAML's own words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """PyYAML's problem (and context) fragments, and what to tell the operator instead."""

    problem: str
    context: str
    message: str


RULES: tuple[Rule, ...] = (
    Rule(
        "found character '\\t'",
        "",
        "a tab character: YAML indents with spaces only (replace the tab with spaces)",
    ),
    Rule(
        "expected <block end>, but found '<block sequence start>'",
        "",
        "this list item is indented differently from the items before it "
        "(start every '- ' of one list in the same column)",
    ),
    Rule(
        "expected <block end>, but found",
        "",
        "this line is indented differently from the lines before it at its level "
        "(the keys of one mapping start in the same column, and a key's value one "
        "step to the right)",
    ),
    Rule(
        "mapping values are not allowed here",
        "",
        "a ':' where this line cannot have one: the line is indented deeper than the "
        "key above it expects, the key above lacks its ':', or a value holds ': ' "
        "(quote such a value)",
    ),
    Rule(
        "expected ',' or '}'",
        "",
        "a { ... } mapping is not closed with '}', or two of its items lack a ',' "
        "between them (key: value, key: value)",
    ),
    Rule(
        "expected ',' or ']'",
        "",
        "a [ ... ] list is not closed with ']', or two of its items lack a ',' between them",
    ),
    Rule(
        "found unexpected end of stream",
        "quoted scalar",
        "a quoted string is not closed: its closing quote is missing",
    ),
    Rule(
        "found undefined alias",
        "",
        "a *name refers to an anchor &name that is not defined above it",
    ),
    Rule(
        "could not find expected ':'",
        "",
        "a key without its ':' (or a quoted string left open on the line before)",
    ),
    Rule(
        "expected '<document start>'",
        "",
        "this line does not belong to the mapping above it: a stray line, a key without "
        "its ':' before it, or a value that needs quotes",
    ),
    Rule(
        "expected alphabetic or numeric character",
        "an ",
        "a value starting with & or * is read as an anchor or an alias: quote the value",
    ),
    Rule(
        "",
        "block scalar",
        "a value starting with | or > is read as a block of text: quote the value",
    ),
    Rule(
        "",
        "a tag",
        "a value starting with ! is read as a YAML tag: quote the value",
    ),
    Rule(
        "",
        "a directive",
        "a line starting with % is read as a YAML directive: quote the value",
    ),
    Rule(
        "expected the node content",
        "",
        "a value cannot start with ] } or ',': quote it, or close the [ or { it belongs to",
    ),
    Rule(
        "that cannot start any token",
        "",
        "a value starting with this character (` @ % or a tab) must be quoted",
    ),
)

# PyYAML's token names, for an error no rule above words: what an operator would call them.
TOKENS = (
    ("'<block mapping start>'", "a new key"),
    ("'<block sequence start>'", "a list"),
    ("'<block end>'", "the end of a block"),
    ("<block end>", "the end of a block"),
    ("'<stream end>'", "the end of the file"),
    ("'<document start>'", "a new document"),
    ("'<document end>'", "the end of a document"),
    ("'<scalar>'", "a value"),
    ("'<flow mapping start>'", "a '{'"),
    ("'<flow sequence start>'", "a '['"),
    ("'<block mapping end>'", "the end of a mapping"),
)


def plain_words(problem: str | None, context: str | None) -> str:
    """What an operator is told for PyYAML's problem and context."""
    problem, context = problem or "", context or ""
    for rule in RULES:
        if rule.problem in problem and rule.context in context:
            return rule.message
    words = f"{problem} ({context})" if context else problem or "not valid YAML"
    for token, plain in TOKENS:
        words = words.replace(token, plain)
    return words
