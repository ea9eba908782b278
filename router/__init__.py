"""router: a multi-node load-balancing router for LLM chat APIs (OpenAI-compatible and Gemini)."""

__version__ = "0.1.0"
