"""`python -m agent_console`: the command line (hooks take a short way in: their program waits for them)."""

import sys

if sys.argv[1:2] == ["hook"] and "-h" not in sys.argv and "--help" not in sys.argv:
    from agent_console.cli.hook import main as hook_main

    raise SystemExit(hook_main(sys.argv[2:]))

from agent_console.cli.entry import main

raise SystemExit(main())
