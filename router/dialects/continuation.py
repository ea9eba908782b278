"""Continuing a streamed answer on another node after its node failed mid-answer.

A model with `on_midstream_failure: continue` has its SSE answers relayed event by event
(router.proxy.continuing). This module is the pure part:

* Events are cut by router.dialects.sse (`EventSplitter`): the unfinished tail waits, so
  a node failing mid-event never leaves half an event at the client.
* `Transcript` reads every event through the node's dialect (its `answers` facet): the
  text and reasoning said so far (kept apart), the stream's identity (its id, model...),
  each node's usage, and whether the answer can be continued at all (one choice, text
  only: a tool call or a second choice cannot be handed to another node).
* The continuation request (the answer so far as a prefilled last turn) is built by
  router.dialects.prefill.
* `Transcript.read` also makes a continuation's events part of the first stream: its
  role chunk goes, its identity becomes the first stream's, a restarted answer (a model
  with `prefill: false`) has the characters already sent cut from its deltas, and its
  usage becomes the sum of every node's, so the client sees one stream and one usage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.dialects.codec import Answers
from router.dialects.estimate import output_tokens, text_size
from router.dialects.usage import Usage, UsagePart
from router.dialects.usage_tap import is_error_event


@dataclass(slots=True)
class Transcript:
    """What the client has been sent of one answer, across every node that served it.

    A router.dialects.codec.Transcribing: the node's dialect (`answers`) reads each event
    into it."""

    answers: Answers
    prompt_estimate: int = 0  # tokens, for a node that failed before reporting usage
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    continuable: bool = True
    finished: bool = False  # a finish reason was sent
    ended: bool = False  # the current node failed (its share is in `parts`)
    usage: Usage | None = None  # the current node's last reported usage
    parts: list[UsagePart] = field(default_factory=list)  # the nodes that failed
    # While a restarted answer (prefill: false) catches up: characters still to cut.
    skip_content: int = 0
    skip_reasoning: int = 0
    rewriting: bool = False  # a continuation's events are being made the first stream's
    # Characters of content and reasoning the current node produced (for an estimate).
    produced: list[int] = field(default_factory=lambda: [0, 0])
    notes: dict[str, Any] = field(default_factory=dict)  # the node's dialect's own

    @property
    def content_text(self) -> str:
        return "".join(self.content)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    def earlier(self) -> Usage:
        """The sum of the failed nodes' usage."""
        return Usage(
            sum(p.prompt for p in self.parts),
            sum(p.completion for p in self.parts),
            sum(p.reasoning for p in self.parts),
        )

    def node_failed(self, node: str) -> None:
        """The current node failed; its share of the usage is kept (see `_share`)."""
        self.parts.append(self._share(node, cut=True))
        self.usage = None
        self.produced = [0, 0]
        self.ended = True

    def _share(self, node: str, *, cut: bool = False) -> UsagePart:
        """The current node's usage: its last report, or else an estimate from the prompt
        and the characters it produced, 4 per token (rounded up). A node `cut` before it
        finished may have reported only part of its output (or no count of it): each
        output count is then at least the estimate of what the client received."""
        content, reasoning = self.produced
        completion, thought = output_tokens(content), output_tokens(reasoning)
        usage = self.usage
        if usage is None:
            return UsagePart(node, self.prompt_estimate, completion, thought, True)
        if not cut or (usage.completion >= completion and usage.reasoning >= thought):
            return UsagePart(node, usage.prompt, usage.completion, usage.reasoning, False)
        prompt = usage.prompt or self.prompt_estimate
        completion, thought = max(usage.completion, completion), max(usage.reasoning, thought)
        return UsagePart(node, prompt, completion, thought, True)

    def continue_on(self, *, restart: bool) -> None:
        """The next node's events follow; a restart repeats the answer from its start."""
        self.rewriting = True
        self.ended = False
        self.skip_content = len(self.content_text) if restart else 0
        self.skip_reasoning = len(self.reasoning_text) if restart else 0

    def total(self, node: str) -> Usage | None:
        """The answer's usage (`node` served it last): every node's share summed, one part
        each, when more than one served it; None when nothing is known."""
        if not self.parts:
            return self.usage
        parts = self.parts if self.ended else [*self.parts, self._share(node)]
        return Usage(
            sum(p.prompt for p in parts),
            sum(p.completion for p in parts),
            sum(p.reasoning for p in parts),
            parts=tuple(parts),
        )

    def read(self, document: Any) -> bool:
        """Take in one event of the current node (rewriting it when it continues another's);
        False when it is an in-band error, which the client must not get."""
        if not isinstance(document, dict):
            return True
        if is_error_event(document):
            return False
        if self.rewriting:
            for name, value in self.identity.items():
                if name in document:
                    document[name] = value
        else:  # the first real value of each (Azure opens with an empty placeholder)
            for name in self.answers.identity_fields:
                value = document.get(name)
                if value and name not in self.identity:
                    self.identity[name] = value
        usage = self.answers.usage(document)
        if usage is not None:
            earlier = self.usage  # this node's reports so far, added up by its dialect
            self.usage = usage if earlier is None else self.answers.later_usage(earlier, usage)
            if self.rewriting and self.parts:
                self.answers.add_usage(document, self.earlier())
        self.answers.transcribe(document, self)
        return True

    def said(self, text: object, reasoning: bool) -> str:
        """`text` minus what a restarted answer already sent; recorded as said."""
        if not isinstance(text, str) or not text:
            return ""
        self.produced[1 if reasoning else 0] += text_size(text)
        skip = self.skip_reasoning if reasoning else self.skip_content
        if skip:
            cut = min(skip, len(text))
            text = text[cut:]
            if reasoning:
                self.skip_reasoning -= cut
            else:
                self.skip_content -= cut
        (self.reasoning if reasoning else self.content).append(text)
        return text
