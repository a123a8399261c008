"""`python -m agent_console.cli`: the command line."""

from agent_console.cli import main

raise SystemExit(main())
