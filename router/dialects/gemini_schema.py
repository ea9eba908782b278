"""JSON Schema <-> Gemini's Schema (the OpenAPI 3.0 subset `parameters` and
`responseSchema` take).

Gemini rejects keywords outside its subset. Going to Gemini, a schema is rewritten into
it (LiteLLM's Gemini provider does the same): `$ref`s into `$defs`/`definitions` are
inlined (a reference to itself, which cannot be inlined, becomes a free-form object);
a type list or an `anyOf` with `null` becomes `nullable`; `oneOf` is `anyOf`; a single
`allOf` is merged; `const` is a one-value `enum`; `enum` stays on strings only; `items`
is added to arrays that lack it; `required` keeps only listed properties; empty
`properties` go; every other keyword (`$schema`, `additionalProperties`, `strict`,
`examples`, `exclusiveMinimum`...) is dropped. `GEMINI_SCHEMA_KEYS` is the subset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GEMINI_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "default",
        "items",
        "minItems",
        "maxItems",
        "enum",
        "properties",
        "propertyOrdering",
        "required",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
    }
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_MAX_DEPTH = 64


def to_gemini(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema rewritten into Gemini's subset."""
    defs = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, Mapping):
            defs.update({f"#/{key}/{name}": value for name, value in found.items()})
    converted = _convert(schema, defs, (), 0)
    if "type" not in converted and "anyOf" not in converted:
        converted["type"] = "object"
    return converted


def _convert(node: Any, defs: dict[str, Any], stack: tuple[str, ...], depth: int) -> dict[str, Any]:
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return {"type": "object"}
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in stack or ref not in defs:
            return {"type": "object"}  # recursive or unknown: a free-form object
        merged = {**defs[ref], **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs, (*stack, ref), depth + 1)
    node = _merge_all_of(node)
    out: dict[str, Any] = {}
    nullable = node.get("nullable") is True
    types = node.get("type")
    if isinstance(types, list):
        nullable = nullable or "null" in types
        types = [t for t in types if t in _TYPES]
        if len(types) > 1:
            out["anyOf"] = [_convert({**node, "type": t}, defs, stack, depth + 1) for t in types]
            types = None
        else:
            types = types[0] if types else None
    if isinstance(types, str) and types.lower() in _TYPES:
        out["type"] = types.lower()
    branches = node.get("anyOf", node.get("oneOf"))
    if isinstance(branches, list) and "anyOf" not in out:
        kept = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
        nullable = nullable or len(kept) < len(branches)
        kept_schemas = [_convert(b, defs, stack, depth + 1) for b in kept]
        if len(kept_schemas) == 1:
            out.update(kept_schemas[0])
        elif kept_schemas:
            out["anyOf"] = kept_schemas
    if nullable:
        out["nullable"] = True
    _copy_plain(node, out)
    _convert_children(node, out, defs, stack, depth)
    return out


def _merge_all_of(node: Mapping[str, Any]) -> Mapping[str, Any]:
    parts = node.get("allOf")
    if not isinstance(parts, list) or not all(isinstance(p, Mapping) for p in parts):
        return node
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in parts:
        for key, value in part.items():
            if key == "properties" and isinstance(merged.get(key), Mapping):
                merged[key] = (
                    {**merged[key], **value} if isinstance(value, Mapping) else merged[key]
                )
            elif key == "required" and isinstance(merged.get(key), list):
                merged[key] = [*merged[key], *(value if isinstance(value, list) else [])]
            else:
                merged.setdefault(key, value)
    return merged


def _copy_plain(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key in ("title", "description", "default", "example", "pattern"):
        if key in node:
            out[key] = node[key]
    for key in ("minimum", "maximum"):
        value = node.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    for key in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        value = node.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[key] = value
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        out["format"] = fmt
    values = node.get("enum")
    if "const" in node:
        values = [node["const"]]
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        out["enum"] = list(values)
        out.setdefault("type", "string")


def _convert_children(
    node: Mapping[str, Any],
    out: dict[str, Any],
    defs: dict[str, Any],
    stack: tuple[str, ...],
    depth: int,
) -> None:
    properties = node.get("properties")
    if isinstance(properties, Mapping) and properties:
        out["properties"] = {
            str(name): _convert(value, defs, stack, depth + 1) for name, value in properties.items()
        }
        out.setdefault("type", "object")
        required = node.get("required")
        if isinstance(required, list):
            listed = [name for name in required if name in out["properties"]]
            if listed:
                out["required"] = listed
        ordering = node.get("propertyOrdering")
        if isinstance(ordering, list) and all(name in out["properties"] for name in ordering):
            out["propertyOrdering"] = list(ordering)
    if out.get("type") == "array" or "items" in node:
        items = node.get("items")
        out["items"] = _convert(items, defs, stack, depth + 1) if items else {"type": "object"}
        out.setdefault("type", "array")


def to_json_schema(schema: Any, depth: int = 0) -> Any:
    """A Gemini Schema as JSON Schema: lowercase types, `nullable` as a `null` type."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("nullable", "propertyOrdering", "example"):
            continue
        if key == "format" and value == "enum":
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: to_json_schema(v, depth + 1) for name, v in value.items()}
        elif key == "items":
            out[key] = to_json_schema(value, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [to_json_schema(v, depth + 1) for v in value]
        else:
            out[key] = value
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out
