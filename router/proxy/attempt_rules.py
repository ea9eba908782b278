"""The rules of one attempt: whether it reads on to the first token, whether a failure
mid-answer goes on at another node (the model name a node is asked for is the
candidate's: router.proxy.plan.Candidate.upstream_model). Pure."""

from __future__ import annotations

from router.config.model import MidstreamPolicy, ModelRoute, Strategy
from router.proxy.race import Answer
from router.upstream.nodes import NodeRuntime


def continues(route: ModelRoute, answer: Answer) -> bool:
    """Whether a failure mid-answer goes on at another node: a model with
    `on_midstream_failure: continue`, a chat request, an SSE answer."""
    return (
        route.on_midstream_failure is MidstreamPolicy.CONTINUE
        and answer.target.request.continuable
        and answer.opened.response.content_type == "text/event-stream"
    )


def wants_first_token(node: NodeRuntime, route: ModelRoute, served: ModelRoute) -> bool:
    """Whether an attempt reads on to the first token before committing: for the node's
    `timeouts.first_token`, a model that hedges, or one that measures its latency."""
    return (
        node.config.timeouts.first_token is not None
        or route.hedge is not None
        or served.strategy is Strategy.LATENCY
    )
