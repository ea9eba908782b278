"""A mock LLM worker node: a real aiohttp server speaking the OpenAI and Gemini dialects.

Integration tests, the `make run` demo and the benchmarks put it behind the router in place
of a real worker.

    answers  what it answers (pure: texts, token counts, JSON bodies, SSE frames)
    openai_apis  the same for embeddings, completions and the Responses API
    faults   the faults it can be told to suffer, and its counters
    app      the aiohttp application (routes, API-key check) that ties them together
    cli      `router mock-node`: flags and the process's run loop

May import: nothing from the rest of router (errors, tasks and config would be allowed),
so it stays a stand-in for a real worker that
shares no code with the router it is put behind.
"""
