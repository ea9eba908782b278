"""Every error the router reports: its HTTP status, stable code and type, and the internal ones.

    RouterError                      (status, code, type; rendered by app.error_middleware)
    ├── InvalidRequest               400 invalid_request
    │   └── UnsupportedField         400 unsupported_field   (translation cannot say it)
    ├── DialectNotServed             400 dialect_not_served  (no node takes its API)
    ├── InvalidToken                 401 invalid_token
    ├── ModelNotAllowed              403 model_not_allowed
    ├── NotFound                     404 not_found
    ├── ModelNotFound                404 model_not_found
    ├── RequestTimeout               408 request_timeout     (body read too slowly)
    ├── Conflict                     409 conflict            (admin: the key exists, ...)
    ├── RequestTooLarge              413 request_too_large
    ├── UnsupportedEncoding          415 unsupported_encoding
    ├── TooManyRequests              429 too_many_requests   (Retry-After)
    ├── InsufficientQuota            429 insufficient_quota
    ├── ApiError                     500 api_error
    ├── TransferEncodingNotImplemented 501 unsupported_transfer_encoding
    ├── UpstreamError                502 upstream_error
    │   └── UntranslatableAnswer     502 untranslatable_answer
    ├── NoAvailableNode              503 no_available_node   (Retry-After)
    ├── ServiceUnavailable           503 service_unavailable (Retry-After)
    └── UpstreamTimeout              504 upstream_timeout

Config, key and state errors (each problem located by `Problem`: YAML path and line):

    ConfigError                      a routes.yaml that cannot be used; lists every Problem
    RouterError
    ├── InvalidConfig                400 invalid_config      (admin reload refused the file)
    └── AuthRejected                 401/403/429, code per rejection, Retry-After on 429
    StateError                       a state-store (admin-side) operation cannot be done
    ├── KeyNotFound                  no key has that name
    ├── KeyExists                    a key with that name already exists
    ├── UnlimitedCredits             crediting a key whose credits are unlimited
    └── StateUnavailable             the backend cannot be reached; also a 503
                                     ServiceUnavailable (the caller applies on_error)

Internal errors (never shown to a client as such):

    UpstreamFailure                  a node gave no usable answer; `reason` is a FailureReason
                                     (the metric label and access-log string)
    ClientGone                       a write to the client failed: it went away
    └── ClientTooSlow                the node's total ran out while the router waited for
                                     the client to take the answer (raised at the upstream
                                     seam): the client is cut as client_slow

How an error looks on the wire is the client's dialect's business: its codec's `replies`
(router.dialects.codec) render the body. Messages never contain node URLs or keys, and
quote a client's own input (`echo`) only up to MAX_ECHO characters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config, located by YAML path and line."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class RouterError(Exception):
    """An error with an HTTP status, a stable code and an OpenAI-style type."""

    status = 500
    code = "api_error"
    type = "server_error"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        upstream_request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.upstream_request_id = upstream_request_id  # the failing node's x-request-id

    def headers(self) -> dict[str, str]:
        """Extra response headers (Retry-After, X-Upstream-Request-ID when known)."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = _whole_seconds(self.retry_after)
        if self.upstream_request_id is not None:
            headers["X-Upstream-Request-ID"] = self.upstream_request_id  # the node's x-request-id
        return headers


MAX_ECHO = 200  # characters of a client's input an error message quotes, at most


def echo(text: str) -> str:
    """A client's input as an error message quotes it: repr() of at most MAX_ECHO
    characters, `...` after it when it was longer."""
    return repr(text[:MAX_ECHO]) + ("..." if len(text) > MAX_ECHO else "")


_MAX_RETRY_AFTER = 86400  # seconds: a node's 1e308 is not passed on as 309 digits


def _whole_seconds(seconds: float) -> str:
    """Retry-After as HTTP wants it, whole seconds, rounded up: a client that waits what
    it is told is never back before the node wanted it. At least 1, at most a day; 1
    for a value that is not a finite number."""
    if not math.isfinite(seconds):
        return "1"
    return str(max(1, min(_MAX_RETRY_AFTER, math.ceil(seconds))))


class InvalidRequest(RouterError):
    status, code, type = 400, "invalid_request", "invalid_request_error"


class UnsupportedField(InvalidRequest):
    """A request field that changes the answer and the node's dialect cannot express."""

    code = "unsupported_field"

    def __init__(self, field: str, why: str = "") -> None:
        reason = f": {why}" if why else ""
        super().__init__(f"'{field}' cannot be translated for this model's backend{reason}")
        self.field = field


class DialectNotServed(RouterError):
    """No node of the model can take a request in the client's dialect (its API)."""

    status, code, type = 400, "dialect_not_served", "invalid_request_error"


class InvalidToken(RouterError):
    status, code, type = 401, "invalid_token", "authentication_error"


class ModelNotAllowed(RouterError):
    status, code, type = 403, "model_not_allowed", "permission_error"


class NotFound(RouterError):
    status, code, type = 404, "not_found", "invalid_request_error"


class ModelNotFound(RouterError):
    status, code, type = 404, "model_not_found", "invalid_request_error"


class Conflict(RouterError):
    status, code, type = 409, "conflict", "invalid_request_error"


class RequestTimeout(RouterError):
    status, code, type = 408, "request_timeout", "invalid_request_error"


class RequestTooLarge(RouterError):
    status, code, type = 413, "request_too_large", "invalid_request_error"


class UnsupportedEncoding(RouterError):
    status, code, type = 415, "unsupported_encoding", "invalid_request_error"


class TooManyRequests(RouterError):
    status, code, type = 429, "too_many_requests", "rate_limit_error"


class InsufficientQuota(RouterError):
    status, code, type = 429, "insufficient_quota", "insufficient_quota"


class ApiError(RouterError):
    status, code, type = 500, "api_error", "server_error"


class TransferEncodingNotImplemented(RouterError):
    status, code, type = 501, "unsupported_transfer_encoding", "invalid_request_error"


class UpstreamError(RouterError):
    status, code, type = 502, "upstream_error", "server_error"


class UntranslatableAnswer(UpstreamError):
    """A node's answer that could not be read for translation into the client's dialect."""

    code = "untranslatable_answer"


class NoAvailableNode(RouterError):
    status, code, type = 503, "no_available_node", "server_error"


class ServiceUnavailable(RouterError):
    status, code, type = 503, "service_unavailable", "server_error"


class UpstreamTimeout(RouterError):
    status, code, type = 504, "upstream_timeout", "timeout_error"


class InvalidConfig(RouterError):
    status, code, type = 400, "invalid_config", "invalid_request_error"


# code -> (HTTP status, OpenAI-style type, message)
_REJECTIONS: dict[str, tuple[int, str, str]] = {
    "invalid_token": (401, "authentication_error", "invalid or missing API key"),
    "key_disabled": (401, "authentication_error", "this API key is disabled"),
    "model_not_allowed": (403, "permission_error", "this API key may not use this model"),
    "too_many_requests": (429, "rate_limit_error", "too many requests for this API key"),
    "insufficient_quota": (429, "insufficient_quota", "insufficient credits for this API key"),
}


class AuthRejected(RouterError):
    """A request the key may not make; rendered by the error middleware like any RouterError."""

    def __init__(self, code: str, message: str | None = None, retry_after: float | None = None):
        status, type_, default = _REJECTIONS[code]
        super().__init__(message or default, retry_after=retry_after)
        self.status, self.code, self.type = status, code, type_


class ConfigError(Exception):
    """routes.yaml cannot be used; `problems` lists everything wrong, each with path and line."""

    def __init__(self, problems: Sequence[Problem], source: str = "routes.yaml") -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__(self.render())

    def headline(self) -> str:
        """`routes.yaml: 1 problem` / `routes.yaml: 3 problems`: one wording everywhere."""
        count = len(self.problems)
        return f"{self.source}: {count} problem{'' if count == 1 else 's'}"

    def render(self) -> str:
        """One line per problem, `source:line: path: message`."""
        lines = []
        for p in self.problems:
            where = f"{self.source}:{p.line}" if p.line else self.source
            lines.append(f"{where}: {p.path}: {p.message}" if p.path else f"{where}: {p.message}")
        return "\n".join(lines)


class StartupError(Exception):
    """The router (or a mock node) cannot start: the message is one line for the operator."""


class StateError(Exception):
    """A state-store operation that cannot be done as asked."""


class KeyNotFound(StateError):
    pass


class KeyExists(StateError):
    pass


class UnlimitedCredits(StateError):
    pass


class StateUnavailable(ServiceUnavailable, StateError):
    """The backend did not answer in time; raised `from` the client library's error."""

    def __init__(self, message: str = "state backend unavailable") -> None:
        super().__init__(message, retry_after=1.0)


class FailureReason(StrEnum):
    """Why an attempt at a node failed: a metrics label value and an access-log string."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    STATUS_5XX = "status_5xx"
    STATUS_429 = "status_429"
    STATUS_4XX = "status_4xx"
    RESET = "reset"
    MIDSTREAM = "midstream"
    # 1xx, 204, 205 or 3xx where an answer with a body is due: no answer at all
    NOT_AN_ANSWER = "not_an_answer"


# The failures that count against a node's health (a 404/408/429 says nothing about it).
HEALTH_FAILURES = frozenset(
    {
        FailureReason.CONNECT,
        FailureReason.TIMEOUT,
        FailureReason.STATUS_5XX,
        FailureReason.RESET,
        FailureReason.MIDSTREAM,
        FailureReason.NOT_AN_ANSWER,
    }
)


class UpstreamFailure(Exception):
    """A node did not produce a usable answer (raised at the upstream seam, `from` its cause).

    For a failover status, `message` is the node's own error message (bounded, not yet
    cleaned of node URLs and keys) and `request_id` its x-request-id header.
    """

    def __init__(
        self,
        reason: FailureReason,
        detail: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.message = message
        self.request_id = request_id
        self.error_code = error_code  # the node's error code that a model's fallbacks_on names


class ClientGone(Exception):
    """The client went away: a write to it failed (raised at the client seam, `from` its cause)."""


class ClientTooSlow(ClientGone):
    """The client did not take the answer as fast as the node sent it, for longer than the
    node's `total`: reading from the node was paused for it when that ran out (raised at
    the upstream seam). The client's fault: it is cut, and the node is not blamed."""
