"""`python -m router` is the same program as the `router` command."""

from router.cli import main

raise SystemExit(main())
