"""The wire dialects the router speaks (OpenAI-compatible, Gemini-native), and the engines
that read any of them.

One package per dialect holds everything that dialect knows, behind one `Codec`
(`codec`): `openai/`, `gemini/`. `registry` lists them (a new dialect is a package, a
name in `names` and a line there). Beside them, knowing no dialect by name:

    codec         the Codec and its facets (ingress, answers, replies, models, nodes)
    names         the dialects' names; a node's `dialect:` words
    sse           server-sent events: the one home of event cutting (linear, bounded) and
                  `[DONE]`
    target        how one request reaches a node (`NodeRequest`, `Target`)
    request       one proxied request as the router reads it (`ClientRequest`)
    usage         token usage reduced to three disjoint counts
    estimate      a request's token estimate before any node saw it
    usage_tap     engine: usage and in-band errors out of a relayed answer; the usage filter
    delivered     engine: the output text a client received (a charge without usage)
    first_token   engine: where an answer's first token is
    continuation  engine: the transcript of an answer continued on another node
    prefill       engine: the request that continues a cut answer

The dialect packages import only the neutral modules (never an engine, never each
other); the engines and the rest of the router reach a dialect only through a codec.

May import: router.errors (and itself). Pure: no I/O. The lowest layer but errors: the
config reads a node's `dialect:` and the default prefixes from here.
"""
