from __future__ import annotations

import fnmatch
import hashlib
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict

from router.billing.keys import ModelGlobs, extract_key, glob_to_lua, new_key
from router.config.keys import KeySpec, hash_key
from router.dialects.gemini import split_key
from router.errors import AuthRejected

K = "sk-test-123"


def test_hash_key_is_sha256_hex():
    assert hash_key(K) == hashlib.sha256(K.encode()).hexdigest()
    assert len(hash_key(K)) == 64


def test_new_keys_are_random_and_prefixed():
    a, b = new_key(), new_key()
    assert a != b and a.startswith("sk-") and len(a) > 40


@pytest.mark.parametrize(
    ("headers", "query", "path", "expected"),
    [
        ({"Authorization": f"Bearer {K}"}, {}, "/v1/chat/completions", K),
        ({"authorization": f"bearer   {K}  "}, {}, "/v1/chat/completions", K),
        ({"Authorization": K}, {}, "/v1/chat/completions", K),
        ({"Authorization": f" {K} "}, {}, "/v1/chat/completions", K),
        ({"x-goog-api-key": K}, {}, "/v1beta/models/g:generateContent", K),
        ({"X-Goog-Api-Key": K}, {}, "/v1/chat/completions", K),
        ({}, {"key": K}, "/v1beta/models/gemini-pro:generateContent", K),
        ({}, {"key": K}, "/v1alpha/models/x:streamGenerateContent", K),
        ({}, {"key": K}, "/v1/models", K),
        ({}, {"key": K}, "/v1/models/gemini-pro", K),
        ({}, {"key": K}, "/gemini/v1beta/models/g:generateContent", K),
        # ?key= is a Gemini convention only
        ({}, {"key": K}, "/v1/chat/completions", None),
        ({}, {"key": K}, "/v1/modelsx", None),
        # the same key in several forms is one key
        ({"Authorization": f"Bearer {K}", "x-goog-api-key": K}, {"key": K}, "/v1beta", K),
        # a foreign scheme is not a key: fall through
        ({"Authorization": "Basic abc", "x-goog-api-key": K}, {}, "/v1beta/models", K),
        ({"Authorization": "Basic abc"}, {}, "/v1/chat/completions", None),
        ({"Authorization": "Bearer "}, {}, "/v1/chat/completions", None),
        ({"Authorization": ""}, {}, "/v1/chat/completions", None),
        ({}, {"key": ""}, "/v1beta/models", None),
        ({}, {}, "/v1/chat/completions", None),
    ],
)
def test_extract_key(headers, query, path, expected):
    assert extract_key(CIMultiDict(headers), urlencode(query), path) == expected


GLOB_CASES = [
    (("*",), "anything", True),
    (("gemini-*",), "gemini-2.5-pro", True),
    (("gemini-*",), "gpt-4o", False),
    (("gemini-*",), "Gemini-pro", False),  # case-sensitive, like route names
    (("gpt-4o", "gemini-*"), "gpt-4o", True),
    (("gpt-4o", "gemini-*"), "gpt-4o-mini", False),
    (("gpt-?o",), "gpt-4o", True),
    (("gpt-?o",), "gpt-40o", False),
    (("model-[ab]",), "model-a", True),
    (("model-[ab]",), "model-c", False),
    (("model-[!ab]",), "model-c", True),
    (("model-[!ab]",), "model-a", False),
    (("v1.5",), "v1.5", True),
    (("v1.5",), "v1x5", False),  # `.` is literal
    (("a+b%c(d)",), "a+b%c(d)", True),
    (("x[",), "x[", True),  # unterminated bracket is literal
    (("qwen/*",), "qwen/qwen3-32b", True),
]


@pytest.mark.parametrize(("globs", "model", "allowed"), GLOB_CASES)
def test_model_globs(globs, model, allowed):
    assert ModelGlobs.compile(globs).allows(model) is allowed
    # The Python regex agrees with fnmatch itself.
    assert any(fnmatch.fnmatchcase(model, g) for g in globs) is allowed


def test_star_compiles_to_no_lua_patterns():
    assert ModelGlobs.compile(("*",)).lua_patterns() == []
    assert ModelGlobs.compile(("a", "*")).lua_patterns() == []


@pytest.mark.parametrize(
    ("glob", "lua"),
    [
        ("gemini-*", "^gemini%-.*$"),
        ("gpt-?o", "^gpt%-.o$"),
        ("v1.5", "^v1%.5$"),
        ("m-[!ab]", "^m%-[^ab]$"),
        ("m-[a-c]", "^m%-[a-c]$"),
        ("x[", "^x%[$"),
        ("50%", "^50%%$"),
    ],
)
def test_glob_to_lua(glob, lua):
    assert glob_to_lua(glob) == lua


# The Lua patterns are checked against real Redis by GLOB_CASES in test_state_store.py.


def test_key_spec_validates():
    with pytest.raises(ValueError, match="name"):
        KeySpec(name="has space")
    with pytest.raises(ValueError, match="rpm"):
        KeySpec(name="a", rpm=0)
    with pytest.raises(ValueError, match="max_concurrent"):
        KeySpec(name="a", max_concurrent=0)
    with pytest.raises(ValueError, match="models"):
        KeySpec(name="a", models=())


# Every spelling a server could decode to `key` is the credential: used to authenticate,
# and never left in the query a node receives (issue 14, problem 1).
KEY_SPELLINGS = [
    "key",
    "%6Bey",
    "k%65y",
    "ke%79",
    "%6B%65%79",
    "%6b%65%79",
    "KEY",
    "Key",
    "kEy",
    "%4B%45%59",
    "k%2565y",  # double-encoded
    "%256Bey",
    "+key",
    "key+",
    "%20key",
    "key%00",
    "key%00junk",
    "key[]",
    "key%5B%5D",
]


@pytest.mark.parametrize("name", KEY_SPELLINGS)
def test_every_spelling_of_key_is_the_credential_and_is_stripped(name):
    query = f"alt=sse&{name}={K}&x=1"
    path = "/v1beta/models/g:streamGenerateContent"
    assert extract_key(CIMultiDict(), query, path) == K
    keys, rest = split_key(query)
    assert keys == (K,)
    assert rest == "alt=sse&x=1"
    assert K not in rest


@pytest.mark.parametrize("name", ["monkey", "keys", "akey", "k", "ey", "%6Beys"])
def test_other_parameters_are_kept(name):
    assert split_key(f"{name}=1&alt=sse") == ((), f"{name}=1&alt=sse")


def test_a_semicolon_piece_named_key_is_dropped_too():
    assert split_key(f"a=1;key={K}&alt=sse")[1] == "alt=sse"


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": f"Bearer {K}", "x-goog-api-key": "other"}, ""),
        ({"Authorization": f"Bearer {K}"}, "key=other"),
        ({"x-goog-api-key": K}, "%6Bey=other"),
        ({}, f"key={K}&KEY=other"),
        ({}, f"key={K}&k%65y=other"),
    ],
)
def test_credentials_that_disagree_are_refused(headers, query):
    with pytest.raises(AuthRejected) as caught:
        extract_key(CIMultiDict(headers), query, "/v1beta/models/g:generateContent")
    assert caught.value.status == 401


def test_two_authorization_headers_that_differ_are_refused():
    headers = CIMultiDict([("Authorization", f"Bearer {K}"), ("Authorization", "Bearer x")])
    with pytest.raises(AuthRejected):
        extract_key(headers, "", "/v1/chat/completions")


def test_recent_keys_remember_acceptance_for_a_while_and_stay_bounded() -> None:
    from router.billing.keys import RecentKeys

    recent = RecentKeys(ttl=30.0, limit=3)
    assert not recent.knows("sk-a", 0.0)
    recent.accepted("sk-a", 0.0)
    assert recent.knows("sk-a", 29.9) and not recent.knows("sk-a", 30.0)
    assert not recent.knows("sk-b", 1.0)
    for name in ("sk-b", "sk-c", "sk-d"):  # the fourth clears the table: bounded memory
        recent.accepted(name, 1.0)
    assert recent.knows("sk-d", 2.0) and not recent.knows("sk-a", 2.0)
