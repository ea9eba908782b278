"""The model endpoints' answers in both dialects: OpenAI's model objects, Gemini's models.

`GET {prefix}/models[/{id}]` (OpenAI) and `GET /{version}/models[/{model}]` (Gemini) list
what routes.yaml serves: every exact model name and alias (globs cannot be listed, but a
name a glob serves can be fetched). A fetched alias or glob-served name is answered under
the name the client asked for, since that is the name it will send requests with.

`/v1/models` is both OpenAI's list and Gemini's `v1` list; `is_gemini_client` decides from
the request which one the client wants (see its docstring for the rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.config.model import Config, ModelRoute
from router.dialects.openai import model_list, model_object
from router.errors import InvalidRequest, echo

# What a Gemini client may call on every model the router serves.
GENERATION_METHODS = ("generateContent", "streamGenerateContent", "countTokens")
GEMINI_PAGE_SIZE = 50  # Google's default page size for models.list
GEMINI_MAX_PAGE_SIZE = 1000
_MODELS_PREFIX = "models/"


def is_gemini_client(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Whether a request on a path both dialects share comes from a Gemini client.

    The rule: a Gemini credential (`x-goog-api-key` header or `?key=`) or the Google client
    header `x-goog-api-client` (both google-genai SDKs send the two headers) means Gemini;
    anything else (the OpenAI SDKs send `Authorization: Bearer`) means OpenAI.
    """
    return "x-goog-api-key" in headers or "x-goog-api-client" in headers or "key" in query


def gemini_model(name: str, route: ModelRoute) -> dict[str, Any]:
    """One Gemini `Model` resource; token limits only where routes.yaml gives them."""
    model: dict[str, Any] = {
        "name": _MODELS_PREFIX + name,
        "baseModelId": name,
        "version": "router",
        "displayName": name,
        "supportedGenerationMethods": list(GENERATION_METHODS),
    }
    if route.limits.input_tokens is not None:
        model["inputTokenLimit"] = route.limits.input_tokens
    if route.limits.output_tokens is not None:
        model["outputTokenLimit"] = route.limits.output_tokens
    return model


def gemini_model_id(name: str) -> str:
    """`models/gemini-x` or `gemini-x` -> `gemini-x` (the SDKs send either)."""
    return name.removeprefix(_MODELS_PREFIX)


@dataclass(frozen=True, slots=True)
class ModelCatalog:
    """Both dialects' model answers for one loaded config, built once per config."""

    config: Config
    openai_list: bytes
    gemini_models: tuple[dict[str, Any], ...]
    created: int

    @classmethod
    def of(cls, config: Config, created: int) -> ModelCatalog:
        listed = config.listed_routes()
        openai_list = orjson.dumps(model_list((name for name, _ in listed), created))
        gemini = tuple(gemini_model(name, route) for name, route in listed)
        return cls(config, openai_list, gemini, created)

    def openai_get(self, name: str) -> bytes | None:
        """The OpenAI model object for `name`, or None when no route serves it."""
        if self.config.resolve(name) is None:
            return None
        return orjson.dumps(model_object(name, self.created))

    def gemini_get(self, name: str) -> bytes | None:
        """The Gemini model resource for `name` (`models/` optional), or None."""
        model_id = gemini_model_id(name)
        route = self.config.resolve(model_id)
        return None if route is None else orjson.dumps(gemini_model(model_id, route))

    def gemini_page(self, page_size: str | None, page_token: str | None) -> bytes:
        """One page of Gemini's `models.list`; `nextPageToken` is the next page's offset."""
        size = _page_size(page_size)
        start = _page_start(page_token, len(self.gemini_models))
        page: dict[str, Any] = {"models": list(self.gemini_models[start : start + size])}
        if start + size < len(self.gemini_models):
            page["nextPageToken"] = str(start + size)
        return orjson.dumps(page)


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return GEMINI_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise InvalidRequest(f"pageSize must be an integer, got {echo(raw)}") from None
    if size < 0:
        raise InvalidRequest("pageSize must not be negative")
    return min(size, GEMINI_MAX_PAGE_SIZE) if size else GEMINI_PAGE_SIZE


def _page_start(raw: str | None, total: int) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or int(raw) > total:
        raise InvalidRequest("pageToken is not one this router handed out")
    return int(raw)
