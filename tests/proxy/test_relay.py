"""router.proxy.relay: what one answer's copying sets up, without an event loop."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from router.dialects.names import DialectName
from router.dialects.openai.request import OpenAITarget, parse_openai
from router.dialects.registry import codec
from router.dialects.target import Target
from router.observability.exchange import Exchange
from router.proxy.relay import _Copy

OPENAI = codec(DialectName.OPENAI)


class _Answer:
    """The parts of an UpstreamResponse the copying reads before the first chunk."""

    def __init__(self, coding: str | None = None) -> None:
        headers = CIMultiDict({"Content-Type": "text/event-stream"})
        if coding is not None:
            headers["Content-Encoding"] = coding
        self.headers = CIMultiDictProxy(headers)


def _copy(strip_usage: bool, *, coding: str | None = None, stream: bool = True) -> _Copy:
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    request = OpenAITarget(raw, parse_openai(raw), strip_usage=strip_usage)
    target = Target(request, OPENAI, OPENAI)
    exchange = Exchange("r", "POST", "/v1/chat/completions", None, 0.0)
    open_stream: Any = object() if stream else None
    return _Copy.of(None, exchange, _Answer(coding), target, open_stream)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("strip_usage", "coding", "stream", "filters"),
    [
        (False, None, True, False),  # the client asked for usage, or the router did not
        (True, None, True, True),  # the router asked for it: that chunk is taken out
        (True, "gzip", True, False),  # compressed bytes cannot be filtered: passed whole
        (True, None, False, False),  # not a stream
    ],
)
def test_a_usage_filter_only_when_a_usage_chunk_is_to_be_taken_out(
    strip_usage: bool, coding: str | None, stream: bool, filters: bool
) -> None:
    """A relayed stream without usage injected makes no strip pass per chunk (issue 32)."""
    assert (_copy(strip_usage, coding=coding, stream=stream).usage_filter is not None) is filters


def test_the_copying_holds_no_dict_of_attributes() -> None:
    assert _Copy.__dictoffset__ == 0
