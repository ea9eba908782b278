"""The two wire dialects the router speaks, OpenAI-compatible and Gemini-native.

Everything that knows either wire format lives here and nowhere else: how a request names
its model (`openai`, `gemini`), how the router addresses a node for it (`target`), how
answers report token usage (`usage`, `usage_tap`), what the model endpoints answer in
each dialect (`models`), and the bytes the router itself writes
in each dialect: error bodies, the mid-stream error event, keep-alives (`dialect`).

May import: router.errors, router.tasks, router.config (and itself). Pure: no I/O.
"""
