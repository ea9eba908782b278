"""The two wire formats clients and nodes speak: OpenAI-compatible and Gemini-native.

Holds: request parsing, where a request goes on a node, where token usage sits in an
answer, and the bytes the router itself writes in each dialect.

May import: router.errors, router.config. Pure: no I/O.
"""
