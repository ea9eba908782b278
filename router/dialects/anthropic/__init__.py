"""Anthropic's Messages API: `POST /v1/messages`, `count_tokens`, the model list.

    models     the model list and get in Anthropic's format
    translate  the mapping to and from the neutral conversation (`ANTHROPIC_MAPPING`)

May import: router.errors and router.dialects' neutral modules (codec, names, sse, usage,
estimate, target, chat, chat_answer, chat_wire); never another dialect's package or an
engine.
"""
