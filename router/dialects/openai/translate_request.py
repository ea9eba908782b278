"""OpenAI Chat Completions <-> the IR: requests (this module), messages
(`openai/translate_content`), answers, errors and embeddings (`openai/translate_answer`)
and streams (`openai/translate_stream`). `OPENAI_MAPPING` bundles them for the driver.

Requests: every field of the OpenAI request is read into the IR, dropped (it changes
nothing the client sees) or refused with a 400 naming it: `REQUEST_FIELDS` is the one
table of the last two, which the manual lists. Reasoning comes as `reasoning_effort`,
the seeds' top-level `include_thoughts`, or Google's
`extra_body.google.thinking_config` (what Google's own endpoint reads).
"""

from __future__ import annotations

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
    with_result_names,
)
from router.dialects.chat_wire import (
    Fate,
    Feature,
    FieldRule,
    as_array,
    as_object,
    need_str,
    opt_bool,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
)
from router.dialects.openai.translate_content import decode_messages, encode_messages
from router.errors import InvalidRequest, UnsupportedField

DROPPED, UNSUPPORTED = Fate.DROPPED, Fate.UNSUPPORTED
REQUEST_FIELDS: tuple[FieldRule, ...] = (
    FieldRule("user", DROPPED, "an end-user id for the provider's abuse checks"),
    FieldRule("metadata", DROPPED, "labels for the provider's dashboard"),
    FieldRule("store", DROPPED, "the provider keeps no copy of a translated answer"),
    FieldRule("service_tier", DROPPED, "a billing class of OpenAI's"),
    FieldRule("prediction", DROPPED, "a latency hint; the answer is the same"),
    FieldRule("safety_identifier", DROPPED, "an end-user id for the provider's abuse checks"),
    FieldRule("prompt_cache_key", DROPPED, "a cache hint; the answer is the same"),
    FieldRule("parallel_tool_calls: true", DROPPED, "the default"),
    FieldRule("messages[].name", DROPPED, "a participant name Gemini has no place for"),
    FieldRule("image_url.detail", DROPPED, "an image resolution hint"),
    FieldRule("logprobs", UNSUPPORTED, "log probabilities are not translated"),
    FieldRule("top_logprobs", UNSUPPORTED, "log probabilities are not translated"),
    FieldRule("logit_bias", UNSUPPORTED, "Gemini has no token biases"),
    FieldRule("audio", UNSUPPORTED, "audio output"),
    FieldRule("modalities", UNSUPPORTED, "any output but text"),
    FieldRule("web_search_options", UNSUPPORTED, "OpenAI's built-in web search"),
    FieldRule("verbosity", UNSUPPORTED, "Gemini has no verbosity setting"),
    FieldRule("functions", UNSUPPORTED, "legacy functions; use tools"),
    FieldRule("function_call", UNSUPPORTED, "legacy functions; use tool_choice"),
    FieldRule("tools[].type other than function", UNSUPPORTED, "built-in and custom tools"),
    FieldRule("file.file_id", UNSUPPORTED, "an OpenAI file id means nothing to another API"),
    FieldRule("parallel_tool_calls: false", UNSUPPORTED, "Gemini cannot forbid parallel calls"),
)
_REFUSED = frozenset(
    r.field for r in REQUEST_FIELDS if r.fate is UNSUPPORTED and r.field.isidentifier()
)
# The OpenAI field a client sets for an IR setting another dialect cannot express.
FIELD_OF_FEATURE: dict[Feature, str] = {
    Feature.TOP_K: "top_k",
    Feature.SERIAL_TOOL_CALLS: "parallel_tool_calls",
    Feature.TOOL_RESULT_MEDIA: "messages[].content",
    Feature.CANDIDATES: "n",
    Feature.UNMATCHED_TOOL_RESULT: "messages[].tool_call_id",
    Feature.CALL_ARGUMENTS: "messages[].tool_calls[].function.arguments",
    Feature.SEED: "seed",
    Feature.PRESENCE_PENALTY: "presence_penalty",
    Feature.FREQUENCY_PENALTY: "frequency_penalty",
    Feature.JSON_OBJECT: "response_format",
    Feature.MEDIA_TYPE: "messages[].content",
}
_EFFORTS = {e.value: e for e in ReasoningEffort}


def decode_request(wire: WireRequest) -> ChatRequest:
    """An OpenAI chat completion request body as an IR request."""
    body = as_object(wire.body, "request body")
    for name in _REFUSED:
        if body.get(name) not in (None, False, [], {}):
            raise UnsupportedField(name)
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise UnsupportedField("modalities", "any output but text")
    options = opt_object(body, "stream_options", "")
    return ChatRequest(
        model=need_str(body, "model", ""),
        messages=with_result_names(decode_messages(body.get("messages"))),
        tools=_decode_tools(body),
        tool_choice=_decode_tool_choice(body),
        generation=_decode_generation(body),
        reasoning=_decode_reasoning(body),
        user=opt_str(body, "user", ""),
        metadata=opt_object(body, "metadata", ""),
        stream=bool(opt_bool(body, "stream", "")),
        stream_usage=bool(options and opt_bool(options, "include_usage", "stream_options")),
    )


def _decode_generation(body: Mapping[str, Any]) -> Generation:
    stop = body.get("stop")
    if isinstance(stop, str):
        stops: tuple[str, ...] = (stop,)
    else:
        stops = tuple(as_array(stop, "stop")) if stop is not None else ()
        if not all(isinstance(s, str) for s in stops):
            raise InvalidRequest("'stop' must be a string or an array of strings")
    max_tokens = opt_int(body, "max_completion_tokens", "", 1)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", "", 1)
    return Generation(
        max_output_tokens=max_tokens,
        temperature=opt_number(body, "temperature", ""),
        top_p=opt_number(body, "top_p", ""),
        top_k=opt_int(body, "top_k", "", 1),
        stop=stops,
        candidates=opt_int(body, "n", "", 1),
        seed=opt_int(body, "seed", "", -(2**63)),
        presence_penalty=opt_number(body, "presence_penalty", ""),
        frequency_penalty=opt_number(body, "frequency_penalty", ""),
        response_format=_decode_response_format(body),
    )


def _decode_response_format(body: Mapping[str, Any]) -> ResponseFormat | None:
    spec = opt_object(body, "response_format", "")
    if spec is None:
        return None
    kind = need_str(spec, "type", "response_format")
    if kind == "text":
        return ResponseFormat(ResponseFormatKind.TEXT)
    if kind == "json_object":
        return ResponseFormat(ResponseFormatKind.JSON_OBJECT)
    if kind != "json_schema":
        raise UnsupportedField("response_format.type", f"{kind!r}")
    schema = as_object(spec.get("json_schema"), "response_format.json_schema")
    return ResponseFormat(
        ResponseFormatKind.JSON_SCHEMA,
        name=opt_str(schema, "name", "response_format.json_schema"),
        schema=opt_object(schema, "schema", "response_format.json_schema"),
        strict=opt_bool(schema, "strict", "response_format.json_schema"),
        description=opt_str(schema, "description", "response_format.json_schema"),
    )


def _decode_reasoning(body: Mapping[str, Any]) -> Reasoning:
    effort_name = opt_str(body, "reasoning_effort", "")
    effort = None
    if effort_name is not None:
        effort = _EFFORTS.get(effort_name)
        if effort is None:
            raise InvalidRequest(f"'reasoning_effort' must be one of {', '.join(_EFFORTS)}")
    include = opt_bool(body, "include_thoughts", "")
    budget = None
    google = _google_thinking(body)
    if google is not None:
        path = "extra_body.google.thinking_config"
        budget = opt_int(google, "thinking_budget", path, -1)
        budget = None if budget == -1 else budget
        level = opt_str(google, "thinking_level", path)
        if level is not None and effort is None:
            effort = _EFFORTS.get(level.lower())
            if effort is None:
                raise InvalidRequest(f"'{path}.thinking_level' must be low, medium or high")
        google_include = opt_bool(google, "include_thoughts", path)
        include = google_include if google_include is not None else include
    return Reasoning(effort=effort, budget_tokens=budget, include_thoughts=include)


def _google_thinking(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Google's `extra_body.google.thinking_config` (or `google.thinking_config`, the same
    sent through an SDK's extra_body that merges into the body)."""
    for holder in (body.get("extra_body"), body):
        google = holder.get("google") if isinstance(holder, Mapping) else None
        config = google.get("thinking_config") if isinstance(google, Mapping) else None
        if config is not None:
            return as_object(config, "extra_body.google.thinking_config")
    return None


def _decode_tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools = []
    for i, value in enumerate(as_array(body.get("tools") or [], "tools")):
        path = f"tools[{i}]"
        tool = as_object(value, path)
        kind = tool.get("type", "function")
        if kind != "function":
            raise UnsupportedField(f"{path}.type", f"tools of type {kind!r}")
        function = as_object(tool.get("function"), f"{path}.function")
        fpath = f"{path}.function"
        tools.append(
            Tool(
                name=need_str(function, "name", fpath),
                description=opt_str(function, "description", fpath),
                parameters=opt_object(function, "parameters", fpath),
                strict=opt_bool(function, "strict", fpath),
            )
        )
    return tuple(tools)


def _decode_tool_choice(body: Mapping[str, Any]) -> ToolChoice | None:
    parallel = opt_bool(body, "parallel_tool_calls", "")
    parallel = None if parallel is True else parallel  # true is the default
    choice = body.get("tool_choice")
    if choice is None:
        return None if parallel is None else ToolChoice(parallel=parallel)
    if isinstance(choice, str):
        modes = {"auto": ToolChoiceMode.AUTO, "none": ToolChoiceMode.NONE}
        mode = modes.get(choice, ToolChoiceMode.REQUIRED if choice == "required" else None)
        if mode is None:
            raise InvalidRequest("'tool_choice' must be auto, none, required or an object")
        return ToolChoice(mode, parallel=parallel)
    spec = as_object(choice, "tool_choice")
    if spec.get("type") == "allowed_tools":
        allowed = as_object(spec.get("allowed_tools"), "tool_choice.allowed_tools")
        mode_name = opt_str(allowed, "mode", "tool_choice.allowed_tools") or "auto"
        names = []
        for i, t in enumerate(as_array(allowed.get("tools"), "tool_choice.allowed_tools.tools")):
            path = f"tool_choice.allowed_tools.tools[{i}]"
            function = as_object(as_object(t, path).get("function"), f"{path}.function")
            names.append(need_str(function, "name", f"{path}.function"))
        mode = ToolChoiceMode.REQUIRED if mode_name == "required" else ToolChoiceMode.AUTO
        return ToolChoice(mode, tuple(names), parallel)
    function = as_object(spec.get("function"), "tool_choice.function")
    name = need_str(function, "name", "tool_choice.function")
    return ToolChoice(ToolChoiceMode.REQUIRED, (name,), parallel)


# ---- IR -> wire ----------------------------------------------------------------------


def encode_request(request: ChatRequest) -> WireRequest:
    """An IR request as an OpenAI chat completion request (for an OpenAI-speaking node).

    A stream always asks for usage (`stream_options.include_usage`): billing needs it;
    the client sees the usage chunk only if it asked."""
    body: dict[str, Any] = {"model": request.model, "messages": encode_messages(request.messages)}
    if request.tools:
        body["tools"] = [_encode_tool(t) for t in request.tools]
    body.update(_encode_tool_choice(request.tool_choice))
    body.update(_encode_generation(request.generation))
    body.update(_encode_reasoning(request.reasoning))
    if request.user is not None:
        body["user"] = request.user
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return WireRequest(body=body, model=request.model, stream=request.stream)


def _encode_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _encode_tool_choice(choice: ToolChoice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    out: dict[str, Any] = {}
    if choice.parallel is not None:
        out["parallel_tool_calls"] = choice.parallel
    if choice.mode is ToolChoiceMode.NONE or not choice.names:
        out["tool_choice"] = choice.mode.value
    elif choice.mode is ToolChoiceMode.REQUIRED and len(choice.names) == 1:
        out["tool_choice"] = {"type": "function", "function": {"name": choice.names[0]}}
    else:
        tools = [{"type": "function", "function": {"name": n}} for n in choice.names]
        allowed = {"mode": choice.mode.value, "tools": tools}
        out["tool_choice"] = {"type": "allowed_tools", "allowed_tools": allowed}
    return out


def _encode_generation(gen: Generation) -> dict[str, Any]:
    fields = {
        "max_tokens": gen.max_output_tokens,
        "temperature": gen.temperature,
        "top_p": gen.top_p,
        "top_k": gen.top_k,
        "n": gen.candidates,
        "seed": gen.seed,
        "presence_penalty": gen.presence_penalty,
        "frequency_penalty": gen.frequency_penalty,
    }
    out: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if gen.stop:
        out["stop"] = list(gen.stop)
    spec = gen.response_format
    if spec is not None and spec.kind is ResponseFormatKind.JSON_SCHEMA:
        schema: dict[str, Any] = {"name": spec.name or "response"}
        for key, value in (("schema", spec.schema), ("strict", spec.strict)):
            if value is not None:
                schema[key] = value
        if spec.description is not None:
            schema["description"] = spec.description
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif spec is not None:
        out["response_format"] = {"type": spec.kind.value}
    return out


# Thinking budgets become the effort OpenAI's API knows (Google's own mapping, reversed:
# low, medium and high are 1K, 8K and 24K tokens of thinking).
_EFFORT_OF_BUDGET: tuple[tuple[int, ReasoningEffort], ...] = (
    (0, ReasoningEffort.NONE),
    (1024, ReasoningEffort.LOW),
    (8192, ReasoningEffort.MEDIUM),
)


def effort_of_budget(budget: int) -> ReasoningEffort:
    """The reasoning effort nearest a thinking budget."""
    for ceiling, effort in _EFFORT_OF_BUDGET:
        if budget <= ceiling:
            return effort
    return ReasoningEffort.HIGH


def _encode_reasoning(reasoning: Reasoning) -> dict[str, Any]:
    out: dict[str, Any] = {}
    effort = reasoning.effort
    if effort is None and reasoning.budget_tokens is not None:
        effort = effort_of_budget(reasoning.budget_tokens)
    if effort is not None:
        out["reasoning_effort"] = effort.value
    if reasoning.include_thoughts is not None:
        out["include_thoughts"] = reasoning.include_thoughts  # the seeds' field
    return out
