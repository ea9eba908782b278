"""Every error the router reports, and the one JSON shape clients see.

    RouterError                      (status, code, type; rendered by app.error_middleware)
    ├── InvalidRequest               400 invalid_request
    ├── InvalidToken                 401 invalid_token
    ├── ModelNotAllowed              403 model_not_allowed
    ├── NotFound                     404 not_found
    ├── ModelNotFound                404 model_not_found
    ├── RequestTooLarge              413 request_too_large
    ├── TooManyRequests              429 too_many_requests   (Retry-After)
    ├── InsufficientQuota            429 insufficient_quota
    ├── ApiError                     500 api_error
    ├── UpstreamError                502 upstream_error
    ├── NoAvailableNode              503 no_available_node   (Retry-After)
    ├── ServiceUnavailable           503 service_unavailable (Retry-After)
    └── UpstreamTimeout              504 upstream_timeout

    ConfigError                      a routes.yaml that cannot be used; lists every Problem

Internal errors (never shown to a client as such):

    UpstreamFailure                  a node gave no usable answer; `reason` is a FailureReason
                                     (the metric label and access-log string)

The body is `{"success": false, "error": {"code", "message", "type"}, "trace_id"}`:
the seeds' shape, which the OpenAI SDK also reads (it looks at `error.message`).
Messages never contain node URLs or keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import orjson

from router.config.source import Problem


class RouterError(Exception):
    """An error with an HTTP status, a stable code and an OpenAI-style type."""

    status = 500
    code = "api_error"
    type = "server_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def body(self, trace_id: str) -> bytes:
        """The JSON error body for this error."""
        return error_body(self.code, self.message, self.type, trace_id)

    def headers(self) -> dict[str, str]:
        """Extra response headers (Retry-After when known)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class InvalidRequest(RouterError):
    status, code, type = 400, "invalid_request", "invalid_request_error"


class InvalidToken(RouterError):
    status, code, type = 401, "invalid_token", "authentication_error"


class ModelNotAllowed(RouterError):
    status, code, type = 403, "model_not_allowed", "permission_error"


class NotFound(RouterError):
    status, code, type = 404, "not_found", "invalid_request_error"


class ModelNotFound(RouterError):
    status, code, type = 404, "model_not_found", "invalid_request_error"


class RequestTooLarge(RouterError):
    status, code, type = 413, "request_too_large", "invalid_request_error"


class TooManyRequests(RouterError):
    status, code, type = 429, "too_many_requests", "rate_limit_error"


class InsufficientQuota(RouterError):
    status, code, type = 429, "insufficient_quota", "insufficient_quota"


class ApiError(RouterError):
    status, code, type = 500, "api_error", "server_error"


class UpstreamError(RouterError):
    status, code, type = 502, "upstream_error", "server_error"


class NoAvailableNode(RouterError):
    status, code, type = 503, "no_available_node", "server_error"


class ServiceUnavailable(RouterError):
    status, code, type = 503, "service_unavailable", "server_error"


class UpstreamTimeout(RouterError):
    status, code, type = 504, "upstream_timeout", "timeout_error"


def error_body(code: str, message: str, type_: str, trace_id: str) -> bytes:
    """Serialise the error shape shared by every error response and the mid-stream event."""
    return orjson.dumps(
        {
            "success": False,
            "error": {"code": code, "message": message, "type": type_},
            "trace_id": trace_id,
        }
    )


class ConfigError(Exception):
    """routes.yaml cannot be used; `problems` lists everything wrong, each with path and line."""

    def __init__(self, problems: Sequence[Problem], source: str = "routes.yaml") -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        """One line per problem, `source:line: path: message`."""
        lines = []
        for p in self.problems:
            where = f"{self.source}:{p.line}" if p.line else self.source
            lines.append(f"{where}: {p.path}: {p.message}" if p.path else f"{where}: {p.message}")
        return "\n".join(lines)


class FailureReason(StrEnum):
    """Why an attempt at a node failed: a metrics label value and an access-log string."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    STATUS_5XX = "status_5xx"
    STATUS_429 = "status_429"
    STATUS_4XX = "status_4xx"
    RESET = "reset"
    MIDSTREAM = "midstream"


class UpstreamFailure(Exception):
    """A node did not produce a usable answer (raised at the upstream seam, `from` its cause)."""

    def __init__(
        self,
        reason: FailureReason,
        detail: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
