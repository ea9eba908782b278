"""A request's affinity key (the model's `affinity:` says where to find it).

Pure and cheap: a header's value, a top-level string field of the body already parsed
for routing, or the first `prefix_bytes` of the conversation (the body fields the
client's dialect keeps its turns in, `Ingress.conversation_fields`) re-encoded
compactly, so the same conversation gives the same key whatever else the body holds.
None when the request has none. The ring that places the key is router.routing.affinity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.config.affinity import Affinity, AffinitySource

MAX_KEY_CHARS = 256  # longer header or field values are cut (the ring hashes them anyway)


def affinity_key(
    affinity: Affinity | None,
    headers: Mapping[str, str],
    document: Mapping[str, Any] | None,
    conversation: tuple[str, ...] = (),
) -> str | None:
    """The key the ring places this request by, or None; `conversation` names the body
    fields a prefix key is read from."""
    if affinity is None:
        return None
    if affinity.source is AffinitySource.HEADER:
        value = headers.get(affinity.name)
        return value[:MAX_KEY_CHARS] if value else None
    if document is None:
        return None
    if affinity.source is AffinitySource.BODY:
        field = document.get(affinity.name)
        return field[:MAX_KEY_CHARS] if isinstance(field, str) and field else None
    parts = {name: document[name] for name in conversation if name in document}
    if not parts:
        return None
    try:
        encoded = orjson.dumps(parts)
    except TypeError:
        return None
    return encoded[: affinity.prefix_bytes].decode("utf-8", "replace")
