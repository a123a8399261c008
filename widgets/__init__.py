"""Presentation only: one widget per view. They receive state and post messages; they do no I/O."""
