"""The usage a request is charged for when its node's usage did not reach the client.

Pure. The rules (docs/keys-and-credits.md says the same):

* A failed request (no answer, or the node or router failed it) is refunded: its usage
  does not matter.
* Usage the node reported in the answer the client received is charged as reported:
  the client got the answer up to its usage (Gemini's cumulative usage, seen so far, too).
* A client that left after the whole answer's text but before the usage: the node's
  usage, when it arrived within the grace the router reads on for it (router.proxy.grace).
* Otherwise (the client left or was cut for not reading mid-answer, or the node sent
  no usage) the charge is what the client received: the prompt estimate plus the output
  delivered, 4 characters a token (router.dialects.delivered); the ledger says
  `settled_by: delivered`, with these estimated counts.
* When nothing was measured (an answer in a compression the router cannot read), the
  reservation is charged, as before.
"""

from __future__ import annotations

from router.billing.state.outcomes import Outcome
from router.dialects.delivered import DeliveredOutput
from router.dialects.estimate import output_tokens
from router.dialects.usage import Usage


def billed_usage(
    outcome: Outcome,
    seen: Usage | None,
    *,
    late: Usage | None = None,
    delivered: DeliveredOutput | None = None,
    prompt_estimate: int = 0,
) -> Usage | None:
    """The usage to charge (None: the reservation). `seen`: the usage in the answer the
    client received; `late`: the node's, arrived within the grace after a client that had
    the whole text left; `delivered`: what the client received; `prompt_estimate`: the
    prompt's tokens, from its body."""
    if outcome is Outcome.FAILED or seen is not None:
        return seen
    if late is not None or delivered is None:
        return late
    completion = output_tokens(delivered.content_chars)
    reasoning = output_tokens(delivered.reasoning_chars)
    return Usage(prompt_estimate, completion, reasoning, estimated=True)
