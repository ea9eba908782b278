"""config: routes.yaml parsed once into frozen, located objects.

    model      the typed sections (route table, nodes, pricing, state, Config)
    keys       API key records as routes.yaml declares them and the stores keep them
    credits    money: integer micro-credits, decimal credits in text
    source     YAML loading that remembers each value's line
    yaml_words PyYAML's syntax errors in plain words, with a hint
    suggest    near-miss suggestions ("did you mean max_inflight?")
    checker    the one validation toolkit (Checker, Section): path and line per problem
    routes     the route table's sections (server, defaults, nodes, models)
    metering   the billing sections (state, keys, a model's pricing)
    loader     parse_config / load_config: the whole file

May import: router.errors and the dialects' names (router.dialects.names, .registry: a
node's `dialect:`, the default prefixes). Nothing from billing, state, proxy or anything
above; billing and the rest import their config types from here.
"""
