"""The seam between a dialect and the proxy: how one request addresses a node."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

from router.dialects.dialect import Dialect

_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # kept as they are; the rest ("%" too) is encoded


def encode_target(path: str, query: str = "") -> str:
    """A request target: `path` percent-encoded where needed, `query` (raw) appended."""
    return quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")


class Target(Protocol):
    """How one dialect addresses a node: the URL and body for a chosen backend."""

    @property
    def dialect(self) -> Dialect:
        """The client's dialect: how answers report usage, how the router's own bytes look."""
        ...

    @property
    def strip_usage(self) -> bool:
        """Whether the router asked for stream usage the client did not (drop that chunk)."""
        ...

    @property
    def continuable(self) -> bool:
        """Whether a stream cut mid-answer may go on at another node: a chat answer
        (OpenAI chat completions, Gemini streamGenerateContent), not a raw endpoint."""
        ...

    def path(self, base_path: str, model: str | None) -> str:
        """The request target on a node whose URL has path `base_path` ("" for none);
        `model` is the name to ask for (None: the client's)."""
        ...

    def body(self, model: str | None) -> bytes:
        """What to send; only `model` (and injected stream usage) may differ from the client's."""
        ...
