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
)


def plain_words(problem: str | None, context: str | None) -> str:
    """What an operator is told for PyYAML's problem and context."""
    problem, context = problem or "", context or ""
    for rule in RULES:
        if rule.problem in problem and rule.context in context:
            return rule.message
    return f"{problem} ({context})" if context else problem or "not valid YAML"
