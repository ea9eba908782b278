"""The `router` command: `serve`, `check`, `keys`/`usage` and `mock-node`.

May import: anything in the package (it is the top).
"""
