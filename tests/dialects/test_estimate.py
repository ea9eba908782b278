"""router.dialects.estimate: the token estimates of output text a node did not count."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.dialects.estimate import output_tokens, text_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 0),
        ("Hello", 5),
        ("你好世界", 16),  # a CJK character is about a token: four Latin letters' worth
        ("こんにちは", 20),
        ("안녕", 8),
        ("Привет", 15),  # two-byte letters: 2.5 each
        ("naïve", 6),  # one two-byte letter among ASCII ones
        ("😀", 5),  # four UTF-8 bytes, one character
        ("\ud800", 4),  # a lone surrogate (from JSON's \\ud800) is counted, not an error
    ],
)
def test_text_size_of_each_script(text: str, size: int) -> None:
    assert text_size(text) == size


def test_a_stopped_chinese_answer_is_estimated_a_token_a_character() -> None:
    """A 100-character Chinese answer is about 100 tokens, not the 25 that 4 characters a
    token gave (what the client of a stopped Chinese answer was charged before)."""
    assert output_tokens(text_size("中" * 100)) == 100
    assert output_tokens(text_size("a" * 100)) == 25


@given(st.text(), st.text())
def test_text_size_adds_up_and_never_counts_less_than_characters(a: str, b: str) -> None:
    assert text_size(a) >= len(a)
    assert abs(text_size(a + b) - (text_size(a) + text_size(b))) <= 1  # halves round down
