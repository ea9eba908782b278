"""Gemini generateContent <-> the IR: requests (this module), contents
(`gemini/translate_content`), schemas (`gemini/schema`), answers, errors and embeddings
(`gemini/translate_answer`) and streams (`gemini/translate_stream`).

The model and streaming are in the path: `WireRequest.model`, `.stream`, and
`.json_array` (a stream without `alt=sse`). A request this module writes for a node
always streams with `alt=sse`. `REQUEST_FIELDS` is the one table of fields dropped or
refused. Reasoning: an effort becomes `thinkingLevel` for a Gemini 3 (or later) model
name and a `thinkingBudget` otherwise (Google's own mapping: low, medium, high are
1024, 8192, 24576 tokens; every Gemini 2.5 and 3 model takes a budget).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from router.dialects.chat import (
    ChatRequest,
    Generation,
    Reasoning,
    ReasoningEffort,
    ResponseFormat,
    ResponseFormatKind,
    Tool,
    ToolChoice,
    ToolChoiceMode,
    WireRequest,
)
from router.dialects.chat_wire import (
    Fate,
    Feature,
    FieldRule,
    Unexpressible,
    as_array,
    as_object,
    lookup,
    need_str,
    opt_array,
    opt_bool,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
)
from router.dialects.gemini.schema import to_gemini, to_json_schema
from router.dialects.gemini.translate_content import decode_contents, encode_contents
from router.errors import InvalidRequest, UnsupportedField

DROPPED, UNSUPPORTED = Fate.DROPPED, Fate.UNSUPPORTED
REQUEST_FIELDS: tuple[FieldRule, ...] = (
    FieldRule("safetySettings", DROPPED, "OpenAI servers apply their own policy"),
    FieldRule("labels", DROPPED, "billing labels of Vertex AI"),
    FieldRule("generationConfig.mediaResolution", DROPPED, "a media resolution hint"),
    FieldRule("generationConfig.enableEnhancedCivicAnswers", DROPPED, "no OpenAI setting"),
    FieldRule("functionDeclarations[].response", DROPPED, "the schema of a tool's answer"),
    FieldRule("cachedContent", UNSUPPORTED, "a cache on Google's side"),
    FieldRule("generationConfig.responseLogprobs", UNSUPPORTED, "log probabilities"),
    FieldRule("generationConfig.logprobs", UNSUPPORTED, "log probabilities"),
    FieldRule("generationConfig.responseModalities", UNSUPPORTED, "any output but TEXT"),
    FieldRule("generationConfig.speechConfig", UNSUPPORTED, "speech output"),
    FieldRule("generationConfig.imageConfig", UNSUPPORTED, "image output"),
    FieldRule("generationConfig.responseMimeType", UNSUPPORTED, "other than JSON or text"),
    FieldRule("tools[] other than functionDeclarations", UNSUPPORTED, "Google's built-in tools"),
    FieldRule("toolConfig.functionCallingConfig.mode: VALIDATED", UNSUPPORTED, "no OpenAI mode"),
    FieldRule("parts[].executableCode, codeExecutionResult", UNSUPPORTED, "code execution"),
    FieldRule("parts[].videoMetadata", UNSUPPORTED, "video clipping"),
    FieldRule("functionResponse.parts", UNSUPPORTED, "media in a function response"),
)
_REFUSED_CONFIG = ("responseLogprobs", "logprobs", "speechConfig", "imageConfig")
FIELD_OF_FEATURE: dict[Feature, str] = {
    Feature.TOP_K: "generationConfig.topK",
    Feature.SERIAL_TOOL_CALLS: "toolConfig",
    Feature.TOOL_RESULT_MEDIA: "contents[].parts[].functionResponse",
    Feature.CANDIDATES: "generationConfig.candidateCount",
    Feature.UNMATCHED_TOOL_RESULT: "contents[].parts[].functionResponse.name",
    Feature.CALL_ARGUMENTS: "contents[].parts[].functionCall.args",
    Feature.SEED: "generationConfig.seed",
    Feature.PRESENCE_PENALTY: "generationConfig.presencePenalty",
    Feature.FREQUENCY_PENALTY: "generationConfig.frequencyPenalty",
    Feature.JSON_OBJECT: "generationConfig.responseMimeType",
    Feature.MEDIA_TYPE: "contents[].parts[]",
}
_MODES = {
    "AUTO": ToolChoiceMode.AUTO,
    "MODE_UNSPECIFIED": ToolChoiceMode.AUTO,
    "NONE": ToolChoiceMode.NONE,
    "ANY": ToolChoiceMode.REQUIRED,
}
_LEVELS = {e.value: e for e in ReasoningEffort}


def decode_request(wire: WireRequest) -> ChatRequest:
    """A Gemini generateContent body (with the model and streaming of its path) as IR."""
    body = as_object(wire.body, "request body")
    if lookup(body, "cachedContent") is not None:
        raise UnsupportedField("cachedContent")
    config = opt_object(body, "generationConfig", "") or {}
    return ChatRequest(
        model=wire.model,
        messages=decode_contents(body),
        tools=_decode_tools(body),
        tool_choice=_decode_tool_config(body),
        generation=_decode_generation(config),
        reasoning=_decode_thinking(config),
        stream=wire.stream,
        stream_usage=True,  # Gemini always reports usage
    )


def _decode_generation(config: Mapping[str, Any]) -> Generation:
    path = "generationConfig"
    for name in _REFUSED_CONFIG:
        if lookup(config, name) not in (None, False):
            raise UnsupportedField(f"{path}.{name}")
    modalities = opt_array(config, "responseModalities", path)
    if any(str(m).upper() != "TEXT" for m in modalities):
        raise UnsupportedField(f"{path}.responseModalities", "any output but TEXT")
    stops = opt_array(config, "stopSequences", path)
    if not all(isinstance(s, str) for s in stops):
        raise InvalidRequest(f"'{path}.stopSequences' must be an array of strings")
    return Generation(
        max_output_tokens=opt_int(config, "maxOutputTokens", path, 1),
        temperature=opt_number(config, "temperature", path),
        top_p=opt_number(config, "topP", path),
        top_k=opt_int(config, "topK", path, 1),
        stop=tuple(stops),
        candidates=opt_int(config, "candidateCount", path, 1),
        seed=opt_int(config, "seed", path, -(2**63)),
        presence_penalty=opt_number(config, "presencePenalty", path),
        frequency_penalty=opt_number(config, "frequencyPenalty", path),
        response_format=_decode_response_format(config),
    )


def _decode_response_format(config: Mapping[str, Any]) -> ResponseFormat | None:
    path = "generationConfig"
    mime = opt_str(config, "responseMimeType", path)
    schema = opt_object(config, "responseJsonSchema", path)
    if schema is None:
        schema = opt_object(config, "_responseJsonSchema", path)
    if schema is None:
        gemini_schema = opt_object(config, "responseSchema", path)
        schema = to_json_schema(gemini_schema) if gemini_schema is not None else None
    if mime is None or mime == "text/plain":
        return None if mime is None else ResponseFormat(ResponseFormatKind.TEXT)
    if mime != "application/json":
        raise UnsupportedField(f"{path}.responseMimeType", f"{mime!r}")
    if schema is None:
        return ResponseFormat(ResponseFormatKind.JSON_OBJECT)
    return ResponseFormat(ResponseFormatKind.JSON_SCHEMA, name="response", schema=schema)


def _decode_thinking(config: Mapping[str, Any]) -> Reasoning:
    thinking = opt_object(config, "thinkingConfig", "generationConfig")
    if thinking is None:
        return Reasoning()
    path = "generationConfig.thinkingConfig"
    budget = opt_int(thinking, "thinkingBudget", path, -1)
    level = opt_str(thinking, "thinkingLevel", path)
    effort = None
    if level is not None and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
        effort = _LEVELS.get(level.lower())
        if effort is None:
            raise InvalidRequest(f"'{path}.thinkingLevel' must be minimal, low, medium or high")
    return Reasoning(
        effort=effort,
        budget_tokens=None if budget == -1 else budget,  # -1: dynamic, the default
        include_thoughts=opt_bool(thinking, "includeThoughts", path),
    )


def _decode_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    for i, value in enumerate(opt_array(body, "tools", "")):
        path = f"tools[{i}]"
        entry = as_object(value, path)
        declarations = lookup(entry, "functionDeclarations")
        others = [k for k in entry if k not in ("functionDeclarations", "function_declarations")]
        if others:
            raise UnsupportedField(f"{path}.{others[0]}", "Google's built-in tools")
        for j, item in enumerate(as_array(declarations or [], f"{path}.functionDeclarations")):
            tools.append(_decode_declaration(item, f"{path}.functionDeclarations[{j}]"))
    return tuple(tools)


def _decode_declaration(value: Any, path: str) -> Tool:
    declaration = as_object(value, path)
    parameters = opt_object(declaration, "parametersJsonSchema", path)
    if parameters is None:
        schema = opt_object(declaration, "parameters", path)
        parameters = to_json_schema(schema) if schema is not None else None
    return Tool(
        name=need_str(declaration, "name", path),
        description=opt_str(declaration, "description", path),
        parameters=parameters,
    )


def _decode_tool_config(body: Mapping[str, Any]) -> ToolChoice | None:
    config = opt_object(body, "toolConfig", "")
    calling = opt_object(config, "functionCallingConfig", "toolConfig") if config else None
    if calling is None:
        return None
    path = "toolConfig.functionCallingConfig"
    mode_name = (opt_str(calling, "mode", path) or "AUTO").upper()
    mode = _MODES.get(mode_name)
    if mode is None:
        raise UnsupportedField(f"{path}.mode", f"{mode_name!r}")
    names = opt_array(calling, "allowedFunctionNames", path)
    if not all(isinstance(n, str) for n in names):
        raise InvalidRequest(f"'{path}.allowedFunctionNames' must be an array of strings")
    return ToolChoice(mode, tuple(names))


# ---- IR -> wire ----------------------------------------------------------------------

_BUDGET_OF_EFFORT = {
    ReasoningEffort.NONE: 0,
    ReasoningEffort.MINIMAL: 128,
    ReasoningEffort.LOW: 1024,
    ReasoningEffort.MEDIUM: 8192,
    ReasoningEffort.HIGH: 24576,
    ReasoningEffort.XHIGH: 32768,
}
_LEVEL_OF_EFFORT = {
    ReasoningEffort.NONE: "minimal",  # Gemini 3 cannot turn thinking off
    ReasoningEffort.XHIGH: "high",
}
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


def uses_thinking_level(model: str) -> bool:
    """Whether a model name is Gemini 3 or later (which thinks in levels)."""
    match = _GEMINI_MAJOR.search(model.lower())
    return match is not None and int(match.group(1)) >= 3


def encode_request(request: ChatRequest) -> WireRequest:
    """An IR request as a Gemini body for a node (streams ask for `alt=sse`)."""
    body: dict[str, Any] = encode_contents(request.messages)
    tools, calling = _encode_tool_choice(request.tools, request.tool_choice)
    if tools:
        body["tools"] = [{"functionDeclarations": [_encode_declaration(t) for t in tools]}]
    if calling:
        body["toolConfig"] = {"functionCallingConfig": calling}
    config = _encode_generation(request.generation)
    thinking = _encode_thinking(request.reasoning, request.model)
    if thinking:
        config["thinkingConfig"] = thinking
    if config:
        body["generationConfig"] = config
    return WireRequest(body=body, model=request.model, stream=request.stream)


_MODE_NAMES = {
    ToolChoiceMode.AUTO: "AUTO",
    ToolChoiceMode.NONE: "NONE",
    ToolChoiceMode.REQUIRED: "ANY",
}


def _encode_tool_choice(
    tools: tuple[Tool, ...], choice: ToolChoice | None
) -> tuple[tuple[Tool, ...], dict[str, Any]]:
    """The declarations to send and `functionCallingConfig`. Gemini narrows the callable
    functions (`allowedFunctionNames`) in ANY mode only; in AUTO mode the other
    declarations are left out instead, which says the same."""
    if choice is None:
        return tools, {}
    if choice.parallel is False:
        raise Unexpressible(Feature.SERIAL_TOOL_CALLS)
    calling: dict[str, Any] = {"mode": _MODE_NAMES[choice.mode]}
    if choice.names and choice.mode is ToolChoiceMode.REQUIRED:
        calling["allowedFunctionNames"] = list(choice.names)
    elif choice.names and choice.mode is ToolChoiceMode.AUTO:
        tools = tuple(t for t in tools if t.name in choice.names)
    return tools, calling


def _encode_declaration(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.parameters is not None:
        parameters = to_gemini(tool.parameters)
        if parameters != {"type": "object"}:
            out["parameters"] = parameters
    return out


def _encode_generation(gen: Generation) -> dict[str, Any]:
    fields = {
        "maxOutputTokens": gen.max_output_tokens,
        "temperature": gen.temperature,
        "topP": gen.top_p,
        "topK": gen.top_k,
        "candidateCount": gen.candidates,
        "seed": gen.seed,
        "presencePenalty": gen.presence_penalty,
        "frequencyPenalty": gen.frequency_penalty,
    }
    out: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if gen.stop:
        out["stopSequences"] = list(gen.stop)
    spec = gen.response_format
    if spec is not None and spec.kind is not ResponseFormatKind.TEXT:
        out["responseMimeType"] = "application/json"
        if spec.kind is ResponseFormatKind.JSON_SCHEMA and spec.schema is not None:
            out["responseSchema"] = to_gemini(spec.schema)
    return out


def _encode_thinking(reasoning: Reasoning, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if reasoning.budget_tokens is not None:
        out["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None and uses_thinking_level(model):
        out["thinkingLevel"] = _LEVEL_OF_EFFORT.get(reasoning.effort, reasoning.effort.value)
    elif reasoning.effort is not None:
        out["thinkingBudget"] = _BUDGET_OF_EFFORT[reasoning.effort]
    if reasoning.include_thoughts is not None:
        out["includeThoughts"] = reasoning.include_thoughts
    return out
