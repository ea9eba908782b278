"""The model endpoints in Anthropic's format: `GET /v1/models` and `/v1/models/{id}`.

A model is `{"type": "model", "id", "display_name", "created_at", "lifecycle"}` (the
newest SDKs read `lifecycle`; older ones ignore it), with its token limits where
routes.yaml gives them. A list is a page `{"data", "has_more", "first_id", "last_id"}`,
paged with `limit` (1 to 1000, 20 by default), `after_id` and `before_id` as Anthropic
pages. Which clients get this format on `/v1/models` is the ingress's rule
(router.dialects.anthropic.ingress: those that send `anthropic-version`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.codec import ModelInfo
from router.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000


def model_info(
    name: str, created: int, *, input_tokens: int | None = None, output_tokens: int | None = None
) -> dict[str, Any]:
    """One model (`created` in seconds since the epoch: the router's start, say)."""
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    info: dict[str, Any] = {
        "type": "model",
        "id": name,
        "display_name": name,
        "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lifecycle": "active",
    }
    if input_tokens is not None:
        info["max_input_tokens"] = input_tokens
    if output_tokens is not None:
        info["max_tokens"] = output_tokens
    return info


def model_page(
    models: Sequence[dict[str, Any]],
    *,
    limit: str | None = None,
    after_id: str | None = None,
    before_id: str | None = None,
) -> dict[str, Any]:
    """One page of the list, as the query parameters ask (raw strings, or None)."""
    size = _page_size(limit)
    ids = [model["id"] for model in models]
    if after_id:
        start = _position(ids, after_id, "after_id") + 1
        end = min(start + size, len(models))
        has_more = end < len(models)
    elif before_id:
        end = _position(ids, before_id, "before_id")
        start = max(end - size, 0)
        has_more = start > 0
    else:
        start, end = 0, min(size, len(models))
        has_more = end < len(models)
    page = list(models[start:end])
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= 1000:
        raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def _position(ids: list[str], cursor: str, name: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise InvalidRequest(f"'{name}' is not the id of a model this router lists") from None


@dataclass(frozen=True, slots=True)
class AnthropicCatalog:
    """router.dialects.codec.Catalog: every listed model's object, built once per config."""

    models: tuple[dict[str, Any], ...]
    created: int

    def page(self, query: Mapping[str, str]) -> bytes:
        page = model_page(
            self.models,
            limit=query.get("limit"),
            after_id=query.get("after_id"),
            before_id=query.get("before_id"),
        )
        return orjson.dumps(page)

    def get(self, name: str, resolve: Callable[[str], ModelInfo | None]) -> bytes | None:
        """The model the client asked for, under the name it asked by."""
        found = resolve(name)
        if found is None:
            return None
        info = model_info(
            name, self.created, input_tokens=found.input_tokens, output_tokens=found.output_tokens
        )
        return orjson.dumps(info)


class AnthropicModels:
    """router.dialects.codec.Models for Anthropic clients."""

    __slots__ = ()

    def catalog(self, listed: Sequence[ModelInfo], created: int) -> AnthropicCatalog:
        models = tuple(
            model_info(
                model.name,
                created,
                input_tokens=model.input_tokens,
                output_tokens=model.output_tokens,
            )
            for model in listed
        )
        return AnthropicCatalog(models, created)
