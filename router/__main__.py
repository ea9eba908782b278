"""`python -m router` is the same program as the `router` command."""

from router.cli.main import main

raise SystemExit(main())
