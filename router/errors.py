"""Every error the router reports: its HTTP status, stable code and type.

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

How an error looks on the wire is the client's dialect's business: router.dialects.dialect
renders the body. Messages never contain node URLs or keys.
"""

from __future__ import annotations

from collections.abc import Sequence

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
