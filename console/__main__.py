"""`python -m agent_console`: the command line (hooks take a short way in: their program waits for them)."""

import sys

if sys.argv[1:2] == ["hook"] and "-h" not in sys.argv and "--help" not in sys.argv:
    from .hook_cli import main as hook_main

    raise SystemExit(hook_main(sys.argv[2:]))

from .cli import main

raise SystemExit(main())
