"""Pure decisions about where a request may go.

Holds: `balancer` (choice within a priority tier), `health` (each node's state machine
as a table, panic mode, the ejection cap), `retry_budget`.

May import: router.errors, router.config. No I/O, no clock or randomness not passed in.
"""
