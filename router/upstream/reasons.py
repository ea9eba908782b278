"""A node's own reason for a failover status, made safe to show the client.

When every node failed with 429 or 5xx, the client hears the last node's own message
(from an OpenAI-, Gemini- or seed-shaped error body) rather than the router's generic
text. A node may name itself in that message (its URL, host or the key the router sent
it, in any spelling: a loopback host as localhost, 127.0.0.1 or [::1] (with its port also
0.0.0.0, 127.1 and the IPv4-mapped and expanded IPv6 forms), a key
percent-encoded or in base64, alone or inside a longer base64 text), so `Redactor`
removes every configured node's URL, host and key first, in each spelling; it is built
once per loaded config, and only an error path ever runs it (and a node's own 4xx
answer, router.proxy.relay).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus, urlsplit

import orjson

from router.config.model import NodeConfig

MAX_ERROR_BODY = 16 * 1024  # read at most this much of a node's error body
ERROR_BODY_WAIT = 1.0  # seconds to wait for it: a failover must not hang on a slow body
MAX_REQUEST_ID = 200  # a longer x-request-id from a node is not passed back
MAX_MESSAGE = 500  # characters of the node's message passed on
REDACTED = "[redacted]"


def node_message(body: bytes) -> str | None:
    """The message of a node's JSON error body (`error.message`, `error` as a string, or a
    top-level `message`), bounded; None when there is none."""
    if not body or len(body) > MAX_ERROR_BODY:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    if message is None:
        message = document.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    message = message.strip()
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def error_codes(body: bytes) -> tuple[str, ...]:
    """The codes a node's JSON error body names, most specific first: `error.code` (when a
    string: OpenAI's `context_length_exceeded`), `error.type` (OpenAI's
    `invalid_request_error`) and `error.status` (Google's `INVALID_ARGUMENT`); the body may
    be an object or a list holding one (Gemini's streaming shape). Empty when there is none."""
    if not body or len(body) > MAX_ERROR_BODY:
        return ()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ()
    if isinstance(document, list) and document:
        document = document[0]
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return ()
    found = (error.get("code"), error.get("type"), error.get("status"))
    return tuple(code for code in found if isinstance(code, str) and code)


def node_request_id(value: str | None) -> str | None:
    """A node's x-request-id when it is fit to pass back: at most MAX_REQUEST_ID letters,
    digits and `._:-` (what request ids are made of; a URL or a key with `/`, `=` or
    spaces is not one)."""
    if not value or len(value) > MAX_REQUEST_ID or _REQUEST_ID.fullmatch(value) is None:
        return None
    return value


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]+")


# Every spelling of the loopback address: a node on any one of them may name itself by
# another (the router connects to 127.0.0.1, the node says localhost).
LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")
# More spellings of it, redacted only with the node's port (alone they are too short or
# too common to blank in a message): the address a node bound to every interface names,
# the short and the IPv4-mapped and expanded IPv6 forms.
LOOPBACK_WITH_PORT = ("0.0.0.0", "127.1", "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]")


def _secrets(node: NodeConfig) -> Iterable[str]:
    """What names a node: its URL, its host (with and without the port, in every
    spelling of a loopback host), its key and password (plain, percent-encoded and
    base64-encoded)."""
    url = node.url.rstrip("/")
    yield url
    parts = urlsplit(url)
    hosts = [parts.hostname] if parts.hostname else []
    loopback = parts.hostname in LOOPBACK or f"[{parts.hostname}]" in LOOPBACK
    if loopback:
        hosts = list(LOOPBACK)
        if parts.port is not None:
            for host in LOOPBACK_WITH_PORT:
                yield f"{host}:{parts.port}"
                yield f"{parts.scheme}://{host}:{parts.port}{parts.path}"
    for host in hosts:
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        yield host
        if parts.port is not None:
            yield f"{shown}:{parts.port}"
            yield f"{parts.scheme}://{shown}:{parts.port}{parts.path}"
        yield f"{parts.scheme}://{shown}{parts.path}"
    if parts.netloc:
        yield parts.netloc
    if node.api_key:
        yield from _encodings(node.api_key)
    if node.basic_auth:
        _, _, password = node.basic_auth.partition(":")
        yield from _encodings(node.basic_auth)
        if len(password) >= 4:  # a one-letter password would blank every message
            yield from _encodings(password)


def _encodings(secret: str) -> Iterable[str]:
    """A secret as it is, percent-encoded (either way spaces go) and base64-encoded
    (standard and URL-safe alphabets, with and without padding, and inside a longer
    base64 text: `_base64_cores`)."""
    yield secret
    yield quote(secret, safe="")
    yield quote_plus(secret, safe="")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(secret.encode()).decode("ascii")
        yield text
        yield text.rstrip("=")
        yield from _base64_cores(secret.encode(), encode)


MIN_BASE64_CORE = 8  # characters: a shorter core would blank unrelated base64 text


def _base64_cores(secret: bytes, encode: Callable[[bytes], bytes]) -> Iterable[str]:
    """The characters that encode `secret` alone when it sits inside a longer base64 text
    ("Bearer <key>" encoded whole): it may start at any of three byte alignments, and the
    characters it shares with the bytes around it depend on those, so each alignment's
    core is the run of characters made of the secret's bits only."""
    for offset in range(3):
        text = encode(b"\0" * offset + secret).decode("ascii")
        start = -(-8 * offset // 6)  # the first character past the offset's bits
        end = 8 * (offset + len(secret)) // 6  # the last whole character of the secret's
        if end - start >= MIN_BASE64_CORE:
            yield text[start:end]


class Redactor:
    """Removes every configured node's URL, host and key from a message."""

    __slots__ = ("_pattern",)

    def __init__(self, nodes: Iterable[NodeConfig]) -> None:
        found = {secret for node in nodes for secret in _secrets(node) if secret}
        # Longest first, so a URL is removed whole before its host alone could match.
        alternatives = sorted(found, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(a) for a in alternatives), re.IGNORECASE)
            if alternatives
            else None
        )

    def clean(self, message: str) -> str:
        """`message` without anything that names a node."""
        if self._pattern is None:
            return message
        return self._pattern.sub(REDACTED, message)
