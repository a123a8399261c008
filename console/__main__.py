"""`python -m agent_console`: the command line."""

from .cli import main

raise SystemExit(main())
