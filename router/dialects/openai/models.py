"""OpenAI's model objects: `GET {prefix}/models` and `GET {prefix}/models/{id}`.

Every exact model name and alias is listed as a model the router owns; a fetched alias
or glob-served name is answered under the name the client asked for, since that is the
name it will send requests with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.codec import ModelInfo


def model_object(name: str, created: int) -> dict[str, Any]:
    """One OpenAI model object (`GET /models/{id}`, and each entry of the list)."""
    return {"id": name, "object": "model", "created": created, "owned_by": "router"}


def model_list(names: Iterable[str], created: int) -> dict[str, Any]:
    """The `GET /models` answer: every name as a model the router owns."""
    return {"object": "list", "data": [model_object(name, created) for name in names]}


@dataclass(frozen=True, slots=True)
class OpenAICatalog:
    """router.dialects.codec.Catalog: the list encoded once per config."""

    listed: bytes
    created: int

    def page(self, query: Mapping[str, str]) -> bytes:
        return self.listed

    def get(self, name: str, resolve: Callable[[str], ModelInfo | None]) -> bytes | None:
        if resolve(name) is None:
            return None
        return orjson.dumps(model_object(name, self.created))


class OpenAIModels:
    """router.dialects.codec.Models for OpenAI clients."""

    __slots__ = ()

    def catalog(self, listed: Sequence[ModelInfo], created: int) -> OpenAICatalog:
        body = orjson.dumps(model_list((model.name for model in listed), created))
        return OpenAICatalog(body, created)
