"""Checks on what a client sends before any of it is used: header bytes and body encoding.

aiohttp decodes header bytes as UTF-8 with `surrogateescape`, so invalid UTF-8 (or a
Latin-1 value) arrives as a str that cannot be encoded again; such a value would fail
deep inside the proxy (a 500). It is refused here, by name, with a 400.
"""

from __future__ import annotations

from multidict import CIMultiDictProxy

from router.errors import InvalidRequest, UnsupportedEncoding

# aiohttp decodes these itself; the node always gets the decoded body (without the header).
ACCEPTED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
_MAX_ECHO = 60  # longest piece of a header quoted back in an error message


def screen_headers(headers: CIMultiDictProxy[str]) -> None:
    """400 for a header value that is not valid UTF-8; 415 for a Content-Encoding the
    router does not decode. Cheap: ASCII values (nearly all) skip the encode."""
    for name, value in headers.items():
        if value.isascii():
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("ascii", "replace").decode()[:_MAX_ECHO]
            raise InvalidRequest(f"header {shown!r} is not valid UTF-8") from None
    encoding = headers.get("Content-Encoding")
    if encoding is not None and encoding.strip().lower() not in ACCEPTED_ENCODINGS:
        raise unsupported_encoding(encoding)


def unsupported_encoding(encoding: str) -> UnsupportedEncoding:
    """The 415 for a request body in a content coding the router does not decode."""
    shown = encoding.encode("ascii", "replace").decode()[:_MAX_ECHO]
    return UnsupportedEncoding(
        f"Content-Encoding {shown!r} is not supported (use gzip, deflate or none)"
    )
