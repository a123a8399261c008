"""Terminal backends: one protocol (`base`), implemented for tmux control mode."""
