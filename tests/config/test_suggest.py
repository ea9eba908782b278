"""Near-miss suggestions (router.config.suggest): a table of words and what they suggest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config.suggest import closest, did_you_mean


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("max_inflght", ("url", "api_key", "max_inflight"), ("max_inflight",)),
        ("modles", ("version", "nodes", "models"), ("models",)),
        ("weigthed", ("weighted", "least_inflight", "latency"), ("weighted",)),
        ("Max-Inflight", ("max_inflight", "url"), ("max_inflight",)),
        ("node6", ("node62", "node63", "other"), ("node62", "node63")),  # a tie: both
        # One swap, one letter more, less or changed: close however short the word.
        ("ulr", ("url", "api_key", "max_inflight"), ("url",)),
        ("rmp", ("rpm", "tpm", "models"), ("rpm",)),
        ("tmp", ("rpm", "tpm", "models"), ("tpm",)),
        ("nodse", ("nodes", "models", "keys"), ("nodes",)),
        ("ab", ("url", "rpm"), ()),  # two letters: too short to guess from
        ("colour", ("url", "api_key", "max_inflight"), ()),  # nothing close: no guess
        ("", ("models",), ()),
        ("models", ("models",), ()),  # the word itself is no suggestion
    ],
)
def test_closest(word: str, choices: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert closest(word, choices) == expected


def test_did_you_mean_wording() -> None:
    assert did_you_mean("prot", ("host", "port")) == " (did you mean port?)"
    assert did_you_mean("node6", ("node62", "node63")) == " (did you mean node62 or node63?)"
    assert did_you_mean("zzz", ("port",)) == ""


@settings(max_examples=300, deadline=None)
@given(word=st.text(max_size=40), choices=st.lists(st.text(max_size=40), max_size=12))
def test_any_word_gets_a_known_choice_or_nothing(word: str, choices: list[str]) -> None:
    found = closest(word, choices)
    assert set(found) <= set(choices) and word not in found and len(found) <= 3
