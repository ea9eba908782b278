"""Where a node listens, parsed once from its URL, and the request targets sent to it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # kept as they are; the rest ("%" too) is encoded


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a node listens, parsed once from its URL."""

    host: str
    port: int
    tls: ssl.SSLContext | None
    host_header: bytes
    base_path: str  # the URL's path without its trailing slash ("" for none)

    @classmethod
    def from_url(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = ssl.create_default_context() if parts.scheme == "https" else None
        port = parts.port or (443 if tls else 80)
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            host_header=parts.netloc.rpartition("@")[2].encode("idna"),
            base_path=parts.path.rstrip("/"),
        )


def request_path(path: str, query: str = "") -> str:
    """A request target: `path` percent-encoded where needed, `query` (raw) appended."""
    return quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")
