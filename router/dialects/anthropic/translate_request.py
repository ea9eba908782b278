"""Anthropic Messages requests <-> the IR: the request fields (this module), content
(`anthropic/translate_content`) and the thinking settings (`anthropic/translate_thinking`).
`ANTHROPIC_MAPPING` (`anthropic/translate`) bundles them for the driver.

Every field of a Messages request is read into the IR, dropped (it changes nothing the
client sees) or refused with a 400 naming it; `REQUEST_FIELDS` is the one table of the
last two, which the manual lists. `max_tokens` is required, as Anthropic requires it; a
request written for an Anthropic node gets `DEFAULT_MAX_TOKENS` when the client set no
cap. Anthropic's `temperature` ranges 0 to 1: a higher one is sent as 1. A request that
thinks goes without `temperature` and `top_k`, and with `top_p` at least 0.95, which is
all Anthropic accepts with thinking on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.anthropic.translate_content import (
    decode_messages,
    decode_system,
    encode_messages,
    encode_system,
)
from router.dialects.anthropic.translate_thinking import (
    DEFAULT_MAX_TOKENS,
    decode_reasoning,
    encode_reasoning,
)
from router.dialects.chat import (
    ChatRequest,
    Generation,
    ResponseFormat,
    ResponseFormatKind,
    Tool,
    ToolChoice,
    ToolChoiceMode,
    WireRequest,
    with_result_names,
)
from router.dialects.chat_wire import (
    Fate,
    Feature,
    FieldRule,
    Unexpressible,
    as_object,
    need_str,
    opt_array,
    opt_bool,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
)
from router.errors import InvalidRequest, UnsupportedField

DROPPED, UNSUPPORTED = Fate.DROPPED, Fate.UNSUPPORTED
REQUEST_FIELDS: tuple[FieldRule, ...] = (
    FieldRule("metadata.user_id", DROPPED, "an end-user id; an OpenAI node gets it as `user`"),
    FieldRule("cache_control", DROPPED, "prompt-cache breakpoints; the answer is the same"),
    FieldRule("service_tier", DROPPED, "a capacity class of Anthropic's"),
    FieldRule("inference_geo", DROPPED, "where Anthropic runs the model"),
    FieldRule("speed", DROPPED, "Anthropic's fast mode; the answer is the same"),
    FieldRule("diagnostics", DROPPED, "prompt-cache diagnostics"),
    FieldRule("user_profile_id", DROPPED, "whom Anthropic bills"),
    FieldRule("workspace_id", DROPPED, "an Anthropic workspace"),
    FieldRule("tools[].eager_input_streaming", DROPPED, "how finely tool input streams"),
    FieldRule("tools[].input_examples", DROPPED, "examples of a tool's input, a hint"),
    FieldRule("document.citations", DROPPED, "the answer comes without citations"),
    FieldRule("text.citations", DROPPED, "citations of an earlier answer"),
    FieldRule(
        "context_management",
        DROPPED,
        "Anthropic's context editing (Claude Code sends it); the node sees it all",
    ),
    FieldRule("tool_reference blocks", DROPPED, "references to deferred tools, no text"),
    FieldRule("container", UNSUPPORTED, "Anthropic's code-execution containers"),
    FieldRule("mcp_servers", UNSUPPORTED, "MCP servers Anthropic's API would call"),
    FieldRule("tools[].type other than custom", UNSUPPORTED, "server and Anthropic-defined tools"),
    FieldRule("tools[].defer_loading", UNSUPPORTED, "Anthropic's tool search"),
    FieldRule("tools[].allowed_callers", UNSUPPORTED, "calls from Anthropic's code execution"),
    FieldRule("thinking.type other than enabled, disabled, adaptive", UNSUPPORTED, "unknown"),
    FieldRule("source.type: file", UNSUPPORTED, "a file of Anthropic's Files API"),
    FieldRule("document.context", UNSUPPORTED, "a document's context"),
    FieldRule("server tool blocks", UNSUPPORTED, "results of Anthropic's server tools"),
)
_REFUSED = ("container", "mcp_servers")
# The Anthropic field a client sets for an IR setting another dialect cannot express.
FIELD_OF_FEATURE: dict[Feature, str] = {
    Feature.TOP_K: "top_k",
    Feature.SERIAL_TOOL_CALLS: "tool_choice.disable_parallel_tool_use",
    Feature.TOOL_RESULT_MEDIA: "messages[].content[].content",
    Feature.UNMATCHED_TOOL_RESULT: "messages[].content[].tool_use_id",
    Feature.CALL_ARGUMENTS: "messages[].content[].input",
    Feature.MEDIA_TYPE: "messages[].content[].source",
}


def decode_request(wire: WireRequest) -> ChatRequest:
    """A Messages request body as an IR request (`max_tokens` required)."""
    body = as_object(wire.body, "request body")
    max_tokens = opt_int(body, "max_tokens", "", 1)
    if max_tokens is None:
        raise InvalidRequest("'max_tokens' is required")
    return _decode(body, max_tokens)


def decode_count_tokens_request(wire: WireRequest) -> ChatRequest:
    """A `messages/count_tokens` body (a Messages request without `max_tokens`) as IR."""
    body = as_object(wire.body, "request body")
    return _decode(body, opt_int(body, "max_tokens", "", 1))


def _decode(body: Mapping[str, Any], max_tokens: int | None) -> ChatRequest:
    for name in _REFUSED:
        if body.get(name) not in (None, [], {}):
            raise UnsupportedField(name)
    messages = (*decode_system(body.get("system")), *decode_messages(body.get("messages")))
    metadata = opt_object(body, "metadata", "")
    return ChatRequest(
        model=need_str(body, "model", ""),
        messages=with_result_names(messages),
        tools=_decode_tools(body),
        tool_choice=_decode_tool_choice(body),
        generation=_decode_generation(body, max_tokens),
        reasoning=decode_reasoning(body),
        user=opt_str(metadata, "user_id", "metadata") if metadata else None,
        stream=bool(opt_bool(body, "stream", "")),
        stream_usage=True,  # Anthropic always reports usage
    )


def _decode_generation(body: Mapping[str, Any], max_tokens: int | None) -> Generation:
    stops = opt_array(body, "stop_sequences", "")
    if not all(isinstance(s, str) for s in stops):
        raise InvalidRequest("'stop_sequences' must be an array of strings")
    return Generation(
        max_output_tokens=max_tokens,
        temperature=opt_number(body, "temperature", ""),
        top_p=opt_number(body, "top_p", ""),
        top_k=opt_int(body, "top_k", "", 1),
        stop=tuple(stops),
        response_format=_decode_output_format(body),
    )


def _decode_output_format(body: Mapping[str, Any]) -> ResponseFormat | None:
    """`output_config.format` (or the beta's top-level `output_format`)."""
    config = opt_object(body, "output_config", "")
    path = "output_config.format"
    spec = opt_object(config, "format", "output_config") if config else None
    if spec is None:
        spec, path = opt_object(body, "output_format", ""), "output_format"
    if spec is None:
        return None
    if need_str(spec, "type", path) != "json_schema":
        raise InvalidRequest(f"'{path}.type' must be json_schema")
    schema = as_object(spec.get("schema"), f"{path}.schema")
    return ResponseFormat(ResponseFormatKind.JSON_SCHEMA, schema=schema)


def _decode_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools = []
    for i, value in enumerate(opt_array(body, "tools", "")):
        path = f"tools[{i}]"
        tool = as_object(value, path)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise UnsupportedField(f"{path}.type", f"tools of type {kind!r}")
        if opt_bool(tool, "defer_loading", path):
            raise UnsupportedField(f"{path}.defer_loading", "Anthropic's tool search")
        callers = opt_array(tool, "allowed_callers", path)
        if any(caller != "direct" for caller in callers):
            raise UnsupportedField(f"{path}.allowed_callers", "calls from code execution")
        tools.append(
            Tool(
                name=need_str(tool, "name", path),
                description=opt_str(tool, "description", path),
                parameters=opt_object(tool, "input_schema", path),
                strict=opt_bool(tool, "strict", path),
            )
        )
    return tuple(tools)


_MODES = {"auto": ToolChoiceMode.AUTO, "any": ToolChoiceMode.REQUIRED, "none": ToolChoiceMode.NONE}


def _decode_tool_choice(body: Mapping[str, Any]) -> ToolChoice | None:
    spec = opt_object(body, "tool_choice", "")
    if spec is None:
        return None
    kind = need_str(spec, "type", "tool_choice")
    serial = opt_bool(spec, "disable_parallel_tool_use", "tool_choice")
    parallel = False if serial else None
    if kind == "tool":
        name = need_str(spec, "name", "tool_choice")
        return ToolChoice(ToolChoiceMode.REQUIRED, (name,), parallel)
    mode = _MODES.get(kind)
    if mode is None:
        raise InvalidRequest("'tool_choice.type' must be auto, any, tool or none")
    return ToolChoice(mode, parallel=None if mode is ToolChoiceMode.NONE else parallel)


# ---- IR -> wire ----------------------------------------------------------------------


def encode_request(request: ChatRequest) -> WireRequest:
    """An IR request as a Messages request for an Anthropic node."""
    gen = request.generation
    _refuse_unexpressible(gen)
    body: dict[str, Any] = {"model": request.model, "max_tokens": 0}
    system = encode_system(request.messages)
    if system is not None:
        body["system"] = system
    body["messages"] = encode_messages(request.messages)
    tools, choice = _encode_tool_choice(request.tools, request.tool_choice)
    if tools:
        body["tools"] = [_encode_tool(t) for t in tools]
    if choice:
        body["tool_choice"] = choice
    thinking, max_tokens = encode_reasoning(request)
    body["max_tokens"] = max_tokens or gen.max_output_tokens or DEFAULT_MAX_TOKENS
    thinks = thinking.get("thinking", {}).get("type", "disabled") != "disabled"
    body.update(_encode_sampling(gen, thinks))
    body.update(thinking)
    if gen.response_format is not None and gen.response_format.schema is not None:
        output = body.setdefault("output_config", {})
        output["format"] = {"type": "json_schema", "schema": gen.response_format.schema}
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    return WireRequest(body=body, model=request.model, stream=request.stream)


def _refuse_unexpressible(gen: Generation) -> None:
    if gen.candidates not in (None, 1):
        raise Unexpressible(Feature.CANDIDATES)
    if gen.seed is not None:
        raise Unexpressible(Feature.SEED)
    if gen.presence_penalty:
        raise Unexpressible(Feature.PRESENCE_PENALTY)
    if gen.frequency_penalty:
        raise Unexpressible(Feature.FREQUENCY_PENALTY)
    spec = gen.response_format
    if spec is not None and spec.kind is ResponseFormatKind.JSON_OBJECT:
        raise Unexpressible(Feature.JSON_OBJECT)
    if spec is not None and spec.kind is ResponseFormatKind.JSON_SCHEMA and spec.schema is None:
        raise Unexpressible(Feature.JSON_OBJECT)


def _encode_sampling(gen: Generation, thinks: bool) -> dict[str, Any]:
    """Sampling settings; a model that thinks takes no temperature or top_k and a top_p
    of 0.95 or more (Anthropic refuses others), so the client's give way to thinking."""
    out: dict[str, Any] = {}
    if gen.temperature is not None and not thinks:
        out["temperature"] = min(max(gen.temperature, 0.0), 1.0)
    if gen.top_p is not None:
        out["top_p"] = max(gen.top_p, 0.95) if thinks else gen.top_p
    if gen.top_k is not None and not thinks:
        out["top_k"] = gen.top_k
    if gen.stop:
        out["stop_sequences"] = list(gen.stop)
    return out


def _encode_tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters if tool.parameters is not None else {"type": "object"}
    if tool.strict is not None:
        out["strict"] = tool.strict
    return out


def _encode_tool_choice(
    tools: tuple[Tool, ...], choice: ToolChoice | None
) -> tuple[tuple[Tool, ...], dict[str, Any]]:
    """The tools to declare and `tool_choice`. Anthropic names one tool (`tool`) or none;
    several names are said by declaring only those tools, as for Gemini."""
    if choice is None:
        return tools, {}
    if choice.names and (len(choice.names) > 1 or choice.mode is ToolChoiceMode.AUTO):
        tools = tuple(t for t in tools if t.name in choice.names)
    if choice.mode is ToolChoiceMode.NONE:
        return tools, {"type": "none"}
    out: dict[str, Any] = {"type": "auto" if choice.mode is ToolChoiceMode.AUTO else "any"}
    if choice.mode is ToolChoiceMode.REQUIRED and len(choice.names) == 1:
        out = {"type": "tool", "name": choice.names[0]}
    if choice.parallel is False:
        out["disable_parallel_tool_use"] = True
    return tools, out
