"""Gemini's `models.list` and `models.get`: `GET /{version}/models[/{model}]`.

Every exact model name and alias is a `Model` resource the client may call with every
generation method; token limits only where routes.yaml gives them. The list pages as
Google's does (`pageSize`, `pageToken`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.codec import ModelInfo
from router.errors import InvalidRequest, echo

# What a Gemini client may call on every model the router serves.
GENERATION_METHODS = ("generateContent", "streamGenerateContent", "countTokens")
GEMINI_PAGE_SIZE = 50  # Google's default page size for models.list
GEMINI_MAX_PAGE_SIZE = 1000
_MODELS_PREFIX = "models/"


def gemini_model(model: ModelInfo) -> dict[str, Any]:
    """One Gemini `Model` resource; token limits only where routes.yaml gives them."""
    name = model.name
    resource: dict[str, Any] = {
        "name": _MODELS_PREFIX + name,
        "baseModelId": name,
        "version": "router",
        "displayName": name,
        "supportedGenerationMethods": list(GENERATION_METHODS),
    }
    if model.input_tokens is not None:
        resource["inputTokenLimit"] = model.input_tokens
    if model.output_tokens is not None:
        resource["outputTokenLimit"] = model.output_tokens
    return resource


def gemini_model_id(name: str) -> str:
    """`models/gemini-x` or `gemini-x` -> `gemini-x` (the SDKs send either)."""
    return name.removeprefix(_MODELS_PREFIX)


@dataclass(frozen=True, slots=True)
class GeminiCatalog:
    """router.dialects.codec.Catalog: every listed model's resource, built once per config."""

    models: tuple[dict[str, Any], ...]

    def page(self, query: Mapping[str, str]) -> bytes:
        """One page of `models.list`; `nextPageToken` is the next page's offset."""
        size = _page_size(query.get("pageSize"))
        start = _page_start(query.get("pageToken"), len(self.models))
        page: dict[str, Any] = {"models": list(self.models[start : start + size])}
        if start + size < len(self.models):
            page["nextPageToken"] = str(start + size)
        return orjson.dumps(page)

    def get(self, name: str, resolve: Callable[[str], ModelInfo | None]) -> bytes | None:
        """The resource for `name` (`models/` optional), or None."""
        model_id = gemini_model_id(name)
        found = resolve(model_id)
        if found is None:
            return None
        return orjson.dumps(
            gemini_model(ModelInfo(model_id, found.input_tokens, found.output_tokens))
        )


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


class GeminiModels:
    """router.dialects.codec.Models for Gemini clients."""

    __slots__ = ()

    def catalog(self, listed: Sequence[ModelInfo], created: int) -> GeminiCatalog:
        return GeminiCatalog(tuple(gemini_model(model) for model in listed))
