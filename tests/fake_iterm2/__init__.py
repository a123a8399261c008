"""An in-repo fake of iTerm2's Python API server, driven by the real `iterm2` library in tests.

It speaks the real wire protocol (protobuf over a websocket on the unix socket under $HOME) and backs every
session with a real process in a real pty, its screen kept by `pyte`.
"""

from .client import iterm2_connection, reset_iterm2_library_state
from .fake import FakeITerm2, running_fake_iterm2

__all__ = ["FakeITerm2", "iterm2_connection", "reset_iterm2_library_state", "running_fake_iterm2"]
