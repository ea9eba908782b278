"""A mock LLM worker node: a real aiohttp server speaking the OpenAI, Gemini and Anthropic
dialects (`--dialect`).

Integration tests, the `make run` demo and the benchmarks put it behind the router in place
of a real worker.

    answers  what it answers (pure: texts, token counts, JSON bodies, SSE frames)
    openai_apis  the same for embeddings, completions and the Responses API
    messages the same for Anthropic's Messages API (named events, thinking, tool_use)
    tools    scripted tool calls (the `tool_call` fault), in each dialect
    wire     each dialect's shapes of the node's own errors and hostile events
    faults   the faults it can be told to suffer, and its counters
    control  `/health`, `/_mock/*`, the model lists and the API-key check
    app      the aiohttp application (the answering routes) that ties them together
    cli      `router mock-node`: flags and the process's run loop

May import: nothing from the rest of router (errors, tasks and config would be allowed),
so it stays a stand-in for a real worker that
shares no code with the router it is put behind.
"""
