"""What the web layer keeps on aiohttp's request: its trace id, its dialect, its key.

The trace id is the client's X-Request-ID when it is sane, else a new one. The dialect
is the one whose route claimed the request; before one did (no such path, a wrong
method) it is the one the path belongs to (router.dialects.registry.codec_for_path), so
every error is rendered in a shape the client reads.
"""

from __future__ import annotations

import random
import re

from aiohttp import web

from router.dialects.codec import Codec
from router.dialects.registry import codec_for_path, extract_key
from router.upstream.headers import REQUEST_ID

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_REQUEST_ID_KEY = web.RequestKey("request_id", str)
_CODEC_KEY = web.RequestKey("codec", Codec)


def request_id_of(request: web.Request) -> str:
    """The client's X-Request-ID when it is sane, else a new one (cached on the request)."""
    try:
        return request[_REQUEST_ID_KEY]
    except KeyError:
        return assign_request_id(request)


def assign_request_id(request: web.Request) -> str:
    """Choose the request's id and cache it (a proxied request does this first thing,
    which spares it the failed lookup of `request_id_of`)."""
    given = request.headers.get(REQUEST_ID)
    # A trace id, not a secret: the random module's generator (reseeded in each forked
    # worker) spares the getrandom() system call os.urandom makes per request.
    rid = given if given and _REQUEST_ID_OK.match(given) else f"{random.getrandbits(128):032x}"
    request[_REQUEST_ID_KEY] = rid
    return rid


def set_codec(request: web.Request, codec: Codec) -> None:
    """Record the dialect the request's route speaks (its errors are rendered in it)."""
    request[_CODEC_KEY] = codec


def claimed_codec(request: web.Request) -> Codec | None:
    """The dialect whose route claimed the request, or None (no dialect's route did)."""
    return request.get(_CODEC_KEY)


def codec_of(request: web.Request) -> Codec:
    """The dialect the request's route speaks, else the one its path belongs to."""
    codec: Codec | None = request.get(_CODEC_KEY)
    return codec_for_path(request.path) if codec is None else codec


def presented_key(request: web.Request) -> str | None:
    """The key the request presents in any dialect's form (None: none); 401 when it
    presents several that differ."""
    return extract_key(request.headers, request.rel_url.raw_query_string, request.path)
