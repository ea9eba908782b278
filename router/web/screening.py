"""Checks on what a client sends before any of it is used: header bytes and body encoding.

aiohttp decodes header bytes as UTF-8 with `surrogateescape`, so invalid UTF-8 (or a
Latin-1 value) arrives as a str that cannot be encoded again; such a value would fail
deep inside the proxy (a 500). It is refused here, by name, with a 400.

A `Transfer-Encoding` other than `chunked` alone (`gzip, chunked`, or two of them) is a
coding the router does not apply, and aiohttp would read the body as plain chunks: it is
refused with a 501 (RFC 9112 section 6.1), in the endpoint's error shape.
"""

from __future__ import annotations

from multidict import CIMultiDictProxy

from router.errors import (
    InvalidRequest,
    TransferEncodingNotImplemented,
    UnsupportedEncoding,
    echo,
)

# aiohttp decodes these itself; the node always gets the decoded body (without the header).
ACCEPTED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})


def screen_headers(headers: CIMultiDictProxy[str]) -> None:
    """400 for a header value that is not valid UTF-8; 501 for a Transfer-Encoding but
    chunked; 415 for a Content-Encoding the router does not decode. Cheap: ASCII values
    (nearly all) skip the encode."""
    for name, value in headers.items():
        if value.isascii():
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("ascii", "replace").decode()
            raise InvalidRequest(f"header {echo(shown)} is not valid UTF-8") from None
    codings = headers.getall("Transfer-Encoding", ())
    if codings and (len(codings) > 1 or codings[0].strip().lower() != "chunked"):
        shown = ", ".join(codings).encode("ascii", "replace").decode()
        raise TransferEncodingNotImplemented(
            f"Transfer-Encoding {echo(shown)} is not supported (send chunked alone)"
        )
    encoding = headers.get("Content-Encoding")
    if encoding is not None and encoding.strip().lower() not in ACCEPTED_ENCODINGS:
        raise unsupported_encoding(encoding)


def unsupported_encoding(encoding: str) -> UnsupportedEncoding:
    """The 415 for a request body in a content coding the router does not decode."""
    shown = encoding.encode("ascii", "replace").decode()
    return UnsupportedEncoding(
        f"Content-Encoding {echo(shown)} is not supported (use gzip, deflate or none)"
    )
