"""Opening a request at a node: its headers and first chunk, or an `UpstreamFailure`.

The transport (router.upstream.transport) already raises `UpstreamFailure` for its own
errors; this module adds the `first_byte` deadline and turns failover statuses (5xx,
401/403/404/408/429) and statuses that carry no answer (1xx, 204, 205, 3xx) into
failures too, so the proxy sees one exception type.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from router.config.model import NodeConfig
from router.dialects.codec import Answers
from router.dialects.first_token import FirstTokenScanner
from router.dialects.target import AnswerTranslation
from router.errors import FailureReason, UpstreamFailure
from router.upstream.headers import content_coding
from router.upstream.reasons import (
    ERROR_BODY_WAIT,
    MAX_ERROR_BODY,
    error_codes,
    node_message,
    node_request_id,
)
from router.upstream.translated import translated
from router.upstream.transport import NodeTransport, UpstreamResponse

# Statuses after which another node is tried; anything else below 500 is the client's.
FAILOVER_STATUSES = frozenset({401, 403, 404, 408, 429})


def failure_for_status(
    status: int,
    retry_after: str | None,
    message: str | None = None,
    request_id: str | None = None,
) -> UpstreamFailure:
    """The failure a failover status stands for (with the node's message and request id)."""
    if status >= 500:
        reason = FailureReason.STATUS_5XX
    elif status == 429:
        reason = FailureReason.STATUS_429
    else:
        reason = FailureReason.STATUS_4XX
    return UpstreamFailure(
        reason,
        f"node answered {status}",
        status=status,
        retry_after=retry_after,
        message=message,
        request_id=request_id,
    )


def is_failover_status(status: int) -> bool:
    """True when a status means "try another node" rather than "this is the answer"."""
    return status >= 500 or status in FAILOVER_STATUSES


def is_no_answer(status: int) -> bool:
    """A status that cannot carry the answer every proxied endpoint owes (a 1xx, 204 No
    Content, 205 Reset Content, a 3xx redirect, maybe to a node's internal address): a
    node failure, failed over and never passed to the client (as is a 2xx whose body is
    empty: `open_response`)."""
    return status < 200 or status in (204, 205) or 300 <= status < 400


@dataclass(slots=True)
class Opened:
    """A node's answer with its headers received and its first body chunk read (loop
    times: when that chunk came, and when the first token did if it was read for one)."""

    response: UpstreamResponse
    first_chunk: bytes
    first_byte_at: float | None = None
    first_token_at: float | None = None


class CodedFailure(UpstreamFailure):
    """A node's error answer whose code the model's `fallbacks_on` names: a failure to
    the proxy, which tries the models named there, but the answer is kept whole (read,
    not closed) so that the client gets it byte for byte when none of them answers."""

    def __init__(self, opened: Opened, code: str) -> None:
        status = opened.response.status
        super().__init__(
            FailureReason.STATUS_4XX,
            f"node answered {status} {code}",
            status=status,
            error_code=code,
        )
        self.opened = opened


def open_response(
    transport: NodeTransport,
    node: NodeConfig,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    answers: Answers,
    *,
    until_content: bool = False,
    fallbacks_on: tuple[tuple[str, tuple[str, ...]], ...] = (),
    loop: asyncio.AbstractEventLoop | None = None,
    translation: AnswerTranslation | None = None,
) -> Coroutine[Any, Any, Opened]:
    """Send the request; its headers and first chunk, which the transport bounds by the
    node's `first_byte` timeout.

    Reading the first chunk before committing to a node means a node that answers 200
    and then dies before sending anything is still failed over. With `until_content`
    (a node with `timeouts.first_token`, a model that hedges or measures latency) the
    reading goes on through content-free chunks (router.dialects.first_token) until the
    first token, at most MAX_HELD_BYTES, or the end; all of it is `first_chunk`, and
    `first_token` seconds from sending bound the whole opening. `answers` reads the
    answer in the client's dialect: the node's relayed, or translated into it by
    `translation` (router.upstream.translated) once its status is known to be an answer.
    `loop` is the running loop (the caller's, when it has it).

    An error answer (4xx) whose code `fallbacks_on` names raises `CodedFailure` (the code
    read in the node's own body, before any translation).
    """
    loop = loop or asyncio.get_running_loop()
    first_token = node.timeouts.first_token
    if first_token is None and not until_content:  # the usual case: one coroutine
        return _open(transport, path, headers, body, fallbacks_on, translation, loop)
    return _open_within(
        transport,
        path,
        headers,
        body,
        answers,
        first_token,
        until_content,
        fallbacks_on,
        loop,
        translation,
    )


async def _open_within(
    transport: NodeTransport,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    answers: Answers,
    first_token: float | None,
    until_content: bool,
    fallbacks_on: tuple[tuple[str, tuple[str, ...]], ...],
    loop: asyncio.AbstractEventLoop,
    translation: AnswerTranslation | None,
) -> Opened:
    """open_response with a first-token deadline or reading on to the first token."""
    if first_token is None:  # no deadline but the transport's own (first_byte)
        opened = await _open(transport, path, headers, body, fallbacks_on, translation, loop)
        await _read_on(opened, answers, loop)
        return opened
    try:
        async with asyncio.timeout_at(loop.time() + first_token):
            opened = await _open(transport, path, headers, body, fallbacks_on, translation, loop)
            if until_content:
                await _read_on(opened, answers, loop)
    except TimeoutError as exc:  # this deadline's (the transport raises UpstreamFailure)
        raise UpstreamFailure(FailureReason.TIMEOUT, "no first token in time") from exc
    return opened


async def _read_on(opened: Opened, answers: Answers, loop: asyncio.AbstractEventLoop) -> None:
    """Read on to the first token (an error answer, read whole, is left as it is)."""
    if opened.response.status >= 400:
        return
    if opened.first_chunk:
        try:
            opened.first_chunk = await _read_to_content(
                opened.response, opened.first_chunk, answers
            )
        except BaseException:
            opened.response.close()
            raise
        opened.first_token_at = loop.time()
    else:
        opened.first_token_at = opened.first_byte_at


async def _open(
    transport: NodeTransport,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    fallbacks_on: tuple[tuple[str, tuple[str, ...]], ...],
    translation: AnswerTranslation | None,
    loop: asyncio.AbstractEventLoop,
) -> Opened:
    """The answer's headers and first chunk, or UpstreamFailure (the response is closed)."""
    response: UpstreamResponse | None = None
    try:
        response = await transport.post(path, headers, body)
        status = response.status
        if is_no_answer(status) or is_failover_status(status):
            raise await _status_error(response)
        if response.status >= 400:  # read whole (bounded): for its code, and
            # for router.proxy.relay to clean the node's name out of it
            return await _coded_answer(response, fallbacks_on, translation, loop.time())
        if translation is not None:
            response = translated(response, translation)
        first = await _first_body(response)
        return Opened(response, first, loop.time())
    except BaseException as exc:
        if response is not None and not isinstance(exc, CodedFailure):
            response.close()
        raise


async def _status_error(response: UpstreamResponse) -> UpstreamFailure:
    """The UpstreamFailure for a status that carries no answer or calls for another node."""
    status = response.status
    if is_no_answer(status):
        return UpstreamFailure(
            FailureReason.NOT_AN_ANSWER,
            f"node answered {status} where an answer was due",
            status=status,
        )
    return await _status_failure(response)


async def _first_body(response: UpstreamResponse) -> bytes:
    """The first body chunk of a 2xx answer; UpstreamFailure (no answer) for an empty body."""
    first = await response.read()
    if not first:  # b"": the answer ended, and it had no body at all
        raise UpstreamFailure(
            FailureReason.NOT_AN_ANSWER,
            f"node answered {response.status} with an empty body",
            status=response.status,
        )
    return first


async def _read_to_content(response: UpstreamResponse, first: bytes, answers: Answers) -> bytes:
    """`first` and what follows it, up to the chunk with the first token (or the end)."""
    if content_coding(response.headers) is not None:
        return first  # compressed although asked for identity: nothing to see, it counts
    scanner = FirstTokenScanner(response.content_type, answers)
    if scanner.feed(first):
        return first
    held = [first]
    while chunk := await response.read():
        held.append(chunk)
        if scanner.feed(chunk):
            break
    return b"".join(held)


async def _coded_answer(
    response: UpstreamResponse,
    fallbacks_on: tuple[tuple[str, tuple[str, ...]], ...],
    translation: AnswerTranslation | None,
    first_byte_at: float,
) -> Opened:
    """An error answer read whole (bounded): `CodedFailure` when its code (in the node's
    own body) is one `fallbacks_on` names, else the answer as it is (translated), for
    the client."""
    body = await _error_body(response)
    codes = error_codes(body) if fallbacks_on else ()
    opened = Opened(response, body, first_byte_at)
    if translation is not None:
        answer = translated(response, translation, held=body)
        opened = Opened(answer, await answer.read(), first_byte_at)
    for code, _ in fallbacks_on:
        if code in codes:
            raise CodedFailure(opened, code)
    return opened


async def _error_body(response: UpstreamResponse) -> bytes:
    """A node's error body, read to its end or to a little past MAX_ERROR_BODY, within
    ERROR_BODY_WAIT seconds (a failover must not hang on a slow body): what came by then.
    The rest of a longer or slower body stays unread, for the relay to pass on."""
    body = b""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ERROR_BODY_WAIT):
            while len(body) <= MAX_ERROR_BODY and (chunk := await response.read()):
                body += chunk
    return body


async def _status_failure(response: UpstreamResponse) -> UpstreamFailure:
    """The failure for a failover status, with the node's reason read from a bounded body
    (the caller closes the response: the rest of a longer body is never read)."""
    try:
        body = await _error_body(response)
    except (UpstreamFailure, TimeoutError):
        body = b""  # the node died or stalled while explaining itself: no reason to pass on
    headers = response.headers
    return failure_for_status(
        response.status,
        retry_after(headers),
        node_message(body),
        node_request_id(headers.get("x-request-id")),
    )


def retry_after(headers: Mapping[str, str]) -> str | None:
    """A node's Retry-After, or its `retry-after-ms` (OpenAI's, more precise) in seconds."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            seconds = float(millis) / 1000
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < float("inf"):
            return f"{seconds:g}"
    return headers.get("Retry-After")
