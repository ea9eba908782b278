"""Issue 18 items 1-3, the pure parts: reading Retry-After, the wait before a same-node
retry, `retry_same_node` / `retry_wait` / `fallbacks_on` in routes.yaml, and the error
codes of a node's error body. No event loop."""

from __future__ import annotations

import email.utils
import random
import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.config.loader import parse_config
from router.config.model import RetryWait, SameNodeRetry
from router.errors import ConfigError, FailureReason
from router.routing.same_node import parse_retry_after, retry_delay
from router.upstream.reasons import error_codes
from router.upstream.request import retry_after

NOW = 1_800_000_000.0

# --- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        ("0", 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # a date in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
        # asctime, one of HTTP's three date forms: no zone, and HTTP dates are in GMT
        (time.asctime(time.gmtime(NOW + 30)), 30.0),
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@given(st.text(max_size=60))
def test_any_retry_after_is_seconds_or_none(value: str) -> None:
    parsed = parse_retry_after(value, NOW)
    assert parsed is None or parsed >= 0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after({"retry-after-ms": "1500", "Retry-After": "2"}) == "1.5"
    assert retry_after({"retry-after-ms": "junk", "Retry-After": "2"}) == "2"
    assert retry_after({"retry-after-ms": "-5", "Retry-After": "3"}) == "3"
    assert retry_after({}) is None


# --- the wait -------------------------------------------------------------------------------


def test_a_retry_after_is_waited_for_never_less_and_little_more() -> None:
    rng = random.Random(1)
    waits = [retry_delay(RetryWait(), 2.0, 0, rng) for _ in range(200)]
    assert all(w is not None and 2.0 <= w <= 2.2 for w in waits)
    assert len({round(w or 0, 4) for w in waits}) > 50  # jittered, not all the same


def test_a_retry_after_beyond_the_maximum_is_not_waited_for() -> None:
    assert retry_delay(RetryWait(max=10), 10.5, 0, random.Random(1)) is None
    assert retry_delay(RetryWait(max=10), 10.0, 0, random.Random(1)) is not None


@pytest.mark.parametrize("retried", [0, 1, 2, 3])
def test_backoff_doubles_with_jitter_and_is_capped(retried: int) -> None:
    rng = random.Random(retried)
    wait = RetryWait(base=0.5, max=3.0)
    expected = 0.5 * 2**retried
    for _ in range(100):
        delay = retry_delay(wait, None, retried, rng)
        assert delay is not None
        assert min(0.75 * expected, 3.0) <= delay <= min(1.25 * expected, 3.0)


@given(st.integers(min_value=0, max_value=10**6), st.floats(min_value=0.001, max_value=60))
def test_backoff_never_overflows_however_many_retries(retried: int, base: float) -> None:
    delay = retry_delay(RetryWait(base=base, max=10.0), None, retried, random.Random(retried))
    assert delay is not None and 0 < delay <= 10.0


def test_same_node_retry_counts_by_kind() -> None:
    default = SameNodeRetry()
    assert default.times(FailureReason.STATUS_5XX) == 1
    assert default.times(FailureReason.RESET) == 1
    assert default.times(FailureReason.CONNECT) == 1
    assert default.times(FailureReason.STATUS_429) == 1
    assert default.times(FailureReason.TIMEOUT) == 0
    assert default.times(FailureReason.STATUS_4XX) == 0  # never: the node said no
    assert default.times(FailureReason.MIDSTREAM) == 0
    assert SameNodeRetry.uniform(3).times(FailureReason.TIMEOUT) == 0


# --- routes.yaml ----------------------------------------------------------------------------

BASE = """\
version: 1
defaults:
  {defaults}
nodes:
  a: {{url: http://127.0.0.1:9001, {node}}}
models:
  small:
    backends: [{{node: a}}]
    {model}
  large:
    backends: [{{node: a}}]
"""


def _config(defaults: str = "retries: 2", node: str = "max_inflight: 5", model: str = ""):
    text = BASE.format(defaults=defaults, node=node, model=model)
    return parse_config(textwrap.dedent(text), environ={})


def _problems(**parts: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _config(**parts)
    return [f"{p.line}|{p.path}|{p.message}" for p in info.value.problems]


def test_defaults_are_one_same_node_retry_but_none_after_a_timeout() -> None:
    node = _config().nodes["a"]
    assert node.retry_same_node == SameNodeRetry()
    assert node.retry_wait == RetryWait(base=0.5, max=10.0)


def test_an_integer_sets_every_kind_but_timeouts_and_nodes_inherit() -> None:
    node = _config(defaults="retry_same_node: 2").nodes["a"]
    assert node.retry_same_node == SameNodeRetry.uniform(2)


def test_a_mapping_sets_kinds_and_a_node_overrides_the_defaults() -> None:
    config = _config(
        defaults="retry_same_node: {timeout: 1, status_429: 0}",
        node="retry_same_node: {connect: 0}, retry_wait: {base: 0.1, max: 3}",
    )
    node = config.nodes["a"]
    assert node.retry_same_node == SameNodeRetry(timeout=1, status_429=0, connect=0)
    assert node.retry_wait == RetryWait(base=0.1, max=3.0)
    assert config.defaults.retry_same_node == SameNodeRetry(timeout=1, status_429=0)


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ("retry_same_node: -1", "retry_same_node|must be at least 0, got -1"),
        ("retry_same_node: yes", "retry_same_node|must be an integer or a mapping"),
        ("retry_same_node: {status_5xx: x}", "retry_same_node.status_5xx|must be an integer"),
        ("retry_same_node: {teapot: 1}", "retry_same_node.teapot|unknown key"),
        ("retry_wait: {base: 0}", "retry_wait.base|must be greater than 0"),
        ("retry_wait: {max: -1}", "retry_wait.max|must be at least 0"),
    ],
)
def test_bad_retry_settings_are_located(defaults: str, message: str) -> None:
    found = _problems(defaults=defaults)
    assert any(f"defaults.{message}" in p for p in found), found
    assert all(p.startswith("3|") for p in found), found  # the line of `defaults:`'s entry


def test_fallbacks_on_names_models_by_code() -> None:
    route = _config(model="fallbacks_on: {context_length_exceeded: [large]}").models["small"]
    assert route.fallbacks_on == (("context_length_exceeded", ("large",)),)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("fallbacks_on: {context_length_exceeded: [huge]}", "unknown model 'huge'"),
        ("fallbacks_on: {context_length_exceeded: [small]}", "cannot fall back to itself"),
        ("fallbacks_on: {context_length_exceeded: []}", "non-empty list of model names"),
        ("fallbacks_on: [large]", "must be a mapping"),
    ],
)
def test_bad_fallbacks_on_is_located(model: str, message: str) -> None:
    found = _problems(model=model)
    assert any("models.small.fallbacks_on" in p and message in p for p in found), found


# --- error codes of a node's body -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        (
            b'{"error": {"message": "too long", "type": "invalid_request_error",'
            b' "param": "messages", "code": "context_length_exceeded"}}',
            ("context_length_exceeded", "invalid_request_error"),
        ),
        (
            b'{"error": {"code": 400, "message": "too long", "status": "INVALID_ARGUMENT"}}',
            ("INVALID_ARGUMENT",),
        ),
        (b'[{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}]', ("INVALID_ARGUMENT",)),
        (b'{"error": "plain text"}', ()),
        (b'{"error": {"code": null, "type": ""}}', ()),
        (b"not json", ()),
        (b"[]", ()),
        (b"", ()),
    ],
)
def test_error_codes_of_openai_and_gemini_bodies(body: bytes, codes: tuple[str, ...]) -> None:
    assert error_codes(body) == codes


@given(
    st.binary(max_size=200)
    | st.recursive(st.none() | st.text(), lambda c: st.lists(c)).map(lambda v: repr(v).encode())
)
def test_error_codes_never_raise(body: bytes) -> None:
    assert all(isinstance(code, str) and code for code in error_codes(body))
