"""What every dialect's translation shares: reading hostile JSON with field paths, the
declared fate of fields a translation cannot carry, and media types.

Readers raise `InvalidRequest` naming the field (`messages[2].content[0].image_url`);
`answer_errors` turns that into `UntranslatableAnswer` where the JSON is a node's answer.
Gemini's JSON accepts camelCase and snake_case names alike (proto3 JSON), so `lookup`
tries both spellings; OpenAI's names are snake_case already.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.chat import MediaKind
from router.errors import InvalidRequest, UntranslatableAnswer


class Fate(enum.StrEnum):
    DROPPED = "dropped"  # changes nothing the client sees; not sent on
    UNSUPPORTED = "unsupported"  # changes the answer and cannot be said: a 400


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A request field a translation does not carry, and why (the manual lists them)."""

    field: str
    fate: Fate
    why: str


class Feature(enum.StrEnum):
    """IR settings a dialect may be unable to express when it is the node's."""

    TOP_K = "top_k"
    SERIAL_TOOL_CALLS = "serial_tool_calls"  # parallel tool calls forbidden
    TOOL_RESULT_MEDIA = "tool_result_media"
    CANDIDATES = "candidates"
    UNMATCHED_TOOL_RESULT = "unmatched_tool_result"  # no call in the conversation has its id
    CALL_ARGUMENTS = "call_arguments"  # tool-call arguments that are no JSON object
    SEED = "seed"
    PRESENCE_PENALTY = "presence_penalty"  # a penalty other than 0
    FREQUENCY_PENALTY = "frequency_penalty"
    JSON_OBJECT = "json_object"  # JSON output without a schema
    MEDIA_TYPE = "media_type"  # media of a kind or type the node's dialect cannot take


class Unexpressible(Exception):
    """An encoder cannot write `feature`; the driver names the client's field for it."""

    def __init__(self, feature: Feature) -> None:
        super().__init__(feature.value)
        self.feature = feature


@functools.lru_cache(maxsize=512)
def snake(name: str) -> str:
    """`inlineData` -> `inline_data`."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def lookup(obj: Mapping[str, Any], name: str) -> Any:
    """obj[name], or obj[snake(name)] (Gemini takes both spellings); None when absent."""
    value = obj.get(name)
    if value is None:
        other = snake(name)
        if other != name:
            value = obj.get(other)
    return value


def as_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"'{path}' must be an object")
    return value


def as_array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{path}' must be an array")
    return value


def opt_object(obj: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any] | None:
    value = lookup(obj, name)
    return None if value is None else as_object(value, f"{path}.{name}" if path else name)


def opt_array(obj: Mapping[str, Any], name: str, path: str) -> list[Any]:
    value = lookup(obj, name)
    return [] if value is None else as_array(value, f"{path}.{name}" if path else name)


def opt_str(obj: Mapping[str, Any], name: str, path: str) -> str | None:
    value = lookup(obj, name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"'{_join(path, name)}' must be a string")
    return value


def need_str(obj: Mapping[str, Any], name: str, path: str) -> str:
    value = opt_str(obj, name, path)
    if value is None:
        raise InvalidRequest(f"'{_join(path, name)}' is required")
    return value


def opt_bool(obj: Mapping[str, Any], name: str, path: str) -> bool | None:
    value = lookup(obj, name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"'{_join(path, name)}' must be true or false")
    return value


def opt_int(obj: Mapping[str, Any], name: str, path: str, minimum: int = 0) -> int | None:
    value = lookup(obj, name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequest(f"'{_join(path, name)}' must be an integer >= {minimum}")
    return value


def opt_number(obj: Mapping[str, Any], name: str, path: str) -> float | None:
    value = lookup(obj, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidRequest(f"'{_join(path, name)}' must be a number")
    return float(value)


def count(obj: Any, name: str) -> int:
    """A token count from a node's answer: a non-negative int, else 0."""
    value = lookup(obj, name) if isinstance(obj, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@contextlib.contextmanager
def answer_errors() -> Iterator[None]:
    """A node's answer the readers reject is the node's fault: a 502, not a 400."""
    try:
        yield
    except InvalidRequest as exc:
        raise UntranslatableAnswer(
            f"the node's answer cannot be translated: {exc.message}"
        ) from exc


def compact_json(value: Any) -> str:
    """JSON text without spaces, as the IR keeps tool-call arguments."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits (a document not parsed by orjson)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The object `text` holds, or None when it is not JSON for an object."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# ---- media ---------------------------------------------------------------------------

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[^;,]*)*);base64,(.*)", re.S)

# Extensions of the URLs people send (the seeds send videos and audio as image_url too).
MIME_OF_EXTENSION: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "mpeg": "video/mpeg",
    "mov": "video/mov",
    "avi": "video/avi",
    "flv": "video/x-flv",
    "mpg": "video/mpg",
    "webm": "video/webm",
    "wmv": "video/wmv",
    "3gp": "video/3gpp",
    "3gpp": "video/3gpp",
    "pdf": "application/pdf",
    "txt": "text/plain",
}


# What a media part without a MIME type is sent as (an image URL without an extension).
DEFAULT_MIME: dict[MediaKind, str] = {
    MediaKind.IMAGE: "image/jpeg",
    MediaKind.AUDIO: "audio/mp3",
    MediaKind.VIDEO: "video/mp4",
    MediaKind.DOCUMENT: "application/pdf",
}


def parse_data_url(url: str) -> tuple[str | None, str] | None:
    """(mime type, base64 data) of a `data:...;base64,` URL, or None if it is not one."""
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return None
    return match.group(1), match.group(3)


def data_url(mime_type: str | None, data: str) -> str:
    return f"data:{mime_type or 'application/octet-stream'};base64,{data}"


def mime_of_url(url: str) -> str | None:
    """The media type a URL's extension names, if known."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    tail = path.rsplit("/", 1)[-1]
    if "." not in tail:
        return None
    return MIME_OF_EXTENSION.get(tail.rsplit(".", 1)[-1].lower())


def kind_of_mime(mime_type: str | None, default: MediaKind = MediaKind.IMAGE) -> MediaKind:
    """The media kind of a MIME type; `default` when there is none."""
    if not mime_type:
        return default
    top = mime_type.split("/", 1)[0].lower()
    if top == "image":
        return MediaKind.IMAGE
    if top == "audio":
        return MediaKind.AUDIO
    if top == "video":
        return MediaKind.VIDEO
    return MediaKind.DOCUMENT


def is_base64(data: str) -> bool:
    """Whether `data` decodes as base64 (padding and alphabet checked)."""
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        return False
    return True
